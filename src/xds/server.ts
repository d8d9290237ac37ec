import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Node__Output } from "../envoy/index.js";
import type { Logger } from "../log.js";
import type { SnapshotSource } from "./cache.js";
import { DeltaSession } from "./delta-session.js";
import type { Decoded } from "./requests.js";
import { serviceDefinitions, XDS_METHODS } from "./services.js";
import type { Session } from "./session.js";
import { SotwSession } from "./sotw-session.js";
import { PLAINTEXT, type AdmitRefusal, type EndpointPolicy, type StreamIdentity } from "./endpoint.js";
import { XdsStatus, type NackRecord } from "./status.js";
import { DEFAULT_STREAM_LIMITS, XdsStream, type StreamLimits } from "./stream.js";

export interface XdsServerOptions {
  readonly source: SnapshotSource;
  readonly logger: Logger;
  /**
   * Which snapshot a proxy gets, from its node and, on an authenticated endpoint, the identity its
   * credential names. Default: the node id, and the identity with it, so that two streams sharing
   * a node id under different identities never share a snapshot (one would get the other's key).
   */
  readonly proxyKey?: (node: Node__Output, identity: StreamIdentity | undefined) => string;
  readonly limits?: Partial<StreamLimits>;
  /** Called for every NACK, after it is recorded in the status store (metrics count them). */
  readonly onNack?: (record: NackRecord) => void;
  /**
   * Checks a stream's node before it is served, after its credential (identity is undefined on
   * the plaintext endpoint): a refusal ends the stream with its code and message (and a log line
   * naming the problem).
   */
  readonly admitNode?: (node: Node__Output, identity: StreamIdentity | undefined) => AdmitRefusal | undefined;
  /** The status store to record into (default: a new one, as `status`). */
  readonly status?: XdsStatus;
  /**
   * A stream of this proxy was identified (and, on an authenticated endpoint, its credential
   * checked: identity is what the credential names); called before its snapshot is watched.
   */
  readonly onProxyConnected?: (proxy: string, node: Node__Output, peer: string, identity: StreamIdentity | undefined) => void;
  /** A stream of this proxy ended (a proxy may hold several). */
  readonly onProxyDisconnected?: (proxy: string) => void;
}

/**
 * Streams of different endpoints or identities never share a key, whatever node id they claim: a
 * plaintext stream is "plain/NODE", an authenticated one "mesh/NS/SA/NODE". Namespaces and service
 * accounts are DNS labels (no "/"), and the first segment says which form it is, so no node id can
 * make one key read as another.
 */
export function defaultProxyKey(node: Node__Output, identity: StreamIdentity | undefined): string {
  return identity === undefined ? `plain/${node.id}` : `mesh/${identity.namespace}/${identity.serviceAccount}/${node.id}`;
}

/**
 * The xDS management server: ADS (state of the world and delta) and the per-type discovery
 * services on one gRPC server, fed by a SnapshotSource.
 */
export class XdsServer {
  readonly status: XdsStatus;
  /** One gRPC server per listening address: the handlers know which endpoint a call came in on. */
  private readonly servers: Server[] = [];
  private readonly streams = new Set<XdsStream>();
  private nextStreamId = 1;
  private stopping = false;

  constructor(private readonly options: XdsServerOptions) {
    this.status = options.status ?? new XdsStatus();
  }

  private grpcServer(policy: EndpointPolicy): Server {
    // Proxies hold their streams open for days; keepalive finds the dead ones.
    const server = new Server({
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 10_000,
      // Requests are subscriptions and ACKs: 4 MB holds about 100,000 names.
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
      "grpc.max_send_message_length": -1,
      // A proxy needs one stream (ADS) or a handful (per-type services) per connection.
      "grpc.max_concurrent_streams": 100,
      // Per-connection channelz bookkeeping costs about 1.3 KB a proxy and nothing reads it.
      "grpc.enable_channelz": 0,
    });
    const definitions = serviceDefinitions();
    for (const [service, definition] of definitions) {
      const handlers = Object.fromEntries(
        XDS_METHODS.filter((m) => m.service === service).map((m) => [
          m.method,
          (call: ServerDuplexStream<Decoded<unknown>, Buffer>) => {
            // The method's deserializer decides the request type, so the session matches it.
            const session = (m.protocol === "sotw" ? new SotwSession(m.serves, m.ordered) : new DeltaSession(m.serves, m.ordered)) as Session<unknown>;
            this.open(call, session, `${service.split(".").pop() ?? service}/${m.method}`, m.protocol, policy);
          },
        ]),
      );
      server.addService(definition, handlers);
    }
    return server;
  }

  /**
   * Binds an address and starts serving it; resolves to the bound port (useful with port 0).
   * The policy says whether streams must authenticate and may receive secrets (see endpoint.ts).
   */
  listen(address: string, credentials: ServerCredentials = ServerCredentials.createInsecure(), policy: EndpointPolicy = PLAINTEXT): Promise<number> {
    const server = this.grpcServer(policy);
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Ends the open streams whose credential matches (a revoked token's, say) with a status; they
   * receive nothing more. Returns how many were closed.
   */
  closeStreams(matches: (identity: StreamIdentity) => boolean, code: grpcStatus, message: string): number {
    let n = 0;
    for (const s of [...this.streams]) {
      const identity = s.identity;
      if (identity === undefined || !matches(identity)) continue;
      s.close(code, message);
      n++;
    }
    return n;
  }

  /**
   * Ends every stream with UNAVAILABLE (proxies reconnect, to another replica if there is one) and
   * stops the server; calls still open after graceMs are cut.
   */
  shutdown(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    for (const s of [...this.streams]) s.close(grpcStatus.UNAVAILABLE, "gitmesh is shutting down");
    return Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => server.forceShutdown(), graceMs);
            timer.unref();
            server.tryShutdown(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    ).then(() => undefined);
  }

  private open(call: ServerDuplexStream<Decoded<unknown>, Buffer>, session: Session<unknown>, method: string, protocol: "sotw" | "delta", policy: EndpointPolicy): void {
    if (this.stopping) {
      call.emit("error", { code: grpcStatus.UNAVAILABLE, details: "gitmesh is shutting down" });
      return;
    }
    const stream = new XdsStream(call, session, {
      id: this.nextStreamId++,
      method,
      protocol,
      policy,
      source: this.options.source,
      proxyKey: this.options.proxyKey ?? defaultProxyKey,
      status: this.status,
      logger: this.options.logger,
      onClosed: (s) => this.streams.delete(s),
      limits: { ...DEFAULT_STREAM_LIMITS, ...this.options.limits },
      onNack: this.options.onNack ?? (() => {}),
      admitNode: this.options.admitNode ?? (() => undefined),
      onProxyConnected: this.options.onProxyConnected ?? (() => {}),
      onProxyDisconnected: this.options.onProxyDisconnected ?? (() => {}),
    });
    this.streams.add(stream);
  }
}
