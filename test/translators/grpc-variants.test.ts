// The gRPC variant of what gitmesh sends (grpc-headers.ts, grpc-compat.ts, grpc-clients.ts):
// table-driven checks of each rule. That real clients of every version obey the result is
// test/interop's job.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeaderMatcher } from "../../src/envoy/generated/envoy/config/route/v3/HeaderMatcher.js";
import type { Route } from "../../src/envoy/generated/envoy/config/route/v3/Route.js";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage } from "../../src/envoy/index.js";
import { grpcClientClass } from "../../src/translators/grpc-clients.js";
import { grpcCluster, grpcClusterFor, grpcRoutesFor, NO_MATCH_ROUTE } from "../../src/translators/grpc-compat.js";
import { grpcHeaderRoutes, legacyHeaderMatcher } from "../../src/translators/grpc-headers.js";
import { createTranslationMemo, translateMesh } from "../../src/translators/mesh.js";
import { proxyLayers } from "../../src/translators/proxy-resources.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { translated } from "../../src/translators/translated.js";

const matchers: { name: string; in: HeaderMatcher; out: HeaderMatcher }[] = [
  { name: "exact", in: { name: "x", string_match: { exact: "a" } }, out: { name: "x", exact_match: "a" } },
  { name: "prefix", in: { name: "x", string_match: { prefix: "a" } }, out: { name: "x", prefix_match: "a" } },
  { name: "suffix", in: { name: "x", string_match: { suffix: "a" } }, out: { name: "x", suffix_match: "a" } },
  { name: "regex", in: { name: "x", string_match: { safe_regex: { regex: "[0-9]+" } } }, out: { name: "x", safe_regex_match: { regex: "[0-9]+" } } },
  { name: "contains (grpc-js has no contains_match): a regex", in: { name: "x", string_match: { contains: "a.b" } }, out: { name: "x", safe_regex_match: { regex: ".*a\\.b.*" } } },
  { name: "ignore_case: a case-insensitive regex", in: { name: "x", string_match: { exact: "A", ignore_case: true } }, out: { name: "x", safe_regex_match: { regex: "(?i)A" } } },
  { name: "present: the regex .* (grpc-go takes an empty value for absent)", in: { name: "x", present_match: true }, out: { name: "x", safe_regex_match: { regex: ".*" } } },
  { name: "absent stays present_match, inverted", in: { name: "x", present_match: true, invert_match: true }, out: { name: "x", present_match: true, invert_match: true } },
  { name: "inverted value keeps invert_match", in: { name: "x", string_match: { exact: "a" }, invert_match: true }, out: { name: "x", invert_match: true, exact_match: "a" } },
];

for (const c of matchers) {
  test(`gRPC header matcher: ${c.name}`, () => assert.deepEqual(legacyHeaderMatcher(c.in), c.out));
}

test("withoutHeaders with a value: one route for an absent header, one for another value", () => {
  const route: Route = {
    name: "r",
    match: {
      prefix: "/",
      headers: [
        { name: "a", string_match: { exact: "1" } },
        { name: "b", string_match: { exact: "no" }, invert_match: true, treat_missing_header_as_empty: true },
      ],
    },
    route: { cluster: "c" },
  };
  const out = grpcHeaderRoutes(route);
  assert.deepEqual(
    out.map((r) => r.match?.headers),
    [
      [
        { name: "a", exact_match: "1" },
        { name: "b", present_match: true, invert_match: true },
      ],
      [
        { name: "a", exact_match: "1" },
        { name: "b", invert_match: true, exact_match: "no" },
      ],
    ],
  );
  assert.ok(out.every((r) => r.route === route.route && r.name === "r"), "the same action");
});

test("two withoutHeaders values give four routes", () => {
  const without = (name: string): HeaderMatcher => ({ name, string_match: { exact: "v" }, invert_match: true, treat_missing_header_as_empty: true });
  assert.equal(grpcHeaderRoutes({ match: { prefix: "/", headers: [without("a"), without("b")] } }).length, 4);
});

