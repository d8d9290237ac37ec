// An XdsServer under attack on either of its two kinds of port: plaintext, or TLS (a real mesh CA
// certificate from openSecure) with a policy that lets every stream in, so that abuse tests reach
// the code behind authentication. Torn down by the test.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";
import { trustBundlePem } from "../../src/ca/index.js";
import { silentLogger } from "../../src/log.js";
import { openSecure } from "../../src/runtime/index.js";
import { SnapshotCache, XdsServer, type EndpointPolicy, type XdsServerOptions } from "../../src/xds/index.js";
import { ScriptedClient } from "./xds-client.js";

export type Endpoint = "plaintext" | "tls";
export const ENDPOINTS: readonly Endpoint[] = ["plaintext", "tls"];

const ACCEPT_EVERY_STREAM: EndpointPolicy = { t: "authenticated", authenticate: () => ({ ok: true, identity: { namespace: "test", serviceAccount: "test" } }) };

export interface Target {
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly port: number;
  /** host:port a client dials (localhost for TLS: the certificate names it). */
  readonly address: string;
  readonly channelCredentials: ChannelCredentials;
  /** The trust bundle, for raw TLS clients. */
  readonly ca: string | undefined;
  /** A new channel with its own connection, closed when the test ends. */
  client(): ScriptedClient;
}

export async function serveOn(t: TestContext, endpoint: Endpoint, options: Partial<XdsServerOptions> = {}): Promise<Target> {
  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: silentLogger, proxyKey: (node) => node.id, ...options });
  const clients: ScriptedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await server.shutdown(500);
  });
  let port: number;
  let channelCredentials = credentials.createInsecure();
  let ca: string | undefined;
  if (endpoint === "plaintext") port = await server.listen("127.0.0.1:0");
  else {
    const secure = await openSecure({ stateDir: mkdtempSync(join(tmpdir(), "gitmesh-xa-tls-")), trustDomain: "cluster.local", logger: silentLogger });
    t.after(() => secure.close());
    ca = trustBundlePem(secure.ca);
    channelCredentials = credentials.createSsl(Buffer.from(ca));
    port = await server.listen("127.0.0.1:0", secure.credentials, ACCEPT_EVERY_STREAM);
  }
  const address = `${endpoint === "tls" ? "localhost" : "127.0.0.1"}:${port}`;
  return {
    cache,
    server,
    port,
    address,
    channelCredentials,
    ca,
    client() {
      const c = new ScriptedClient(address, { "grpc.use_local_subchannel_pool": 1 }, channelCredentials);
      clients.push(c);
      return c;
    },
  };
}
