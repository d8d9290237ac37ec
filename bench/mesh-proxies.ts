// The proxies of the generated mesh (bench/mesh-gen.ts) as benches connect them to a MeshPusher
// without sockets: their nodes, the credential an Envoy sidecar's stream would have proved, and a
// secret source whose certificates are ready at once (issuance has its own bench, ca-issue.ts).
import { createMeshLoader, type MeshLoader } from "../src/config/load.js";
import type { SourceFile } from "../src/config/source.js";
import { silentLogger } from "../src/log.js";
import { MeshPusher, type SecretSource } from "../src/runtime/index.js";
import type { Node__Output } from "../src/envoy/index.js";
import { translated } from "../src/translators/translated.js";
import { SnapshotCache, type StreamIdentity } from "../src/xds/index.js";
import { meshFiles } from "./mesh-gen.js";

/** "grpc": proxyless gRPC clients; "sidecar": Envoy sidecars, each a workload of one service. */
export type BenchProxyKind = "grpc" | "sidecar";

export function proxyKindOption(value: string): BenchProxyKind {
  if (value === "grpc" || value === "sidecar") return value;
  throw new Error(`--kind ${value}: want grpc or sidecar`);
}

/** Every certificate ready at once, the same two secrets for every proxy. */
export const readySecrets: SecretSource = (() => {
  const pem = "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n";
  const secrets = [
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "default", { name: "default", tls_certificate: { certificate_chain: { inline_string: pem }, private_key: { inline_string: "bench" } } }),
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "ROOTCA", { name: "ROOTCA", validation_context: { trusted_ca: { inline_string: pem } } }),
  ];
  return { secretsFor: () => ({ ready: true, secrets }), forget: () => {}, onChanged: () => {} };
})();

/**
 * Every certificate ready at once, each proxy with a certificate of its own (its key in the PEM),
 * the trust bundle shared: per-proxy secrets layers of distinct bytes, as serve's WorkloadSecrets
 * gives. Held per proxy until it is forgotten (the proxy left).
 */
export function ownSecrets(): SecretSource {
  const pem = (text: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(text).toString("base64")}\n-----END CERTIFICATE-----\n`;
  const root = translated("envoy.extensions.transport_sockets.tls.v3.Secret", "ROOTCA", { name: "ROOTCA", validation_context: { trusted_ca: { inline_string: pem("bench root") } } });
  const held = new Map<string, ReturnType<SecretSource["secretsFor"]>>();
  return {
    secretsFor(proxy) {
      let own = held.get(proxy);
      if (own === undefined) {
        const cert = translated("envoy.extensions.transport_sockets.tls.v3.Secret", "default", {
          name: "default",
          tls_certificate: { certificate_chain: { inline_string: pem(`workload ${proxy}`) }, private_key: { inline_string: `key of ${proxy}` } },
        });
        held.set(proxy, (own = { ready: true, secrets: [cert, root] }));
      }
      return own;
    },
    forget: (proxy) => void held.delete(proxy),
    onChanged: () => {},
  };
}

/** Sidecars connect authenticated, as on the TLS port; proxyless clients on the plaintext port. */
export function credentialOf(kind: BenchProxyKind, i: number, services: number): StreamIdentity | undefined {
  const svc = i % services;
  return kind === "sidecar" ? { namespace: `team-${svc % 20}`, serviceAccount: `svc-${svc}` } : undefined;
}

/** Proxy i's node: sidecar i is a workload of service i % services, with an address of its own. */
export function benchNode(kind: BenchProxyKind, i: number, services: number): Node__Output {
  const s = (v: string) => ({ stringValue: v, kind: "stringValue" as const });
  if (kind === "sidecar") {
    const svc = i % services;
    return {
      id: `sidecar-${i}`,
      cluster: "bench",
      metadata: {
        fields: {
          NAMESPACE: s(`team-${svc % 20}`),
          SERVICE_ACCOUNT: s(`svc-${svc}`),
          PROXY_KIND: s("sidecar"),
          INSTANCE_IPS: s(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
          LABELS: { structValue: { fields: { app: s(`svc-${svc}`), version: s("v1") } }, kind: "structValue" as const },
        },
      },
    } as unknown as Node__Output;
  }
  return {
    id: `client-${i}`,
    cluster: "bench",
    user_agent_name: "gRPC Node",
    metadata: { fields: { NAMESPACE: s(`team-${i % 20}`), SERVICE_ACCOUNT: s("client"), PROXY_KIND: s("grpc") } },
  } as unknown as Node__Output;
}

/**
 * The generated mesh of `services` services loaded as serve's reloader loads it (one loader that
 * keeps unchanged files' results, for a change to follow), and a pusher serving it into a cache,
 * with every certificate ready.
 */
export async function servedBenchMesh(services: number): Promise<{ files: SourceFile[]; loader: MeshLoader; cache: SnapshotCache; pusher: MeshPusher }> {
  const files = meshFiles(services);
  const loader = createMeshLoader();
  const loaded = loader.load(files);
  if (!loaded.ok) throw new Error("generated mesh has errors");
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets });
  if (!(await pusher.setModel(loaded.model)).ok) throw new Error("translation failed");
  return { files, loader, cache, pusher };
}
