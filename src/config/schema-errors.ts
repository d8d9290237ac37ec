// Turns ajv's errors for one document into gitmesh diagnostics: one clear finding per problem,
// with a stable code, the dotted field path, and the line and column of the field in the file.
import type { ErrorObject } from "ajv";
import { isMap, isScalar, isSeq } from "yaml";
import { excerpt, fieldPath, type Diagnostic, type ResourceRef } from "./diagnostics.js";
import { positionOf, type ParsedDoc } from "./source.js";

export const SchemaCode = {
  unknownKind: "GM0101",
  apiVersion: "GM0102",
  name: "GM0103",
  /** A Kubernetes document that is not mesh config (a warning: it is skipped). */
  skippedKind: "GM0104",
  unsupportedField: "GM0201",
  wrongType: "GM0202",
  outOfRange: "GM0203",
  notAllowed: "GM0204",
  badDuration: "GM0205",
  missingField: "GM0206",
  exclusive: "GM0207",
  other: "GM0299",
} as const;

export interface ErrorContext {
  readonly doc: ParsedDoc;
  readonly kind: string;
  readonly resource?: ResourceRef;
}

type Path = (string | number)[];

// Annotation keywords in the schemas (editors ignore them; yaml-language-server shows patternErrorMessage).

/** Next to additionalProperties: false, the Istio fields gitmesh leaves out at that spot. */
export const UNSUPPORTED_KEYWORD = "x-istio-unsupported";
/** Next to an enum, the Istio values gitmesh does not support (yet) for that field. */
export const UNSUPPORTED_VALUES_KEYWORD = "x-istio-unsupported-values";
/** Next to additionalProperties: false, fields the Kubernetes API server writes (kubectl output). */
export const BOOKKEEPING_KEYWORD = "x-kubernetes-bookkeeping";
export const PATTERN_MESSAGE_KEYWORD = "patternErrorMessage";

/** Every annotation keyword, with the JSON type of its value (for ajv's addKeyword). */
export const ANNOTATION_KEYWORDS = [
  { keyword: UNSUPPORTED_KEYWORD, schemaType: "array" },
  { keyword: UNSUPPORTED_VALUES_KEYWORD, schemaType: "array" },
  { keyword: BOOKKEEPING_KEYWORD, schemaType: "array" },
  { keyword: PATTERN_MESSAGE_KEYWORD, schemaType: "string" },
] as const;

const DURATION_DEF = "/definitions/duration/";
const RANGE = new Set(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]);
const SIZE = new Set(["minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"]);
/** Rules on one string value, most telling first: a value that breaks several is reported once. */
const STRING_RULES = ["minLength", "pattern", "maxLength"];

