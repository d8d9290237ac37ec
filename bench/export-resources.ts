// Writes the exact encoded resources gitmesh serves one proxy of the generated mesh
// (bench/mesh-gen.ts), before and after a one-file change, so that another xDS server (the
// go-control-plane peer, bench/peer/) can serve byte-identical resources.
//
//   node dist/bench/export-resources.js --out DIR [--services 100] [--kind sidecar|grpc] [--change endpoint|route|cluster]
//
// DIR/manifest.json says what is where (ExportManifest). Each DIR/SNAPSHOT/TYPE.pb holds one
// snapshot's resources of one type, sorted by name, as varint-length-delimited
// envoy.service.discovery.v3.Resource messages {version, resource (the google.protobuf.Any
// gitmesh writes into every response), name} (Go reads them with protodelim). Snapshot "A" is the
// mesh as generated, "B" the mesh after the change; a push alternates between them.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ADS_ORDER, defaultProxyKey, encodedResource, makeSnapshot, resourcesOf, versionOf, type EncodedResource, type Snapshot } from "../src/xds/index.js";
import { fieldHeader, stringField, varint, WIRE_LEN } from "../src/xds/wire.js";
import { benchNode, credentialOf, proxyKindOption, servedBenchMesh, type BenchProxyKind } from "./mesh-proxies.js";

export type ChangeKind = "endpoint" | "route" | "cluster";

/** What each one-file change edits in svc-0's files, and which xDS types it changes. */
const CHANGES: Readonly<Record<ChangeKind, { readonly file: string; readonly edit: (text: string) => string }>> = {
  // A workload moves: the endpoints of svc-0 (and of its v1 subset) change.
  endpoint: { file: "svc-0/workload-v1.yaml", edit: (t) => t.replace(/address: (\S+)\.1\n/, "address: $1.9\n") },
  // A VirtualService's split (the change bench/translate.ts times): svc-0's routes change.
  route: { file: "svc-0/virtual-service.yaml", edit: (t) => t.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20") },
  // A DestinationRule's outlier detection: svc-0's clusters change.
  cluster: { file: "svc-0/destination-rule.yaml", edit: (t) => t.replace("consecutive5xxErrors: 5", "consecutive5xxErrors: 6") },
};

/** The mesh's files with the one-file change made (the file's path ends with CHANGES' file). */
export function changedFiles<F extends { readonly path: string; readonly text: string }>(files: readonly F[], change: ChangeKind): F[] {
  const { file, edit } = CHANGES[change];
  const changed = files.map((f) => (f.path.endsWith(file) ? { ...f, text: edit(f.text) } : f));
  if (changed.every((f, i) => f.text === files[i]?.text)) throw new Error(`the ${change} change edits nothing`);
  return changed;
}

export function changeKindOption(value: string): ChangeKind {
  if (value in CHANGES) return value as ChangeKind;
  throw new Error(`--change ${value}: want ${Object.keys(CHANGES).join(", ")}`);
}

export interface ExportedType {
  readonly typeUrl: string;
  readonly short: string;
  /**
   * The state-of-the-world version of the full set as gitmesh computes it for these resources
   * (versionOf). serve's composed sidecar snapshots hash their layers' versions instead; the
   * bytes of the resources are the same either way.
   */
  readonly version: string;
  /** Relative to the export directory. */
  readonly file: string;
  readonly count: number;
  /** Sum of the resources' Any sizes. */
  readonly bytes: number;
}

export interface ExportManifest {
  readonly services: number;
  readonly kind: BenchProxyKind;
  readonly change: ChangeKind;
  /** The proxy whose snapshot this is (every scripted client is served this one snapshot). */
  readonly proxy: string;
  readonly snapshots: Readonly<Record<"A" | "B", readonly ExportedType[]>>;
}

/** One snapshot's resources of one type, as the .pb file holds them. */
function encodeTypeFile(items: readonly EncodedResource[]): Buffer {
  const records = items.map((r) => {
    const message = Buffer.concat([stringField(1, r.version), r.anyField, stringField(3, r.name)]);
    return Buffer.concat([varint(message.length), message]);
  });
  return Buffer.concat(records);
}

/** Reads a .pb file back into resources (the same bytes, so the same versions and Any fields). */
export function decodeTypeFile(typeUrl: string, file: Buffer): EncodedResource[] {
  const out: EncodedResource[] = [];
  let i = 0;
  const readVarint = (): number => {
    let v = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = file[i++];
      if (b === undefined) throw new Error("truncated varint");
      v += (b & 0x7f) * shift;
      if (b < 0x80) return v;
    }
  };
  while (i < file.length) {
    const end = readVarint() + i;
    let name = "";
    let value: Buffer | undefined;
    while (i < end) {
      const tag = readVarint();
      const len = readVarint();
      const bytes = file.subarray(i, i + len);
      i += len;
      if (tag === ((3 << 3) | WIRE_LEN)) name = bytes.toString("utf8");
      else if (tag === ((2 << 3) | WIRE_LEN)) value = anyValue(bytes, typeUrl);
    }
    if (value === undefined) throw new Error(`a ${typeUrl} record has no resource`);
    out.push(encodedResource(typeUrl, name, value));
  }
  return out;
}

/** The value of a google.protobuf.Any whose type_url must be `typeUrl`. */
function anyValue(any: Buffer, typeUrl: string): Buffer {
  const typeField = Buffer.concat([fieldHeader(1, WIRE_LEN, Buffer.byteLength(typeUrl)), Buffer.from(typeUrl)]);
  if (!any.subarray(0, typeField.length).equals(typeField)) throw new Error(`a resource in the ${typeUrl} file is not a ${typeUrl}`);
  let i = typeField.length + 1; // Any.value's tag (field 2, length-delimited) is one byte
  let len = 0;
  for (let shift = 1; ; shift *= 128) {
    const b = any[i++] ?? 0;
    len += (b & 0x7f) * shift;
    if (b < 0x80) break;
  }
  return any.subarray(i, i + len);
}

