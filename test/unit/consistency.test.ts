// checkConsistency (the references a proxy would warm forever on) and SnapshotCache's use of it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pack, TypeUrl } from "../../src/envoy/index.js";
import type { HttpConnectionManager } from "../../src/envoy/index.js";
import { checkConsistency, composeSnapshot, makeSnapshot, resource, SnapshotCache, unresolved, unresolvedSince, type EncodedResource, type Inconsistency, type Snapshot } from "../../src/xds/index.js";
import { apiListener, edsCluster, endpoints, routeTo, secret, snapshot } from "../support/fixtures.js";

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ads = { ads: {}, resource_api_version: "V3" } as const;

const inlineAssignment = (name: string) => ({
  cluster_name: name,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } } }] }],
});

function cluster(name: string, type: "STATIC" | "LOGICAL_DNS" | "EDS", serviceName?: string): EncodedResource {
  return resource("envoy.config.cluster.v3.Cluster", name, {
    name,
    type,
    connect_timeout: { seconds: 1 },
    ...(type === "EDS"
      ? { eds_cluster_config: { eds_config: ads, ...(serviceName === undefined ? {} : { service_name: serviceName }) } }
      : { load_assignment: inlineAssignment(name) }),
  });
}

const rds = (routeName: string): HttpConnectionManager => ({ stat_prefix: "http", rds: { route_config_name: routeName, config_source: ads } });
const inline = (): HttpConnectionManager => ({
  stat_prefix: "http",
  route_config: { name: "inline", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }] },
});
const chain = (hcm: HttpConnectionManager) => ({ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: pack(HCM, hcm) }] });
const address = { socket_address: { address: "0.0.0.0", port_value: 8080 } };

function chainsListener(name: string, ...hcms: HttpConnectionManager[]): EncodedResource {
  return resource("envoy.config.listener.v3.Listener", name, { name, address, filter_chains: hcms.map(chain) });
}

function defaultChainListener(name: string, hcm: HttpConnectionManager): EncodedResource {
  return resource("envoy.config.listener.v3.Listener", name, { name, address, default_filter_chain: chain(hcm) });
}

function tcpListener(name: string): EncodedResource {
  const tcp = pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: "tcp", cluster: "a" });
  return resource("envoy.config.listener.v3.Listener", name, { name, address, filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: tcp }] }] });
}

const missing = (fromType: string, from: string, type: string, name: string): Inconsistency => ({
  from: { typeUrl: fromType, name: from },
  missing: { typeUrl: type, name },
});
const noCLA = (from: string, name = from) => missing(TypeUrl.Cluster, from, TypeUrl.ClusterLoadAssignment, name);
const noSecret = (fromType: string, from: string, name: string) => missing(fromType, from, TypeUrl.Secret, name);

/** A cluster reaching its endpoints over TLS with SDS secrets, as ISTIO_MUTUAL clusters do (in a transport socket match, as automatic mTLS does). */
function mtlsCluster(name: string, certificate: string, validation: string): EncodedResource {
  const tls = pack("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: certificate, sds_config: ads }], combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: validation, sds_config: ads } } },
  });
  return resource("envoy.config.cluster.v3.Cluster", name, {
    name,
    type: "STATIC",
    connect_timeout: { seconds: 1 },
    load_assignment: inlineAssignment(name),
    transport_socket_matches: [{ name: "mtls", match: { fields: { tlsMode: { stringValue: "istio" } } }, transport_socket: { name: "envoy.transport_sockets.tls", typed_config: tls } }],
  });
}