/** Maps ajv errors (run with allErrors and verbose) to diagnostics, dropping ajv's follow-on noise. */
export function diagnosticsFromAjv(errors: readonly ErrorObject[], ctx: ErrorContext): Diagnostic[] {
  const kept = collapse(errors);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const d = toDiagnostic(e, ctx);
    const key = `${d.code} ${d.field ?? ""} ${d.line}:${d.col}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

/**
 * ajv reports a failed oneOf as the oneOf error plus one error per branch, a bad map key as the
 * inner error plus a propertyNames error, and a wrongly typed value once per keyword. Keep the
 * error that says what is wrong.
 */
function collapse(errors: readonly ErrorObject[]): ErrorObject[] {
  const combinators = errors.filter((e) => e.keyword === "oneOf" || e.keyword === "anyOf");
  const typed = new Set(errors.filter((e) => e.keyword === "type").map((e) => e.instancePath));
  const ranged = new Set(errors.filter((e) => RANGE.has(e.keyword)).map((e) => e.instancePath));
  // { prefix: x } where only exact/regex are allowed: "prefix is not supported" says it all.
  const extras = errors.filter((e) => e.keyword === "additionalProperties");
  const extraField = new Set(extras.map((e) => e.instancePath));
  // { hots: a } where host is required: "did you mean host?" says it all.
  const typos = new Set(extras.map((e) => `${e.instancePath}\0${typoFix(e) ?? ""}`));
  // "" is both too short and not the right pattern: one finding (the first rule it breaks) is enough.
  const stringRule = new Map<string, number>();
  for (const e of errors) {
    const rank = STRING_RULES.indexOf(e.keyword);
    if (rank < 0 || e.propertyName !== undefined) continue;
    stringRule.set(e.instancePath, Math.min(rank, stringRule.get(e.instancePath) ?? rank));
  }
  return errors.filter((e) => {
    if (e.propertyName === undefined && STRING_RULES.includes(e.keyword) && STRING_RULES.indexOf(e.keyword) !== stringRule.get(e.instancePath)) return false;
    if (e.keyword === "propertyNames") return false;
    // A failed if/then is also reported by the `then` branch's own errors, which say what is wrong.
    if (e.keyword === "if") return false;
    if (e.keyword === "required" && typos.has(`${e.instancePath}\0${String((e.params as { missingProperty?: unknown }).missingProperty)}`)) return false;
    if (combinators.includes(e) && extraField.has(e.instancePath) && !Array.isArray((e.params as { passingSchemas?: unknown }).passingSchemas)) return false;
    if (combinators.some((c) => c !== e && c.instancePath === e.instancePath && e.schemaPath.startsWith(`${c.schemaPath}/`))) return false;
    if (e.keyword !== "type" && e.propertyName === undefined && typed.has(e.instancePath)) return false;
    if (e.keyword === "enum" && ranged.has(e.instancePath)) return false;
    return true;
  });
}

/** Instance path (/spec/http/0) to path segments, with array indexes as numbers. */
export function pathOf(doc: ParsedDoc, instancePath: string): Path {
  const path: Path = [];
  let at: unknown = doc.value;
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(at)) {
      const i = Number(seg);
      path.push(i);
      at = at[i];
    } else {
      path.push(seg);
      at = at !== null && typeof at === "object" ? (at as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

function toDiagnostic(e: ErrorObject, ctx: ErrorContext): Diagnostic {
  const base = pathOf(ctx.doc, e.instancePath);
  // The resource travels with the diagnostic and every output format shows it; say the kind only
  // when there is no resource to name.
  const where = ctx.resource !== undefined ? "" : ` (${ctx.kind})`;
  const make = (code: string, message: string, path: Path, at: "key" | "value"): Diagnostic => {
    const pos = positionOf(ctx.doc, path, at);
    return {
      code,
      severity: "error",
      message,
      file: ctx.doc.file,
      line: pos.line,
      col: pos.col,
      ...(path.length > 0 ? { field: fieldPath(path) } : {}),
      ...(ctx.resource !== undefined ? { resource: ctx.resource } : {}),
    };
  };
  const f = fieldPath(base) || "the document";
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const params = e.params as Record<string, unknown>;

  if (e.propertyName !== undefined) {
    // A map key that is not allowed (label names, header names, port numbers).
    const path = [...base, e.propertyName];
    const hint = typeof parent[PATTERN_MESSAGE_KEYWORD] === "string" ? `: it ${String(parent[PATTERN_MESSAGE_KEYWORD])}` : `: ${e.message ?? "invalid"}`;
    return make(SchemaCode.notAllowed, `key ${excerpt(e.propertyName)} is not allowed in ${f}${where}${hint}`, path, "key");
  }

  switch (e.keyword) {
    case "additionalProperties": {
      const name = String(params.additionalProperty);
      const path = [...base, name];
      const field = fieldPath(path);
      if (isBookkeeping(e)) {
        return make(
          SchemaCode.unsupportedField,
          `field ${field} is a Kubernetes bookkeeping field${where}; this looks like kubectl output: delete it (it has no meaning in gitmesh config)`,
          path,
          "key",
        );
      }
      // Dropping a field from an access policy changes whom it lets in: never advise just that.
      const policy = ctx.kind === "AuthorizationPolicy" && base[0] === "spec";
      if (isIstioField(e)) {
        const advice = policy ? `${POLICY_AS_WRITTEN}; rewrite the policy without ${name} (deleting the field alone would change what the policy allows or denies)` : "remove it";
        return make(SchemaCode.unsupportedField, `field ${field} is not supported by gitmesh${where}: ${advice}`, path, "key");
      }
      const guess = typoFix(e);
      const advice = policy
        ? `${guess !== undefined ? `did you mean "${guess}"? ` : ""}${POLICY_AS_WRITTEN}; fix or rewrite the field (deleting it alone would change what the policy allows or denies)`
        : guess !== undefined
          ? `did you mean "${guess}"? Otherwise remove it`
          : "remove it";
      return make(SchemaCode.unsupportedField, `field ${field} is unknown${where}: it is not a field of Istio's ${ctx.kind} here; ${advice}`, path, "key");
    }
    case "required": {
      const path = [...base, String(params.missingProperty)];
      return make(SchemaCode.missingField, `missing required field ${fieldPath(path)}${where}: add it`, path, "key");
    }
    case "type": {
      const written = sourceText(ctx.doc, base) ?? String(e.data);
      if (e.schemaPath.includes(DURATION_DEF) && typeof e.data === "number") {
        const example = /^[0-9]+(\.[0-9]+)?$/.test(written) ? `${written}s` : "5s";
        return make(SchemaCode.badDuration, `field ${f} is the number ${String(e.data)}${where}: a duration needs a unit, like "${example}"`, base, "value");
      }
      // Not where the value must be one of a list: quoting 80 would not make it a protocol.
      if (params.type === "string" && (typeof e.data === "number" || typeof e.data === "boolean") && parent.enum === undefined && parent.const === undefined) {
        // version: 1.10 is the number 1.1 to YAML; say what it became and how to keep what was written.
        return make(
          SchemaCode.wrongType,
          `field ${f} is the ${typeof e.data === "number" ? "number" : "boolean"} ${String(e.data)}${where}; quote it (${excerpt(written)}) so YAML keeps it as the string you wrote`,
          base,
          "value",
        );
      }
      return make(SchemaCode.wrongType, `field ${f} must be ${typeName(String(params.type))}, not ${describe(e.data)}${where}`, base, "value");
    }
    case "enum":
    case "const": {
      const allowed = e.keyword === "enum" ? (params.allowedValues as unknown[]) : [params.allowedValue];
      const use = list(allowed.map((v) => JSON.stringify(v)), "or");
      const istioValues = parent[UNSUPPORTED_VALUES_KEYWORD];
      if (Array.isArray(istioValues) && istioValues.includes(e.data)) {
        const advice = ctx.kind === "AuthorizationPolicy" && base[0] === "spec" ? `${POLICY_AS_WRITTEN}; rewrite it with ${use}` : `use ${use}`;
        return make(SchemaCode.notAllowed, `field ${f} is ${excerpt(e.data)}, which is an Istio value gitmesh does not support yet${where}: ${advice}`, base, "value");
      }
      return make(SchemaCode.notAllowed, `field ${f} is ${excerpt(e.data)}, which is not allowed${where}: use ${use}`, base, "value");
    }
    case "pattern": {
      if (e.schemaPath.includes(DURATION_DEF)) {
        return make(SchemaCode.badDuration, `field ${f} is ${excerpt(e.data)}, which is not a duration${where}: write it like "1.5s", "100ms" or "1h"`, base, "value");
      }
      const hint = typeof parent[PATTERN_MESSAGE_KEYWORD] === "string" ? String(parent[PATTERN_MESSAGE_KEYWORD]) : `must match ${String(params.pattern)}`;
      return make(SchemaCode.notAllowed, `field ${f} is ${excerpt(e.data)}, which is not allowed${where}: it ${hint}`, base, "value");
    }
    case "oneOf":
    case "anyOf":
      return combinator(e, base, where, make);
  }
  if (RANGE.has(e.keyword)) {
    const min = parent.minimum ?? parent.exclusiveMinimum;
    const max = parent.maximum ?? parent.exclusiveMaximum;
    const range = min !== undefined && max !== undefined ? `between ${String(min)} and ${String(max)}` : (e.message ?? "in range");
    return make(SchemaCode.outOfRange, `field ${f} is ${excerpt(e.data)}, out of range${where}: it must be ${range.replace(/^must be /, "")}`, base, "value");
  }
  if (SIZE.has(e.keyword)) {
    const limit = Number(params.limit);
    const what = e.keyword.endsWith("Items") ? "item" : e.keyword.endsWith("Length") ? "character" : "entry";
    const plural = what === "entry" ? "entries" : `${what}s`;
    const rule = e.keyword.startsWith("min")
      ? limit === 1
        ? "must not be empty"
        : `must have at least ${limit} ${plural}`
      : `must have at most ${limit} ${limit === 1 ? what : plural}`;
    return make(SchemaCode.outOfRange, `field ${f} ${rule}${where}`, base, "value");
  }
  if (e.keyword === "uniqueItems") {
    const { i, j } = params as { i: number; j: number };
    const later = Math.max(i, j);
    const item = Array.isArray(e.data) ? (e.data as unknown[])[later] : undefined;
    return make(SchemaCode.other, `field ${f} lists ${excerpt(item)} twice (items ${Math.min(i, j)} and ${later})${where}: remove the duplicate`, [...base, later], "value");
  }
  return make(SchemaCode.other, `field ${f} is invalid${where}: ${e.message ?? e.keyword}`, base, "value");
}

