// Delta (incremental) xDS helpers for protocol tests: exact checks of what a response carries,
// ACK and NACK, and a barrier that proves the server sent nothing else first.
import assert from "node:assert/strict";
import { SDS, type EncodedResource } from "../../src/xds/index.js";
import { barrierSecrets } from "./harness.js";
import { resourceName, type DeltaResponse, type DeltaStream } from "./xds-client.js";

/** What a delta response must carry, exactly and in this order. */
export interface ExpectedDelta {
  /** The resources sent, each checked for name, version (its content hash) and bytes. */
  readonly resources?: readonly EncodedResource[];
  /** removed_resources. */
  readonly removed?: readonly string[];
}

const seenNonces = new WeakMap<DeltaStream, Set<string>>();

function describe(res: DeltaResponse): string {
  return `${res.type_url} [${res.resources.map((r) => r.name).join(", ")}] removed [${res.removed_resources.join(", ")}]`;
}

/**
 * Checks that a response is of the type, carries exactly the expected resources (names,
 * per-resource versions, bytes, order) and removed names, and has a nonce new on this stream.
 */
export function assertDelta(stream: DeltaStream, res: DeltaResponse, typeUrl: string, expected: ExpectedDelta, what: string): void {
  assert.equal(res.type_url, typeUrl, `${what}: expected a ${typeUrl} response, got ${describe(res)}`);
  const want = expected.resources ?? [];
  assert.deepEqual(
    res.resources.map((r) => [r.name, r.version]),
    want.map((r) => [r.name, r.version]),
    `${what}: resources (name, version)`,
  );
  for (const [i, r] of res.resources.entries()) {
    assert.equal(r.resource.type_url, typeUrl, `${what}: ${r.name} is packed as ${typeUrl}`);
    assert.equal(resourceName(r.resource), r.name, `${what}: the resource inside ${r.name} has that name`);
    assert.ok(Buffer.from(r.resource.value).equals(want[i]?.bytes ?? Buffer.alloc(0)), `${what}: ${r.name} carries the expected bytes`);
  }
  assert.deepEqual(res.removed_resources, expected.removed ?? [], `${what}: removed_resources`);
  assert.notEqual(res.nonce, "", `${what}: every response has a nonce`);
  const seen = seenNonces.get(stream) ?? new Set<string>();
  seenNonces.set(stream, seen);
  assert.ok(!seen.has(res.nonce), `${what}: nonce ${res.nonce} was already used on this stream`);
  seen.add(res.nonce);
}

/** Takes the next response and checks it with assertDelta. */
export async function nextDelta(stream: DeltaStream, typeUrl: string, expected: ExpectedDelta, what: string): Promise<DeltaResponse> {
  const res = await stream.next();
  assertDelta(stream, res, typeUrl, expected, what);
  return res;
}

/** The per-resource versions a response carried, as a proxy would report them on reconnect. */
export function versionsOf(res: DeltaResponse): Record<string, string> {
  return Object.fromEntries(res.resources.map((r) => [r.name, r.version]));
}

export function deltaAck(stream: DeltaStream, res: DeltaResponse): void {
  stream.send({ type_url: res.type_url, response_nonce: res.nonce });
}

export function deltaNack(stream: DeltaStream, res: DeltaResponse, message: string): void {
  stream.send({ type_url: res.type_url, response_nonce: res.nonce, error_detail: { code: 3, message } });
}

const barriersUsed = new WeakMap<DeltaStream, number>();

/**
 * Proves the server sent nothing else first: subscribes the stream to one more barrier secret and
 * requires the very next response to be the SDS response carrying just that secret (then ACKs it).
 * The server handles a stream's requests in order and writes responses as it handles them (a push
 * from cache.set is written before set returns), so anything it was going to send would arrive
 * before this. It also proves every earlier request was processed.
 */
export async function deltaBarrier(stream: DeltaStream, what: string): Promise<void> {
  const used = barriersUsed.get(stream) ?? 0;
  const secret = barrierSecrets[used];
  assert.ok(secret !== undefined, "test uses more delta barriers than barrierSecrets has");
  barriersUsed.set(stream, used + 1);
  stream.send({ type_url: SDS.typeUrl, resource_names_subscribe: [secret.name] });
  const res = await stream.next();
  assert.equal(res.type_url, SDS.typeUrl, `${what}: expected nothing before the barrier, got ${describe(res)}`);
  assertDelta(stream, res, SDS.typeUrl, { resources: [secret] }, `${what} (barrier ${secret.name})`);
  deltaAck(stream, res);
}
