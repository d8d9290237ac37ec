// A scripted xDS client over real gRPC: it sends exactly the requests a test writes and records
// exactly what the server answers, so tests can assert on versions, nonces, names and order.
import { Client, credentials, Metadata, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { decodeMessage, messageNameOf, messageType } from "../../src/envoy/index.js";
import type { DeltaDiscoveryRequest, DiscoveryRequest } from "../../src/envoy/index.js";

export const ADS_SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
export const ADS_DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export interface AnyResource {
  readonly type_url: string;
  readonly value: Buffer;
}

export interface SotwResponse {
  readonly version_info: string;
  readonly resources: readonly AnyResource[];
  readonly type_url: string;
  readonly nonce: string;
}

export interface DeltaResponse {
  readonly system_version_info: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource: AnyResource }[];
  readonly removed_resources: readonly string[];
  readonly type_url: string;
  readonly nonce: string;
}

export interface FinalStatus {
  readonly code: number;
  readonly details: string;
}

function encoder(name: string): (value: object) => Buffer {
  const type = messageType(name);
  return (value) => (Buffer.isBuffer(value) ? value : Buffer.from(type.encode(type.fromObject(value)).finish()));
}

function decoder<T>(name: string): (bytes: Buffer) => T {
  return (bytes) => decodeMessage(name, bytes, { defaults: true }) as T;
}

/** The name inside an Any resource (cluster_name for a ClusterLoadAssignment). */
export function resourceName(any: AnyResource): string {
  const obj = decodeMessage(messageNameOf(any.type_url), any.value);
  return String(obj["name"] ?? obj["cluster_name"] ?? "");
}

export function namesOf(resp: SotwResponse): string[] {
  return resp.resources.map(resourceName);
}

/** One xDS stream. Requests go out as given; responses queue until a test takes them. */
export class ScriptedStream<Req extends object, Res> {
  private readonly queue: Res[] = [];
  private readonly waiters: { resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  private finalStatus: FinalStatus | undefined;
  private readonly statusWaiters: ((s: FinalStatus) => void)[] = [];
  readonly received: Res[] = [];

  constructor(private readonly call: ClientDuplexStream<Req | Buffer, Res>) {
    call.on("data", (res: Res) => {
      this.received.push(res);
      const w = this.waiters.shift();
      if (w) w.resolve(res);
      else this.queue.push(res);
    });
    call.on("error", (e: ServiceError) => this.finish({ code: e.code, details: e.details }));
    call.on("status", (s: FinalStatus) => this.finish({ code: s.code, details: s.details }));
  }

  send(req: Req | Buffer): void {
    this.call.write(req);
  }

  /** The next response; rejects if the stream ends first. */
  next(): Promise<Res> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.finalStatus) return Promise.reject(new Error(`stream ended: ${this.finalStatus.code} ${this.finalStatus.details}`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Responses received but not yet taken. */
  get pending(): number {
    return this.queue.length;
  }

  /** The stream's final gRPC status. */
  ended(): Promise<FinalStatus> {
    if (this.finalStatus) return Promise.resolve(this.finalStatus);
    return new Promise((resolve) => this.statusWaiters.push(resolve));
  }

  /** Half-closes the stream from the client side. */
  end(): void {
    this.call.end();
  }

  /** Cancels the stream, as a proxy that goes away does. */
  cancel(): void {
    this.call.cancel();
  }

  private finish(s: FinalStatus): void {
    if (this.finalStatus) return;
    this.finalStatus = s;
    for (const w of this.waiters.splice(0)) w.reject(new Error(`stream ended: ${s.code} ${s.details}`));
    for (const w of this.statusWaiters.splice(0)) w(s);
  }
}

export type SotwStream = ScriptedStream<DiscoveryRequest, SotwResponse>;
export type DeltaStream = ScriptedStream<DeltaDiscoveryRequest, DeltaResponse>;

const encodeSotw = encoder("envoy.service.discovery.v3.DiscoveryRequest");
const encodeDelta = encoder("envoy.service.discovery.v3.DeltaDiscoveryRequest");
const decodeSotw = decoder<SotwResponse>("envoy.service.discovery.v3.DiscoveryResponse");
const decodeDelta = decoder<DeltaResponse>("envoy.service.discovery.v3.DeltaDiscoveryResponse");

/** A gRPC channel to the server under test, opening scripted streams on any xDS method. */
export class ScriptedClient {
  readonly client: Client;

  constructor(address: string, options: Record<string, string | number> = {}, channelCredentials: ChannelCredentials = credentials.createInsecure()) {
    this.client = new Client(address, channelCredentials, options);
  }

  sotw(path: string = ADS_SOTW, metadata: Metadata = new Metadata()): SotwStream {
    return new ScriptedStream(this.client.makeBidiStreamRequest(path, encodeSotw, decodeSotw, metadata));
  }

  delta(path: string = ADS_DELTA, metadata: Metadata = new Metadata()): DeltaStream {
    return new ScriptedStream(this.client.makeBidiStreamRequest(path, encodeDelta, decodeDelta, metadata));
  }

  close(): void {
    this.client.close();
  }
}

/** A node as Envoy's bootstrap would give it. */
export function node(id: string, cluster = "test"): NonNullable<DiscoveryRequest["node"]> {
  return { id, cluster, user_agent_name: "scripted-test-client" };
}

/**
 * A proxyless gRPC client's node as `gitmesh serve` wants it (the proxy contract of
 * docs/proxies.md; the plaintext port serves no Envoy proxy).
 */
export function grpcNode(id: string): NonNullable<DiscoveryRequest["node"]> {
  const str = (v: string) => ({ stringValue: v });
  return { ...node(id), metadata: { fields: { NAMESPACE: str("default"), SERVICE_ACCOUNT: str("test"), PROXY_KIND: str("grpc") } } };
}
