// The agent's own xDS stream to gitmesh: delta ADS, the protocol Envoy speaks. It subscribes to
// what the agent needs (the service list, a workload's certificate and trust bundle), applies
// each response before it ACKs it (NACKs what it could not use, with why), and reconnects
// with a growing delay. Over TLS it verifies gitmesh against the trust bundle and the name it
// dials, and sends the token; both files are read again at every connection, so a token or bundle
// replaced on disk is used at the next one. What it last accepted is sent as
// initial_resource_versions, so a resource removed while it was away is reported removed.
import { readFile } from "node:fs/promises";
import { Client, credentials, Metadata, status, type ClientDuplexStream } from "@grpc/grpc-js";
import { after, type Timer } from "../common/timers.js";
import { decodeMessage, encodeMessage, type DeltaDiscoveryRequest } from "../envoy/index.js";
import type { Logger } from "../log.js";
import { retryDelayMs } from "./backoff.js";

const ADS_DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export interface DeltaResource {
  readonly name: string;
  readonly version: string;
  /** The resource's bytes (the message inside the Any). */
  readonly value: Buffer;
}

/** One response: resources added or changed, and names removed. */
export interface DeltaUpdate {
  readonly typeUrl: string;
  readonly resources: readonly DeltaResource[];
  readonly removed: readonly string[];
}

export interface AgentStreamOptions {
  /** gitmesh's xDS address, HOST:PORT. */
  readonly address: string;
  /**
   * TLS, verified against the trust bundle file (and `moreRoots`, the bundle gitmesh last sent,
   * which holds a new root before gitmesh's own certificate moves to it) and the host of
   * `address`, with the token.
   */
  readonly tls?: { readonly caFile: string; readonly tokenFile: string; readonly moreRoots?: () => string | undefined };
  readonly node: NonNullable<DeltaDiscoveryRequest["node"]>;
  /** Per type URL, the names to subscribe to ("*": every resource of the type). */
  readonly subscribe: Readonly<Record<string, readonly string[]>>;
  /**
   * Applies a response. Resources it names in `rejected` (with why) are not taken, and the response
   * is NACKed with their reasons; the others are (a partial NACK, as Envoy's). A rejection of the
   * promise rejects the whole response.
   */
  readonly onUpdate: (update: DeltaUpdate) => Promise<Applied> | Applied;
  readonly logger: Logger;
}

interface Response {
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource: { readonly value: Buffer } | null }[];
  readonly removed_resources: readonly string[];
}

/** What applying a response took: every resource but those rejected. */
export type Applied = void | { readonly rejected: ReadonlyMap<string, string> };

type Connection = { readonly client: Client; readonly call: ClientDuplexStream<DeltaDiscoveryRequest, Response> };

export class AgentStream {
  /** What was accepted, per type and name: sent again when reconnecting. */
  private readonly versions = new Map<string, Map<string, string>>();
  private connection: Connection | undefined;
  private retry: Timer | undefined;
  private failures = 0;
  private lastProblem = "";
  private closed = false;
  /** Responses are applied one at a time, in order. */
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly options: AgentStreamOptions) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    this.retry?.cancel();
    this.drop();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { tls, address, logger } = this.options;
    let metadata = new Metadata();
    let creds = credentials.createInsecure();
    if (tls !== undefined) {
      let ca: Buffer;
      let token: string;
      try {
        ca = await readFile(tls.caFile);
        token = (await readFile(tls.tokenFile, "utf8")).trim();
      } catch (e) {
        this.ended(`cannot read the trust bundle or the token: ${(e as Error).message}`);
        return;
      }
      if (token === "") return this.ended(`the token file ${tls.tokenFile} is empty`);
      creds = credentials.createSsl(Buffer.concat([ca, Buffer.from(`\n${tls.moreRoots?.() ?? ""}`)]));
      metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
    }
    if (this.closed) return;
    const client = new Client(address, creds);
    const call = client.makeBidiStreamRequest<DeltaDiscoveryRequest, Response>(ADS_DELTA, (r) => encodeMessage("envoy.service.discovery.v3.DeltaDiscoveryRequest", r), (b) => decodeMessage("envoy.service.discovery.v3.DeltaDiscoveryResponse", b, { defaults: true }) as unknown as Response, metadata);
    const connection = { client, call };
    this.connection = connection;
    let first = true;
    for (const [typeUrl, names] of Object.entries(this.options.subscribe)) {
      call.write({
        ...(first ? { node: this.options.node } : {}),
        type_url: typeUrl,
        resource_names_subscribe: [...names],
        initial_resource_versions: Object.fromEntries(this.versions.get(typeUrl) ?? []),
      });
      first = false;
    }
    call.on("data", (r: Response) => {
      this.applying = this.applying.then(() => this.apply(connection, r));
    });
    let done = false;
    const end = (code: number, details: string) => {
      if (done) return;
      done = true;
      if (this.connection === connection) this.drop();
      this.ended(`${status[code] ?? code}: ${details}`);
    };
    call.on("error", (e: { code: number; details: string }) => end(e.code, e.details));
    call.on("status", (s: { code: number; details: string }) => end(s.code, s.details));
    logger.debug("xDS stream opened", { address });
  }

  private async apply(connection: Connection, r: Response): Promise<void> {
    if (this.connection !== connection) return;
    const update: DeltaUpdate = {
      typeUrl: r.type_url,
      resources: r.resources.map((x) => ({ name: x.name, version: x.version, value: x.resource?.value ?? Buffer.alloc(0) })),
      removed: r.removed_resources,
    };
    let rejected: ReadonlyMap<string, string>;
    try {
      rejected = (await this.options.onUpdate(update))?.rejected ?? new Map();
    } catch (e) {
      rejected = new Map(update.resources.map((x) => [x.name, (e as Error).message]));
    }
    const versions = this.versions.get(r.type_url) ?? new Map<string, string>();
    this.versions.set(r.type_url, versions);
    for (const x of update.resources) if (!rejected.has(x.name)) versions.set(x.name, x.version);
    for (const name of update.removed) versions.delete(name);
    if (rejected.size > 0) {
      const message = [...new Set(rejected.values())].join("; ");
      this.options.logger.error("could not use what gitmesh sent; rejecting it", { type: r.type_url, resources: [...rejected.keys()].join(","), error: message });
      if (this.connection === connection) connection.call.write({ type_url: r.type_url, response_nonce: r.nonce, error_detail: { code: status.INVALID_ARGUMENT, message } });
      return;
    }
    if (this.failures > 0 || this.lastProblem !== "") this.options.logger.info("xDS stream served again", { address: this.options.address });
    this.failures = 0;
    this.lastProblem = "";
    if (this.connection === connection) connection.call.write({ type_url: r.type_url, response_nonce: r.nonce });
  }

  private drop(): void {
    const c = this.connection;
    this.connection = undefined;
    if (c === undefined) return;
    c.call.cancel();
    c.client.close();
  }

  /** The stream ended (or could not start): said once per distinct reason, tried again later. */
  private ended(problem: string): void {
    if (this.closed) return;
    this.failures++;
    const delay = retryDelayMs(this.failures);
    if (problem !== this.lastProblem) this.options.logger.warn("xDS stream to gitmesh ended; reconnecting", { address: this.options.address, problem, inSeconds: delay / 1000 });
    this.lastProblem = problem;
    this.retry = after(delay, () => void this.connect());
  }
}