/** A listener terminating TLS with a certificate and a client CA over SDS, as a gateway's MUTUAL server does. */
function tlsListener(name: string, certificate: string, validation: string): EncodedResource {
  const tls = pack("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: certificate, sds_config: ads }], validation_context_sds_secret_config: { name: validation, sds_config: ads } },
  });
  const tcp = pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: "tcp", cluster: "a" });
  return resource("envoy.config.listener.v3.Listener", name, {
    name,
    address,
    filter_chains: [{ transport_socket: { name: "envoy.transport_sockets.tls", typed_config: tls }, filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: tcp }] }],
  });
}
const noRoute = (from: string, name: string) => missing(TypeUrl.Listener, from, TypeUrl.RouteConfiguration, name);

describe("checkConsistency", () => {
  const cases: { name: string; resources: EncodedResource[]; problems: Inconsistency[] }[] = [
    { name: "empty snapshot", resources: [], problems: [] },
    { name: "EDS cluster with its ClusterLoadAssignment", resources: [edsCluster("a"), endpoints("a")], problems: [] },
    { name: "EDS cluster without its ClusterLoadAssignment", resources: [edsCluster("a")], problems: [noCLA("a")] },
    { name: "EDS cluster whose CLA exists only under another name", resources: [edsCluster("a"), endpoints("b")], problems: [noCLA("a")] },
    { name: "EDS service_name pointing at a present, differently named CLA", resources: [cluster("a", "EDS", "a-eps"), endpoints("a-eps")], problems: [] },
    { name: "EDS service_name pointing at a missing CLA (the cluster's own name does not count)", resources: [cluster("a", "EDS", "a-eps"), endpoints("a")], problems: [noCLA("a", "a-eps")] },
    { name: "EDS with an empty service_name uses the cluster name", resources: [cluster("a", "EDS", ""), endpoints("a")], problems: [] },
    { name: "STATIC cluster needs nothing", resources: [cluster("s", "STATIC")], problems: [] },
    { name: "LOGICAL_DNS cluster needs nothing", resources: [cluster("d", "LOGICAL_DNS")], problems: [] },
    { name: "every EDS cluster is checked, in name order", resources: [edsCluster("c"), edsCluster("a"), cluster("b", "STATIC"), endpoints("b")], problems: [noCLA("a"), noCLA("c")] },
    { name: "api_listener with its RDS route present", resources: [apiListener("l", "r"), routeTo("r", "a")], problems: [] },
    { name: "api_listener with its RDS route missing", resources: [apiListener("l", "r"), routeTo("other", "a")], problems: [noRoute("l", "r")] },
    { name: "filter_chains HCM over RDS, route present", resources: [chainsListener("l", rds("r")), routeTo("r", "a")], problems: [] },
    { name: "filter_chains HCM over RDS, route missing", resources: [chainsListener("l", rds("r"))], problems: [noRoute("l", "r")] },
    { name: "filter_chains HCM with an inline route_config needs nothing", resources: [chainsListener("l", inline())], problems: [] },
    { name: "several chains: each RDS name is checked", resources: [chainsListener("l", rds("r1"), inline(), rds("r2")), routeTo("r1", "a")], problems: [noRoute("l", "r2")] },
    { name: "default_filter_chain over RDS, route present", resources: [defaultChainListener("l", rds("r")), routeTo("r", "a")], problems: [] },
    { name: "default_filter_chain over RDS, route missing", resources: [defaultChainListener("l", rds("r"))], problems: [noRoute("l", "r")] },
    { name: "a TCP proxy listener needs nothing", resources: [tcpListener("t")], problems: [] },
    { name: "an mTLS cluster with both its SDS secrets", resources: [mtlsCluster("m", "default", "ROOTCA"), secret("default"), secret("ROOTCA")], problems: [] },
    {
      name: "an mTLS cluster without its secrets (a sidecar on a port that never sends them would warm forever)",
      resources: [mtlsCluster("m", "default", "ROOTCA")],
      problems: [noSecret(TypeUrl.Cluster, "m", "ROOTCA"), noSecret(TypeUrl.Cluster, "m", "default")],
    },
    { name: "a TLS listener with its certificate and client CA", resources: [tlsListener("t", "shop-cert", "shop-cert-cacert"), secret("shop-cert"), secret("shop-cert-cacert")], problems: [] },
    { name: "a TLS listener whose private key was withheld", resources: [tlsListener("t", "shop-cert", "shop-cert-cacert"), secret("shop-cert-cacert")], problems: [noSecret(TypeUrl.Listener, "t", "shop-cert")] },
    {
      name: "clusters are reported before listeners",
      resources: [apiListener("l", "r"), edsCluster("a"), routeTo("x", "a")],
      problems: [noCLA("a"), noRoute("l", "r")],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(checkConsistency(snapshot(...c.resources)), c.problems);
    });
  }
});

