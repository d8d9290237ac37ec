// The caches a translation reuses from the one before it (TranslationMemo), apart from the
// translation that reads and refills them (mesh.ts).
import type { MeshNaming, MeshResource } from "../config/resources.js";
import type { Kept } from "./kept.js";
import type { ServiceBackends, ServiceRouting, ServiceTranslation } from "./mesh.js";
import type { MeshMtls } from "./mtls.js";
import type { ProxyIdentity } from "./proxy.js";
import type { WorkloadSide } from "./proxy-resources.js";
import { createServiceIndexCache, type MeshService, type ServiceIndex, type ServiceIndexCache } from "./services.js";
import type { Translated } from "./translated.js";

/**
 * A service's translation and what it was made from (TranslationMemo.services): the next
 * translation compares these with its own inputs for the host, by identity, and keeps the
 * backends, the routing or the whole translation whose inputs are the same.
 */
export interface KeptService {
  readonly service: MeshService;
  readonly address: string;
  readonly clusterDomain: string;
  /** The mTLS decisions its clusters were built with, and its key there (mtls.ts), made when first compared. */
  readonly mtls: MeshMtls;
  mtlsKey?: string;
  /** The written VirtualServices routing it. */
  readonly madeOf: readonly MeshResource<"VirtualService">[];
  /** The hosts its routes send to (routedHosts), sorted, and their services. */
  readonly routed: readonly string[];
  readonly dependsOn: readonly (MeshService | undefined)[];
  readonly backends: ServiceBackends;
  readonly routing: ServiceRouting;
  readonly translation: ServiceTranslation;
}

/**
 * The caches a translation reuses from the one before it, owned by whoever translates again and
 * again (the runtime's pusher; a one-off render makes its own and drops it):
 * - each service's resources with what they were made from (services): a service whose inputs
 *   are the same objects keeps its resources, so a one-file change re-encodes only what it
 *   changed. Holds one generation: services gone from the model are dropped at the next
 *   translation.
 * - sidecars' inbound listeners by everything they are built from, held weakly: kept while a
 *   snapshot that carries one is alive, collected once the last proxy that used it has left.
 * - identities of config objects, for proxies' keys (proxy-resources.ts, rule-variants.ts).
 */
export class TranslationMemo {
  /**
   * The mesh's sorted clusters, endpoints, listeners and routes, with the services' lists they were
   * gathered from: when every service kept its list (a route change leaves every cluster alone),
   * the sorted list is the previous one, not gathered and sorted again.
   */
  sorted = new Map<string, { readonly parts: readonly (readonly Translated[])[]; readonly all: readonly Translated[] }>();
  /**
   * The previous translation's services by host, with what each was made from: a service made
   * from the very same objects (its MeshService, the VirtualServices routing it, the services
   * those send to) is taken as it was; one whose clusters' or routes' inputs alone are the same
   * keeps those. Compared by identity, without making keys of every service's inputs.
   */
  services = new Map<string, KeptService>();
  /** What indexing the services derived, reused while its resources are the same (services.ts). */
  readonly index: ServiceIndexCache = createServiceIndexCache();
  /** The mesh's mTLS decisions (mtls.ts), while the PeerAuthentications, Gateways and naming are the same. */
  mtls?: Kept<MeshMtls>;
  /** The model's derived lookups, while the resources they are made of are the same. */
  addresses?: Kept<ReadonlyMap<string, string>>;
  workloads?: Kept<ReadonlyMap<string, MeshResource<"WorkloadEntry">>>;
  selecting?: Kept<ReadonlyMap<string, readonly MeshResource<"ServiceEntry">[]>>;
  vsRestricted?: Kept<boolean>;
  /**
   * The last translation's services and what they were translated with: when the next one has
   * the very same services, mTLS decisions, addresses and naming, and its VirtualServices are
   * these with a few edited in place, only the hosts those route are looked at again.
   */
  last?: {
    readonly services: readonly MeshService[];
    /** The VirtualServices' routing it was made with (services.ts, routingOf). */
    readonly routing: object | undefined;
    readonly mtls: MeshMtls;
    readonly addresses: ReadonlyMap<string, string>;
    readonly naming: MeshNaming;
    readonly translations: readonly ServiceTranslation[];
    /** Each host's place in services. */
    readonly at: ReadonlyMap<string, number>;
  };
  private readonly routed = new WeakMap<MeshResource<"VirtualService">, { readonly naming: MeshNaming; readonly hosts: readonly string[] }>();
  /**
   * Which services' DestinationRule differs for proxies of a scope, namespace and selecting rules
   * (rule-variants.ts), with the rules, Sidecars and ServiceEntries it was worked out from: while
   * those are the very same objects, the next translation takes the answer instead of asking
   * every service again for every namespace.
   */
  ruleOwn?: Kept<Map<string, readonly { readonly host: string; readonly key: string }[]>>;
  /**
   * Each connected proxy's workload side (proxy-resources.ts), by its identity object (the pusher
   * keeps one per connected proxy), while every input of it is the very same: the workloads,
   * groups, ServiceEntries selecting them, policies, mTLS decisions and naming.
   */
  sides?: Kept<WeakMap<ProxyIdentity, WorkloadSide>>;
  private readonly identities = new WeakMap<object, number>();
  private readonly variants = new WeakMap<Translated, Map<string, Translated>>();
  private lastIdentity = 0;
  private readonly inboundHeld = new Map<string, WeakRef<Translated>>();
  private readonly inboundGone = new FinalizationRegistry<string>((key) => {
    if (this.inboundHeld.get(key)?.deref() === undefined) this.inboundHeld.delete(key);
  });

