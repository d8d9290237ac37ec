// Commit -> every Envoy ACKed, measured on a fleet of real Envoy sidecars (test/fleet's harness:
// each on a network namespace of its own, dialling gitmesh's TLS port with a token), next to the
// same change pushed to scripted delta xDS clients connected to the same gitmesh in the same run
// (in sidecars' place: on the TLS port with a token, so they are sent what a sidecar is sent).
//
//   npm run build
//   node dist/bench/fleet-converge.js --sidecars 24 --scripted 24 --commits 10
//
// Needs root (network namespaces) and Envoy (npm run peers). A commit changes the weights of one
// VirtualService every sidecar sees, so every proxy receives a new RouteConfiguration. The time runs
// from `git commit` returning to the last ACK of that RouteConfiguration as gitmesh records it
// (/debug/xds, read every 20 ms): it includes gitmesh noticing the commit (its file watcher waits
// for writes to settle, about 400 ms), loading, translating, pushing, and every proxy's answer.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { credentials, Metadata } from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import { commitAll, writeFiles } from "../test/support/git-repo.js";
import { findPeer } from "../test/support/peers.js";
import { ADS_DELTA, ScriptedClient, type DeltaStream } from "../test/support/xds-client.js";
import { Fleet, type FleetSpec, type XdsView } from "../test/fleet/support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "../test/fleet/support/mesh-yaml.js";
import { waitFor } from "../test/fleet/support/wait.js";

const { values } = parseArgs({ options: { sidecars: { type: "string", default: "24" }, scripted: { type: "string", default: "24" }, commits: { type: "string", default: "10" } } });
const SIDECARS = Number(values.sidecars);
const SCRIPTED = Number(values.scripted);
const COMMITS = Number(values.commits);
const NS = "demo";
const SERVICES = Math.max(1, Math.floor(SIDECARS / 2));

const workloads = Array.from({ length: SIDECARS }, (_, i) => ({
  name: `sc-${i}`,
  namespace: NS,
  serviceAccount: `svc-${i % SERVICES}`,
  labels: { app: `svc-${i % SERVICES}`, version: i < SERVICES ? "v1" : "v2" },
  http: [8080],
}));

function routes(v1: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: svc-0, namespace: ${NS} }
spec:
  hosts: [svc-0]
  http:
    - route:
        - { destination: { host: svc-0, subset: v1 }, weight: ${v1} }
        - { destination: { host: svc-0, subset: v2 }, weight: ${100 - v1} }
