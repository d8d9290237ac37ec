// Several ServiceEntries declaring one host, merged as Istio merges them, so that validate and
// serve make one decision (Istio: the ServiceEntry store's mergeServicesInstancesByNamespaceHost
// and the SidecarScope's appendSidecarServices / canMergeServices):
// - In one namespace, the entries are one service: the first entry's ports, then each later
//   entry's ports whose number is not there yet; every entry's endpoints (inline, or the
//   workloads it selects). "First" is file order (file path, then place in the file), where Istio
//   takes the oldest by creation time.
// - Istio merges the ports only of entries with the same resolution, workloadSelector and
//   exportTo, and keeps the first's definition of a port number silently: gitmesh reports those
//   as conflicts, at the later entry, naming the first.
// - In different namespaces they are different services, and a client sees the one exported to
//   it (Istio prefers its own namespace's, then the oldest): gitmesh does not choose per client
//   namespace yet, and reports it.
import { fileOrder, type MeshResource } from "./resources.js";
import type { ServicePort } from "./types.js";

type Entry = MeshResource<"ServiceEntry">;

/** One host of one namespace, with every ServiceEntry declaring it there. */
export interface MergedHost {
  readonly host: string;
  readonly namespace: string;
  /** The entries merged, in file order; the first decides resolution, location and exportTo. */
  readonly entries: readonly Entry[];
  /** The first entry, its ports (and inline endpoints) the merged ones; the same object when it is alone. */
  readonly entry: Entry;
}

/** Something that cannot be merged: at `at` (path in its spec), naming the first entry's place. */
export interface EntryConflict {
  readonly at: Entry;
  readonly path: readonly (string | number)[];
  readonly first: Entry;
  readonly firstPath: readonly (string | number)[];
  readonly message: string;
}

export interface MergedEntries {
  /** By host, then namespace, in file order of their first entries. */
  readonly hosts: ReadonlyMap<string, readonly MergedHost[]>;
  readonly conflicts: readonly EntryConflict[];
}

/** Merges the entries of each host (wildcard hosts too, taken literally as Istio does). */
export function mergeServiceEntries(entries: readonly Entry[]): MergedEntries {
  const groups = new Map<string, Map<string, Entry[]>>();
  for (const se of [...entries].sort(fileOrder)) {
    for (const host of new Set(se.spec.hosts)) {
      let byNs = groups.get(host);
      if (byNs === undefined) groups.set(host, (byNs = new Map()));
      const list = byNs.get(se.namespace);
      if (list === undefined) byNs.set(se.namespace, [se]);
      else list.push(se);
    }
  }
  const conflicts: EntryConflict[] = [];
  const hosts = new Map<string, MergedHost[]>();
  for (const [host, byNs] of groups) {
    const merged = [...byNs].map(([namespace, list]) => mergeHost(host, namespace, list, conflicts));
    hosts.set(host, merged);
    const [first, ...others] = merged;
    for (const other of others) {
      if (first === undefined) break;
      const a = first.entries[0];
      const b = other.entries[0];
      if (a === undefined || b === undefined) continue;
      conflicts.push({
        at: b,
        path: ["spec", "hosts", b.spec.hosts.indexOf(host)],
        first: a,
        firstPath: ["spec", "hosts", a.spec.hosts.indexOf(host)],
        message: `host ${host} is also declared in namespace ${a.namespace}; gitmesh serves a host from one namespace (Istio picks per client namespace, by exportTo and age): declare it in one namespace`,
      });
    }
  }
  return { hosts, conflicts };
}

function mergeHost(host: string, namespace: string, list: readonly Entry[], conflicts: EntryConflict[]): MergedHost {
  const [first, ...rest] = list;
  if (first === undefined) throw new Error("bug: a host without entries");
  if (rest.length === 0) return { host, namespace, entries: list, entry: first };
  const hostPath = (se: Entry) => ["spec", "hosts", se.spec.hosts.indexOf(host)];
  const ports: ServicePort[] = [...(first.spec.ports ?? [])];
  const portFrom = new Map<number, { se: Entry; index: number }>((first.spec.ports ?? []).map((p, index) => [p.number, { se: first, index }]));
  const kept: Entry[] = [first];
  for (const se of rest) {
    const differs = mergeBlocker(first, se);
    if (differs !== undefined) {
      conflicts.push({ at: se, path: differs.path, first, firstPath: hostPath(first), message: `${host} is also declared by this namespace's ServiceEntry ${first.name} with ${differs.what}; Istio would ignore this entry's ports: make them agree, or use another host` });
      continue;
    }
    kept.push(se);
    (se.spec.ports ?? []).forEach((p, index) => {
      const seen = portFrom.get(p.number);
      if (seen === undefined) {
        const clash = ports.find((q) => q.name === p.name);
        if (clash !== undefined) {
          const at = portFrom.get(clash.number);
          if (at !== undefined) conflicts.push({ at: se, path: ["spec", "ports", index, "name"], first: at.se, firstPath: ["spec", "ports", at.index, "name"], message: `port name ${p.name} of ${host} already names port ${clash.number}; give each port of the host its own name` });
          return;
        }
        ports.push(p);
        portFrom.set(p.number, { se, index });
        return;
      }
      const q = ports.find((x) => x.number === p.number);
      if (q !== undefined && !samePort(p, q)) {
        conflicts.push({ at: se, path: ["spec", "ports", index], first: seen.se, firstPath: ["spec", "ports", seen.index], message: `port ${p.number} of ${host} is already declared differently (${describe(q)}, not ${describe(p)}); Istio keeps the first: declare it once, or the same way` });
      }
    });
  }
  const inline = kept.flatMap((se) => se.spec.endpoints ?? []);
  const spec = { ...first.spec, ports, ...(inline.length === 0 ? {} : { endpoints: inline }) } as Entry["spec"];
  return { host, namespace, entries: kept, entry: { ...first, spec } };
}

/** What keeps Istio from merging two entries' ports (canMergeServices), if anything. */
function mergeBlocker(first: Entry, se: Entry): { what: string; path: readonly (string | number)[] } | undefined {
  const a = first.spec;
  const b = se.spec;
  if ((a.resolution ?? "NONE") !== (b.resolution ?? "NONE")) return { what: `resolution ${a.resolution ?? "NONE"}, not ${b.resolution ?? "NONE"}`, path: ["spec", b.resolution === undefined ? "hosts" : "resolution"] };
  if (JSON.stringify(sorted(a.workloadSelector?.labels)) !== JSON.stringify(sorted(b.workloadSelector?.labels))) return { what: "another workloadSelector", path: ["spec", b.workloadSelector === undefined ? "hosts" : "workloadSelector"] };
  if (JSON.stringify([...(a.exportTo ?? [])].sort()) !== JSON.stringify([...(b.exportTo ?? [])].sort())) return { what: "another exportTo", path: ["spec", b.exportTo === undefined ? "hosts" : "exportTo"] };
  return undefined;
}

function sorted(labels: Readonly<Record<string, string>> | undefined): [string, string][] | undefined {
  return labels === undefined ? undefined : Object.entries(labels).sort(([x], [y]) => (x < y ? -1 : 1));
}

function samePort(p: ServicePort, q: ServicePort): boolean {
  return p.name === q.name && p.protocol.toUpperCase() === q.protocol.toUpperCase() && p.targetPort === q.targetPort;
}

function describe(p: ServicePort): string {
  return `${p.name} ${p.protocol}${p.targetPort === undefined ? "" : ` targetPort ${p.targetPort}`}`;
}
