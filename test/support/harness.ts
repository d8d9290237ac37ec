// A real XdsServer on a loopback port with a cache, and scripted clients, torn down by the test.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { silentLogger } from "../../src/log.js";
import { SDS, SnapshotCache, XdsServer, type EndpointPolicy, type XdsServerOptions } from "../../src/xds/index.js";
import { secret } from "./fixtures.js";
import { ScriptedClient, type SotwResponse, type SotwStream } from "./xds-client.js";

export interface Harness {
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly address: string;
  /** A new channel with its own connection (as each proxy has), closed when the test ends. */
  client(): ScriptedClient;
}

const ACCEPT_EVERY_STREAM: EndpointPolicy = { t: "authenticated", authenticate: () => ({ ok: true, identity: { namespace: "test", serviceAccount: "test" } }) };

export async function startServer(t: TestContext, options: Partial<XdsServerOptions> = {}): Promise<Harness> {
  const cache = new SnapshotCache();
  // Snapshots are set by node id here, whatever the (test) identity.
  const server = new XdsServer({ source: cache, logger: silentLogger, proxyKey: (node) => node.id, ...options });
  // Protocol tests use secrets as barriers, and only an authenticated endpoint sends secrets: this
  // one lets every stream in (the credential checks have their own tests, sds-auth.test.ts).
  const port = await server.listen("127.0.0.1:0", undefined, ACCEPT_EVERY_STREAM);
  const clients: ScriptedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await server.shutdown(1_000);
  });
  return {
    cache,
    server,
    address: `127.0.0.1:${port}`,
    client() {
      // grpc-js shares one connection between channels to the same target unless told not to.
      const c = new ScriptedClient(`127.0.0.1:${port}`, { "grpc.use_local_subchannel_pool": 1 });
      clients.push(c);
      return c;
    },
  };
}

/** Secrets that exist in every test snapshot so barriers can subscribe to them. */
export const barrierSecrets = Array.from({ length: 8 }, (_, i) => secret(`barrier-${i}`));

const barrierState = new WeakMap<SotwStream, { count: number; lastNonce: string }>();

/**
 * Proves the server sent nothing else first: subscribes to one more barrier secret and requires
 * the very next response to be that SDS response. The server handles a stream's requests in
 * order and writes responses as it handles them, so anything it was going to send (a resend after
 * a NACK, say) would arrive before this. It also proves every earlier request was processed.
 */
export async function barrier(stream: SotwStream, what: string): Promise<void> {
  const state = barrierState.get(stream) ?? { count: 0, lastNonce: "" };
  barrierState.set(stream, state);
  state.count++;
  assert.ok(state.count <= barrierSecrets.length, "test uses more barriers than barrierSecrets has");
  const names = barrierSecrets.slice(0, state.count).map((s) => s.name);
  stream.send({ type_url: SDS.typeUrl, resource_names: names, response_nonce: state.lastNonce });
  const res = await stream.next();
  assert.equal(res.type_url, SDS.typeUrl, `${what}: expected nothing before the barrier, got a ${res.type_url} response`);
  state.lastNonce = res.nonce;
  stream.send({ type_url: SDS.typeUrl, resource_names: names, response_nonce: res.nonce, version_info: res.version_info });
}

export function ack(stream: SotwStream, res: SotwResponse, resourceNames: readonly string[] = []): void {
  stream.send({ type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: [...resourceNames] });
}

export function nack(stream: SotwStream, res: SotwResponse, acceptedVersion: string, message: string, resourceNames: readonly string[] = []): void {
  stream.send({
    type_url: res.type_url,
    version_info: acceptedVersion,
    response_nonce: res.nonce,
    resource_names: [...resourceNames],
    error_detail: { code: 3, message },
  });
}

/** Takes the next response and checks its type. */
export async function nextOf<R extends { readonly type_url: string }>(stream: { next(): Promise<R> }, typeUrl: string): Promise<R> {
  const res = await stream.next();
  assert.equal(res.type_url, typeUrl, `expected a ${typeUrl} response`);
  return res;
}
