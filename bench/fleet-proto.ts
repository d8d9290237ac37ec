// The protobuf the scripted fleet (bench/fanout-clients.ts) reads and writes, by hand: only the
// fields an Envoy-like client needs, so the fleet's CPU stays small next to the server's.
// Field numbers are from envoy/service/discovery/v3/discovery.proto and the resources' protos.
import { createHash } from "node:crypto";
import { TypeUrl } from "../src/envoy/index.js";
import { lengthDelimited, stringField } from "../src/xds/wire.js";

export const ADS_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
export const DELTA_ADS_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export type Protocol = "sotw" | "delta";

export const adsPath = (protocol: Protocol): string => (protocol === "sotw" ? ADS_PATH : DELTA_ADS_PATH);

/** Calls onField for every field of a message: length-delimited ones with their bytes, varints with their value. */
export function eachField(buf: Buffer, onField: (field: number, value: Buffer | number) => void): void {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = buf[i++] ?? 0;
      v += (b & 0x7f) * shift;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    const field = Math.floor(tag / 8);
    if (wire === 0) onField(field, varint());
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      onField(field, buf.subarray(i, i + len));
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Every length-delimited value found by following a path of (repeated) nested message fields. */
export function allAt(buf: Buffer, ...path: number[]): Buffer[] {
  let level = [buf];
  for (const f of path) {
    const next: Buffer[] = [];
    for (const b of level) eachField(b, (n, v) => n === f && typeof v !== "number" && next.push(v));
    level = next;
  }
  return level;
}

const firstAt = (buf: Buffer, ...path: number[]): Buffer | undefined => allAt(buf, ...path)[0];

/** A resource as a response carries it: its name and its google.protobuf.Any. */
export interface ReceivedResource {
  readonly name: string;
  readonly any: Buffer;
}

/** A DiscoveryResponse (state of the world) or DeltaDiscoveryResponse, the fields we use. */
export interface Response {
  readonly typeUrl: string;
  readonly nonce: string;
  /** version_info (SotW) or system_version_info (delta). */
  readonly version: string;
  readonly resources: readonly ReceivedResource[];
  /** Delta only. */
  readonly removed: readonly string[];
}

/** Every resource type we serve has its name (a ClusterLoadAssignment its cluster_name) as field 1. */
const nameOfAny = (any: Buffer): string => firstAt(any, 2, 1)?.toString() ?? "";

export function parseResponse(protocol: Protocol, msg: Buffer): Response {
  let version = "";
  let typeUrl = "";
  let nonce = "";
  const resources: ReceivedResource[] = [];
  const removed: string[] = [];
  eachField(msg, (n, v) => {
    if (typeof v === "number") return;
    if (n === 1) version = v.toString();
    else if (n === 4) typeUrl = v.toString();
    else if (n === 5) nonce = v.toString();
    else if (n === 2 && protocol === "sotw") resources.push({ name: nameOfAny(v), any: v });
    else if (n === 2) {
      // Resource{version=1, resource=2, name=3}
      let name = "";
      let any: Buffer | undefined;
      eachField(v, (f, x) => {
        if (f === 3 && typeof x !== "number") name = x.toString();
        else if (f === 2 && typeof x !== "number") any = x;
      });
      if (any !== undefined) resources.push({ name, any });
    } else if (n === 6 && protocol === "delta") removed.push(v.toString());
  });
  return { version, typeUrl, nonce, resources, removed };
}

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const CLUSTER_TYPE_EDS = 3;

/**
 * What a resource makes the client ask for next: an EDS cluster its ClusterLoadAssignment (by
 * eds_cluster_config.service_name, or the cluster's name), a listener the routes its HTTP
 * connection managers name over RDS (api_listener, filter chains, default filter chain).
 */
export function dependentNamesOf(typeUrl: string, any: Buffer): readonly string[] {
  const value = firstAt(any, 2);
  if (value === undefined) return [];
  if (typeUrl === TypeUrl.Cluster) {
    let type = 0;
    let name = "";
    eachField(value, (n, v) => {
      if (n === 2 && typeof v === "number") type = v;
      else if (n === 1 && typeof v !== "number") name = v.toString();
    });
    if (type !== CLUSTER_TYPE_EDS) return [];
    return [firstAt(value, 3, 2)?.toString() || name];
  }
  if (typeUrl === TypeUrl.Listener) {
    const anys = [...allAt(value, 19, 1), ...allAt(value, 3, 3, 4), ...allAt(value, 25, 3, 4)];
    return anys.flatMap((a) => (firstAt(a, 1)?.toString() === HCM_TYPE ? allAt(firstAt(a, 2) ?? Buffer.alloc(0), 3, 2).map((b) => b.toString()) : []));
  }
  return [];
}

/** A DiscoveryRequest; resource names come pre-encoded (they change only on re-subscription). */
export function sotwRequest(typeUrl: string, names: Buffer, version = "", nonce = "", node?: Buffer): Buffer {
  return Buffer.concat([stringField(1, version), node ?? Buffer.alloc(0), names, stringField(4, typeUrl), stringField(5, nonce)]);
}

export const encodeNames = (field: number, names: readonly string[]): Buffer => Buffer.concat(names.map((n) => stringField(field, n)));

/** A DeltaDiscoveryRequest: node=1, type_url=2, subscribe=3, unsubscribe=4, response_nonce=6. */
export function deltaRequest(typeUrl: string, subscribe: readonly string[], unsubscribe: readonly string[], nonce = "", node?: Buffer): Buffer {
  return Buffer.concat([node ?? Buffer.alloc(0), stringField(2, typeUrl), encodeNames(3, subscribe), encodeNames(4, unsubscribe), stringField(6, nonce)]);
}

/**
 * Node{id, cluster} as the node field of either request (field 2 of SotW's, 1 of delta's), or the
 * given encoded Node (encodeNode: a sidecar's, with its metadata).
 */
export function nodeField(protocol: Protocol, id: string, node?: Buffer): Buffer {
  return lengthDelimited(protocol === "sotw" ? 2 : 1, node ?? Buffer.concat([stringField(1, id), stringField(2, "fanout")]));
}

/** A google.protobuf.Struct's fields as a Node's metadata holds them (string and struct values). */
export interface StructFields {
  readonly fields: Readonly<Record<string, { readonly stringValue?: string; readonly structValue?: StructFields }>>;
}

/** Struct{fields=1 map<string, Value{string_value=3, struct_value=5}>}. */
function encodeStruct(struct: StructFields): Buffer {
  return Buffer.concat(
    Object.entries(struct.fields).map(([key, v]) => {
      const value = v.structValue !== undefined ? lengthDelimited(5, encodeStruct(v.structValue)) : stringField(3, v.stringValue ?? "");
      return lengthDelimited(1, Buffer.concat([stringField(1, key), lengthDelimited(2, value)]));
    }),
  );
}

/** Node{id=1, cluster=2, metadata=3}: what a sidecar's first request says it is. */
export function encodeNode(node: { readonly id: string; readonly cluster: string; readonly metadata?: StructFields | null }): Buffer {
  return Buffer.concat([stringField(1, node.id), stringField(2, node.cluster), node.metadata === undefined || node.metadata === null ? Buffer.alloc(0) : lengthDelimited(3, encodeStruct(node.metadata))]);
}

/**
 * One digest of a client's whole state: sha256 (hex, 16 characters) of its sorted
 * "TYPE NAME DIGEST" lines, TYPE the short type name (Cluster, ClusterLoadAssignment, ...).
 */
export function stateDigest(digests: Iterable<readonly [string, string]>): string {
  const lines = [...digests].map(([k, v]) => `${k} ${v}`).sort();
  return createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 16);
}