`;
}

const spec: FleetSpec = {
  workloads,
  serveArgs: ["--workload-key-type", "ecdsa"],
  config: (address) => ({
    "services.yaml": docs(
      ...Array.from({ length: SERVICES }, (_, s) =>
        docs(
          serviceEntry(`svc-${s}`, NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: `svc-${s}` }),
          destinationRule(`svc-${s}`, NS, "subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]"),
        ),
      ),
    ),
    "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, w.serviceAccount))),
    "routes.yaml": routes(90),
  }),
};

/**
 * A scripted delta client in a sidecar's place: on the TLS port with a token, as every Envoy
 * connects, subscribing to everything and ACKing every response at once.
 */
function scriptedClient(address: string, i: number, token: string, bundle: Buffer): { close(): void } {
  const client = new ScriptedClient(address, { "grpc.use_local_subchannel_pool": 1, "grpc.ssl_target_name_override": "gitmesh" }, credentials.createSsl(bundle));
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const stream: DeltaStream = client.delta(ADS_DELTA, metadata);
  const str = (v: string) => ({ stringValue: v });
  const node = { fields: { NAMESPACE: str(NS), SERVICE_ACCOUNT: str("scripted"), PROXY_KIND: str("sidecar"), INSTANCE_IPS: str(`10.255.${i >> 8}.${i & 0xff}`), LABELS: { structValue: { fields: { app: str("scripted") } } } } };
  stream.send({ node: { id: `scripted-${i}`, cluster: "scripted", metadata: node }, type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster", resource_names_subscribe: [] });
  for (const type of ["envoy.config.endpoint.v3.ClusterLoadAssignment", "envoy.config.listener.v3.Listener", "envoy.config.route.v3.RouteConfiguration"]) {
    stream.send({ type_url: `type.googleapis.com/${type}`, resource_names_subscribe: type.endsWith("Listener") ? [] : ["*"] });
  }
  let open = true;
  void (async () => {
    while (open) {
      const r = await stream.next().catch(() => undefined);
      if (r === undefined) return;
      stream.send({ type_url: r.type_url, response_nonce: r.nonce });
    }
  })();
  return {
    close() {
      open = false;
      client.close();
    },
  };
}

/** When every stream of a group has ACKed a RouteConfiguration sent at or after `since`. */
function routesAcked(view: XdsView, prefix: (node: string) => boolean, since: number, expected: number): boolean {
  const streams = view.streams.filter((s) => prefix(s.nodeId));
  if (streams.length < expected) return false;
  return streams.every((s) => {
    const rds = s.types["RDS"];
    return rds !== undefined && rds.sentAt !== null && Date.parse(rds.sentAt) >= since - 1 && rds.sync === "SYNCED";
  });
}

function stats(ms: readonly number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted.length % 2 === 1 ? (sorted[(sorted.length - 1) / 2] ?? 0) : ((sorted[sorted.length / 2 - 1] ?? 0) + (sorted[sorted.length / 2] ?? 0)) / 2;
  return `median ${Math.round(median)} ms, max ${Math.round(sorted.at(-1) ?? 0)} ms`;
}

async function main(): Promise<void> {
  const envoy = findPeer("envoy", "ENVOY_BIN");
  if (envoy === undefined) throw new Error("Envoy is not installed: npm run peers");
  const started = performance.now();
  const fleet = await Fleet.start(spec, envoy);
  console.log(`fleet of ${SIDECARS} Envoy sidecars ready in ${Math.round(performance.now() - started)} ms`);
  const token = (await fleet.cli("token", "issue", "--state-dir", fleet.stateDir, "--namespace", NS, "--service-account", "scripted")).trim();
  const bundle = readFileSync(join(fleet.stateDir, "trust-bundle.pem"));
  const clients = Array.from({ length: SCRIPTED }, (_, i) => scriptedClient(`${fleet.address("gitmesh")}:15012`, i, token, bundle));
  try {
    const isEnvoy = (n: string) => n.startsWith("sc-");
    const isScripted = (n: string) => n.startsWith("scripted-");
    await waitFor("the scripted clients to connect", async () => {
      const view = await fleet.debugXds();
      return view.streams.filter((s) => isScripted(s.nodeId)).length === SCRIPTED ? { ok: true, value: undefined } : { ok: false, why: "connecting" };
    });
    const envoys: number[] = [];
    const scripted: number[] = [];
    const pushes: number[] = [];
    for (let c = 0; c < COMMITS; c++) {
      await writeFiles(fleet.configDir, { "routes.yaml": routes(c % 2 === 0 ? 10 : 90) });
      await commitAll(fleet.configDir, `commit ${c}`);
      const t0 = Date.now();
      let envoyDone: number | undefined;
      let scriptedDone: number | undefined;
      let pushedAt: number | undefined;
      await waitFor(`commit ${c} to be ACKed by every proxy`, async () => {
        const view = await fleet.debugXds();
        const now = Date.now();
        const sent = view.streams.map((s) => Date.parse(s.types["RDS"]?.sentAt ?? "")).filter((t) => t >= t0 - 1);
        if (sent.length > 0) pushedAt = Math.min(...sent) - t0;
        if (envoyDone === undefined && routesAcked(view, isEnvoy, t0, SIDECARS)) envoyDone = now - t0;
        if (scriptedDone === undefined && routesAcked(view, isScripted, t0, SCRIPTED)) scriptedDone = now - t0;
        return envoyDone !== undefined && (scriptedDone !== undefined || SCRIPTED === 0) ? { ok: true, value: undefined } : { ok: false, why: "not everyone yet" };
      }, 60_000, 20);
      envoys.push(envoyDone ?? 0);
      if (scriptedDone !== undefined) scripted.push(scriptedDone);
      pushes.push(pushedAt ?? 0);
      console.log(`commit ${c + 1}: gitmesh pushed at ${pushedAt} ms; every Envoy ACKed at ${envoyDone} ms, every scripted client at ${scriptedDone ?? "-"} ms`);
      await fleet.synced(60_000);
    }
    console.log(`\ngitmesh's first push after the commit: ${stats(pushes)}`);
    console.log(`${SIDECARS} Envoy sidecars: ${stats(envoys)} (${COMMITS} commits)`);
    if (SCRIPTED > 0) console.log(`${SCRIPTED} scripted delta clients, same commits: ${stats(scripted)}`);
  } finally {
    for (const c of clients) c.close();
    await fleet.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
