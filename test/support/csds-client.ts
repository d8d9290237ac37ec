// A real gRPC CSDS client: @grpc/grpc-js with envoy.service.status.v3's own proto (loaded by
// @grpc/proto-loader from the pinned Envoy API), as a standard tool would ask.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials as grpcCredentials, loadPackageDefinition, Metadata, type ChannelCredentials, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export interface GenericXdsConfig {
  readonly type_url: string;
  readonly name: string;
  readonly version_info: string;
  readonly xds_config: { readonly type_url: string; readonly value: Buffer } | null;
  readonly config_status: string;
  readonly client_status: string;
  readonly error_state: { readonly details: string; readonly version_info: string } | null;
}

export interface ClientStatusResponse {
  readonly config: readonly { readonly node: { readonly id: string } | null; readonly client_scope: string; readonly generic_xds_configs: readonly GenericXdsConfig[] }[];
}

type Csds = Client & {
  FetchClientStatus(req: object, metadata: Metadata, cb: (e: ServiceError | null, r?: ClientStatusResponse) => void): void;
  StreamClientStatus(metadata: Metadata): ClientDuplexStream<object, ClientStatusResponse>;
};

let constructor: (new (address: string, creds: ChannelCredentials, options?: object) => Csds) | undefined;

function csdsConstructor() {
  if (constructor !== undefined) return constructor;
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const includeDirs = ["deps/envoy-api", "deps/xds", "deps/googleapis", "deps/protoc-gen-validate"].map((d) => join(pkg, d));
  const def = loadSync("envoy/service/status/v3/csds.proto", { includeDirs, keepCase: true, longs: String, enums: String, defaults: true });
  const loaded = loadPackageDefinition(def) as unknown as { envoy: { service: { status: { v3: { ClientStatusDiscoveryService: typeof constructor } } } } };
  constructor = loaded.envoy.service.status.v3.ClientStatusDiscoveryService;
  if (constructor === undefined) throw new Error("bug: no CSDS service in the proto");
  return constructor;
}

export class CsdsClient {
  private readonly client: Csds;

  constructor(address: string, creds: ChannelCredentials = grpcCredentials.createInsecure(), options: object = {}, private readonly token?: string) {
    const Ctor = csdsConstructor();
    this.client = new Ctor(address, creds, options);
  }

  private metadata(): Metadata {
    const m = new Metadata();
    if (this.token !== undefined) m.set("authorization", `Bearer ${this.token}`);
    return m;
  }

  fetch(req: object = {}): Promise<ClientStatusResponse> {
    return new Promise((resolve, reject) => this.client.FetchClientStatus(req, this.metadata(), (e, r) => (e !== null || r === undefined ? reject(e ?? new Error("no response")) : resolve(r))));
  }

  /** Sends each request on one StreamClientStatus stream and collects one response per request. */
  async stream(reqs: readonly object[]): Promise<ClientStatusResponse[]> {
    const call = this.client.StreamClientStatus(this.metadata());
    const out: ClientStatusResponse[] = [];
    return new Promise((resolve, reject) => {
      call.on("data", (r: ClientStatusResponse) => {
        out.push(r);
        if (out.length === reqs.length) {
          call.end();
          resolve(out);
        }
      });
      call.on("error", reject);
      for (const r of reqs) call.write(r);
    });
  }

  close(): void {
    this.client.close();
  }
}
