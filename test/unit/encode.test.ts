// encodeMessage round trips, and its runtime guard against field names protobufjs would drop.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeMessage, encodeMessage, pack, typeUrlOf } from "../../src/envoy/index.js";
import type { Cluster, ClusterLoadAssignment, EnvoyMessageName, HttpConnectionManager, RouteConfiguration } from "../../src/envoy/index.js";

const CLUSTER = "envoy.config.cluster.v3.Cluster";
const CLA = "envoy.config.endpoint.v3.ClusterLoadAssignment";
const LISTENER = "envoy.config.listener.v3.Listener";
const ROUTES = "envoy.config.route.v3.RouteConfiguration";
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "envoy.extensions.filters.http.router.v3.Router";

// Values are written the way decodeMessage reads them back (int64 as strings, enums as names, no
// proto3 defaults), so a round trip must give back exactly the input.
const hcm: HttpConnectionManager = {
  stat_prefix: "ingress_http",
  codec_type: "HTTP2",
  rds: { route_config_name: "r1", config_source: { ads: {}, resource_api_version: "V3" } },
  http_filters: [{ name: "envoy.filters.http.router", typed_config: pack(ROUTER, { suppress_envoy_headers: true }) }],
};

const roundTrips: { name: string; message: EnvoyMessageName; value: Record<string, unknown> }[] = [
  {
    name: "Cluster (EDS, with durations, enums and a service name)",
    message: CLUSTER,
    value: {
      name: "backend",
      type: "EDS",
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: "backend-eps" },
      connect_timeout: { seconds: "5", nanos: 250_000_000 },
      lb_policy: "LEAST_REQUEST",
      metadata: { filter_metadata: { "envoy.lb": { fields: { zone: { stringValue: "eu-1" } } } } },
    } satisfies Cluster,
  },
  {
    name: "ClusterLoadAssignment (localities, weights, health, policy)",
    message: CLA,
    value: {
      cluster_name: "backend",
      endpoints: [
        {
          locality: { region: "eu", zone: "eu-1" },
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 8080 } } },
              health_status: "HEALTHY",
              load_balancing_weight: { value: 3 },
            },
            { endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 8081 } } } },
          ],
          priority: 1,
        },
      ],
      policy: { overprovisioning_factor: { value: 140 } },
    } satisfies ClusterLoadAssignment,
  },
  {
    name: "Listener with a packed HttpConnectionManager",
    message: LISTENER,
    value: {
      name: "ingress",
      address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
      filter_chains: [{ name: "http", filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: pack(HCM, hcm) }] }],
    },
  },
  {
    name: "RouteConfiguration (prefix and path matches, weighted clusters)",
    message: ROUTES,
    value: {
      name: "r1",
      virtual_hosts: [
        {
          name: "all",
          domains: ["*", "example.com"],
          routes: [
            { match: { path: "/exact" }, route: { cluster: "a", timeout: { seconds: "3" } } },
            {
              match: { prefix: "/" },
              route: { weighted_clusters: { clusters: [{ name: "a", weight: { value: 10 } }, { name: "b", weight: { value: 90 } }] } },
            },
          ],
        },
      ],
    } satisfies RouteConfiguration,
  },
];

