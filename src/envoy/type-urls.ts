/** Type URLs of the resources gitmesh serves over xDS. */
export const TypeUrl = {
  Cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  ClusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  Listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RouteConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  Secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

const TYPE_URL_PREFIX = "type.googleapis.com/";

export function typeUrlOf(messageName: string): string {
  return TYPE_URL_PREFIX + messageName;
}

export function messageNameOf(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf("/");
  return slash < 0 ? typeUrl : typeUrl.slice(slash + 1);
}