describe("SnapshotCache", () => {
  const good = snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80"));
  const better = snapshot(edsCluster("a"), endpoints("a", "10.0.0.2:80"));
  const dangling = snapshot(edsCluster("a"), edsCluster("b"), endpoints("a"));

  test("set refuses an inconsistent snapshot and keeps the old one", () => {
    const cache = new SnapshotCache();
    assert.deepEqual(cache.set("p", good), { ok: true });
    const seen: Snapshot[] = [];
    cache.watch("p", (s) => seen.push(s));
    assert.deepEqual(cache.set("p", dangling), { ok: false, problems: [noCLA("b")] });
    assert.equal(cache.get("p"), good);
    assert.deepEqual(seen, [good], "watchers are not told about a refused snapshot");
  });

  test("set refuses an inconsistent first snapshot: the proxy has none", () => {
    const cache = new SnapshotCache();
    assert.equal(cache.set("p", dangling).ok, false);
    assert.equal(cache.get("p"), undefined);
    assert.deepEqual(cache.proxies(), []);
  });

  test("watch delivers the current snapshot at once and later ones; unwatch stops delivery and leaves no watcher", () => {
    const cache = new SnapshotCache();
    cache.set("p", good);
    const seen: Snapshot[] = [];
    const unwatch = cache.watch("p", (s) => seen.push(s));
    assert.deepEqual(seen, [good]);
    assert.equal(cache.watchedProxies(), 1);
    cache.set("p", better);
    cache.set("other", good);
    assert.deepEqual(seen, [good, better]);
    unwatch();
    cache.set("p", good);
    assert.deepEqual(seen, [good, better]);
    assert.equal(cache.watchedProxies(), 0);
    unwatch();
    assert.equal(cache.watchedProxies(), 0, "a second unwatch is harmless");
  });

  test("watch before any snapshot delivers nothing until one is set", () => {
    const cache = new SnapshotCache();
    const seen: Snapshot[] = [];
    const unwatch = cache.watch("p", (s) => seen.push(s));
    assert.deepEqual(seen, []);
    cache.set("p", good);
    assert.deepEqual(seen, [good]);
    unwatch();
    assert.equal(cache.watchedProxies(), 0);
  });

  test("several watchers of one proxy: each is removed on its own", () => {
    const cache = new SnapshotCache();
    cache.set("p", good);
    const a: Snapshot[] = [];
    const b: Snapshot[] = [];
    const unwatchA = cache.watch("p", (s) => a.push(s));
    const unwatchB = cache.watch("p", (s) => b.push(s));
    const unwatchQ = cache.watch("q", () => undefined);
    assert.equal(cache.watchedProxies(), 2);
    unwatchA();
    cache.set("p", better);
    assert.deepEqual([a, b], [[good], [good, better]]);
    assert.equal(cache.watchedProxies(), 2);
    unwatchB();
    unwatchQ();
    assert.equal(cache.watchedProxies(), 0);
  });

  test("a watcher added during a notification gets each snapshot once", () => {
    const cache = new SnapshotCache();
    const late: Snapshot[] = [];
    cache.watch("p", () => {
      if (late.length === 0) cache.watch("p", (s) => late.push(s));
    });
    cache.set("p", good);
    assert.deepEqual(late, [good]);
  });
});