// The guard's cases are built with casts: the types forbid them, which is why the guard exists.
const guard: { name: string; message: EnvoyMessageName; value: unknown; error: RegExp }[] = [
  {
    name: "unknown top-level field",
    message: CLUSTER,
    value: { name: "c", nmae: "c" },
    error: /^bug: envoy\.config\.cluster\.v3\.Cluster\.nmae is not a field of envoy\.config\.cluster\.v3\.Cluster$/,
  },
  {
    name: "unknown field in a nested message",
    message: CLUSTER,
    value: { name: "c", type: "EDS", eds_cluster_config: { service_nam: "x" } },
    error: /^bug: envoy\.config\.cluster\.v3\.Cluster\.eds_cluster_config\.service_nam is not a field of envoy\.config\.cluster\.v3\.Cluster\.EdsClusterConfig$/,
  },
  {
    name: "unknown field inside a repeated message (indexes in the path)",
    message: CLA,
    value: { cluster_name: "a", endpoints: [{ lb_endpoints: [{ endpoint: {} }, { endpont: {} }] }] },
    error: /^bug: envoy\.config\.endpoint\.v3\.ClusterLoadAssignment\.endpoints\[0\]\.lb_endpoints\[1\]\.endpont is not a field of envoy\.config\.endpoint\.v3\.LbEndpoint$/,
  },
  {
    name: "unknown field inside a map value",
    message: CLUSTER,
    value: { name: "c", metadata: { filter_metadata: { "envoy.lb": { feilds: {} } } } },
    error: /^bug: envoy\.config\.cluster\.v3\.Cluster\.metadata\.filter_metadata\S*\.feilds is not a field of google\.protobuf\.Struct$/,
  },
  {
    name: "unknown field inside a map value inside a map value",
    message: CLUSTER,
    value: { name: "c", metadata: { filter_metadata: { "envoy.lb": { fields: { zone: { strin_value: "a" } } } } } },
    error: /^bug: envoy\.config\.cluster\.v3\.Cluster\.metadata\.filter_metadata\S*\.fields\S*\.strin_value is not a field of google\.protobuf\.Value$/,
  },
  {
    name: "unknown field in a message packed into an Any (caught by pack)",
    message: HCM,
    value: { stat_prefx: "x" },
    error: /^bug: envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager\.stat_prefx is not a field of /,
  },
  {
    name: "unknown field named like an Object.prototype member",
    message: CLUSTER,
    value: { name: "c", eds_cluster_config: { toString: "x" } },
    error: /^bug: envoy\.config\.cluster\.v3\.Cluster\.eds_cluster_config\.toString is not a field of envoy\.config\.cluster\.v3\.Cluster\.EdsClusterConfig$/,
  },
];

describe("encodeMessage round trips", () => {
  for (const c of roundTrips) {
    test(c.name, () => {
      const bytes = encodeMessage(c.message, c.value as never);
      assert.deepEqual(decodeMessage(c.message, bytes), c.value);
    });
  }

  test("the packed HttpConnectionManager inside the Listener decodes to what was packed", () => {
    const listener = roundTrips.find((c) => c.message === LISTENER);
    assert.ok(listener);
    const decoded = decodeMessage(LISTENER, encodeMessage(LISTENER, listener.value as never));
    const [chain] = decoded["filter_chains"] as { filters: { typed_config: { type_url: string; value: Buffer } }[] }[];
    const typed = chain?.filters[0]?.typed_config;
    assert.equal(typed?.type_url, typeUrlOf(HCM));
    const inner = decodeMessage(HCM, typed?.value ?? Buffer.alloc(0));
    assert.deepEqual(inner, hcm);
    const router = (inner["http_filters"] as { typed_config: { type_url: string; value: Buffer } }[])[0]?.typed_config;
    assert.equal(router?.type_url, typeUrlOf(ROUTER));
    assert.deepEqual(decodeMessage(ROUTER, router?.value ?? Buffer.alloc(0)), { suppress_envoy_headers: true });
  });
});

describe("encodeMessage runtime guard", () => {
  for (const c of guard) {
    test(c.name, () => {
      const run = () => (c.message === HCM ? pack(HCM, c.value as HttpConnectionManager) : encodeMessage(c.message, c.value as never));
      assert.throws(run, (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, c.error);
        return true;
      });
    });
  }

  const allowed: { name: string; message: EnvoyMessageName; value: Record<string, unknown>; without: Record<string, unknown> }[] = [
    {
      name: "oneof discriminator on a Cluster (cluster_discovery_type)",
      message: CLUSTER,
      value: { name: "c", type: "STRICT_DNS", cluster_discovery_type: "type" } satisfies Cluster,
      without: { name: "c", type: "STRICT_DNS" },
    },
    {
      name: "oneof discriminators nested in a route (path_specifier, action)",
      message: ROUTES,
      value: { name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/", path_specifier: "prefix" }, route: { cluster: "a", cluster_specifier: "cluster" }, action: "route" }] }] } satisfies RouteConfiguration,
      without: { name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }] },
    },
    {
      name: "undefined fields are skipped, as protobufjs skips them",
      message: CLUSTER,
      value: { name: "c", type: "STATIC", nmae: undefined },
      without: { name: "c", type: "STATIC" },
    },
  ];
  for (const c of allowed) {
    test(`allowed: ${c.name}`, () => {
      const bytes = encodeMessage(c.message, c.value as never);
      assert.deepEqual(bytes, encodeMessage(c.message, c.without as never), "the discriminator changes nothing on the wire");
      assert.deepEqual(decodeMessage(c.message, bytes), c.without);
    });
  }
});
