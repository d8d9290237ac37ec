// The pusher as a running control plane uses it: what it holds for connected proxies and gives
// back when they leave, how it compares a proxy's claims, and what it refuses to hand a proxy that
// could not use it (issue 9).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createMeshLoader, loadMesh, type MeshModel } from "../../src/config/load.js";
import { decodeMessage, type ClusterLoadAssignment, type Node__Output } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { MeshPusher, type SecretSource } from "../../src/runtime/index.js";
import { translated } from "../../src/translators/translated.js";
import { CDS, EDS, LDS, RDS, resourcesOf, SnapshotCache, type Snapshot, type StreamIdentity } from "../../src/xds/index.js";
import { meshFiles } from "../../bench/mesh-gen.js";
import { heapAfterGc } from "../support/gc.js";
import { EGRESS_HTTP } from "../support/corpus-files.js";
import { REPO_ROOT } from "../support/peers.js";

function model(text: string): MeshModel {
  const loaded = loadMesh([{ path: "mesh.yaml", text }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.line} ${d.message}`).join("\n"));
  return loaded.model;
}

const WEB = model(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: shop }
spec:
  hosts: [web.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: web } }
`);

const str = (v: string) => ({ stringValue: v, kind: "stringValue" as const });

function sidecar(id: string, labels: Record<string, string>, extra: Record<string, unknown> = {}): Node__Output {
  return {
    id,
    cluster: "test",
    metadata: {
      fields: {
        NAMESPACE: str("shop"),
        SERVICE_ACCOUNT: str("web"),
        PROXY_KIND: str("sidecar"),
        LABELS: { structValue: { fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, str(v)])) }, kind: "structValue" as const },
        ...extra,
      },
    },
  } as unknown as Node__Output;
}

/** Every proxy's certificate is ready at once (issuance has its own tests). */
function readySecrets(): SecretSource & { ready: boolean; changed: (proxy: string) => void } {
  const pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
  const secrets = [
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "default", { name: "default", tls_certificate: { certificate_chain: { inline_string: pem }, private_key: { inline_string: "k" } } }),
    translated("envoy.extensions.transport_sockets.tls.v3.Secret", "ROOTCA", { name: "ROOTCA", validation_context: { trusted_ca: { inline_string: pem } } }),
  ];
  const listeners: ((p: string) => void)[] = [];
  const source = {
    ready: true,
    secretsFor: () => (source.ready ? { ready: true, secrets } : { ready: false, secrets: secrets.slice(1) }),
    forget: () => {},
    onChanged: (l: (p: string) => void) => void listeners.push(l),
    changed: (proxy: string) => listeners.forEach((l) => l(proxy)),
  };
  return source;
}

/** A cache that counts how often each proxy's snapshot is set. */
class CountingCache extends SnapshotCache {
  readonly sets = new Map<string, number>();
  override set(proxy: string, snapshot: Snapshot) {
    this.sets.set(proxy, (this.sets.get(proxy) ?? 0) + 1);
    return super.set(proxy, snapshot);
  }
}

const web: StreamIdentity = { namespace: "shop", serviceAccount: "web" };

test("a proxy that connects again with the same labels in another order is not pushed again", async () => {
  const cache = new CountingCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  pusher.setModel(WEB);
  const extra = { INSTANCE_IPS: str("10.0.0.5") };
  pusher.connected("p", sidecar("p", { app: "web", version: "v1", zone: "a" }, extra), "ipv4:10.0.0.5:5000", web);
  // A second stream of the same proxy (a per-type stream, a reconnect before the old one is seen
  // gone): its node's LABELS map arrives in another order.
  pusher.connected("p", sidecar("p", { zone: "a", version: "v1", app: "web" }, extra), "ipv4:10.0.0.5:5001", web);
  await pusher.settled();
  assert.equal(cache.sets.get("p"), 1);
  pusher.close();
});

