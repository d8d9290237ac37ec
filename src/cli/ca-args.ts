// What the ca, token and cert commands share: where output goes, common options, and the parsing
// of identities, durations and key types. Usage mistakes throw UsageError (exit 2).
import { formatProblem, identityProblems, KEY_TYPES, settleTrustDomain, type CaFileProblem, type KeyType, type WorkloadIdentity } from "../ca/index.js";
import { parseDuration } from "../common/duration.js";
import { UsageError, type CommandIo } from "./usage.js";

export { consoleIo, type CommandIo } from "./usage.js";

export const COMMON = {
  "state-dir": { type: "string", default: ".gitmesh-state" },
  // No default: the state directory's recorded trust domain decides (meshTrustDomain).
  "trust-domain": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const IDENTITY = { namespace: { type: "string" }, "service-account": { type: "string" }, ttl: { type: "string" } } as const;

export function subcommand(args: readonly string[], command: string, known: readonly string[]): [string, string[]] {
  const [sub, ...rest] = args;
  if (sub === undefined || !known.includes(sub)) throw new UsageError(`${command} takes a subcommand: ${known.join(" or ")}${sub === undefined ? "" : `, not "${sub}"`}`);
  return [sub, rest];
}

export function ttlOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ns = parseDuration(text);
  if (ns === undefined || ns < 1_000_000_000n) throw new UsageError(`--ttl takes a duration of a second or more, such as 24h, 30m or 7d, not "${text}"`);
  return Number(ns / 1_000_000n);
}

export function keyTypeOf(text: string | undefined): KeyType {
  if (text === undefined) return "rsa";
  if (!KEY_TYPES.includes(text as KeyType)) throw new UsageError(`--key-type must be ${KEY_TYPES.join(" or ")}`);
  return text as KeyType;
}

/**
 * The mesh's trust domain for a command that issues for it: the state directory's recorded one,
 * which --trust-domain must equal when given (recorded on first use). A conflict is a usage error
 * that names both.
 */
export async function meshTrustDomain(stateDir: string, given: string | undefined): Promise<string> {
  const settled = await settleTrustDomain(stateDir, given);
  if (!settled.ok) throw new UsageError(settled.error);
  return settled.trustDomain;
}

export function identityOf(values: { namespace?: string | undefined; "service-account"?: string | undefined }, trustDomain: string, command: string): WorkloadIdentity {
  if (values.namespace === undefined || values["service-account"] === undefined) throw new UsageError(`${command} needs --namespace and --service-account`);
  const id = { trustDomain, namespace: values.namespace, serviceAccount: values["service-account"] };
  const problems = identityProblems(id);
  if (problems.length > 0) throw new UsageError(problems.join("; "));
  return id;
}

export function reportProblems(problems: readonly CaFileProblem[], io: CommandIo): number {
  for (const p of problems) io.err(formatProblem(p));
  return 1;
}

/** The command's help, for a handler called with --help (main.ts answers --help before handlers run). */
export function help(io: CommandIo, text: string): number {
  io.out(text);
  return 0;
}
