// Small typed builders for the Envoy resources protocol tests put in snapshots.
import { pack } from "../../src/envoy/index.js";
import { makeSnapshot, resource, type EncodedResource, type Snapshot } from "../../src/xds/index.js";

export function edsCluster(name: string, extra: { connectTimeoutSeconds?: number; lbPolicy?: "ROUND_ROBIN" | "LEAST_REQUEST" | "MAGLEV" } = {}): EncodedResource {
  return resource("envoy.config.cluster.v3.Cluster", name, {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
    connect_timeout: { seconds: extra.connectTimeoutSeconds ?? 1 },
    lb_policy: extra.lbPolicy ?? "ROUND_ROBIN",
  });
}

export function endpoints(clusterName: string, ...addresses: readonly string[]): EncodedResource {
  return resource("envoy.config.endpoint.v3.ClusterLoadAssignment", clusterName, {
    cluster_name: clusterName,
    endpoints: [
      {
        locality: {},
        load_balancing_weight: { value: 1 },
        lb_endpoints: addresses.map((a) => {
          const [host, port] = a.split(":");
          return {
            endpoint: { address: { socket_address: { address: host ?? "", port_value: Number(port) } } },
            load_balancing_weight: { value: 1 },
          };
        }),
      },
    ],
  });
}

/** A listener as proxyless gRPC clients want it: api_listener with an RDS route name. */
export function apiListener(name: string, routeName: string): EncodedResource {
  return resource("envoy.config.listener.v3.Listener", name, {
    name,
    api_listener: {
      api_listener: pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
        stat_prefix: name,
        rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: "V3" } },
        http_filters: [{ name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) }],
      }),
    },
  });
}

/** A route configuration sending everything to one cluster, or split by weight. */
export function routeTo(name: string, clusters: Readonly<Record<string, number>> | string): EncodedResource {
  const action =
    typeof clusters === "string"
      ? { cluster: clusters }
      : { weighted_clusters: { clusters: Object.entries(clusters).map(([cluster, weight]) => ({ name: cluster, weight: { value: weight } })) } };
  return resource("envoy.config.route.v3.RouteConfiguration", name, {
    name,
    virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "" }, route: action }] }],
  });
}

export function secret(name: string, text = "test"): EncodedResource {
  return resource("envoy.extensions.transport_sockets.tls.v3.Secret", name, {
    name,
    generic_secret: { secret: { inline_string: text } },
  });
}

export function snapshot(...resources: readonly EncodedResource[]): Snapshot {
  const result = makeSnapshot(resources);
  if (!result.ok) throw new Error(`bad test snapshot: ${JSON.stringify(result.problems)}`);
  return result.snapshot;
}

/** The list with each replacement swapped in for the resource of the same type and name. */
export function replacing(list: readonly EncodedResource[], ...replacements: readonly EncodedResource[]): EncodedResource[] {
  const key = (r: EncodedResource) => `${r.typeUrl} ${r.name}`;
  const byKey = new Map(replacements.map((r) => [key(r), r]));
  const out = list.map((r) => byKey.get(key(r)) ?? r);
  const present = new Set(list.map(key));
  return [...out, ...replacements.filter((r) => !present.has(key(r)))];
}
