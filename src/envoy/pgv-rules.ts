// Leaf checks for protoc-gen-validate (PGV) rules: one compiled closure per field, built once from
// the `(validate.rules)` option protobufjs parsed off the field. pgv.ts walks messages and calls
// these. Semantics follow PGV's C++ templates, which are what Envoy runs (see the PGV README:
// https://github.com/bufbuild/protoc-gen-validate). Every rule key is checked against
// IMPLEMENTED_RULE_KINDS when compiled, so a rule this file does not know throws instead of being
// skipped; test/unit/pgv.test.ts compiles every message in the loaded protos to prove none does.
import { isIP } from "node:net";

export interface PgvViolation {
  /** Field path from the validated message, e.g. `virtual_hosts[0].routes[2].match.prefix`. */
  readonly path: string;
  /** The rule as written in the proto, e.g. `repeated.min_items = 1`. */
  readonly rule: string;
  readonly message: string;
}

/** Checks one value (already unwrapped from its field) and appends what it breaks to `out`. */
export type Check = (value: unknown, path: string, out: PgvViolation[]) => void;

/** A rule this module does not implement: a gitmesh bug to fix before the protos are upgraded. */
export class UnsupportedRuleError extends Error {
  override readonly name = "UnsupportedRuleError";
}

const NUMERIC_RULES = ["const", "lt", "lte", "gt", "gte", "in", "not_in", "ignore_empty"];
export const NUMERIC_TYPES = [
  "float",
  "double",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
] as const;
type NumericType = (typeof NUMERIC_TYPES)[number];
const NUMERIC_TYPE_SET: ReadonlySet<string> = new Set(NUMERIC_TYPES);
const INT64_TYPES: ReadonlySet<string> = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

/**
 * Every rule kind implemented here, as `<rules message>.<rule>` (`string.min_len`,
 * `repeated.items`), plus the message- and oneof-level options. `string.well_known_regex` is listed
 * per regex, since each needs its own implementation.
 */
export const IMPLEMENTED_RULE_KINDS: ReadonlySet<string> = new Set([
  ...NUMERIC_TYPES.flatMap((t) => NUMERIC_RULES.map((r) => `${t}.${r}`)),
  "bool.const",
  ...[
    "const",
    "len",
    "min_len",
    "max_len",
    "len_bytes",
    "min_bytes",
    "max_bytes",
    "pattern",
    "prefix",
    "suffix",
    "contains",
    "not_contains",
    "in",
    "not_in",
    "hostname",
    "ip",
    "ipv4",
    "ipv6",
    "address",
    "uuid",
    "well_known_regex.HTTP_HEADER_NAME",
    "well_known_regex.HTTP_HEADER_VALUE",
    "strict",
    "ignore_empty",
  ].map((r) => `string.${r}`),
  ...["const", "len", "min_len", "max_len", "pattern", "prefix", "suffix", "contains", "in", "not_in"]
    .concat(["ip", "ipv4", "ipv6", "ignore_empty"])
    .map((r) => `bytes.${r}`),
  ...["const", "defined_only", "in", "not_in"].map((r) => `enum.${r}`),
  ...["required", "skip"].map((r) => `message.${r}`),
  ...["min_items", "max_items", "unique", "items", "ignore_empty"].map((r) => `repeated.${r}`),
  ...["min_pairs", "max_pairs", "no_sparse", "keys", "values", "ignore_empty"].map((r) => `map.${r}`),
  ...["required", "in", "not_in"].map((r) => `any.${r}`),
  ...["required", "const", "lt", "lte", "gt", "gte", "in", "not_in"].map((r) => `duration.${r}`),
  ...["required", "const", "lt", "lte", "gt", "gte", "lt_now", "gt_now", "within"].map((r) => `timestamp.${r}`),
  "(validate.required)",
  "(validate.disabled)",
  "(validate.ignored)",
]);

/**
 * The rule kinds a `(validate.rules)` value uses, named as in IMPLEMENTED_RULE_KINDS. Nested
 * `repeated.items`, `map.keys` and `map.values` contribute their own kinds too.
 */
