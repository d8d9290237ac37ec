// Self-registered workloads outlive a gitmesh restart: saved in the state directory, restored as
// endpoints at once, and gone after the grace period unless their proxy reconnects. (Found with
// real Envoy: test/fleet/changes-under-load.test.ts restarts gitmesh while registered workloads
// reconnect last.)
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage, TypeUrl, type Node__Output } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { MeshPusher } from "../../src/runtime/push.js";
import { openRegistrations, type Registration } from "../../src/runtime/registration-store.js";
import { withRegistrations, type RegisteredEntries } from "../../src/translators/registration.js";
import { resourcesOf, SnapshotCache, type Snapshot } from "../../src/xds/index.js";
import { nodeOf } from "../support/session-driver.js";

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reg, namespace: demo }
spec:
  hosts: [reg.demo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: reg } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: reg, namespace: demo }
spec:
  metadata: { labels: { app: reg } }
  template: { serviceAccount: reg, ports: { http: 8080 } }
`;

const reg1: Registration = {
  key: "reg-1@demo/reg",
  identity: { nodeId: "reg-1", kind: "sidecar", namespace: "demo", serviceAccount: "reg", labels: { app: "reg" }, workloadGroup: "reg", instanceIps: [], peerAddress: "10.0.0.7", authenticated: true },
};

function stateDir(): string {
  return mkdtempSync(join(tmpdir(), "gitmesh-registrations-"));
}

test("registrations are saved (0600, only when they change) and read back by the next run", async (t) => {
  const dir = stateDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await openRegistrations(dir, silentLogger);
  assert.deepEqual(first.restored, []);
  first.save([reg1]);
  first.save([reg1]);
  const second = await waitForRestore(dir, 1);
  assert.deepEqual(second.restored, [reg1]);
  assert.equal(statSync(join(dir, "registrations.json")).mode & 0o777, 0o600);
  writeFileSync(join(dir, "registrations.json"), "{ not json");
  assert.deepEqual((await openRegistrations(dir, silentLogger)).restored, [], "an unreadable file is not fatal");
  writeFileSync(join(dir, "registrations.json"), JSON.stringify([{ key: "x" }, reg1]));
  assert.deepEqual((await openRegistrations(dir, silentLogger)).restored, [reg1], "malformed entries are left out");
});

async function waitForRestore(dir: string, count: number) {
  for (let i = 0; i < 200; i++) {
    const opened = await openRegistrations(dir, silentLogger);
    if (opened.restored.length === count) return opened;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`registrations.json never held ${count}: ${readFileSync(join(dir, "registrations.json"), "utf8")}`);
}

/** The endpoint addresses a snapshot holds for the reg service. */
function endpointsOf(s: Snapshot): string[] {
  const cla = resourcesOf(s, TypeUrl.ClusterLoadAssignment).byName.get("outbound|8080||reg.demo.svc.cluster.local");
  assert.ok(cla !== undefined);
  const decoded = decodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", cla.bytes) as { endpoints?: { lb_endpoints?: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
  return (decoded.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.address));
}

test("a restored registration is an endpoint at once and leaves when its proxy does not come back in time", async (t) => {
  const loaded = loadMesh([{ path: "mesh.yaml", text: MESH }]);
  assert.ok(loaded.ok);
  const cache = new SnapshotCache();
  const saved: (readonly Registration[])[] = [];
  const pusher = new MeshPusher(cache, silentLogger, { restored: [reg1], registrationGraceMs: 10, restoredGraceMs: 100, registrationBatchMs: 5, onRegistrations: (r) => saved.push(r) });
  t.after(() => pusher.close());
  await pusher.setModel(loaded.model);
  // A proxyless client sees the endpoints without needing secrets (an Envoy sidecar is sent nothing before its certificate).
  const client: Node__Output = { ...nodeOf("client"), metadata: { fields: { NAMESPACE: { stringValue: "demo" }, SERVICE_ACCOUNT: { stringValue: "client" }, PROXY_KIND: { stringValue: "grpc" } } } };
  const snapshots: Snapshot[] = [];
  const gone = new Promise<void>((resolve) =>
    cache.watch("client", (s) => {
      snapshots.push(s);
      if (endpointsOf(s).length === 0) resolve();
    }),
  );
  pusher.connected("client", client, "10.0.0.9:5000");
  await pusher.settled();
  assert.deepEqual(endpointsOf(snapshots[0] ?? assert.fail("no snapshot")), ["10.0.0.7"], "restored before its proxy reconnects");
  // gitmesh's timers do not hold the process open; this one does, until the departure (or a failure).
  const deadline = setTimeout(() => assert.fail("the restored registration never left"), 5_000);
  await gone;
  clearTimeout(deadline);
  assert.deepEqual(saved.at(-1), [], "its departure is saved");
});

test("a registered proxy's WorkloadEntry is the very same object from one translation to the next while the proxy and its group are, so the translation memo keeps what it feeds", () => {
  const loaded = loadMesh([{ path: "mesh.yaml", text: MESH }]);
  assert.ok(loaded.ok);
  const kept: RegisteredEntries = new WeakMap();
  const proxies = new Map([[reg1.key, reg1.identity]]);
  const entry = (model: typeof loaded.model) => withRegistrations(model, proxies, kept).model.resources.find((r) => r.kind === "WorkloadEntry");
  const first = entry(loaded.model);
  assert.ok(first !== undefined);
  assert.equal(entry(loaded.model), first, "the same proxy in the same group: the same entry");
  const edited = loadMesh([{ path: "mesh.yaml", text: MESH.replace("ports: { http: 8080 }", "ports: { http: 9090 }") }]);
  assert.ok(edited.ok);
  const again = entry(edited.model);
  assert.notEqual(again, first, "a group edited: a new entry");
  assert.deepEqual(again, withRegistrations(edited.model, proxies).model.resources.find((r) => r.kind === "WorkloadEntry"), "what a fresh registration makes");
});
