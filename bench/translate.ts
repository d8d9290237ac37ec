// Translation and push cost as the mesh grows (issue 4): load + validate, translate the whole
// model, build the snapshot proxyless clients share, push to N connected proxies, and the time
// from a one-file change to new snapshots. Proxies are registered with the pusher directly (no
// sockets): this measures gitmesh's own work, not the network.
//
//   node --expose-gc dist/bench/translate.js [--services 100,1000,10000] [--proxies 2000] [--kind grpc|sidecar]
//
// --kind sidecar connects Envoy sidecars instead of proxyless clients: each is a workload of one
// of the services (with its own address, so its own inbound listeners) and, with no Sidecar
// resource, sees every service: the heaviest case.
import { MeshPusher, type SecretSource } from "../src/runtime/index.js";
import { createMeshLoader } from "../src/config/load.js";
import type { Node__Output } from "../src/envoy/index.js";
import { silentLogger } from "../src/log.js";
import { translateMesh } from "../src/translators/mesh.js";
import { resourcesForProxy } from "../src/translators/proxy-resources.js";
import { translated } from "../src/translators/translated.js";
import { makeSnapshot, ResourceEncoder, SnapshotCache, type StreamIdentity } from "../src/xds/index.js";
import { meshFiles } from "./mesh-gen.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMB = () => {
  gc();
  return process.memoryUsage().rss / 2 ** 20;
};

const kind = option("kind", "grpc");

/**
 * Sidecars connect authenticated, as on the TLS port, and get their own secrets from this source:
 * issuance has its own bench (ca-issue.ts), so here every proxy's certificate is ready at once.
 */
const readySecrets: SecretSource = (() => {
  const pem = "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n";
  const secrets = [
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "default", { name: "default", tls_certificate: { certificate_chain: { inline_string: pem }, private_key: { inline_string: "bench" } } }),
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "ROOTCA", { name: "ROOTCA", validation_context: { trusted_ca: { inline_string: pem } } }),
  ];
  return { secretsFor: () => ({ ready: true, secrets }), forget: () => {}, onChanged: () => {} };
})();

function credentialOf(i: number, services: number): StreamIdentity | undefined {
  const svc = i % services;
  return kind === "sidecar" ? { namespace: `team-${svc % 20}`, serviceAccount: `svc-${svc}` } : undefined;
}

function node(i: number, services: number): Node__Output {
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

const proxies = Number(option("proxies", "2000"));
console.log(`${kind} proxies`);
console.log(`services | files | load+validate ms | translate ms | resources | shared snapshot ms | push to ${proxies} proxies ms | one-file change to snapshots ms | RSS MB`);
for (const n of option("services", "100,1000,10000").split(",").map(Number)) {
  const files = meshFiles(n);
  const base = rssMB();
  const loader = createMeshLoader(); // as serve's reloader keeps one
  const [loaded, loadMs] = time(() => loader.load(files));
  if (!loaded.ok) throw new Error("generated mesh has errors");
  const [translation, translateMs] = time(() => translateMesh(loaded.model));
  const grpc = { nodeId: "x", kind: "grpc" as const, namespace: "team-0", serviceAccount: "client", labels: {}, instanceIps: [] };
  const resources = resourcesForProxy(translation, grpc);
  const encoder = new ResourceEncoder();
  const [, snapshotMs] = time(() => makeSnapshot(resources.map((r) => encoder.encode(r))));
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets });
  pusher.setModel(loaded.model);
  const [, connectMs] = time(() => {
    for (let i = 0; i < proxies; i++) pusher.connected(`proxy-${i}`, node(i, n), "", credentialOf(i, n));
  });
  if (cache.proxies().length !== proxies) throw new Error(`only ${cache.proxies().length} of ${proxies} proxies got a snapshot`);
  // One file changes (a VirtualService's split): the loader re-parses that file, the cross checks
  // run over everything, the model is translated and pushed.
  const changed = files.map((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20") } : f));
  const [, changeMs] = time(() => {
    const next = loader.load(changed);
    if (!next.ok) throw new Error("changed mesh has errors");
    pusher.setModel(next.model);
  });
  const rss = rssMB() - base;
  console.log(
    [n, files.length, loadMs.toFixed(0), translateMs.toFixed(0), resources.length, snapshotMs.toFixed(0), connectMs.toFixed(0), changeMs.toFixed(0), rss.toFixed(0)].join(" | "),
  );
}