  /**
   * A number for a config object, for this memo only: the loader hands back the same resource
   * object for a file that did not change, so keys made of identities stay equal without
   * serialising specs (which cost more than the rest of a one-file change). Never in the output.
   */
  id(resource: object | undefined): string {
    if (resource === undefined) return "-";
    let n = this.identities.get(resource);
    if (n === undefined) {
      n = ++this.lastIdentity;
      this.identities.set(resource, n);
    }
    return n.toString(36);
  }

  /**
   * A sidecar's inbound resource (a listener, a local cluster) for a key, built once while
   * anything still holds it: an unchanged sidecar's inbound layer is then made of the very same
   * objects after a new translation, and is not encoded or checked again (runtime/layers.ts).
   */
  inbound(key: string, build: () => Translated): Translated {
    const held = this.inboundHeld.get(key)?.deref();
    if (held !== undefined) return held;
    const built = build();
    this.inboundHeld.set(key, new WeakRef(built));
    this.inboundGone.register(built, key);
    return built;
  }

  /**
   * A resource as gRPC clients of a class that cannot take it as built get it (grpc-compat.ts),
   * held weakly by the resource: the same object keeps the same variant, so it is encoded once.
   */
  variant<T extends Translated>(of: T, cls: string, build: () => T): T {
    const byClass = this.variants.get(of) ?? new Map<string, Translated>();
    this.variants.set(of, byClass);
    const held = byClass.get(cls);
    if (held !== undefined) return held as T;
    const built = build();
    byClass.set(cls, built);
    return built;
  }

  /** routedHosts of a VirtualService, sorted, made once per VirtualService object and naming. */
  routedHosts(vs: MeshResource<"VirtualService"> | undefined, index: ServiceIndex, naming: MeshNaming): readonly string[] {
    if (vs === undefined) return [];
    const held = this.routed.get(vs);
    if (held !== undefined && held.naming === naming) return held.hosts;
    const hosts = [...routedHosts(vs, index)].sort();
    this.routed.set(vs, { naming, hosts });
    return hosts;
  }

  /** Inbound listeners still referenced (for leak checks); forgets those already collected. */
  get inboundListeners(): number {
    for (const [key, ref] of this.inboundHeld) if (ref.deref() === undefined) this.inboundHeld.delete(key);
    return this.inboundHeld.size;
  }
}

export function createTranslationMemo(): TranslationMemo {
  return new TranslationMemo();
}

/** The hosts a VirtualService sends traffic to (routes, mirrors), qualified: what its routes read of other services. */
export function routedHosts(vs: MeshResource<"VirtualService"> | undefined, index: ServiceIndex): Set<string> {
  const destinations = new Set<string>();
  for (const http of vs?.spec.http ?? []) {
    for (const d of http.route ?? []) destinations.add(index.qualify(d.destination.host, vs?.namespace ?? ""));
    if (http.mirror !== undefined) destinations.add(index.qualify(http.mirror.host, vs?.namespace ?? ""));
    for (const m of http.mirrors ?? []) destinations.add(index.qualify(m.destination.host, vs?.namespace ?? ""));
  }
  for (const tcp of vs?.spec.tcp ?? []) for (const d of tcp.route) destinations.add(index.qualify(d.destination.host, vs?.namespace ?? ""));
  for (const tls of vs?.spec.tls ?? []) for (const d of tls.route) destinations.add(index.qualify(d.destination.host, vs?.namespace ?? ""));
  return destinations;
}