describe("unresolvedSince: the answer of the snapshot replaced, while nothing it rests on changed", () => {
  // A layer as a sidecar scope's is: clusters naming a secret another layer brings, a listener naming a route.
  const c = mtlsCluster("c", "default", "ROOTCA");
  const l = defaultChainListener("l", rds("r"));
  // Built as a layer is rebuilt (runtime/layers.ts): a type whose resources are the very same keeps its object.
  const layer = (...resources: EncodedResource[]) => {
    const r = makeSnapshot(resources, before);
    assert.ok(r.ok);
    return r.snapshot;
  };
  const first = makeSnapshot([c, l, routeTo("r", "c")]);
  assert.ok(first.ok);
  const before = first.snapshot;
  const answer = unresolved(before);
  const rows: readonly { why: string; next: Snapshot; reused: boolean; missing: string[] }[] = [
    { why: "a route's content changes, its name stays", next: layer(c, l, routeTo("r", { c: 80, d: 20 })), reused: true, missing: ["default", "ROOTCA"] },
    { why: "the route the listener names goes", next: layer(c, l, routeTo("other", "c")), reused: false, missing: ["default", "ROOTCA", "r"] },
    { why: "a cluster changes", next: layer(mtlsCluster("c", "default", "other-ca"), l, routeTo("r", "c")), reused: false, missing: ["default", "other-ca"] },
    { why: "the secret arrives in the layer", next: layer(c, l, routeTo("r", "c"), secret("default")), reused: false, missing: ["ROOTCA"] },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.notEqual(row.next, before);
      const got = unresolvedSince(row.next, before);
      assert.equal(got === answer, row.reused, row.reused ? "the previous answer is taken" : "worked out again");
      assert.deepEqual([...got.keys()].map((k) => k.split("\0")[1]).sort(), [...row.missing].sort());
      assert.deepEqual([...got.keys()].sort(), [...unresolved(layer(...[...row.next.types.values()].flatMap((t) => t.items))).keys()].sort(), "what a check from scratch finds");
    });
  }
});

describe("unresolvedSince for a composition (a sidecar's layers)", () => {
  const c = mtlsCluster("c", "default", "ROOTCA");
  const l = defaultChainListener("l", rds("r"));
  const made = (resources: EncodedResource[], previous?: Snapshot) => {
    const r = makeSnapshot(resources, previous);
    assert.ok(r.ok);
    return r.snapshot;
  };
  const composed = (layers: Snapshot[], previous?: Snapshot) => {
    const r = composeSnapshot(layers, previous);
    assert.ok(r.ok);
    return r.snapshot;
  };
  const scope = made([c, l, routeTo("r", "c")]);
  const secrets = made([secret("default"), secret("ROOTCA")]);
  const first = composed([scope, secrets]);
  const answer = unresolved(first);
  test("a route change in the scope layer: the same answer (nothing unresolved), taken", () => {
    const scope2 = made([c, l, routeTo("r", { c: 70, d: 30 })], scope);
    unresolvedSince(scope2, scope);
    const next = composed([scope2, secrets], first);
    assert.equal(unresolvedSince(next, first), answer);
    assert.equal(answer.size, 0);
  });
  test("a secrets layer without the trust bundle: worked out again, and the bundle is missing", () => {
    const next = composed([scope, made([secret("default")])], first);
    const got = unresolvedSince(next, first);
    assert.notEqual(got, answer);
    assert.deepEqual([...got.keys()].map((k) => k.split("\0")[1]), ["ROOTCA"]);
  });
  test("a scope layer whose clusters name another secret: worked out again", () => {
    const scope2 = made([mtlsCluster("c", "default", "other-ca"), l, routeTo("r", "c")], scope);
    const next = composed([scope2, secrets], first);
    assert.deepEqual([...unresolvedSince(next, first).keys()].map((k) => k.split("\0")[1]), ["other-ca"]);
  });
});