const userAgents: { name: string; ua?: { name: string; version: string }; cls: string }[] = [
  { name: "no user agent", cls: "standard" },
  { name: "C-core 1.51 (Python)", ua: { name: "gRPC C-core linux Python", version: "C-core 29.0.0 Python 1.51.1" }, cls: "old-c-core" },
  { name: "C-core 1.52 (C++: no suffix)", ua: { name: "gRPC C-core linux", version: "C-core 30.0.0" }, cls: "old-c-core" },
  { name: "C-core 1.53", ua: { name: "gRPC C-core linux Python", version: "C-core 30.1.0 Python 1.53.0" }, cls: "standard" },
  { name: "C-core 1.85", ua: { name: "gRPC C-core linux Python", version: "C-core 58.0.0 Python 1.85.1" }, cls: "standard" },
  { name: "C-core with a version it cannot read", ua: { name: "gRPC C-core linux", version: "dev" }, cls: "standard" },
  { name: "grpc-go", ua: { name: "gRPC Go", version: "1.85.0" }, cls: "standard" },
  { name: "grpc-java", ua: { name: "gRPC Java", version: "1.85.1" }, cls: "standard" },
  { name: "grpc-js", ua: { name: "gRPC Node", version: "1.14.1" }, cls: "standard" },
];

for (const c of userAgents) {
  test(`gRPC client class: ${c.name} -> ${c.cls}`, () => assert.equal(grpcClientClass(c.ua), c.cls));
}

const ringHash = translated("envoy.config.cluster.v3.Cluster", "c", { name: "c", type: "EDS", lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: { value: 64 } } });

test("ring hash for a client it crashes: round robin, one shared object per memo", () => {
  const memo = createTranslationMemo();
  const rr = grpcClusterFor(ringHash, "old-c-core", memo);
  assert.equal(rr.message.lb_policy, "ROUND_ROBIN");
  assert.equal(rr.message.ring_hash_lb_config, undefined);
  assert.equal(grpcClusterFor(ringHash, "old-c-core", memo), rr, "memoised: encoded once");
  assert.equal(grpcClusterFor(ringHash, "standard", memo), ringHash);
  assert.notEqual(grpcClusterFor(ringHash, "old-c-core", createTranslationMemo()), rr, "the memo owns the variant, no module-wide cache");
});

const to = (cluster: string): NonNullable<Route["route"]> => ({ cluster });
const noMatch: { name: string; routes: Route[]; added?: string }[] = [
  { name: "a header match only: a catch-all to its cluster", routes: [{ name: "r", match: { prefix: "/", headers: [{ name: "x", exact_match: "a" }] }, route: to("c1") }], added: "c1" },
  { name: "a path prefix only", routes: [{ match: { prefix: "/svc.A/" }, route: to("c1") }], added: "c1" },
  { name: "a weighted first route: its first cluster", routes: [{ match: { path: "/svc.A/M" }, route: { weighted_clusters: { clusters: [{ name: "w1", weight: { value: 1 } }, { name: "w2", weight: { value: 1 } }] } } }], added: "w1" },
  { name: "no route at all: the service's cluster", routes: [], added: "outbound|9090||h.default.svc.cluster.local" },
  { name: "a catch-all last: unchanged", routes: [{ match: { prefix: "/", headers: [{ name: "x", exact_match: "a" }] }, route: to("c1") }, { match: { prefix: "/" }, route: to("c2") }] },
  { name: "an empty prefix is a catch-all too", routes: [{ match: { prefix: "" }, route: to("c2") }] },
];

for (const c of noMatch) {
  test(`old C-core and a call no route matches: ${c.name}`, () => {
    const memo = createTranslationMemo();
    const rc = translated("envoy.config.route.v3.RouteConfiguration", "h:9090", {
      name: "h:9090",
      virtual_hosts: [{ name: "h:9090", domains: ["h.default.svc.cluster.local", "h.default.svc.cluster.local:9090"], routes: c.routes }],
    });
    assert.equal(grpcRoutesFor(rc, "standard", memo), rc, "other clients: the same object");
    const old = grpcRoutesFor(rc, "old-c-core", memo);
    assert.equal(grpcRoutesFor(rc, "old-c-core", memo), old, "memoised: encoded once");
    assert.equal(grpcRoutesFor(old, "old-c-core", memo), old, "taking it twice adds nothing");
    if (c.added === undefined) return assert.equal(old, rc);
    const routes = old.message.virtual_hosts?.[0]?.routes ?? [];
    assert.deepEqual(routes.slice(0, -1), c.routes, "the routes before it are unchanged");
    const last = routes.at(-1);
    assert.equal(last?.name, NO_MATCH_ROUTE);
    assert.deepEqual(last?.match, { prefix: "/" });
    assert.equal(last?.route?.cluster, c.added);
    const fault = last?.typed_per_filter_config?.["envoy.filters.http.fault"] as { type_url?: string; value?: Uint8Array } | undefined;
    assert.ok(fault?.type_url?.endsWith("envoy.extensions.filters.http.fault.v3.HTTPFault") && fault.value !== undefined, "the fault filter's config");
    const abort = decodeMessage("envoy.extensions.filters.http.fault.v3.HTTPFault", fault?.value ?? new Uint8Array())["abort"];
    assert.deepEqual(abort, { grpc_status: 14, percentage: { numerator: 100, denominator: "HUNDRED" } }, "every call aborted UNAVAILABLE, before any pick");
  });
}

