// Several VirtualServices as one routing decision, made here once for `validate` (checks/routes.ts
// reports the findings) and for `serve` (the translators read the roots and the mesh claims).
// Istio's rules (pilot/pkg/model/virtualservice_controller.go and virtualservice.go, the
// gateway's route building in pilot/pkg/networking/core/gateway.go):
// - A VirtualService without hosts is a delegate: it routes nothing itself; a root's http route
//   with `delegate` is replaced by the delegate's routes, each merged with the root route (its
//   match conditions combined, its settings inherited where the delegate has none). One level only.
// - On a gateway, every VirtualService bound to it with a host contributes its routes to that
//   host, concatenated in order (gateway.ts; catch-all routes last, as Istio's SortVHostRoutes).
// - For sidecars and proxyless clients, the first VirtualService claiming a host routes it; a
//   later one is not used (Istio's analyzer reports IST0109, an error; so does GM0306).
// Istio orders VirtualServices by creation time; git has none, so the order here is the file
// path, then the document's place in its file.
import { exportedToNamespace, fileOrder, gatewayRef, qualifyHost, type MeshNaming, type MeshResource } from "./resources.js";
import type { ParsedDoc } from "./source.js";
import type { HTTPMatchRequest, HTTPRoute, StringMatch } from "./types.js";

type VirtualService = MeshResource<"VirtualService">;
type Path = readonly (string | number)[];

/** Something the merged view leaves out or refuses, at the field it comes from. */
export interface RouteFinding {
  readonly code: string;
  readonly severity: "error" | "warning";
  readonly at: VirtualService;
  readonly path: Path;
  readonly message: string;
  /** The other place of a conflict: the message names it as "{where}", replaced by its file:line:col. */
  readonly also?: { readonly at: VirtualService; readonly path: Path };
}

export interface VirtualServiceView {
  /** Every VirtualService with hosts, in file order, its delegates resolved into its http routes. */
  readonly roots: readonly VirtualService[];
  /**
   * The VirtualServices for each host (qualified; wildcards as written) for sidecars and proxyless
   * clients, in file order: a proxy takes the first one exported to its namespace (Istio's).
   */
  readonly mesh: ReadonlyMap<string, readonly VirtualService[]>;
  readonly findings: readonly RouteFinding[];
  /**
   * The written VirtualServices a root is made of: itself, then its delegates. A delegating root
   * is a new object each time the view is made; a translation memo keys on these instead.
   */
  madeOf(root: VirtualService): readonly VirtualService[];
}

/** The merged view of a mesh's VirtualServices. Pure: the same resources give the same view. */
export function virtualServiceView(all: readonly VirtualService[], naming: MeshNaming): VirtualServiceView {
  const qualify = (host: string, namespace: string) => qualifyHost(host, namespace, naming);
  const ordered = [...all].sort(fileOrder);
  const findings: RouteFinding[] = [];
  const byName = new Map(ordered.map((vs) => [`${vs.namespace}/${vs.name}`, vs]));
  for (const vs of ordered) if (isDelegate(vs)) findings.push(...delegateShape(vs));
  const sources = new Map<VirtualService, VirtualService[]>();
  const written = ordered.filter((vs) => !isDelegate(vs));
  const roots = written.map((vs) => resolveDelegates(vs, byName, qualify, findings, sources));
  findings.push(...unreferenced(ordered, written, byName));
  const mesh = new Map<string, VirtualService[]>();
  for (const vs of roots) {
    if (!(vs.spec.gateways ?? ["mesh"]).includes("mesh")) continue;
    (vs.spec.hosts ?? []).forEach((h, i) => {
      const host = qualify(h, vs.namespace);
      const earlier = mesh.get(host) ?? [];
      mesh.set(host, earlier);
      if (earlier.includes(vs)) return;
      earlier.push(vs);
      // Istio's IST0109: only VirtualServices some namespace sees both of conflict.
      const first = earlier.find((e) => e !== vs && exportsOverlap(e, vs));
      if (first === undefined) return;
      findings.push({
        code: "GM0306",
        severity: "error",
        at: vs,
        path: ["spec", "hosts", i],
        message: `host ${host} is already routed for sidecars by VirtualService ${first.namespace}/${first.name} ({where}), which comes first in file order and is exported to namespaces this one is: there, Istio, like gitmesh, uses only the first for sidecars and proxyless clients. Merge the two into one VirtualService (on a gateway, several VirtualServices for one host are merged)`,
        also: { at: first, path: ["spec", "hosts", (first.spec.hosts ?? []).findIndex((x) => qualify(x, first.namespace) === host)] },
      });
    });
  }
  findings.push(...gatewayCatchAlls(written, qualify));
  return { roots, mesh, findings, madeOf: (root) => sources.get(root) ?? [root] };
}