/**
 * A snapshot read back from an export, as gitmesh's own server would hold it: given the snapshot
 * it follows, a resource of the same content is that snapshot's object (gitmesh's encoder interns
 * by content) and a type left alone keeps its object (as the pusher's layers keep it).
 */
export function readExportedSnapshot(dir: string, types: readonly ExportedType[], previous?: Snapshot): Snapshot {
  const same = (r: EncodedResource) => (previous === undefined ? undefined : resourcesOf(previous, r.typeUrl).byName.get(r.name));
  const resources = types.flatMap((t) => decodeTypeFile(t.typeUrl, readFileSync(join(dir, t.file)))).map((r) => {
    const kept = same(r);
    return kept !== undefined && kept.version === r.version ? kept : r;
  });
  const made = makeSnapshot(resources, previous);
  if (!made.ok) throw new Error(`export in ${dir} is not a snapshot: ${JSON.stringify(made.problems.slice(0, 3))}`);
  for (const t of types) {
    const version = resourcesOf(made.snapshot, t.typeUrl).version;
    if (version !== t.version) throw new Error(`${t.file}: version ${version}, manifest says ${t.version}`);
  }
  return made.snapshot;
}

export function readManifest(dir: string): ExportManifest {
  return JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as ExportManifest;
}

/** sha256 of every resource's Any, by "TYPE NAME": what a client receiving the snapshot holds. */
export function resourceDigests(snapshot: Snapshot): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of ADS_ORDER) {
    for (const r of resourcesOf(snapshot, kind.typeUrl).items) out.set(`${kind.short} ${r.name}`, anyDigest(r));
  }
  return out;
}

/** sha256 (hex, 16 characters) of a resource's google.protobuf.Any bytes. */
export function anyDigest(r: EncodedResource): string {
  const any = r.anyField.subarray(r.anyField.length - anyLength(r));
  return createHash("sha256").update(any).digest("hex").slice(0, 16);
}

function anyLength(r: EncodedResource): number {
  // anyField is the field header (tag + length) followed by the Any: the Any is what follows it.
  let i = 1;
  while ((r.anyField[i] ?? 0) & 0x80) i++;
  return r.anyField.length - (i + 1);
}

/** gitmesh's snapshot for one proxy of a generated mesh, before and after the change. */
export async function exportedSnapshots(services: number, kind: BenchProxyKind, change: ChangeKind): Promise<{ proxy: string; a: Snapshot; b: Snapshot }> {
  const { files, loader, cache, pusher } = await servedBenchMesh(services);
  // Proxy 1: a workload of svc-1, so svc-0's change reaches it only through its outbound config.
  const node = benchNode(kind, 1, services);
  const credential = credentialOf(kind, 1, services);
  const proxy = defaultProxyKey(node, credential);
  pusher.connected(proxy, node, "", credential);
  await pusher.settled();
  const a = cache.get(proxy);
  const next = loader.load(changedFiles(files, change));
  if (!next.ok) throw new Error("changed mesh has errors");
  if (!(await pusher.setModel(next.model)).ok) throw new Error("translation failed");
  await pusher.settled();
  const b = cache.get(proxy);
  pusher.close();
  if (a === undefined || b === undefined) throw new Error(`proxy ${proxy} got no snapshot`);
  return { proxy, a, b };
}

function writeSnapshot(dir: string, label: "A" | "B", snapshot: Snapshot): ExportedType[] {
  mkdirSync(join(dir, label), { recursive: true });
  return ADS_ORDER.map((kind) => {
    const all = resourcesOf(snapshot, kind.typeUrl);
    const file = join(label, `${kind.short}.pb`);
    writeFileSync(join(dir, file), encodeTypeFile(all.items));
    return { typeUrl: kind.typeUrl, short: kind.short, version: versionOf(all.items), file, count: all.items.length, bytes: all.items.reduce((n, r) => n + r.anyField.length, 0) };
  });
}

export async function exportMesh(dir: string, services: number, kind: BenchProxyKind, change: ChangeKind): Promise<ExportManifest> {
  const { proxy, a, b } = await exportedSnapshots(services, kind, change);
  const manifest: ExportManifest = { services, kind, change, proxy, snapshots: { A: writeSnapshot(dir, "A", a), B: writeSnapshot(dir, "B", b) } };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  // What was written reads back as the same snapshot, resource for resource.
  for (const [label, snapshot] of [["A", a], ["B", b]] as const) {
    const back = resourceDigests(readExportedSnapshot(dir, manifest.snapshots[label]));
    const want = resourceDigests(snapshot);
    if (back.size !== want.size || [...want].some(([k, v]) => back.get(k) !== v)) throw new Error(`export ${label} does not read back as written`);
  }
  return manifest;
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = option("out", "");
  if (out === "") throw new Error("usage: node dist/bench/export-resources.js --out DIR [--services 100] [--kind sidecar|grpc] [--change endpoint|route|cluster]");
  const manifest = await exportMesh(out, Number(option("services", "100")), proxyKindOption(option("kind", "sidecar")), changeKindOption(option("change", "endpoint")));
  for (const label of ["A", "B"] as const) {
    console.log(`${label}: ${manifest.snapshots[label].map((t) => `${t.short} ${t.count} (${(t.bytes / 1024).toFixed(1)} KB) ${t.version}`).join(", ")}`);
  }
}