/** Why an AuthorizationPolicy gitmesh cannot read in full is rejected rather than trimmed. */
const POLICY_AS_WRITTEN = "the policy cannot be enforced as written, and gitmesh rejects it rather than silently widening access";

/** An additionalProperties error about a field the schema lists under `keyword` at that spot. */
function listedIn(e: ErrorObject, keyword: string): boolean {
  const listed = (e.parentSchema as Record<string, unknown> | undefined)?.[keyword];
  return Array.isArray(listed) && listed.includes((e.params as { additionalProperty?: unknown }).additionalProperty);
}

/** An additionalProperties error about a field Istio has here (listed in the schema as unsupported). */
function isIstioField(e: ErrorObject): boolean {
  return listedIn(e, UNSUPPORTED_KEYWORD);
}

/** An additionalProperties error about a field the Kubernetes API server writes (status, metadata.uid). */
function isBookkeeping(e: ErrorObject): boolean {
  return listedIn(e, BOOKKEEPING_KEYWORD);
}

/** The text a scalar was written as (1.10 for the number 1.1), when the path leads to one. */
export function sourceText(doc: ParsedDoc, path: Path): string | undefined {
  let node: unknown = doc.doc.contents;
  for (const step of path) {
    if (isMap(node)) node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step))?.value;
    else if (isSeq(node) && typeof step === "number") node = node.items[step];
    else return undefined;
  }
  return isScalar(node) ? node.source : undefined;
}

