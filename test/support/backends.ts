// gRPC test backends that answer one unary method with their own identity, and a client for it
// that can dial any target (xds:///NAME included).
import { Client, credentials, Metadata, Server, status, ServerCredentials, type ChannelOptions, type ServiceDefinition } from "@grpc/grpc-js";

export interface Identity {
  readonly backend: string;
}

const json = {
  serialize: (value: object): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: <T>(bytes: Buffer): T => JSON.parse(bytes.toString("utf8")) as T,
};

const WHO_AM_I = "/gitmesh.test.Identity/WhoAmI";

const identityService: ServiceDefinition = {
  whoAmI: {
    path: WHO_AM_I,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: (bytes: Buffer) => json.deserialize<object>(bytes),
    responseSerialize: json.serialize,
    responseDeserialize: (bytes: Buffer) => json.deserialize<Identity>(bytes),
  },
};

export interface Backend {
  readonly name: string;
  /** host:port, as an endpoint address. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Starts a backend on 127.0.0.1 (or host; a free port unless told) that answers every call with
 * its name; with failFirst, the first calls fail with UNAVAILABLE (a backend a retry policy must
 * get past).
 */
export async function startBackend(name: string, options: { failFirst?: number; host?: string; port?: number } = {}): Promise<Backend & { readonly calls: () => number }> {
  const server = new Server();
  let calls = 0;
  server.addService(identityService, {
    whoAmI: (_call: unknown, callback: (err: { code: number; details: string } | null, value?: Identity) => void) => {
      calls++;
      if (calls <= (options.failFirst ?? 0)) callback({ code: status.UNAVAILABLE, details: `${name} fails call ${calls} on purpose` });
      else callback(null, { backend: name });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host ?? "127.0.0.1"}:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    name,
    calls: () => calls,
    address: `${options.host ?? "127.0.0.1"}:${port}`,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

export class IdentityClient {
  private readonly client: Client;

  constructor(target: string, options: ChannelOptions = {}) {
    this.client = new Client(target, credentials.createInsecure(), options);
  }

  /** Which backend answered one call (sent with these request headers). */
  whoAnswers(timeoutMs = 10_000, headers: Readonly<Record<string, string>> = {}): Promise<string> {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<object, Identity>(
        WHO_AM_I,
        json.serialize,
        (bytes) => json.deserialize<Identity>(bytes),
        {},
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err || value === undefined ? reject(err ?? new Error("no response")) : resolve(value.backend)),
      );
    });
  }

  /** How many of `calls` calls each backend answered; calls run a batch at a time. */
  async tally(calls: number, batch = 50, headers: Readonly<Record<string, string>> = {}): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let done = 0; done < calls; done += batch) {
      const names = await Promise.all(Array.from({ length: Math.min(batch, calls - done) }, () => this.whoAnswers(10_000, headers)));
      for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    return counts;
  }

  close(): void {
    this.client.close();
  }
}