/**
 * The merged view's findings, with what they were found from, so that the next VirtualServices'
 * findings can be these again (see viewFindings).
 */
export interface ViewFindings {
  readonly all: readonly VirtualService[];
  readonly clusterDomain: string;
  readonly findings: readonly RouteFinding[];
  /** The documents the findings are at (a resolved root's is its written one's). */
  readonly at: ReadonlySet<ParsedDoc>;
  /** Each VirtualService's shape (see shapeOf), made once per object. */
  readonly shapes: WeakMap<VirtualService, string>;
}

/**
 * The findings of virtualServiceView(all, naming), or those found last time (before) when they
 * must be the same: every VirtualService is the same object as at its place last time, or one
 * with the same shape (everything the findings read of it) that no finding is at. A route's
 * weights changed in one VirtualService of a thousand: the view is not made again.
 */
export function viewFindings(all: readonly VirtualService[], naming: MeshNaming, before?: ViewFindings): ViewFindings {
  const shapes = before?.shapes ?? new WeakMap<VirtualService, string>();
  const shape = (vs: VirtualService) => {
    let s = shapes.get(vs);
    if (s === undefined) shapes.set(vs, (s = shapeOf(vs)));
    return s;
  };
  if (
    before !== undefined &&
    before.clusterDomain === naming.clusterDomain &&
    before.all.length === all.length &&
    all.every((vs, i) => {
      const was = before.all[i] as VirtualService;
      return vs === was || (!before.at.has(was.source) && shape(vs) === shape(was));
    })
  ) {
    return { ...before, all };
  }
  const { findings } = virtualServiceView(all, naming);
  const at = new Set(findings.flatMap((f) => (f.also === undefined ? [f.at.source] : [f.at.source, f.also.at.source])));
  return { all, clusterDomain: naming.clusterDomain, findings, at, shapes };
}

/**
 * What the view's findings read of a VirtualService: where it is (file order), its name, hosts,
 * gateways, exportTo and first catch-all route; all of it when it delegates or is a delegate (the
 * merge of their routes). Only the cluster domain of the naming counts (qualifying hosts).
 */
function shapeOf(vs: VirtualService): string {
  const delegation = isDelegate(vs) || (vs.spec.http ?? []).some((r) => r.delegate !== undefined);
  const { hosts, gateways, exportTo } = vs.spec;
  const catchAll = (vs.spec.http ?? []).findIndex(isCatchAllRoute);
  return JSON.stringify([vs.source.file, vs.source.index, vs.namespace, vs.name, hosts, gateways, exportTo, catchAll, delegation ? vs.spec : null]);
}

/** A VirtualService without hosts: only another one's delegate routes to it. */
function isDelegate(vs: VirtualService): boolean {
  return (vs.spec.hosts ?? []).length === 0;
}

/** Istio refuses gateways, tcp and tls routes, and further delegation in a delegate. */
function delegateShape(vs: VirtualService): RouteFinding[] {
  const out: RouteFinding[] = [];
  for (const field of ["gateways", "tcp", "tls"] as const) {
    if (vs.spec[field] !== undefined) {
      out.push({ code: "GM0362", severity: "error", at: vs, path: ["spec", field], message: `a VirtualService without hosts is a delegate: its routes apply where a root VirtualService delegates to it, so it has no ${field}; ${field === "gateways" ? "bind the root to the gateway" : `write the ${field} routes in the root`}` });
    }
  }
  (vs.spec.http ?? []).forEach((r, i) => {
    if (r.delegate !== undefined) {
      out.push({ code: "GM0363", severity: "error", at: vs, path: ["spec", "http", i, "delegate"], message: `this VirtualService is itself a delegate (it has no hosts), and Istio supports one level of delegation only: route here directly instead of delegating again` });
    }
  });
  return out;
}

