// What the ca, token and cert commands share: where output goes, common options, and the parsing
// of identities, durations and key types. Usage mistakes throw UsageError (exit 2).
import { DEFAULT_TRUST_DOMAIN, formatProblem, identityProblems, KEY_TYPES, type CaFileProblem, type KeyType, type WorkloadIdentity } from "../ca/index.js";
import { CA_USAGE } from "./ca-usage.js";
import { UsageError } from "./usage.js";

/** Where output goes; console by default, captured in tests. */
export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}
export const consoleIo: CommandIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

export const COMMON = {
  "state-dir": { type: "string", default: ".gitmesh-state" },
  "trust-domain": { type: "string", default: DEFAULT_TRUST_DOMAIN },
  help: { type: "boolean", short: "h" },
} as const;

export const IDENTITY = { namespace: { type: "string" }, "service-account": { type: "string" }, ttl: { type: "string" } } as const;

export function subcommand(args: readonly string[], command: string, known: readonly string[]): [string, string[]] {
  const [sub, ...rest] = args;
  if (sub === undefined || !known.includes(sub)) throw new UsageError(`${command} takes a subcommand: ${known.join(" or ")}${sub === undefined ? "" : `, not "${sub}"`}`);
  return [sub, rest];
}

/** Durations as 90s, 30m, 24h, 30d or combined (1h30m). */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(d|h|m|s))+$/.test(text)) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)(d|h|m|s)/g)) ms += Number(n) * unit[u as keyof typeof unit];
  return ms > 0 ? ms : undefined;
}

export function ttlOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--ttl takes a duration such as 24h, 30m or 7d, not "${text}"`);
  return ms;
}

export function keyTypeOf(text: string | undefined): KeyType {
  if (text === undefined) return "rsa";
  if (!KEY_TYPES.includes(text as KeyType)) throw new UsageError(`--key-type must be ${KEY_TYPES.join(" or ")}`);
  return text as KeyType;
}

export function identityOf(values: { namespace?: string | undefined; "service-account"?: string | undefined; "trust-domain": string }, command: string): WorkloadIdentity {
  if (values.namespace === undefined || values["service-account"] === undefined) throw new UsageError(`${command} needs --namespace and --service-account`);
  const id = { trustDomain: values["trust-domain"], namespace: values.namespace, serviceAccount: values["service-account"] };
  const problems = identityProblems(id);
  if (problems.length > 0) throw new UsageError(problems.join("; "));
  return id;
}

export function reportProblems(problems: readonly CaFileProblem[], io: CommandIo): number {
  for (const p of problems) io.err(formatProblem(p));
  return 1;
}

export function help(io: CommandIo): number {
  io.out(CA_USAGE);
  return 0;
}
