// protoc-gen-validate (PGV) checks for the Envoy messages gitmesh builds. Envoy rejects a resource
// that breaks a `(validate.rules)` constraint; we cannot run Envoy here, so we check the same rules
// ourselves, reading them from the protobufjs reflection of the loaded protos (parsedOptions) and
// walking the decoded message: nested messages, repeated and map fields, and google.protobuf.Any
// values whose type is loaded (Envoy validates typed_config when it unpacks it).
//
// Per type, the rules are compiled once into a list of steps; a field that has no rules and leads to
// no rules is not visited at all. pgv-rules.ts holds the leaf checks.
import protobuf from "protobufjs";
import { messageType } from "./encode.js";
import { envoyProtoRoot } from "./protos.js";
import { messageNameOf } from "./type-urls.js";
import {
  assertImplemented,
  checkEnvoyDuration,
  compileAnyRules,
  compileBoolRules,
  compileBytesRules,
  compileDurationRules,
  compileEnumRules,
  compileNumericRules,
  compileStringRules,
  compileTimestampRules,
  isRecord,
  NUMERIC_TYPES,
  ruleKindsOf,
  UnsupportedRuleError,
} from "./pgv-rules.js";
import type { Check, PgvViolation } from "./pgv-rules.js";

export type { PgvViolation } from "./pgv-rules.js";
export { IMPLEMENTED_RULE_KINDS, ENVOY_DURATION_RULE, UnsupportedRuleError } from "./pgv-rules.js";

/**
 * Checks a protobuf-encoded message against the PGV rules in its proto definition, as Envoy would,
 * and returns every violation found (an empty array when Envoy would accept it). Throws if the bytes
 * do not decode as `messageName`, or if the protos carry a PGV rule gitmesh does not implement.
 */
export function validateMessage(messageName: string, bytes: Uint8Array): PgvViolation[] {
  const type = messageType(messageName);
  const message = type.decode(bytes) as unknown as Msg;
  const out: PgvViolation[] = [];
  if (needsVisit(type)) runPlan(planOf(type), message, "", out);
  return out;
}

/**
 * Every PGV rule kind used by the loaded protos (named as in IMPLEMENTED_RULE_KINDS), each with the
 * fields that use it. For the test that keeps a proto upgrade from silently skipping rules.
 */
export function pgvRuleKindsInLoadedProtos(): Map<string, string[]> {
  const kinds = new Map<string, string[]>();
  const add = (kind: string, where: string): void => {
    const at = kinds.get(kind);
    if (at === undefined) kinds.set(kind, [where]);
    else at.push(where);
  };
  for (const type of allTypes()) {
    const name = type.fullName.slice(1);
    if (messageOption(type, "(validate.disabled)")) add("(validate.disabled)", name);
    if (messageOption(type, "(validate.ignored)")) add("(validate.ignored)", name);
    for (const oneof of type.oneofsArray) if (oneofRequired(oneof)) add("(validate.required)", `${name}.${oneof.name}`);
    for (const field of type.fieldsArray) {
      const rules = fieldRules(field);
      if (rules !== undefined) for (const kind of ruleKindsOf(rules)) add(kind, `${name}.${field.name}`);
    }
  }
  return kinds;
}

/**
 * Compiles the rules of every message type in the loaded protos; throws UnsupportedRuleError on the
 * first rule gitmesh cannot check. Returns how many types were compiled.
 */
export function compileAllPgvRules(): number {
  let n = 0;
  for (const type of allTypes()) {
    planOf(type);
    n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

type Msg = Record<string, unknown>;
type Step = (message: Msg, path: string, out: PgvViolation[]) => void;

interface Plan {
  readonly steps: readonly Step[];
}

const DURATION = "google.protobuf.Duration";
const TIMESTAMP = "google.protobuf.Timestamp";
const ANY = "google.protobuf.Any";
/** Wrapper types: scalar rules on a wrapper field apply to its `value` when the wrapper is set. */
const WRAPPERS: Readonly<Record<string, string>> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};
const NUMERIC: ReadonlySet<string> = new Set(NUMERIC_TYPES);

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function fullName(type: protobuf.Type): string {
  return type.fullName.slice(1);
}

function* allTypes(ns: protobuf.NamespaceBase = envoyProtoRoot()): Generator<protobuf.Type> {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) yield nested;
    if (nested instanceof protobuf.Namespace) yield* allTypes(nested); // Type extends Namespace
  }
}