export function ruleKindsOf(fieldRules: Record<string, unknown>): string[] {
  const kinds: string[] = [];
  for (const [ruleType, rules] of Object.entries(fieldRules)) {
    if (!isRecord(rules)) {
      kinds.push(`${ruleType}.?`);
      continue;
    }
    for (const [rule, value] of Object.entries(rules)) {
      if ((ruleType === "repeated" && rule === "items") || (ruleType === "map" && (rule === "keys" || rule === "values"))) {
        kinds.push(`${ruleType}.${rule}`);
        if (isRecord(value)) kinds.push(...ruleKindsOf(value));
      } else if (ruleType === "string" && rule === "well_known_regex") {
        kinds.push(`string.well_known_regex.${knownRegexName(value)}`);
      } else {
        kinds.push(`${ruleType}.${rule}`);
      }
    }
  }
  return kinds;
}

/** Throws unless every rule in `rules` (one rules message, e.g. StringRules) is implemented. */
export function assertImplemented(ruleType: string, rules: Record<string, unknown>, where: string): void {
  for (const kind of ruleKindsOf({ [ruleType]: rules })) {
    if (!IMPLEMENTED_RULE_KINDS.has(kind)) {
      throw new UnsupportedRuleError(`PGV rule ${kind} on ${where} is not implemented by gitmesh's validator`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values of rule options. protobufjs gives the text-format option as plain JSON: numbers (or
// strings for large 64-bit values), a repeated key as an array (a single one as a scalar), and a
// message (Duration) as an object.

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function list(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A 64-bit value as decoded by protobufjs (Long), or a number/string, as a bigint. */
function toBigInt(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(Math.trunc(v));
  if (typeof v === "string") return BigInt(v);
  if (typeof v === "object" && v !== null) return BigInt(String(v)); // Long#toString is decimal, sign-aware
  return 0n;
}

function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return Number(v);
  if (typeof v === "object" && v !== null && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return 0;
}

function knownRegexName(v: unknown): string {
  if (v === 1 || v === "HTTP_HEADER_NAME") return "HTTP_HEADER_NAME";
  if (v === 2 || v === "HTTP_HEADER_VALUE") return "HTTP_HEADER_VALUE";
  return String(v);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  if (typeof v === "bigint") return v.toString();
  return String(v);
}

function pushRule(out: PgvViolation[], path: string, rule: string, message: string): void {
  out.push({ path, rule, message });
}

// ---------------------------------------------------------------------------------------------
// Numbers, shared by the twelve numeric types, enums' in/not_in and durations/timestamps (which
// compare as bigint nanoseconds).

type Num = number | bigint;

interface Range<T extends Num> {
  readonly lt?: T;
  readonly lte?: T;
  readonly gt?: T;
  readonly gte?: T;
}

/**
 * PGV's lt/lte/gt/gte: one bound alone is a bound; an upper and a lower bound make a range, which
 * is exclusive (the value must lie outside) when the upper bound is not above the lower one.
 * Returns the rule broken (e.g. `lte`) or undefined. NaN passes, as in PGV's C++.
 */
function rangeViolation<T extends Num>(v: T, r: Range<T>): string | undefined {
  const upper = r.lt !== undefined ? { name: "lt", bound: r.lt, ok: v < r.lt } : r.lte !== undefined ? { name: "lte", bound: r.lte, ok: v <= r.lte } : undefined;
  const lower = r.gt !== undefined ? { name: "gt", bound: r.gt, ok: v > r.gt } : r.gte !== undefined ? { name: "gte", bound: r.gte, ok: v >= r.gte } : undefined;
  const nan = typeof v === "number" && Number.isNaN(v);
  if (nan) return undefined;
  if (upper !== undefined && lower !== undefined && upper.bound <= lower.bound) {
    // Exclusive range (PGV: the upper bound is not above the lower one): the value must be below
    // the upper bound or above the lower one.
    return upper.ok || lower.ok ? undefined : `${upper.name}+${lower.name}`;
  }
  if (upper !== undefined && !upper.ok) return upper.name;
  if (lower !== undefined && !lower.ok) return lower.name;
  return undefined;
}

const RANGE_WORDS: Record<string, string> = { lt: "<", lte: "<=", gt: ">", gte: ">=" };

function rangeRule(prefix: string, broken: string, r: Range<Num>, fmt: (v: Num) => string): { rule: string; message: string } {
  const bound = (name: string): string => fmt(r[name as keyof Range<Num>] as Num);
  if (broken.includes("+")) {
    const [u, l] = broken.split("+") as [string, string];
    return {
      rule: `${prefix}.${u} = ${bound(u)}, ${prefix}.${l} = ${bound(l)}`,
      message: `value must be ${RANGE_WORDS[u]} ${bound(u)} or ${RANGE_WORDS[l]} ${bound(l)}`,
    };
  }
  return { rule: `${prefix}.${broken} = ${bound(broken)}`, message: `value must be ${RANGE_WORDS[broken]} ${bound(broken)}` };
}

/** Rules for the numeric types (and the numeric wrappers). */
export function compileNumericRules(numType: string, rules: Record<string, unknown>, prefix: string): Check | undefined {
  if (!NUMERIC_TYPE_SET.has(numType)) throw new UnsupportedRuleError(`${prefix}: not a numeric type: ${numType}`);
  const big = INT64_TYPES.has(numType);
  const float = (numType as NumericType) === "float";
  const conv = (v: unknown): Num => (big ? toBigInt(v) : float ? Math.fround(toNumber(v)) : toNumber(v));
  const range: { -readonly [K in keyof Range<Num>]: Num } = {};
  for (const k of ["lt", "lte", "gt", "gte"] as const) if (rules[k] !== undefined) range[k] = conv(rules[k]);
  const hasRange = Object.keys(range).length > 0;
  const hasConst = rules.const !== undefined;
  const constant = hasConst ? conv(rules.const) : undefined;
  const inList = list(rules.in).map(conv);
  const notInList = list(rules.not_in).map(conv);
  const ignoreEmpty = rules.ignore_empty === true;
  if (!hasRange && !hasConst && inList.length === 0 && notInList.length === 0) return undefined;
  const fmt = (v: Num): string => String(v);
  return (raw, path, out) => {
    const v = big ? toBigInt(raw) : toNumber(raw);
    if (ignoreEmpty && (v === 0 || v === 0n)) return;
    if (hasConst && v !== constant) pushRule(out, path, `${prefix}.const = ${fmt(constant as Num)}`, `value must equal ${fmt(constant as Num)}, got ${fmt(v)}`);
    if (hasRange) {
      const broken = rangeViolation(v, range);
      if (broken !== undefined) {
        const { rule, message } = rangeRule(prefix, broken, range, fmt);
        pushRule(out, path, rule, `${message}, got ${fmt(v)}`);
      }
    }
    if (inList.length > 0 && !inList.includes(v)) pushRule(out, path, `${prefix}.in = ${show(inList)}`, `value must be one of ${show(inList)}, got ${fmt(v)}`);
    if (notInList.includes(v)) pushRule(out, path, `${prefix}.not_in = ${show(notInList)}`, `value must not be one of ${show(notInList)}`);
  };
}

export function compileBoolRules(rules: Record<string, unknown>, prefix: string): Check | undefined {
  if (rules.const === undefined) return undefined;
  const constant = rules.const === true || rules.const === "true";
  return (v, path, out) => {
    if (Boolean(v) !== constant) pushRule(out, path, `${prefix}.const = ${constant}`, `value must be ${constant}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Strings and bytes.

// The well-known regexes, exactly as PGV defines them (RFC 7230). Note `+-.` in the name class is a
// range (+ , - .): PGV allows a comma too, and so must we to agree with Envoy.
const HTTP_HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
const HTTP_HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
/** With `strict: false`, both header regexes become this one: no NUL, CR or LF. */
const HEADER_STRING = /^[^\u0000\u000A\u000D]*$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Characters as PGV counts them: Unicode code points. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const p = s.charCodeAt(i - 1);
      if (p >= 0xd800 && p <= 0xdbff) n--;
    }
  }
  return n;
}

function isHostname(s: string): boolean {
  const host = s.endsWith(".") ? s.slice(0, -1) : s;
  if (host.length === 0 || host.length > 253) return false;
  return host.split(".").every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

/**
 * A PGV `pattern` (RE2 syntax) as a JS RegExp with RE2::FullMatch semantics, which PGV's C++ uses.
 * RE2's leading `(?i)`/`(?s)` flags become JS flags; anything JS cannot parse throws, so the test
 * compiling every loaded message catches it.
 */
export function re2Pattern(pattern: string, where: string): RegExp {
  let body = pattern;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead !== null) {
    const f = lead[1] as string;
    if (f.includes("U")) throw new UnsupportedRuleError(`${where}: RE2 flag U in pattern ${show(pattern)}`);
    flags = [...new Set(f)].join("");
    body = body.slice(lead[0].length);
  }
  for (const attempt of [`${flags}u`, flags]) {
    try {
      return new RegExp(`^(?:${body})$`, attempt);
    } catch {
      // try without the u flag: RE2 allows identity escapes (\~) that unicode mode rejects
    }
  }
  throw new UnsupportedRuleError(`${where}: pattern ${show(pattern)} is not a regex JavaScript can run`);
}

export function compileStringRules(rules: Record<string, unknown>, prefix: string, where: string): Check | undefined {
  const checks: ((s: string, path: string, out: PgvViolation[]) => void)[] = [];
  const add = (rule: string, value: unknown, ok: (s: string) => boolean, message: string): void => {
    const text = `${prefix}.${rule} = ${typeof value === "object" && value !== null && "text" in value ? String(value.text) : show(value)}`;
    checks.push((s, path, out) => {
      if (!ok(s)) pushRule(out, path, text, message);
    });
  };
  const n = (k: string): number | undefined => (rules[k] === undefined ? undefined : toNumber(rules[k]));
  if (rules.const !== undefined) add("const", rules.const, (s) => s === rules.const, `value must equal ${show(rules.const)}`);
  const len = n("len");
  if (len !== undefined) add("len", len, (s) => codePoints(s) === len, `value must be ${len} characters long`);
  const minLen = n("min_len");
  if (minLen !== undefined) add("min_len", minLen, (s) => (minLen <= 1 ? s.length >= minLen : codePoints(s) >= minLen), `value must be at least ${minLen} character${minLen === 1 ? "" : "s"} long`);
  const maxLen = n("max_len");
  if (maxLen !== undefined) add("max_len", maxLen, (s) => codePoints(s) <= maxLen, `value must be at most ${maxLen} characters long`);
  const lenBytes = n("len_bytes");
  if (lenBytes !== undefined) add("len_bytes", lenBytes, (s) => Buffer.byteLength(s) === lenBytes, `value must be ${lenBytes} bytes long`);
  const minBytes = n("min_bytes");
  if (minBytes !== undefined) add("min_bytes", minBytes, (s) => Buffer.byteLength(s) >= minBytes, `value must be at least ${minBytes} byte${minBytes === 1 ? "" : "s"} long`);
  const maxBytes = n("max_bytes");
  if (maxBytes !== undefined) add("max_bytes", maxBytes, (s) => s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes, `value must be at most ${maxBytes} bytes long`);
  if (typeof rules.pattern === "string") {
    const re = re2Pattern(rules.pattern, where);
    add("pattern", rules.pattern, (s) => re.test(s), `value must match the regex ${show(rules.pattern)}`);
  }
  for (const [rule, test, word] of [
    ["prefix", (s: string, x: string) => s.startsWith(x), "start with"],
    ["suffix", (s: string, x: string) => s.endsWith(x), "end with"],
    ["contains", (s: string, x: string) => s.includes(x), "contain"],
    ["not_contains", (s: string, x: string) => !s.includes(x), "not contain"],
  ] as const) {
    const x = rules[rule];
    if (typeof x === "string") add(rule, x, (s) => test(s, x), `value must ${word} ${show(x)}`);
  }
  if (rules.in !== undefined) {
    const set = new Set(list(rules.in).map(String));
    add("in", [...set], (s) => set.has(s), `value must be one of ${show([...set])}`);
  }
  if (rules.not_in !== undefined) {
    const set = new Set(list(rules.not_in).map(String));
    add("not_in", [...set], (s) => !set.has(s), `value must not be one of ${show([...set])}`);
  }
  if (rules.hostname === true) add("hostname", true, isHostname, "value must be a valid hostname");
  if (rules.ip === true) add("ip", true, (s) => isIP(s) !== 0, "value must be a valid IP address");
  if (rules.ipv4 === true) add("ipv4", true, (s) => isIP(s) === 4, "value must be a valid IPv4 address");
  if (rules.ipv6 === true) add("ipv6", true, (s) => isIP(s) === 6, "value must be a valid IPv6 address");
  if (rules.address === true) add("address", true, (s) => isHostname(s) || isIP(s) !== 0, "value must be an IP address or a hostname");
  if (rules.uuid === true) add("uuid", true, (s) => UUID.test(s), "value must be a valid UUID");
  if (rules.well_known_regex !== undefined) {
    const name = knownRegexName(rules.well_known_regex);
    const strict = rules.strict !== false; // PGV: strict defaults to true
    const re = !strict ? HEADER_STRING : name === "HTTP_HEADER_NAME" ? HTTP_HEADER_NAME : HTTP_HEADER_VALUE;
    const what = name === "HTTP_HEADER_NAME" ? "header name" : "header value";
    const message = strict
      ? `value must be a valid HTTP ${what} (RFC 7230)`
      : `value must not contain NUL, CR or LF (HTTP ${what}, strict: false)`;
    add("well_known_regex", { text: strict ? name : `${name}, strict = false` }, (s) => re.test(s), message);
  }
  if (checks.length === 0) return undefined;
  const ignoreEmpty = rules.ignore_empty === true;
  return (v, path, out) => {
    const s = typeof v === "string" ? v : "";
    if (ignoreEmpty && s === "") return;
    for (const c of checks) c(s, path, out);
  };
}

function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === "string") return Buffer.from(v, "latin1"); // text-format bytes literal, unescaped by protobufjs
  return Buffer.alloc(0);
}

export function compileBytesRules(rules: Record<string, unknown>, prefix: string, where: string): Check | undefined {
  const checks: ((b: Buffer, path: string, out: PgvViolation[]) => void)[] = [];
  const add = (rule: string, value: unknown, ok: (b: Buffer) => boolean, message: string): void => {
    const text = `${prefix}.${rule} = ${show(value)}`;
    checks.push((b, path, out) => {
      if (!ok(b)) pushRule(out, path, text, message);
    });
  };
  const n = (k: string): number | undefined => (rules[k] === undefined ? undefined : toNumber(rules[k]));
  if (rules.const !== undefined) {
    const c = toBuffer(rules.const);
    add("const", rules.const, (b) => b.equals(c), "value must equal the constant");
  }
  const len = n("len");
  if (len !== undefined) add("len", len, (b) => b.length === len, `value must be ${len} bytes long`);
  const minLen = n("min_len");
  if (minLen !== undefined) add("min_len", minLen, (b) => b.length >= minLen, `value must be at least ${minLen} bytes long`);
  const maxLen = n("max_len");
  if (maxLen !== undefined) add("max_len", maxLen, (b) => b.length <= maxLen, `value must be at most ${maxLen} bytes long`);
  if (typeof rules.pattern === "string") {
    const re = re2Pattern(rules.pattern, where);
    add("pattern", rules.pattern, (b) => re.test(b.toString("latin1")), `value must match the regex ${show(rules.pattern)}`);
  }
  for (const [rule, test, word] of [
    ["prefix", (b: Buffer, x: Buffer) => b.subarray(0, x.length).equals(x), "start with"],
    ["suffix", (b: Buffer, x: Buffer) => b.length >= x.length && b.subarray(b.length - x.length).equals(x), "end with"],
    ["contains", (b: Buffer, x: Buffer) => b.includes(x), "contain"],
  ] as const) {
    if (rules[rule] !== undefined) {
      const x = toBuffer(rules[rule]);
      add(rule, rules[rule], (b) => test(b, x), `value must ${word} the given bytes`);
    }
  }
  if (rules.in !== undefined) {
    const set = list(rules.in).map(toBuffer);
    add("in", rules.in, (b) => set.some((x) => x.equals(b)), "value must be one of the allowed values");
  }
  if (rules.not_in !== undefined) {
    const set = list(rules.not_in).map(toBuffer);
    add("not_in", rules.not_in, (b) => !set.some((x) => x.equals(b)), "value must not be one of the forbidden values");
  }
  if (rules.ip === true) add("ip", true, (b) => b.length === 4 || b.length === 16, "value must be an IP address (4 or 16 bytes)");
  if (rules.ipv4 === true) add("ipv4", true, (b) => b.length === 4, "value must be an IPv4 address (4 bytes)");
  if (rules.ipv6 === true) add("ipv6", true, (b) => b.length === 16, "value must be an IPv6 address (16 bytes)");
  if (checks.length === 0) return undefined;
  const ignoreEmpty = rules.ignore_empty === true;
  return (v, path, out) => {
    const b = toBuffer(v);
    if (ignoreEmpty && b.length === 0) return;
    for (const c of checks) c(b, path, out);
  };
}

// ---------------------------------------------------------------------------------------------
// Enums.

export interface EnumInfo {
  readonly name: string;
  readonly valuesById: Readonly<Record<number, string>>;
}

export function compileEnumRules(enumType: EnumInfo, rules: Record<string, unknown>, prefix: string): Check | undefined {
  const checks: ((v: number, path: string, out: PgvViolation[]) => void)[] = [];
  const name = (v: number): string => {
    const n = enumType.valuesById[v];
    return n === undefined ? String(v) : `${n} (${v})`;
  };
  if (rules.const !== undefined) {
    const c = toNumber(rules.const);
    checks.push((v, path, out) => {
      if (v !== c) pushRule(out, path, `${prefix}.const = ${c}`, `value must be ${name(c)}, got ${name(v)}`);
    });
  }
  if (rules.defined_only === true) {
    checks.push((v, path, out) => {
      if (enumType.valuesById[v] === undefined) {
        pushRule(out, path, `${prefix}.defined_only = true`, `value ${v} is not a defined value of ${enumType.name}`);
      }
    });
  }
  if (rules.in !== undefined) {
    const set = list(rules.in).map(toNumber);
    checks.push((v, path, out) => {
      if (!set.includes(v)) pushRule(out, path, `${prefix}.in = ${show(set)}`, `value ${name(v)} must be one of ${set.map(name).join(", ")}`);
    });
  }
  if (rules.not_in !== undefined) {
    const set = list(rules.not_in).map(toNumber);
    checks.push((v, path, out) => {
      if (set.includes(v)) pushRule(out, path, `${prefix}.not_in = ${show(set)}`, `value ${name(v)} is not allowed here`);
    });
  }
  if (checks.length === 0) return undefined;
  return (raw, path, out) => {
    const v = toNumber(raw);
    for (const c of checks) c(v, path, out);
  };
}

// ---------------------------------------------------------------------------------------------
// Durations and timestamps: compared as bigint nanoseconds.

export function nanosOf(v: unknown): bigint {
  if (!isRecord(v)) return 0n;
  return toBigInt(v.seconds ?? 0) * 1_000_000_000n + BigInt(Math.trunc(toNumber(v.nanos ?? 0)));
}

export function formatDuration(nanos: bigint): string {
  const neg = nanos < 0n;
  const abs = neg ? -nanos : nanos;
  const secs = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  const fracText = frac === 0n ? "" : `.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return `${neg ? "-" : ""}${secs}${fracText}s`;
}

function formatTimestamp(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${formatDuration(nanos)} since the epoch` : d.toISOString();
}

export interface MessageRulesCheck {
  /** `<kind>.required` (or `message.required`) was set: the field must be present. */
  readonly requiredRule: string | undefined;
  /** Checks a present value. */
  readonly check: Check | undefined;
}

function compileTimeRules(kind: "duration" | "timestamp", rules: Record<string, unknown>, prefix: string): Check | undefined {
  const fmt = kind === "duration" ? formatDuration : formatTimestamp;
  const range: { -readonly [K in keyof Range<bigint>]: bigint } = {};
  for (const k of ["lt", "lte", "gt", "gte"] as const) if (rules[k] !== undefined) range[k] = nanosOf(rules[k]);
  const hasRange = Object.keys(range).length > 0;
  const constant = rules.const === undefined ? undefined : nanosOf(rules.const);
  const inList = list(rules.in).map(nanosOf);
  const notInList = list(rules.not_in).map(nanosOf);
  const ltNow = rules.lt_now === true;
  const gtNow = rules.gt_now === true;
  const within = rules.within === undefined ? undefined : nanosOf(rules.within);
  if (!hasRange && constant === undefined && inList.length === 0 && notInList.length === 0 && !ltNow && !gtNow && within === undefined) {
    return undefined;
  }
  const fmtNum = (v: Num): string => fmt(v as bigint);
  return (raw, path, out) => {
    const v = nanosOf(raw);
    if (constant !== undefined && v !== constant) pushRule(out, path, `${prefix}.const = ${fmt(constant)}`, `value must equal ${fmt(constant)}, got ${fmt(v)}`);
    if (hasRange) {
      const broken = rangeViolation(v, range);
      if (broken !== undefined) {
        const { rule, message } = rangeRule(prefix, broken, range, fmtNum);
        pushRule(out, path, rule, `${message}, got ${fmt(v)}`);
      }
    }
    if (inList.length > 0 && !inList.includes(v)) pushRule(out, path, `${prefix}.in = [${inList.map(fmt).join(", ")}]`, `value must be one of ${inList.map(fmt).join(", ")}, got ${fmt(v)}`);
    if (notInList.includes(v)) pushRule(out, path, `${prefix}.not_in = [${notInList.map(fmt).join(", ")}]`, `value must not be ${fmt(v)}`);
    if (ltNow || gtNow || within !== undefined) {
      const now = BigInt(Date.now()) * 1_000_000n;
      if (ltNow && !(v < now)) pushRule(out, path, `${prefix}.lt_now = true`, "value must be in the past");
      if (gtNow && !(v > now)) pushRule(out, path, `${prefix}.gt_now = true`, "value must be in the future");
      if (within !== undefined) {
        const delta = v > now ? v - now : now - v;
        if (delta > within) pushRule(out, path, `${prefix}.within = ${formatDuration(within)}`, `value must be within ${formatDuration(within)} of now`);
      }
    }
  };
}

export function compileDurationRules(rules: Record<string, unknown>, prefix: string): MessageRulesCheck {
  return { requiredRule: rules.required === true ? `${prefix}.required = true` : undefined, check: compileTimeRules("duration", rules, prefix) };
}

export function compileTimestampRules(rules: Record<string, unknown>, prefix: string): MessageRulesCheck {
  return { requiredRule: rules.required === true ? `${prefix}.required = true` : undefined, check: compileTimeRules("timestamp", rules, prefix) };
}

export function compileAnyRules(rules: Record<string, unknown>, prefix: string): MessageRulesCheck {
  const inList = list(rules.in).map(String);
  const notInList = list(rules.not_in).map(String);
  let check: Check | undefined;
  if (inList.length > 0 || notInList.length > 0) {
    check = (v, path, out) => {
      const url = isRecord(v) && typeof v.type_url === "string" ? v.type_url : "";
      if (inList.length > 0 && !inList.includes(url)) pushRule(out, path, `${prefix}.in = ${show(inList)}`, `type URL ${show(url)} is not one of ${show(inList)}`);
      if (notInList.includes(url)) pushRule(out, path, `${prefix}.not_in = ${show(notInList)}`, `type URL ${show(url)} is not allowed here`);
    };
  }
  return { requiredRule: rules.required === true ? `${prefix}.required = true` : undefined, check };
}

/**
 * Envoy's own check on every google.protobuf.Duration in a config (since Envoy 1.30,
 * envoy.reloadable_features.strict_duration_validation): no negative seconds or nanos, nanos below
 * one second, and at most 292 years so that it fits int64 nanoseconds. Not a PGV rule, but Envoy
 * rejects the resource all the same.
 */
export const ENVOY_DURATION_RULE = "envoy.duration (0 <= seconds <= 9223372036, 0 <= nanos <= 999999999)";
const ENVOY_MAX_DURATION_SECONDS = 9_223_372_036n;

export const checkEnvoyDuration: Check = (v, path, out) => {
  if (!isRecord(v)) return;
  const seconds = toBigInt(v.seconds ?? 0);
  const nanos = toNumber(v.nanos ?? 0);
  if (seconds < 0n || nanos < 0) {
    pushRule(out, path, ENVOY_DURATION_RULE, `Envoy rejects negative durations (seconds: ${seconds}, nanos: ${nanos})`);
  } else if (nanos > 999_999_999 || seconds > ENVOY_MAX_DURATION_SECONDS) {
    pushRule(out, path, ENVOY_DURATION_RULE, `duration out of range (seconds: ${seconds}, nanos: ${nanos})`);
  }
};
