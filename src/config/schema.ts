// Schema validation of one config document: the kind and apiVersion it claims, its name, and then
// every field against schemas/<kind>.schema.json (strict: fields gitmesh does not support are
// errors). Findings are diagnostics with stable codes and the position of the offending field.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type AnySchemaObject, type ValidateFunction } from "ajv";
import { excerpt, sortDiagnostics, type Diagnostic, type ResourceRef, type Severity } from "./diagnostics.js";
import { ANNOTATION_KEYWORDS, closest, diagnosticsFromAjv, SchemaCode, sourceText } from "./schema-errors.js";
import { foreignKind } from "./kinds.js";
import { positionOf, type ParsedDoc } from "./source.js";
import { API_VERSIONS, isMeshKind, MESH_KINDS, type MeshKind } from "./types.js";

export { SchemaCode } from "./schema-errors.js";

/** File name of a kind's schema in the schemas/ directory: virtualservice.schema.json. */
export function schemaFileName(kind: MeshKind): string {
  return `${kind.toLowerCase()}.schema.json`;
}

let directory: string | undefined;

/** The repository's schemas/ directory (found from this module, in src/ or in dist/src/). */
export function schemaDirectory(): string {
  if (directory !== undefined) return directory;
  let at = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(at, "schemas");
    if (existsSync(join(candidate, schemaFileName("VirtualService")))) return (directory = candidate);
    at = dirname(at);
  }
  throw new Error("gitmesh: cannot find the schemas/ directory next to the installed package");
}

/** The schema for any gitmesh document: picks the kind's schema by `kind` (for editors). */
export const COMBINED_SCHEMA_FILE = "gitmesh.schema.json";

/** Reads a kind's schema (parsed JSON). */
export function loadSchema(kind: MeshKind): AnySchemaObject {
  return JSON.parse(readFileSync(join(schemaDirectory(), schemaFileName(kind)), "utf8")) as AnySchemaObject;
}

/** An ajv instance configured the way gitmesh validates: strict, every error, with the data. */
export function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
  for (const k of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword: k.keyword, schemaType: k.schemaType });
  return ajv;
}

let ajv: Ajv | undefined;
const compiled = new Map<MeshKind, ValidateFunction>();