/** A delegate no root delegates to routes nothing (often a VirtualService whose hosts were forgotten): GM0365. */
function unreferenced(ordered: readonly VirtualService[], written: readonly VirtualService[], byName: ReadonlyMap<string, VirtualService>): RouteFinding[] {
  const used = new Set<VirtualService>();
  for (const vs of written) {
    for (const r of vs.spec.http ?? []) {
      const d = r.delegate === undefined ? undefined : byName.get(`${r.delegate.namespace ?? vs.namespace}/${r.delegate.name}`);
      if (d !== undefined) used.add(d);
    }
  }
  return ordered
    .filter((vs) => isDelegate(vs) && !used.has(vs))
    .map((vs) => ({ code: "GM0365", severity: "warning" as const, at: vs, path: ["metadata", "name"], message: `this VirtualService has no hosts, which makes it a delegate, and no VirtualService delegates to it (http[].delegate: { name: ${vs.name}, namespace: ${vs.namespace} }): it routes nothing; add hosts, or delegate to it` }));
}

/** Whether some namespace sees both VirtualServices (exportTo: absent or "*" all, "." its own, "~" none). */
function exportsOverlap(a: VirtualService, b: VirtualService): boolean {
  const seen = (vs: VirtualService) => {
    const to = vs.spec.exportTo ?? [];
    return to.length === 0 ? new Set(["*"]) : new Set(to.filter((n) => n !== "~").map((n) => (n === "." ? vs.namespace : n)));
  };
  const [x, y] = [seen(a), seen(b)];
  if (x.size === 0 || y.size === 0) return false;
  return x.has("*") || y.has("*") || [...x].some((n) => y.has(n));
}

/** Whether a VirtualService is exported to a namespace. */
export function exportedTo(vs: VirtualService, namespace: string): boolean {
  return exportedToNamespace(vs.spec.exportTo, vs.namespace, namespace);
}

/** The root with each delegating http route replaced by its delegate's routes (the same object when it delegates nothing). */
function resolveDelegates(root: VirtualService, byName: ReadonlyMap<string, VirtualService>, qualify: (h: string, ns: string) => string, findings: RouteFinding[], sources: Map<VirtualService, VirtualService[]>): VirtualService {
  const http = root.spec.http ?? [];
  if (!http.some((r) => r.delegate !== undefined)) return root;
  const merged: HTTPRoute[] = [];
  const madeOf = [root];
  http.forEach((route, i) => {
    const ref = route.delegate;
    if (ref === undefined) {
      merged.push(route);
      return;
    }
    const key = `${ref.namespace ?? root.namespace}/${ref.name}`;
    const at = ["spec", "http", i, "delegate"];
    const d = byName.get(key);
    if (d === undefined || !isDelegate(d) || !exportedTo(d, root.namespace)) {
      const why =
        d === undefined
          ? `VirtualService ${key} does not exist; define it (without hosts) or fix the name`
          : !isDelegate(d)
            ? `VirtualService ${key} ({where}) has hosts, so it is not a delegate (Istio ignores the route); remove its hosts and gateways`
            : `VirtualService ${key} ({where}) is not exported to namespace ${root.namespace}; add it to the delegate's exportTo`;
      findings.push({ code: "GM0361", severity: "error", at: root, path: at, message: `${why}. This route is left out`, ...(d === undefined ? {} : { also: { at: d, path: isDelegate(d) ? ["spec", "exportTo"] : ["spec", "hosts"] } }) });
      return;
    }
    madeOf.push(d);
    (d.spec.http ?? []).forEach((sub, j) => {
      if (sub.delegate !== undefined) return; // GM0363 at the delegate
      const m = mergeRoute(route, ownHosts(sub, d.namespace, qualify));
      if (m === undefined) {
        findings.push({
          code: "GM0364",
          severity: "warning",
          at: d,
          path: ["spec", "http", j, "match"],
          message: `no match of this route is within the match of the route of VirtualService ${root.namespace}/${root.name} that delegates here ({where}), so Istio, like gitmesh, leaves the route out for it (a delegate's matches narrow the root's: the same or a longer prefix, the same exact value, no regex against a prefix)`,
          also: { at: root, path: ["spec", "http", i] },
        });
        return;
      }
      merged.push(m);
    });
  });
  const resolved = { ...root, spec: { ...root.spec, http: merged } };
  sources.set(resolved, madeOf);
  return resolved;
}

