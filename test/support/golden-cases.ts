// The golden cases (test/golden/CASE, and bookinfo from config-examples): their config and the
// proxies each is rendered for. Shared by the golden test and the interop test that puts the
// golden gRPC resources through every gRPC client's own parser.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { ProxyIdentity } from "../../src/translators/proxy.js";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

export interface GoldenCase {
  readonly name: string;
  /** The config directory, relative to the repository. */
  readonly config: string;
  readonly proxies: Readonly<Record<string, ProxyIdentity>>;
  /** Gateway certificates (NAME/tls.crt, tls.key, ca.crt), when the case has them. */
  readonly credentials?: string;
}

/**
 * A case's proxies.yaml: name -> identity, with the node contract's optional parts defaulted. A
 * proxy is rendered as connected to the TLS port with a token for its identity (authenticated),
 * as every Envoy in a real mesh is, unless the case says otherwise.
 */
function proxiesOf(dir: string): Record<string, ProxyIdentity> | undefined {
  const path = join(dir, "proxies.yaml");
  if (!existsSync(path)) return undefined;
  const raw = parse(readFileSync(path, "utf8")) as Record<string, Partial<ProxyIdentity>>;
  return Object.fromEntries(Object.entries(raw).map(([name, p]) => [name, { nodeId: name, labels: {}, instanceIps: [], authenticated: true, ...p } as ProxyIdentity]));
}

const grpcClient = (namespace: string, serviceAccount: string): ProxyIdentity => ({ nodeId: "golden", kind: "grpc", namespace, serviceAccount, labels: {}, instanceIps: [] });

export function goldenCases(): GoldenCase[] {
  return [
    {
      name: "bookinfo",
      config: "config-examples/bookinfo",
      proxies: {
        grpc: grpcClient("bookinfo", "productpage"),
        // The ratings service as a proxyless gRPC server: its inbound listeners carry ratings-callers.
        "grpc-ratings-server": { ...grpcClient("bookinfo", "ratings"), labels: { app: "ratings", version: "v1" } },
        "reviews-sidecar": { nodeId: "reviews-v2-1", kind: "sidecar", namespace: "bookinfo", serviceAccount: "reviews", labels: { app: "reviews", version: "v2" }, workloadName: "reviews-v2", instanceIps: [], authenticated: true },
        gateway: { nodeId: "ingress-1", kind: "gateway", namespace: "istio-system", serviceAccount: "ingressgateway", labels: { istio: "ingressgateway" }, instanceIps: [], authenticated: true },
      },
    },
    ...readdirSync(join(REPO, "test/golden"), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(REPO, "test/golden", d.name, "config")))
      .map((d) => {
        const dir = join(REPO, "test/golden", d.name);
        return {
          name: d.name,
          config: `test/golden/${d.name}/config`,
          proxies: proxiesOf(dir) ?? { grpc: grpcClient("default", "client") },
          ...(existsSync(join(dir, "credentials")) ? { credentials: join(dir, "credentials") } : {}),
        };
      }),
  ];
}