const rulesMemo = new WeakMap<protobuf.Field, Record<string, unknown> | null>();

/** The field's `(validate.rules)`, merged if protobufjs kept several option entries. */
function fieldRules(field: protobuf.Field): Record<string, unknown> | undefined {
  let rules = rulesMemo.get(field);
  if (rules === undefined) {
    rules = readFieldRules(field) ?? null;
    rulesMemo.set(field, rules);
  }
  return rules ?? undefined;
}

function readFieldRules(field: protobuf.Field): Record<string, unknown> | undefined {
  let merged: Record<string, unknown> | undefined;
  const parsed: unknown = field.parsedOptions;
  if (!Array.isArray(parsed)) return undefined;
  for (const entry of parsed) {
    const rules = isRecord(entry) ? entry["(validate.rules)"] : undefined;
    if (!isRecord(rules)) continue;
    merged = merged === undefined ? { ...rules } : deepMerge(merged, rules);
  }
  return merged;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isRecord(prev) && isRecord(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function hasOption(parsed: unknown, flat: Record<string, unknown> | undefined, key: string): boolean {
  if (flat?.[key] === true) return true;
  return Array.isArray(parsed) && parsed.some((entry) => isRecord(entry) && entry[key] === true);
}

function messageOption(type: protobuf.Type, key: "(validate.disabled)" | "(validate.ignored)"): boolean {
  return hasOption(type.parsedOptions, type.options, key);
}

function oneofRequired(oneof: protobuf.OneOf): boolean {
  return hasOption(oneof.parsedOptions, oneof.options, "(validate.required)");
}

function resolvedType(field: protobuf.Field): protobuf.Type | protobuf.Enum | null {
  field.resolve();
  const t = field.resolvedType;
  return t instanceof protobuf.Type || t instanceof protobuf.Enum ? t : null;
}

// ---------------------------------------------------------------------------------------------
// Which types need visiting: those that can reach a rule, a Duration (Envoy's range check) or an Any
// (whose content may have rules). Computed per type by a walk over the types it can reach.

const visitMemo = new Map<protobuf.Type, boolean>();
const silencedMemo = new Map<protobuf.Type, boolean>();
const localWorkMemo = new Map<protobuf.Type, boolean>();

function isSilenced(type: protobuf.Type): boolean {
  let silenced = silencedMemo.get(type);
  if (silenced === undefined) {
    silenced = messageOption(type, "(validate.disabled)") || messageOption(type, "(validate.ignored)");
    silencedMemo.set(type, silenced);
  }
  return silenced;
}

function hasLocalWork(type: protobuf.Type): boolean {
  let work = localWorkMemo.get(type);
  if (work === undefined) {
    work = readLocalWork(type);
    localWorkMemo.set(type, work);
  }
  return work;
}

function readLocalWork(type: protobuf.Type): boolean {
  const name = fullName(type);
  if (name === DURATION || name === ANY) return true;
  if (type.oneofsArray.some(oneofRequired)) return true;
  return type.fieldsArray.some((f) => fieldRules(f) !== undefined);
}

function needsVisit(type: protobuf.Type): boolean {
  const known = visitMemo.get(type);
  if (known !== undefined) return known;
  const seen = new Set<protobuf.Type>();
  const stack = [type];
  let result = false;
  while (stack.length > 0 && !result) {
    const t = stack.pop() as protobuf.Type;
    if (seen.has(t) || isSilenced(t)) continue;
    seen.add(t);
    if (visitMemo.get(t) === true || hasLocalWork(t)) result = true;
    for (const f of t.fieldsArray) {
      const rt = resolvedType(f);
      if (rt instanceof protobuf.Type && !seen.has(rt)) stack.push(rt);
    }
  }
  visitMemo.set(type, result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Plans.

const plans = new Map<protobuf.Type, Plan>();

function planOf(type: protobuf.Type): Plan {
  let plan = plans.get(type);
  if (plan === undefined) {
    plan = compilePlan(type);
    plans.set(type, plan);
  }
  return plan;
}

function runPlan(plan: Plan, message: Msg, path: string, out: PgvViolation[]): void {
  for (const step of plan.steps) step(message, path, out);
}

function compilePlan(type: protobuf.Type): Plan {
  if (isSilenced(type)) return { steps: [] }; // (validate.disabled) / (validate.ignored): PGV checks nothing
  const steps: Step[] = [];
  for (const field of type.fieldsArray) {
    const step = compileField(type, field);
    if (step !== undefined) steps.push(step);
  }
  for (const oneof of type.oneofsArray) {
    if (!oneofRequired(oneof)) continue;
    const members = oneof.fieldsArray.map((f) => f.name);
    const rule = "(validate.required) = true";
    const message = `exactly one of ${members.join(", ")} must be set`;
    steps.push((msg, path, out) => {
      for (const m of members) if (Object.hasOwn(msg, m) && msg[m] !== null && msg[m] !== undefined) return;
      out.push({ path: join(path, oneof.name), rule, message });
    });
  }
  return { steps };
}

function compileField(type: protobuf.Type, field: protobuf.Field): Step | undefined {
  const where = `${fullName(type)}.${field.name}`;
  const rules = fieldRules(field);
  const name = field.name;
  const rt = resolvedType(field);

  if (field instanceof protobuf.MapField) {
    const { map: mapRules, ...others } = rules ?? {};
    if (Object.keys(others).length > 0) throw new UnsupportedRuleError(`${where}: ${Object.keys(others).join(", ")} rules on a map field`);
    const r = isRecord(mapRules) ? mapRules : {};
    if (mapRules !== undefined) assertImplemented("map", r, where);
    const keys = compileElement(field.keyType, null, isRecord(r.keys) ? r.keys : undefined, "map.keys.", where);
    const values = compileElement(field.type, rt, isRecord(r.values) ? r.values : undefined, "map.values.", where);
    const minPairs = r.min_pairs === undefined ? undefined : Number(r.min_pairs);
    const maxPairs = r.max_pairs === undefined ? undefined : Number(r.max_pairs);
    const noSparse = r.no_sparse === true;
    const ignoreEmpty = r.ignore_empty === true;
    if (minPairs === undefined && maxPairs === undefined && !noSparse && keys.check === undefined && values.check === undefined) return undefined;
    const keyOf = mapKeyDecoder(field.keyType);
    return (msg, path, out) => {
      const obj = msg[name];
      if (!isRecord(obj)) return;
      const entries = Object.keys(obj);
      if (ignoreEmpty && entries.length === 0) return;
      const p = join(path, name);
      if (minPairs !== undefined && entries.length < minPairs) out.push({ path: p, rule: `map.min_pairs = ${minPairs}`, message: `must have at least ${minPairs} entries, has ${entries.length}` });
      if (maxPairs !== undefined && entries.length > maxPairs) out.push({ path: p, rule: `map.max_pairs = ${maxPairs}`, message: `must have at most ${maxPairs} entries, has ${entries.length}` });
      for (const rawKey of entries) {
        const key = keyOf(rawKey);
        const ep = `${p}[${typeof key === "string" ? JSON.stringify(key) : String(key)}]`;
        keys.check?.(key, ep, out);
        const v = obj[rawKey];
        if (v === null || v === undefined) {
          if (noSparse) out.push({ path: ep, rule: "map.no_sparse = true", message: "map values must be set" });
          continue;
        }
        values.check?.(v, ep, out);
      }
    };
  }

  if (field.repeated) {
    const { repeated: repRules, ...others } = rules ?? {};
    if (Object.keys(others).length > 0) throw new UnsupportedRuleError(`${where}: ${Object.keys(others).join(", ")} rules on a repeated field`);
    const r = isRecord(repRules) ? repRules : {};
    if (repRules !== undefined) assertImplemented("repeated", r, where);
    const items = compileElement(field.type, rt, isRecord(r.items) ? r.items : undefined, "repeated.items.", where);
    const minItems = r.min_items === undefined ? undefined : Number(r.min_items);
    const maxItems = r.max_items === undefined ? undefined : Number(r.max_items);
    const unique = r.unique === true;
    if (unique && rt instanceof protobuf.Type) throw new UnsupportedRuleError(`${where}: repeated.unique on a message field (PGV does not support it)`);
    const ignoreEmpty = r.ignore_empty === true;
    if (minItems === undefined && maxItems === undefined && !unique && items.check === undefined) return undefined;
    return (msg, path, out) => {
      const arr = msg[name];
      if (!Array.isArray(arr)) return;
      if (ignoreEmpty && arr.length === 0) return;
      const p = join(path, name);
      if (minItems !== undefined && arr.length < minItems) out.push({ path: p, rule: `repeated.min_items = ${minItems}`, message: `must have at least ${minItems} item${minItems === 1 ? "" : "s"}, has ${arr.length}` });
      if (maxItems !== undefined && arr.length > maxItems) out.push({ path: p, rule: `repeated.max_items = ${maxItems}`, message: `must have at most ${maxItems} items, has ${arr.length}` });
      const seen = unique ? new Set<unknown>() : undefined;
      for (let i = 0; i < arr.length; i++) {
        const v: unknown = arr[i];
        if (seen !== undefined) {
          const key = uniqueKey(v);
          if (seen.has(key)) out.push({ path: `${p}[${i}]`, rule: "repeated.unique = true", message: "items must be unique; this one repeats an earlier item" });
          seen.add(key);
        }
        items.check?.(v, `${p}[${i}]`, out);
      }
    };
  }

  const el = compileElement(field.type, rt, rules, "", where);
  const inOneof = field.partOf !== null && field.partOf !== undefined;
  if (rt instanceof protobuf.Type) {
    // A oneof member's rules run only when it is the member set (PGV renders them inside a switch
    // on the oneof case), so `required` on one (RouteMatch.safe_regex) never fires on its own.
    const requiredRule = inOneof ? undefined : el.requiredRule;
    const check = el.check;
    if (requiredRule === undefined && check === undefined) return undefined;
    return (msg, path, out) => {
      const v = msg[name];
      if (v === null || v === undefined) {
        if (requiredRule !== undefined) out.push({ path: join(path, name), rule: requiredRule, message: "value is required" });
        return;
      }
      check?.(v, join(path, name), out);
    };
  }
  const check = el.check;
  if (check === undefined) return undefined;
  // A scalar in a oneof (or proto3 `optional`) is checked only when set; a plain proto3 scalar always
  // is, default value included (PGV has no way to tell unset from zero).
  if (inOneof) {
    return (msg, path, out) => {
      if (Object.hasOwn(msg, name)) check(msg[name], join(path, name), out);
    };
  }
  return (msg, path, out) => check(msg[name], join(path, name), out);
}

interface ElementPlan {
  /** The rule that makes a message value required (message/duration/timestamp/any `.required`). */
  readonly requiredRule: string | undefined;
  /** Checks a present value: its rules, then (for a message) its own fields. */
  readonly check: Check | undefined;
}

/**
 * The checks for one value of a field (the field itself, a repeated item, a map key or value).
 * `typeName` is the field's proto type; `rt` its resolved message or enum type, null for scalars.
 */
function compileElement(
  typeName: string,
  rt: protobuf.Type | protobuf.Enum | null,
  rules: Record<string, unknown> | undefined,
  rulePrefix: string,
  where: string,
): ElementPlan {
  const checks: Check[] = [];
  let requiredRule: string | undefined;
  let skip = false;
  for (const [ruleType, r] of Object.entries(rules ?? {})) {
    if (!isRecord(r)) throw new UnsupportedRuleError(`${where}: malformed ${rulePrefix}${ruleType} rules`);
    assertImplemented(ruleType, r, where);
    const prefix = rulePrefix + ruleType;
    const mismatch = (): UnsupportedRuleError => new UnsupportedRuleError(`${where}: ${prefix} rules on a field of type ${rt instanceof protobuf.Type ? fullName(rt) : typeName}`);
    if (rt instanceof protobuf.Type) {
      const name = fullName(rt);
      let c: { requiredRule: string | undefined; check: Check | undefined };
      if (ruleType === "message") {
        c = { requiredRule: r.required === true ? `${prefix}.required = true` : undefined, check: undefined };
        skip ||= r.skip === true;
      } else if (ruleType === "duration" && name === DURATION) c = compileDurationRules(r, prefix);
      else if (ruleType === "timestamp" && name === TIMESTAMP) c = compileTimestampRules(r, prefix);
      else if (ruleType === "any" && name === ANY) c = compileAnyRules(r, prefix);
      else if (ruleType === "any" && Object.keys(r).every((k) => k === "required")) {
        // Envoy writes `(validate.rules).any = {required: true}` on a plain message field
        // (ExtensionConfigSource.config_source). PGV accepts it (it only checks the field is a
        // message) and generates a presence check, so that is what it means.
        c = compileAnyRules(r, prefix);
      } else if (WRAPPERS[name] === ruleType) {
        const inner = compileScalar(ruleType, ruleType, r, prefix, where);
        c = { requiredRule: undefined, check: inner === undefined ? undefined : (v, p, o) => inner(isRecord(v) ? v.value : undefined, p, o) };
      } else throw mismatch();
      requiredRule ??= c.requiredRule;
      if (c.check !== undefined) checks.push(c.check);
    } else if (rt instanceof protobuf.Enum) {
      if (ruleType !== "enum") throw mismatch();
      const c = compileEnumRules({ name: rt.fullName.slice(1), valuesById: rt.valuesById }, r, prefix);
      if (c !== undefined) checks.push(c);
    } else {
      if (ruleType !== typeName) throw mismatch();
      const c = compileScalar(typeName, ruleType, r, prefix, where);
      if (c !== undefined) checks.push(c);
    }
  }

  if (rt instanceof protobuf.Type) {
    const name = fullName(rt);
    if (name === DURATION) checks.push(checkEnvoyDuration);
    if (!skip) {
      if (name === ANY) checks.push(checkAnyContent);
      else if (needsVisit(rt)) {
        const type = rt;
        let plan: Plan | undefined; // compiled on first use: types can be recursive
        checks.push((v, p, o) => runPlan((plan ??= planOf(type)), v as Msg, p, o));
      }
    }
  }
  return { requiredRule, check: combine(checks) };
}

function combine(checks: Check[]): Check | undefined {
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (v, p, o) => {
    for (const c of checks) c(v, p, o);
  };
}

function compileScalar(scalarType: string, ruleType: string, r: Record<string, unknown>, prefix: string, where: string): Check | undefined {
  if (NUMERIC.has(ruleType)) return compileNumericRules(scalarType, r, prefix);
  switch (ruleType) {
    case "bool":
      return compileBoolRules(r, prefix);
    case "string":
      return compileStringRules(r, prefix, where);
    case "bytes":
      return compileBytesRules(r, prefix, where);
    default:
      throw new UnsupportedRuleError(`${where}: ${prefix} rules on a ${scalarType} value`);
  }
}

const INT64_KEYS: ReadonlySet<string> = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

/** protobufjs map keys are strings; 64-bit keys are 8-char "long hashes". Back to values. */
function mapKeyDecoder(keyType: string): (raw: string) => unknown {
  if (INT64_KEYS.has(keyType)) {
    const unsigned = keyType === "uint64" || keyType === "fixed64";
    return (raw) => (raw.length === 8 ? protobuf.util.LongBits.fromHash(raw).toLong(unsigned).toString() : raw);
  }
  if (keyType === "bool") return (raw) => raw === "true";
  if (keyType === "string") return (raw) => raw;
  return (raw) => Number(raw);
}

function uniqueKey(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1")}`;
  if (typeof v === "object" && v !== null) return `long:${String(v)}`;
  return v;
}

// ---------------------------------------------------------------------------------------------
// google.protobuf.Any: Envoy unpacks typed_config and validates what is inside, so we do too when
// the type is one we load. An unknown type is left alone (Envoy may know it; we cannot tell).

const anyTypes = new Map<string, protobuf.Type | null>();

function anyType(typeUrl: string): protobuf.Type | null {
  let type = anyTypes.get(typeUrl);
  if (type === undefined) {
    try {
      type = messageType(messageNameOf(typeUrl));
    } catch {
      type = null;
    }
    anyTypes.set(typeUrl, type);
  }
  return type;
}

const checkAnyContent: Check = (v, path, out) => {
  if (!isRecord(v) || typeof v.type_url !== "string" || v.type_url === "") return;
  const type = anyType(v.type_url);
  if (type === null || !needsVisit(type)) return;
  const bytes = v.value instanceof Uint8Array ? v.value : new Uint8Array();
  let inner: Msg;
  try {
    inner = type.decode(bytes) as unknown as Msg;
  } catch (err) {
    out.push({ path, rule: "any (unpack)", message: `value does not decode as ${fullName(type)}: ${(err as Error).message}` });
    return;
  }
  runPlan(planOf(type), inner, `${path}<${type.name}>`, out);
};
