// Every golden resource a gRPC client can ask for, put through each client's own parser: gitmesh
// serves each golden case's config (as the golden files render it) to every client under test,
// with the node of each gRPC proxy the case is rendered for; the client dials every listener (and
// a server binds every inbound port), so it asks for the routes, clusters and endpoints those
// reach; then nothing it was sent may be NACKed. The peers run in a private network namespace
// (netns.ts): the golden endpoints (10.0.0.0/8, DNS names) are unreachable from it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadMesh } from "../../src/config/load.js";
import { readDirectory } from "../../src/config/source.js";
import type { Cluster, Listener } from "../../src/envoy/index.js";
import type { RouteConfiguration } from "../../src/envoy/generated/envoy/config/route/v3/RouteConfiguration.js";
import { GRPC_SERVER_LISTENER_TEMPLATE } from "../../src/translators/grpc-server.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import type { Translated } from "../../src/translators/translated.js";
import { goldenCases, REPO } from "../support/golden-cases.js";
import { privateNetwork } from "./netns.js";
import { CLIENTS, ControlPlane, type Peer } from "./support.js";

const run = promisify(execFile);
const caCli = fileURLToPath(new URL("../support/ca-cli.js", import.meta.url));
const SERVER_PREFIX = GRPC_SERVER_LISTENER_TEMPLATE.replace("%s", "");

/** What a proxy's client or server side makes a gRPC client ask for: the listeners to dial, the ports to serve. */
function asks(resources: readonly Translated[]): { targets: string[]; ports: { port: number; tls: boolean }[]; reachable: number } {
  const listeners = resources.filter((r) => r.type === "envoy.config.listener.v3.Listener") as Translated<"envoy.config.listener.v3.Listener">[];
  const targets = listeners.filter((l) => !l.name.startsWith(SERVER_PREFIX)).map((l) => l.name);
  const ports = new Map<number, boolean>();
  for (const l of listeners.filter((x) => x.name.startsWith(`${SERVER_PREFIX}0.0.0.0:`))) {
    const m = l.message as Listener;
    ports.set(m.address?.socket_address?.port_value ?? 0, (m.filter_chains ?? []).some((c) => c.transport_socket !== undefined && c.transport_socket !== null));
  }
  // What the dialled listeners reach: their routes, the clusters those name, and EDS clusters' endpoints.
  const routes = resources.filter((r) => r.type === "envoy.config.route.v3.RouteConfiguration") as Translated<"envoy.config.route.v3.RouteConfiguration">[];
  const clusterNames = new Set<string>();
  for (const r of routes) {
    for (const vh of (r.message as RouteConfiguration).virtual_hosts ?? []) {
      for (const route of vh.routes ?? []) {
        if (route.route?.cluster !== undefined) clusterNames.add(route.route.cluster);
        for (const w of route.route?.weighted_clusters?.clusters ?? []) clusterNames.add(w.name ?? "");
      }
    }
  }
  const clusters = resources.filter((r) => r.type === "envoy.config.cluster.v3.Cluster" && clusterNames.has(r.name));
  const eds = clusters.filter((c) => (c.message as Cluster).type === "EDS").length;
  return { targets, ports: [...ports].map(([port, tls]) => ({ port, tls })), reachable: targets.length + (targets.length > 0 ? routes.length + clusters.length + eds : 0) + ports.size * 2 };
}

async function waitSettled(cp: ControlPlane, peer: Peer): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cp.settled(peer)) {
    assert.ok(Date.now() < deadline, `${peer.client.name} did not answer everything gitmesh sent within 20 s\n${peer.log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const grpcCases = goldenCases()
  .map((c) => ({ ...c, grpc: Object.entries(c.proxies).filter(([, p]) => p.kind === "grpc") }))
  .filter((c) => c.grpc.length > 0);

for (const c of grpcCases) {
  test(`golden gRPC resources through every client's parser: ${c.name}`, async (t) => {
    const net = await privateNetwork(t);
    if (net === undefined) return;
    const pki = await mkdtemp(join(tmpdir(), "gitmesh-interop-golden-"));
    const cp = await ControlPlane.start({ host: net.hostAddress, netns: net.name });
    t.after(async () => {
      await cp.close();
      await net.close();
      await rm(pki, { recursive: true, force: true });
    });
    // Certificate files for the bootstraps' certificate provider (no handshake happens here).
    await run(process.execPath, [caCli, "ca", "init", "--state-dir", join(pki, "state"), "--key-type", "ecdsa"]);
    await run(process.execPath, [caCli, "cert", "issue", "--state-dir", join(pki, "state"), "--namespace", "golden", "--service-account", "golden", "--key-type", "ecdsa", "--out", join(pki, "certs")]);
    const loaded = loadMesh(await readDirectory(join(REPO, c.config)));
    assert.ok(loaded.ok);
    cp.pusher.setModel(loaded.model);
    const translation = translateMesh(loaded.model);

    for (const client of CLIENTS) {
      await t.test(client.name, async (ct) => {
        const drive = async ([name, proxy]: [string, ProxyIdentity]) => {
          const resources = resourcesForProxy(translation, proxy);
          const { targets, ports, reachable } = asks(resources);
          const peer = await cp.peer(ct, client, { namespace: proxy.namespace, serviceAccount: proxy.serviceAccount, labels: proxy.labels, certDir: join(pki, "certs") });
          if (peer === undefined) return;
          await Promise.all([
            ...targets.map((target) => peer.calls({ target: `xds:///${target}`, timeoutMs: 3_000, secure: true })),
            ...ports.map(({ port, tls }) => peer.serve({ port, name: name, xds: true, secure: tls })),
          ]);
          await waitSettled(cp, peer);
          assert.deepEqual(cp.nacksOf(peer), [], `${client.name} as ${name} refused what gitmesh sent`);
          const acked = cp.acked(peer);
          const want = [...(targets.length > 0 ? ["Listener", "RouteConfiguration", "Cluster"] : []), ...(ports.length > 0 ? ["Listener"] : [])];
          for (const type of want) assert.ok([...acked].some((u) => u.endsWith(`.${type}`)), `${client.name} as ${name} accepted no ${type}: ${[...acked].join(", ")}`);
          ct.diagnostic(`${name}: ${reachable} of ${resources.length} golden resources are reachable by a client (others are never asked for) and were accepted`);
          await peer.close();
        };
        await Promise.all(c.grpc.map(drive));
      });
    }
  });
}