function validatorFor(kind: MeshKind): ValidateFunction {
  let v = compiled.get(kind);
  if (v === undefined) {
    ajv ??= newAjv();
    v = ajv.compile(loadSchema(kind));
    compiled.set(kind, v);
  }
  return v;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Checks one parsed document against its kind's schema. No findings means it is well formed and
 * can be read as MeshDocument<kind> (types.ts). Findings come sorted by line and column.
 */
export function validateSchema(doc: ParsedDoc): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (path: (string | number)[], where: "key" | "value", code: string, message: string, resource?: ResourceRef, field?: string, severity: Severity = "error"): void => {
    const pos = positionOf(doc, path, where);
    out.push({
      code,
      severity,
      message,
      file: doc.file,
      line: pos.line,
      col: pos.col,
      ...(field !== undefined ? { field } : {}),
      ...(resource !== undefined ? { resource } : {}),
    });
  };

  const value = doc.value;
  if (!isRecord(value)) {
    at([], "value", SchemaCode.wrongType, "a config document must be a mapping with apiVersion, kind, metadata and spec");
    return out;
  }

  const metadata = isRecord(value.metadata) ? value.metadata : undefined;
  const name = metadata?.name;
  const namespace = typeof metadata?.namespace === "string" ? metadata.namespace : "default";
  const kind = value.kind;
  const resource: ResourceRef | undefined =
    typeof kind === "string" && typeof name === "string" && name !== "" ? { kind, namespace, name } : undefined;
  const supported = MESH_KINDS.join(", ");

  const foreign = foreignKind(kind, value.apiVersion);
  if (foreign !== undefined) {
    at(["kind"], "value", foreign.severity === "error" ? SchemaCode.unknownKind : SchemaCode.skippedKind, foreign.message, resource, "kind", foreign.severity);
    return out;
  }
  if (!isMeshKind(kind)) {
    if (kind === undefined) at([], "value", SchemaCode.unknownKind, `the document has no kind: set kind to one of ${supported}`, resource);
    else if (typeof kind !== "string") at(["kind"], "value", SchemaCode.unknownKind, `kind must be a string, one of ${supported}`, resource, "kind");
    else at(["kind"], "value", SchemaCode.unknownKind, unknownKind(kind, value.items), resource, "kind");
    return out;
  }

  const accepted = API_VERSIONS[kind] as readonly string[];
  const apiVersion = value.apiVersion;
  if (apiVersion === undefined) {
    at([], "value", SchemaCode.apiVersion, `${kind} has no apiVersion: set it to one of ${accepted.join(", ")}`, resource, "apiVersion");
  } else if (typeof apiVersion !== "string" || !accepted.includes(apiVersion)) {
    at(["apiVersion"], "value", SchemaCode.apiVersion, `apiVersion ${excerpt(apiVersion)} is not supported for ${kind}: use one of ${accepted.join(", ")}`, resource, "apiVersion");
  }

  if (metadata === undefined) {
    const where = value.metadata === undefined ? [] : ["metadata"];
    at(where, "value", SchemaCode.name, `${kind} has no metadata.name: every resource needs a name (a DNS-1123 subdomain, e.g. "reviews")`, resource, "metadata.name");
  } else if (name === undefined) {
    at(["metadata"], "key", SchemaCode.name, `${kind} has no metadata.name: every resource needs a name (a DNS-1123 subdomain, e.g. "reviews")`, resource, "metadata.name");
  } else if (typeof name === "number" || typeof name === "boolean") {
    const written = sourceText(doc, ["metadata", "name"]) ?? String(name);
    at(["metadata", "name"], "value", SchemaCode.name, `metadata.name is the ${typeof name} ${String(name)}; quote it (${excerpt(written)}) so YAML keeps it as the string you wrote`, resource, "metadata.name");
  } else if (typeof name !== "string" || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    at(
      ["metadata", "name"],
      "value",
      SchemaCode.name,
      `metadata.name ${excerpt(name)} is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain, at most 253 characters)`,
      resource,
      "metadata.name",
    );
  }

  const validate = validatorFor(kind);
  if (!validate(value)) {
    const errors = (validate.errors ?? []).filter((e) => !coveredAbove(e.instancePath, e.keyword, e.params as Record<string, unknown>));
    out.push(...diagnosticsFromAjv(errors, { doc, kind, ...(resource !== undefined ? { resource } : {}) }));
  }
  return sortDiagnostics(out);
}

/** What to say about a kind gitmesh does not read: a kubectl List, a misspelt kind, or another kind. */
function unknownKind(kind: string, items: unknown): string {
  const listOf = /^(.*)List$/.exec(kind)?.[1];
  if (listOf === "" || isMeshKind(listOf)) {
    const n = Array.isArray(items) ? items.length : undefined;
    const count = n === undefined ? "" : ` (${n} ${n === 1 ? "item" : "items"})`;
    return `kind ${excerpt(kind)} is a kubectl List (this looks like kubectl output): split it into one document per item${count}, separated by "---"`;
  }
  // virtualservice, VirtualServices, Virtualservice: compared without case, a near miss of a kind.
  const guess = closest(kind.toLowerCase(), MESH_KINDS.map((k) => k.toLowerCase()));
  const meant = MESH_KINDS.find((k) => k.toLowerCase() === guess);
  if (meant !== undefined) return `unknown kind ${excerpt(kind)}: did you mean "${meant}"? Kinds are case-sensitive and singular`;
  return `unknown kind ${excerpt(kind)}: gitmesh supports ${MESH_KINDS.join(", ")}`;
}

/** Errors about apiVersion, kind and metadata.name, which the checks above already reported. */
function coveredAbove(instancePath: string, keyword: string, params: Record<string, unknown>): boolean {
  if (instancePath === "/apiVersion" || instancePath === "/kind" || instancePath === "/metadata/name") return true;
  if (keyword === "required" && instancePath === "" && ["apiVersion", "kind", "metadata"].includes(String(params.missingProperty))) return true;
  if (keyword === "required" && instancePath === "/metadata" && params.missingProperty === "name") return true;
  return instancePath === "/metadata" && keyword === "type";
}