/** A delegate's own hosts written as full names: they are read in the delegate's namespace, not the root's. */
function ownHosts(r: HTTPRoute, namespace: string, qualify: (h: string, ns: string) => string): HTTPRoute {
  const q = <D extends { readonly host: string }>(d: D): D => ({ ...d, host: qualify(d.host, namespace) });
  return {
    ...r,
    ...(r.route === undefined ? {} : { route: r.route.map((x) => ({ ...x, destination: q(x.destination) })) }),
    ...(r.mirror === undefined ? {} : { mirror: q(r.mirror) }),
    ...(r.mirrors === undefined ? {} : { mirrors: r.mirrors.map((x) => ({ ...x, destination: q(x.destination) })) }),
  } as HTTPRoute;
}

const INHERITED = ["rewrite", "directResponse", "timeout", "retries", "fault", "mirror", "mirrorPercent", "mirrorPercentage", "corsPolicy", "mirrors", "headers"] as const;

/** Istio's mergeHTTPRoute: undefined when the delegate route's matches conflict with the root's. */
export function mergeRoute(root: HTTPRoute, sub: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match ?? [], sub.match ?? []);
  if (match === undefined) return undefined;
  const out: Record<string, unknown> = { ...sub };
  delete out["delegate"];
  if (match.length > 0) out["match"] = match;
  const name = joinNames(root.name, sub.name);
  if (name !== undefined) out["name"] = name;
  for (const k of INHERITED) if (out[k] === undefined && root[k] !== undefined) out[k] = root[k];
  return out as unknown as HTTPRoute;
}

function joinNames(root: string | undefined, sub: string | undefined): string | undefined {
  if (sub === undefined || sub === "") return root;
  return root === undefined || root === "" ? sub : `${root}-${sub}`;
}

/**
 * Istio's mergeHTTPMatchRequests: each delegate match must fit within at least one root match
 * (it is merged with every root match it fits), else the route conflicts (undefined).
 */
export function mergeMatches(root: readonly HTTPMatchRequest[], sub: readonly HTTPMatchRequest[]): HTTPMatchRequest[] | undefined {
  if (root.length === 0) return [...sub];
  if (sub.length === 0) return [...root];
  const out: HTTPMatchRequest[] = [];
  for (const s of sub) {
    const fits = root.filter((r) => !conflicts(r, s));
    if (fits.length === 0) return undefined;
    out.push(...fits.map((r) => mergeMatch(r, s)));
  }
  return out;
}

function mergeMatch(root: HTTPMatchRequest, sub: HTTPMatchRequest): HTTPMatchRequest {
  const out: Record<string, unknown> = { ...sub };
  const name = joinNames(root.name, sub.name);
  if (name !== undefined) out["name"] = name;
  for (const k of ["uri", "scheme", "method", "authority", "port", "sourceNamespace"] as const) if (out[k] === undefined && root[k] !== undefined) out[k] = root[k];
  for (const k of ["headers", "withoutHeaders", "queryParams", "sourceLabels"] as const) {
    if (root[k] !== undefined || sub[k] !== undefined) out[k] = { ...root[k], ...sub[k] };
  }
  if (root.ignoreUriCase !== undefined && out["ignoreUriCase"] === undefined) out["ignoreUriCase"] = root.ignoreUriCase;
  return out as HTTPMatchRequest;
}

/** Istio's hasConflict: whether a delegate match cannot be narrowed from a root match. */
function conflicts(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  for (const k of ["uri", "scheme", "method", "authority"] as const) if (stringConflict(root[k], leaf[k])) return true;
  for (const k of ["headers", "withoutHeaders", "queryParams"] as const) {
    const r: Readonly<Record<string, unknown>> = root[k] ?? {};
    for (const [name, v] of Object.entries(leaf[k] ?? {})) if (stringConflict(r[name] as StringMatch | undefined, v as StringMatch)) return true;
  }
  if ((root.ignoreUriCase ?? false) !== (leaf.ignoreUriCase ?? false)) return true;
  if (root.port !== undefined && leaf.port !== undefined && root.port !== leaf.port) return true;
  if (root.sourceNamespace !== undefined && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    const r = root.sourceLabels?.[k];
    if (r !== undefined && r !== v) return true;
  }
  return false;
}