const outliers: { name: string; od: object; volume?: number }[] = [
  { name: "consecutive5xxErrors 3", od: { consecutive_5xx: { value: 3 }, enforcing_consecutive_5xx: { value: 100 } }, volume: 3 },
  { name: "Envoy's default consecutive_5xx (5)", od: { interval: { seconds: 1 } }, volume: 5 },
  { name: "the smaller of 5xx and gateway errors", od: { consecutive_5xx: { value: 7 }, consecutive_gateway_failure: { value: 2 }, enforcing_consecutive_gateway_failure: { value: 100 } }, volume: 2 },
  { name: "both detectors off: nothing to map", od: { consecutive_5xx: { value: 0 }, enforcing_consecutive_5xx: { value: 0 } } },
];

for (const c of outliers) {
  test(`gRPC outlier detection: ${c.name}`, () => {
    const cluster = translated("envoy.config.cluster.v3.Cluster", "c", { name: "c", type: "EDS", outlier_detection: c.od });
    const od = grpcCluster(cluster).message.outlier_detection;
    if (c.volume === undefined) {
      assert.equal(od?.enforcing_failure_percentage, undefined);
      return;
    }
    assert.deepEqual(
      [od?.failure_percentage_request_volume, od?.enforcing_failure_percentage, od?.failure_percentage_threshold, od?.failure_percentage_minimum_hosts],
      [{ value: c.volume }, { value: 100 }, { value: 85 }, { value: 1 }],
    );
  });
}

/** One gRPC service, shop, with these resources after it; translated. */
function shop(extra: string) {
  const loaded = loadMesh([
    {
      path: "mesh.yaml",
      text: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: shop }
spec:
  hosts: [shop.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 9090, name: grpc, protocol: GRPC }]
  endpoints: [{ address: 10.0.0.1 }]
---
${extra}`,
    },
  ]);
  assert.ok(loaded.ok);
  return translateMesh(loaded.model);
}

/** A C-core client of this C-core version, labelled app: frontend. */
const cCore = (version: string): ProxyIdentity => ({ nodeId: version, kind: "grpc", namespace: "default", serviceAccount: "c", labels: { app: "frontend" }, instanceIps: [], userAgent: { name: "gRPC C-core linux", version } });

test("gRPC clients of different classes never share a snapshot layer", () => {
  const t = shop(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: shop }
spec:
  host: shop
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
`);
  const [old] = proxyLayers(t, cCore("C-core 29.0.0"));
  const [current] = proxyLayers(t, cCore("C-core 58.0.0"));
  assert.ok(old !== undefined && current !== undefined);
  assert.notEqual(old.key, current.key);
  const lb = (layer: typeof old) => layer.resources().flatMap((r) => (r.type === "envoy.config.cluster.v3.Cluster" ? [(r.message as { lb_policy?: string }).lb_policy] : []));
  assert.deepEqual(lb(old), ["ROUND_ROBIN"]);
  assert.deepEqual(lb(current), ["RING_HASH"]);
});

test("old C-core's catch-all also ends routes that depend on the client (sourceLabels)", () => {
  const t = shop(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop }
spec:
  hosts: [shop.default.svc.cluster.local]
  http:
    - match: [{ sourceLabels: { app: frontend }, headers: { x-user: { exact: jason } } }]
      route: [{ destination: { host: shop.default.svc.cluster.local } }]
`);
  const routeNames = (version: string) =>
    (proxyLayers(t, cCore(version))[0]?.resources() ?? []).flatMap((r) =>
      r.type === "envoy.config.route.v3.RouteConfiguration" ? [(r.message as { virtual_hosts?: { routes?: Route[] }[] }).virtual_hosts?.[0]?.routes?.map((x) => x.name ?? "")] : [],
    );
  const old = routeNames("C-core 29.0.0");
  assert.equal(old.length, 1);
  assert.equal(old[0]?.length, 2, `the client's own route, then the catch-all: ${JSON.stringify(old)}`);
  assert.equal(old[0]?.at(-1), NO_MATCH_ROUTE);
  assert.deepEqual(
    routeNames("C-core 58.0.0").map((r) => r?.length),
    [1],
    "current C-core: its own route only",
  );
});