test("a sidecar whose inbound address would be the application's own gets no inbound listener, and its status says to set INSTANCE_IPS", async () => {
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  pusher.setModel(WEB);
  pusher.connected("p", sidecar("p", { app: "web" }), "ipv4:127.0.0.1:40000", web);
  await pusher.settled();
  const listeners = resourcesOf(cache.get("p") as Snapshot, LDS.typeUrl).items.map((r) => r.name);
  assert.ok(!listeners.some((n) => n.startsWith("inbound|")), listeners.join(", "));
  assert.match(pusher.notices.get("p").join("\n"), /inbound address would be 127\.0\.0\.1, the application's own; set INSTANCE_IPS/);
  // With INSTANCE_IPS it is there, and the notice is gone.
  pusher.connected("p", sidecar("p", { app: "web" }, { INSTANCE_IPS: str("10.0.0.5") }), "ipv4:127.0.0.1:40001", web);
  await pusher.settled();
  assert.ok(resourcesOf(cache.get("p") as Snapshot, LDS.typeUrl).items.some((r) => r.name === "inbound|8080"));
  assert.deepEqual(pusher.notices.get("p"), []);
  pusher.close();
});

test("an Envoy sidecar gets no snapshot until its certificate is there: its listeners and clusters name it", async () => {
  const cache = new SnapshotCache();
  const secrets = readySecrets();
  secrets.ready = false;
  const pusher = new MeshPusher(cache, silentLogger, { secrets });
  pusher.setModel(WEB);
  pusher.connected("p", sidecar("p", { app: "web" }, { INSTANCE_IPS: str("10.0.0.5") }), "ipv4:10.0.0.5:5000", web);
  await pusher.settled();
  assert.equal(cache.get("p"), undefined, "nothing it could not resolve");
  secrets.ready = true;
  secrets.changed("p");
  await pusher.settled();
  assert.ok(cache.get("p") !== undefined, "served once issued");
  pusher.close();
});

test("5,000 sidecars that connect and leave under a stable config leave nothing behind", async () => {
  const loaded = loadMesh(meshFiles(50));
  assert.ok(loaded.ok);
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  pusher.setModel(loaded.model);
  // Each is a workload of one of the services, with an address of its own, so inbound listeners
  // of its own: the layers and encodings only it uses must go when it does.
  const node = (i: number) => ({
    ...sidecar(`s-${i}`, { app: `svc-${i % 50}`, version: "v1" }, { INSTANCE_IPS: str(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), NAMESPACE: str(`team-${i % 50 % 20}`), SERVICE_ACCOUNT: str(`svc-${i % 50}`) }),
  });
  const identity = (i: number): StreamIdentity => ({ namespace: `team-${i % 50 % 20}`, serviceAccount: `svc-${i % 50}` });
  const wave = async (from: number, to: number) => {
    for (let i = from; i < to; i++) pusher.connected(`s-${i}`, node(i), "", identity(i));
    await pusher.settled();
    assert.equal(cache.proxies().length, to - from, "every sidecar of the wave was pushed");
    for (let i = from; i < to; i++) pusher.disconnected(`s-${i}`);
  };
  // Collected, then given the turns in which weakly held objects and finalizers are let go.
  const settled = async () => {
    for (let i = 0; i < 3; i++) {
      heapAfterGc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return heapAfterGc();
  };
  await wave(0, 200); // warm up: JIT, the shared scope layer's first build
  const before = await settled();
  await wave(200, 5_200);
  const first = await settled();
  await wave(5_200, 10_200);
  const second = await settled();
  assert.equal(pusher.held.proxies, 0);
  assert.equal(pusher.held.layers, 0, "no layer or composed snapshot is kept once no proxy uses it");
  assert.equal(cache.proxies().length, 0);
  assert.equal(pusher.held.inboundListeners, 0, "no inbound listener is kept for a proxy that left");
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  assert.ok(first - before < 4 * 2 ** 20, `5,000 sidecars came and went and the heap grew by ${mb(first - before)} MB`);
  assert.ok(second - first < 1 * 2 ** 20, `5,000 more grew it by ${mb(second - first)} MB: something is kept per proxy`);
  pusher.close();
});

/** The generated mesh's sidecar i (a workload of svc-(i % services)), with an address of its own. */
function meshSidecar(i: number, services: number): [Node__Output, StreamIdentity] {
  const svc = i % services;
  const ns = `team-${svc % 20}`;
  const node = sidecar(`s-${i}`, { app: `svc-${svc}`, version: "v1" }, { INSTANCE_IPS: str(`10.9.${(i >> 8) & 255}.${i & 255}`), NAMESPACE: str(ns), SERVICE_ACCOUNT: str(`svc-${svc}`) });
  return [node, { namespace: ns, serviceAccount: `svc-${svc}` }];
}

test("proxies are pushed in slices: connecting a fleet at once returns before every snapshot is built, and all are built after", async () => {
  const loaded = loadMesh(meshFiles(50));
  assert.ok(loaded.ok);
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  pusher.setModel(loaded.model);
  let turns = 0;
  const turning = setInterval(() => turns++, 0);
  for (let i = 0; i < 2_000; i++) pusher.connected(`s-${i}`, ...withPeer(meshSidecar(i, 50)));
  assert.ok(cache.proxies().length < 2_000, `all ${cache.proxies().length} snapshots were built in one task`);
  await pusher.settled();
  clearInterval(turning);
  assert.equal(cache.proxies().length, 2_000);
  assert.ok(turns > 0, "the event loop turned while the fleet was pushed");
  pusher.close();
});

test("a translation while proxies are being pushed: every proxy ends with the newest, and what a change left alone is the same object", async () => {
  const files = meshFiles(50);
  const first = loadMesh(files);
  assert.ok(first.ok);
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  pusher.setModel(first.model);
  for (let i = 0; i < 500; i++) pusher.connected(`s-${i}`, ...withPeer(meshSidecar(i, 50)));
  await pusher.settled();
  const before = new Map(cache.proxies().map((p) => [p, cache.get(p) as Snapshot]));
  // One VirtualService's split changes, twice in a row, the second while the first is pushed.
  const change = (to: number) => files.map((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", `weight: ${to}`).replace("weight: 10", `weight: ${100 - to}`) } : f));
  const second = loadMesh(change(80));
  const third = loadMesh(change(70));
  assert.ok(second.ok && third.ok);
  const overtaken = pusher.setModel(second.model);
  assert.ok((await pusher.setModel(third.model)).ok);
  assert.ok((await overtaken).ok, "an overtaken translation is not a failure");
  await pusher.settled();
  const expectedCache = new SnapshotCache();
  const expected = new MeshPusher(expectedCache, silentLogger, { secrets: readySecrets() });
  expected.setModel(third.model);
  expected.connected("s-7", ...withPeer(meshSidecar(7, 50)));
  await expected.settled();
  for (const [proxy, old] of before) {
    const now = cache.get(proxy) as Snapshot;
    const routes = (s: Snapshot) => resourcesOf(s, RDS.typeUrl).version;
    assert.notEqual(routes(now), routes(old), `${proxy}'s routes changed`);
    for (const type of [LDS, CDS, EDS]) assert.equal(resourcesOf(now, type.typeUrl), resourcesOf(old, type.typeUrl), `${proxy}'s ${type.short} are the very same object`);
    // Its inbound layer (listener and local cluster) was not encoded and checked again.
    assert.ok(old.layers !== undefined && old.layers.length >= 2, `${proxy} has an inbound layer`);
    assert.equal(now.layers?.[1], old.layers[1], `${proxy}'s inbound layer is the very same snapshot`);
  }
  assert.equal(resourcesOf(cache.get("s-7") as Snapshot, RDS.typeUrl).version, resourcesOf(expectedCache.get("s-7") as Snapshot, RDS.typeUrl).version, "the newest translation's routes");
  pusher.close();
  expected.close();
});

function withPeer([node, identity]: [Node__Output, StreamIdentity]): [Node__Output, string, StreamIdentity] {
  return [node, "", identity];
}

test("gitmesh's DNS answers are a translation input: a host's assignment gains the addresses, and another answer replaces them", async () => {
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  // Istio's egress task: httpbin.org with resolution DNS and no endpoints.
  const egress = model(readFileSync(join(REPO_ROOT, EGRESS_HTTP), "utf8"));
  await pusher.setModel(egress);
  pusher.connected("p", sidecar("p", { app: "web" }, { INSTANCE_IPS: str("10.0.0.5") }), "ipv4:10.0.0.5:5000", web);
  await pusher.settled();
  /** The addresses in the proxy's assignment for httpbin.org's cluster. */
  const addresses = () => {
    const r = resourcesOf(cache.get("p") as Snapshot, EDS.typeUrl).byName.get("outbound|80||httpbin.org");
    assert.ok(r !== undefined, "an assignment, answer or not");
    const cla = decodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", r.bytes) as ClusterLoadAssignment;
    return (cla.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address));
  };
  assert.deepEqual(addresses(), [], "none before the first answer");
  await pusher.setDnsAnswers(new Map([["httpbin.org", ["10.9.0.1"]]]));
  await pusher.settled();
  assert.deepEqual(addresses(), ["10.9.0.1"]);
  await pusher.setDnsAnswers(new Map([["httpbin.org", ["10.9.0.2", "10.9.0.3"]]]));
  await pusher.settled();
  assert.deepEqual(addresses(), ["10.9.0.2", "10.9.0.3"], "another answer replaces them");
  assert.ok(resourcesOf(cache.get("p") as Snapshot, CDS.typeUrl).byName.has("outbound|80||httpbin.org"));
  pusher.close();
});

test("a sidecar's inbound side follows what it is made of across translations: kept through a route change, made again when a policy selecting it changes in place", async () => {
  const files = meshFiles(5);
  const policy = (action: "ALLOW" | "DENY") => ({
    path: "team-0/svc-0/policy.yaml",
    text: `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: svc-0, namespace: team-0 }\nspec:\n  selector: { matchLabels: { app: svc-0 } }\n  action: ${action}\n  rules: [{ to: [{ operation: { methods: [POST] } }] }]\n`,
  });
  const loader = createMeshLoader(); // keeps an unchanged file's objects, as serve's reloader does
  const load = (extra: { path: string; text: string }[], weight = 90) => {
    const r = loader.load([...files.map((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", `weight: ${weight}`).replace("weight: 10", `weight: ${100 - weight}`) } : f)), ...extra]);
    assert.ok(r.ok, r.diagnostics.map((d) => d.message).join("\n"));
    return r.model;
  };
  const cache = new SnapshotCache();
  const pusher = new MeshPusher(cache, silentLogger, { secrets: readySecrets() });
  await pusher.setModel(load([policy("ALLOW")]));
  pusher.connected("s-0", ...withPeer(meshSidecar(0, 5)));
  await pusher.settled();
  const inbound = (s: Snapshot) => s.layers?.[1];
  const listener = () => resourcesOf(cache.get("s-0") as Snapshot, LDS.typeUrl).byName.get("inbound|8080");
  const first = cache.get("s-0") as Snapshot;
  await pusher.setModel(load([policy("ALLOW")], 80));
  await pusher.settled();
  const routed = cache.get("s-0") as Snapshot;
  assert.notEqual(routed, first, "the route change reached the sidecar");
  assert.equal(inbound(routed), inbound(first), "its inbound layer is the very same");
  const allowing = listener();
  await pusher.setModel(load([policy("DENY")], 80));
  await pusher.settled();
  assert.notEqual(inbound(cache.get("s-0") as Snapshot), inbound(routed), "a policy changed in place makes the inbound layer again");
  assert.ok(allowing !== undefined && listener() !== undefined && listener()?.version !== allowing.version, "its listener enforces the new policy");
  pusher.close();
});
