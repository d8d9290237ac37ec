// What a client proxy receives of routes that depend on who it is (sourceLabels, sourceNamespace:
// routes-source.ts): the shared routes, with those of such services rebuilt for the client's
// answers. Built once per translation for each service and set of answers, however many proxies
// share them.
import { grpcClientResources } from "./grpc.js";
import type { MeshTranslation, ServiceTranslation } from "./mesh.js";
import { inScope } from "./locality.js";
import { outboundResources } from "./outbound.js";
import { dependsOnSource, sourceAnswers, type RouteSource } from "./routes-source.js";
import type { Translated } from "./translated.js";

/** Which routes: an Envoy sidecar's outbound routes or a proxyless gRPC client's. */
export type RouteFlavour = "outbound" | "grpc";

const ROUTE_CONFIGURATION = "envoy.config.route.v3.RouteConfiguration";

export interface SourceVariant {
  /** "" when the client gets the shared routes; else what sets its routes apart, for its layer key. */
  readonly key: string;
  /** The shared resources given, with the client's own route configurations in place of those that differ. */
  routes(shared: readonly Translated[]): Translated[];
}

/** The routes a client `source` gets, among the services visible to it (`scope`: its Sidecar scope's key and test). */
export function sourceVariant(t: MeshTranslation, flavour: RouteFlavour, source: RouteSource, scope: { readonly key: string; visible(s: ServiceTranslation): boolean }): SourceVariant {
  const own: { service: ServiceTranslation; answers: string }[] = [];
  for (const service of inScope(t, `source|${scope.key}`, () => dependentServices(t).filter((s) => scope.visible(s)))) {
    own.push({ service, answers: sourceAnswers(t.index.virtualServiceFor(service.host), source) });
  }
  if (own.length === 0) return { key: "", routes: (shared) => [...shared] };
  return {
    key: own.map((o) => `|${o.service.host}=${o.answers}`).join(""),
    routes(shared) {
      const replaced = new Map<string, Translated>();
      for (const { service, answers } of own) {
        for (const r of variantRoutes(t, flavour, service, answers, source)) replaced.set(r.name, r);
      }
      // By name among route configurations only: a gRPC client's listener has its routes' name.
      return shared.map((r) => (r.type === ROUTE_CONFIGURATION ? (replaced.get(r.name) ?? r) : r));
    },
  };
}

/** The services whose VirtualService depends on the client, once per translation. */
function dependentServices(t: MeshTranslation): readonly ServiceTranslation[] {
  let found = t.shared.sourceDependent;
  if (found === undefined) {
    found = t.services.filter((s) => dependsOnSource(t.index.virtualServiceFor(s.host)));
    t.shared.sourceDependent = found;
  }
  return found;
}

/** A service's routes for clients with these answers: `source` is one of them (any gives the same routes). */
function variantRoutes(t: MeshTranslation, flavour: RouteFlavour, service: ServiceTranslation, answers: string, source: RouteSource): readonly Translated[] {
  const key = `${flavour}|${service.host}|${answers}`;
  const cached = t.shared.sourceRoutes.get(key);
  if (cached !== undefined) return cached;
  const mesh = t.index.service(service.host);
  if (mesh === undefined) throw new Error(`bug: no service ${service.host} in the index`);
  const built = flavour === "outbound" ? outboundResources(mesh, t.index, service.address, source).routes : grpcClientResources(mesh, t.index, source).routes;
  t.shared.sourceRoutes.set(key, built);
  return built;
}
