// `gitmesh token issue|inspect|revoke|list-revoked`: proxy credentials and their revocation.
// Usage mistakes throw UsageError (exit 2); failures print what is wrong and return 1.
import { parseArgs } from "node:util";
import { DEFAULT_TRUST_DOMAIN } from "../common/mesh-identity.js";
import {
  bindingProblem,
  DEFAULT_TOKEN_TTL_MS,
  describeBinding,
  issueToken,
  listRevocations,
  openTokenKey,
  pruneRevocations,
  readToken,
  recordRevocation,
  revocationsDir,
  TOKEN_ID,
  UNBOUND,
  verifyToken,
  type RevocationEntry,
  type TokenBinding,
} from "../ca/index.js";
import { COMMON, consoleIo, help, IDENTITY, identityOf, reportProblems, subcommand, ttlOf, type CommandIo } from "./ca-args.js";
import { TOKEN_HELP } from "./ca-usage.js";
import { UsageError } from "./usage.js";

export async function runToken(args: readonly string[], io: CommandIo = consoleIo): Promise<number> {
  const [sub, rest] = subcommand(args, "token", ["issue", "inspect", "revoke", "list-revoked"]);
  switch (sub) {
    case "issue":
      return tokenIssue(rest, io);
    case "inspect":
      return tokenInspect(rest, io);
    case "revoke":
      return tokenRevoke(rest, io);
    default:
      return tokenListRevoked(rest, io);
  }
}

function bindingOf(values: { "node-id"?: string | undefined; "workload-group"?: string | undefined }): TokenBinding {
  const nodeId = values["node-id"];
  const group = values["workload-group"];
  if (nodeId !== undefined && group !== undefined) throw new UsageError("bind a token to --node-id or to --workload-group, not both");
  const binding: TokenBinding = nodeId !== undefined ? { t: "node", nodeId } : group !== undefined ? { t: "workload-group", name: group } : UNBOUND;
  const problem = bindingProblem(binding);
  if (problem !== undefined) throw new UsageError(problem);
  return binding;
}

/** Prints the token alone on stdout (scripts take it with $(...)). */
async function tokenIssue(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({ args, options: { ...COMMON, ...IDENTITY, "node-id": { type: "string" }, "workload-group": { type: "string" } }, strict: true });
  if (values.help === true) return help(io, TOKEN_HELP);
  // A token names a namespace and service account, not a trust domain: the default only checks the names.
  const id = identityOf(values, DEFAULT_TRUST_DOMAIN, "token issue");
  const ttl = ttlOf(values.ttl, DEFAULT_TOKEN_TTL_MS);
  const binding = bindingOf(values);
  const key = await openTokenKey(values["state-dir"]);
  if (!key.ok) return reportProblems([key.problem], io);
  io.out(issueToken(key.key, id.namespace, id.serviceAccount, ttl, new Date(), binding));
  return 0;
}

function oneToken(positionals: readonly string[], command: string): string {
  const [arg, ...extra] = positionals;
  if (arg === undefined || extra.length > 0) throw new UsageError(`gitmesh token ${command} takes one token${command === "revoke" ? " or token id" : ""}`);
  return arg;
}

/** What a token says (id, identity, binding, times) and whether it is accepted now; never the key. */
async function tokenInspect(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: COMMON, allowPositionals: true, strict: true });
  if (values.help === true) return help(io, TOKEN_HELP);
  const token = oneToken(positionals, "inspect");
  const key = await openTokenKey(values["state-dir"]);
  if (!key.ok) return reportProblems([key.problem], io);
  const v = verifyToken(key.key, token);
  if (!v.ok) {
    io.err(`gitmesh: the token is refused (${v.reason}): ${v.detail}`);
    return 1;
  }
  const revoked = await listRevocations(values["state-dir"]);
  if (!revoked.ok) return reportProblems([revoked.problem], io);
  io.out(`id:        ${v.id}${v.legacy ? " (a v1 token: its id is its hash)" : ""}`);
  io.out(`identity:  ${v.namespace}/${v.serviceAccount}`);
  io.out(`bound to:  ${describeBinding(v.binding)}`);
  io.out(`issued:    ${v.issuedAt.toISOString()}`);
  io.out(`expires:   ${v.expiresAt.toISOString()}`);
  io.out(`revoked:   ${revoked.value.some((e) => e.id === v.id) ? "yes" : "no"}`);
  return 0;
}

/**
 * Records a revocation in STATE_DIR/ca/revoked-tokens. Given the token itself, it must be one this
 * gitmesh signed, and its identity and expiry are recorded with it; given an id, only the id.
 */
async function tokenRevoke(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: COMMON, allowPositionals: true, strict: true });
  if (values.help === true) return help(io, TOKEN_HELP);
  const arg = oneToken(positionals, "revoke");
  const stateDir = values["state-dir"];
  const now = new Date();
  let entry: RevocationEntry;
  if (TOKEN_ID.test(arg)) {
    entry = { id: arg, revokedAt: now.toISOString() };
  } else {
    const key = await openTokenKey(stateDir);
    if (!key.ok) return reportProblems([key.problem], io);
    // Whatever its times: an expired token is refused anyway, but revoking it is what was asked.
    const known = readToken(key.key, arg);
    if (!known.ok) {
      io.err(`gitmesh: not a token of this gitmesh (${known.reason}: ${known.detail}); give the token it issued, or the token's id (32 hex digits)`);
      return 1;
    }
    entry = {
      id: known.id,
      revokedAt: now.toISOString(),
      namespace: known.namespace,
      serviceAccount: known.serviceAccount,
      binding: known.binding,
      expiresAt: known.expiresAt.toISOString(),
    };
  }
  const pruned = await pruneRevocations(stateDir, now);
  await recordRevocation(stateDir, entry);
  io.out(`revoked token ${entry.id}${entry.namespace === undefined ? "" : ` (${entry.namespace}/${entry.serviceAccount}, ${describeBinding(entry.binding ?? UNBOUND)}, expires ${entry.expiresAt})`}`);
  io.out(`recorded in ${revocationsDir(stateDir)}; gitmesh serve refuses new streams with it once it has read the list again (at its next resync)`);
  if (pruned.length > 0) io.out(`removed ${pruned.length} revocation(s) of tokens that have expired since`);
  return 0;
}

async function tokenListRevoked(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: COMMON, allowPositionals: true, strict: true });
  if (values.help === true) return help(io, TOKEN_HELP);
  if (positionals.length > 0) throw new UsageError("gitmesh token list-revoked takes no arguments");
  const listed = await listRevocations(values["state-dir"]);
  if (!listed.ok) return reportProblems([listed.problem], io);
  if (listed.value.length === 0) io.out("no revoked tokens");
  for (const e of listed.value) {
    const who = e.namespace === undefined ? "(revoked by id)" : `${e.namespace}/${e.serviceAccount}, ${describeBinding(e.binding ?? UNBOUND)}, expires ${e.expiresAt}`;
    io.out(`${e.id}  revoked ${e.revokedAt || "(unknown time)"}  ${who}`);
  }
  return 0;
}