/** For an additionalProperties error about a field that is not Istio's: the supported field it probably meant. */
function typoFix(e: ErrorObject): string | undefined {
  if (isIstioField(e) || isBookkeeping(e)) return undefined;
  const known = Object.keys(((e.parentSchema as Record<string, unknown> | undefined)?.properties ?? {}) as Record<string, unknown>);
  return closest(String((e.params as { additionalProperty?: unknown }).additionalProperty), known);
}

/** A failed oneOf/anyOf whose branches each require one field: which of those fields to set. */
function combinator(
  e: ErrorObject,
  base: Path,
  where: string,
  make: (code: string, message: string, path: Path, at: "key" | "value") => Diagnostic,
): Diagnostic {
  const branches = (Array.isArray(e.schema) ? e.schema : []) as Record<string, unknown>[];
  const names = branches.flatMap((b) => (Array.isArray(b.required) ? (b.required as unknown[]).map(String) : []));
  const f = fieldPath(base) || "the document";
  const passing = (e.params as { passingSchemas?: unknown }).passingSchemas;
  if (e.keyword === "oneOf" && Array.isArray(passing)) {
    const data = (e.data ?? {}) as Record<string, unknown>;
    const present = Object.keys(data).filter((k) => names.includes(k)); // in document order
    const extra = present[1];
    const path = extra !== undefined ? [...base, extra] : base;
    return make(SchemaCode.exclusive, `only one of ${names.join("/")} may be set in ${f}${where}: found ${list(present, "and")}; keep one`, path, "key");
  }
  if (names.length === 0) return make(SchemaCode.other, `field ${f} is invalid${where}: ${e.message ?? e.keyword}`, base, "key");
  const how = e.keyword === "oneOf" ? "exactly one" : "at least one";
  return make(SchemaCode.missingField, `${f} needs ${how} of ${names.join("/")}${where}: add ${list(names, "or")}`, base, "key");
}

function typeName(t: string): string {
  switch (t) {
    case "object":
      return "a mapping";
    case "array":
      return "a list";
    case "integer":
      return "an integer";
    case "boolean":
      return "true or false";
    default:
      return `a ${t}`;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "string") return `the string ${excerpt(v)}`;
  return String(v);
}

function list(items: readonly string[], conj: "and" | "or"): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} ${conj} ${items[items.length - 1] ?? ""}`;
}

/** The supported field a typo most likely meant: same letters ignoring case, or edit distance <= 2. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === name.toLowerCase() ? 0 : distance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Edit distance counting a swap of neighbouring letters as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      row[j] = v;
    }
  }
  return at(a.length, b.length);
}