/** Istio's stringMatchConflict (an empty value counts as unset, as in protobuf). */
function stringConflict(root: StringMatch | Readonly<Record<string, never>> | undefined, leaf: StringMatch | Readonly<Record<string, never>> | undefined): boolean {
  if (root === undefined || leaf === undefined) return false;
  const re = (m: typeof root) => ("regex" in m && m.regex !== undefined && m.regex !== "" ? m.regex : undefined);
  const pre = (m: typeof root) => ("prefix" in m && m.prefix !== undefined && m.prefix !== "" ? m.prefix : undefined);
  const ex = (m: typeof root) => ("exact" in m && m.exact !== undefined && m.exact !== "" ? m.exact : undefined);
  const any = (m: typeof root) => re(m) !== undefined || pre(m) !== undefined || ex(m) !== undefined;
  if (re(root) !== undefined && any(leaf)) return true;
  if (re(leaf) !== undefined && any(root)) return true;
  const exact = ex(root);
  if (exact !== undefined) return pre(leaf) !== undefined || ex(leaf) !== exact;
  const prefix = pre(root);
  if (prefix !== undefined) {
    const l = pre(leaf) ?? ex(leaf);
    if (l !== undefined) return !l.startsWith(prefix);
  }
  return true;
}

/**
 * Whether an http route matches every request on a gateway (no match, or matches whose only
 * condition is the URI prefix "/"): Istio moves such routes after every other one of the host.
 */
function isCatchAllRoute(r: HTTPRoute): boolean {
  if (r.delegate !== undefined) return false; // its delegate's routes decide
  const ms = r.match ?? [];
  if (ms.length === 0) return true;
  return ms.some((m) => {
    const conditions = Object.entries(m).filter(([k, v]) => v !== undefined && !["name", "uri", "ignoreUriCase", "port", "sourceLabels", "sourceNamespace"].includes(k) && !(typeof v === "object" && v !== null && Object.keys(v).length === 0));
    const uri = m.uri as Record<string, string> | undefined;
    return conditions.length === 0 && (uri === undefined || uri["prefix"] === "/" || uri["regex"] === ".*");
  });
}

/**
 * On a gateway the routes of every VirtualService for a host are merged with catch-all routes
 * last: only the first catch-all (in file order) is ever used. A later one is reported (GM0360).
 */
function gatewayCatchAlls(written: readonly VirtualService[], qualify: (h: string, ns: string) => string): RouteFinding[] {
  const first = new Map<string, { vs: VirtualService; index: number }>();
  const out: RouteFinding[] = [];
  for (const vs of written) {
    const index = (vs.spec.http ?? []).findIndex(isCatchAllRoute);
    if (index < 0) continue;
    const keys = new Set<string>();
    for (const g of vs.spec.gateways ?? []) {
      const gw = gatewayRef(g, vs.namespace);
      if (gw === "mesh") continue;
      for (const h of vs.spec.hosts ?? []) keys.add(`${gw} ${qualify(h, vs.namespace)}`);
    }
    for (const key of [...keys].sort()) {
      const earlier = first.get(key);
      if (earlier === undefined) {
        first.set(key, { vs, index });
        continue;
      }
      if (earlier.vs === vs) continue;
      const [gw, host] = key.split(" ");
      out.push({
        code: "GM0360",
        severity: "warning",
        at: vs,
        path: ["spec", "http", index],
        message: `this route matches every request for ${host} on gateway ${gw}, and so does a route of VirtualService ${earlier.vs.namespace}/${earlier.vs.name} ({where}), which comes first in file order: the gateway merges the routes of both, catch-all routes last, so this one never matches; narrow its match or remove it`,
        also: { at: earlier.vs, path: ["spec", "http", earlier.index] },
      });
      break;
    }
  }
  return out;
}
