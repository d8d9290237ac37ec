// `gitmesh ca init|show|bundle|rotate` and `gitmesh cert issue`. Usage mistakes throw UsageError
// (exit 2, as main.ts does); failures print what is wrong and return 1.
import type { X509Certificate } from "node:crypto";
import { parseArgs } from "node:util";
import {
  caDir,
  createRootAuthority,
  initCa,
  issuer,
  issuingChain,
  issueWorkloadCertificate,
  loadCaFiles,
  openCa,
  rotate,
  setAsideCa,
  trustBundleFile,
  trustBundlePem,
  trustedIds,
  WORKLOAD_LIFETIME_MS,
  writeTrustBundle,
  type Authority,
  type MeshCa,
  type RotationStep,
} from "../ca/index.js";
import { writeCertFiles } from "../agent/cert-files.js";
import { COMMON, consoleIo, help, IDENTITY, identityOf, keyTypeOf, meshTrustDomain, reportProblems, subcommand, ttlOf, type CommandIo } from "./ca-args.js";
import { CA_HELP, CERT_FILES, CERT_HELP } from "./ca-usage.js";
import { UsageError } from "./usage.js";

// The token commands have a file of their own; main.ts finds every CA command here.
export { runToken } from "./token-commands.js";

/** The CA in the state directory, or 1 with the reason printed. */
async function existingCa(stateDir: string, io: CommandIo): Promise<MeshCa | number> {
  const opened = await openCa(stateDir);
  if (!opened.ok) return reportProblems(opened.problems, io);
  if (opened.ca === undefined) {
    io.err(`gitmesh: no CA in ${caDir(stateDir)}: run gitmesh ca init --state-dir ${stateDir} first`);
    return 1;
  }
  return opened.ca;
}

// ---- ca ---------------------------------------------------------------------------------------

export async function runCa(args: readonly string[], io: CommandIo = consoleIo): Promise<number> {
  const [sub, rest] = subcommand(args, "ca", ["init", "show", "bundle", "rotate"]);
  return sub === "init" ? caInit(rest, io) : sub === "rotate" ? caRotate(rest, io) : sub === "bundle" ? caBundle(rest, io) : caShow(rest, io);
}

async function caInit(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      "key-type": { type: "string" },
      "root-cert": { type: "string" },
      "root-key": { type: "string" },
      "intermediate-cert": { type: "string" },
      "intermediate-key": { type: "string" },
      chain: { type: "string" },
      force: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help === true) return help(io, CA_HELP);
  const root = [values["root-cert"], values["root-key"]];
  const inter = [values["intermediate-cert"], values["intermediate-key"], values.chain];
  const rootGiven = root.some((v) => v !== undefined);
  const interGiven = inter.some((v) => v !== undefined);
  if (rootGiven && interGiven) throw new UsageError("import either a root (--root-cert, --root-key) or an intermediate (--intermediate-cert, --intermediate-key, --chain), not both");
  if (rootGiven && root.includes(undefined)) throw new UsageError("--root-cert and --root-key go together");
  if (interGiven && inter.includes(undefined)) throw new UsageError("--intermediate-cert, --intermediate-key and --chain go together");
  if ((rootGiven || interGiven) && values["key-type"] !== undefined) throw new UsageError("--key-type is for a new root; an imported CA keeps its key");
  const keyType = keyTypeOf(values["key-type"]);
  const stateDir = values["state-dir"];
  const force = values.force === true;

  if (!force) {
    const opened = await openCa(stateDir);
    if (!opened.ok) return reportProblems(opened.problems, io);
    if (opened.ca !== undefined) {
      if (rootGiven || interGiven) {
        io.err(`gitmesh: a CA already exists in ${caDir(stateDir)} (issuing: ${issuer(opened.ca).id}); importing would cut every workload off: rotate to the new CA (gitmesh ca rotate), or replace it on purpose with --force`);
        return 1;
      }
      // Idempotent: the trust bundle is written again (it may be missing or out of date).
      await writeTrustBundle(stateDir, opened.ca);
      io.out(`a CA already exists in ${caDir(stateDir)}; nothing changed`);
      return 0;
    }
  }
  let authority: Authority;
  if (rootGiven || interGiven) {
    const now = new Date();
    const loaded = rootGiven
      ? await loadCaFiles({ cert: values["root-cert"]!, key: values["root-key"]! }, now)
      : await loadCaFiles({ cert: values["intermediate-cert"]!, key: values["intermediate-key"]!, chain: values.chain! }, now);
    if (!loaded.ok) return reportProblems(loaded.problems, io);
    authority = loaded.authority;
  } else {
    authority = await createRootAuthority({ trustDomain: await meshTrustDomain(stateDir, values["trust-domain"]), keyType });
  }
  // Only now, with the new authority in hand: a refused import leaves the old state in place.
  const setAside = force ? await setAsideCa(stateDir) : undefined;
  const made = await initCa(stateDir, authority);
  if (!made.ok) return reportProblems(made.problems, io);
  await writeTrustBundle(stateDir, made.ca);
  if (made.created !== true) {
    io.out(`a CA already exists in ${caDir(stateDir)} (another gitmesh made it at the same time); nothing changed`);
    for (const line of describeCa(made.ca)) io.out(line);
    return 0;
  }
  io.out(`${rootGiven ? "imported the root" : interGiven ? "imported the intermediate" : "created a new root"} into ${caDir(stateDir)}`);
  if (setAside !== undefined) {
    io.out(`the previous CA state was moved to ${setAside} (its keys are kept there: remove them when no longer needed)`);
    io.out(`every proxy needs the new trust bundle: give them ${trustBundleFile(stateDir)} and restart them`);
  }
  for (const line of describeCa(made.ca)) io.out(line);
  io.out(`trust bundle written to ${trustBundleFile(stateDir)} (gitmesh ca bundle prints it)`);
  return 0;
}

/**
 * One step of a root rotation, saved to the state directory; a running `gitmesh serve` picks it up
 * within its resync period and pushes the new trust bundle and certificates:
 *   introduce  a new root (or an imported one) is trusted beside the current one
 *   switch     workloads are issued certificates by the new one (both still trusted)
 *   drop       the old root is no longer trusted (once every certificate it signed has expired)
 *   abandon    back out of an introduced root before switching
 */
async function caRotate(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...COMMON, "key-type": { type: "string" }, "root-cert": { type: "string" }, "root-key": { type: "string" }, force: { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return help(io, CA_HELP);
  const [step, ...extra] = positionals;
  if (step === undefined || extra.length > 0 || !["introduce", "switch", "drop", "abandon"].includes(step)) throw new UsageError("gitmesh ca rotate takes one step: introduce, switch, drop or abandon");
  const ca = await existingCa(values["state-dir"], io);
  if (typeof ca === "number") return ca;
  let rotation: RotationStep;
  if (step === "introduce") {
    let authority: Authority;
    if (values["root-cert"] !== undefined || values["root-key"] !== undefined) {
      if (values["root-cert"] === undefined || values["root-key"] === undefined) throw new UsageError("--root-cert and --root-key go together");
      const loaded = await loadCaFiles({ cert: values["root-cert"], key: values["root-key"] }, new Date());
      if (!loaded.ok) return reportProblems(loaded.problems, io);
      authority = loaded.authority;
    } else {
      authority = await createRootAuthority({ trustDomain: await meshTrustDomain(values["state-dir"], values["trust-domain"]), keyType: keyTypeOf(values["key-type"]) });
    }
    rotation = { t: "introduce", authority };
  } else if (step === "drop") {
    rotation = { t: "drop", maxLifetimeMs: WORKLOAD_LIFETIME_MS, force: values.force === true };
  } else {
    rotation = { t: step as "switch" | "abandon" };
  }
  const result = await rotate(ca, rotation);
  if (!result.ok) {
    io.err(`gitmesh: cannot ${step}: ${result.reason}`);
    return 1;
  }
  await writeTrustBundle(values["state-dir"], result.ca);
  io.out(`rotation step ${step} saved in ${caDir(values["state-dir"])}; gitmesh serve applies it at its next resync`);
  for (const line of describeCa(result.ca)) io.out(line);
  return 0;
}

/** A read-only ca subcommand: the CA in --state-dir, printed as `lines` says. */
async function printCa(args: string[], io: CommandIo, lines: (ca: MeshCa) => readonly string[]): Promise<number> {
  const { values } = parseArgs({ args, options: COMMON, strict: true });
  if (values.help === true) return help(io, CA_HELP);
  const ca = await existingCa(values["state-dir"], io);
  if (typeof ca === "number") return ca;
  for (const line of lines(ca)) io.out(line);
  return 0;
}

const caShow = (args: string[], io: CommandIo) => printCa(args, io, describeCa);
/** `gitmesh ca bundle`: the trust bundle (every trusted root, PEM) on stdout, for proxies. */
const caBundle = (args: string[], io: CommandIo) => printCa(args, io, (ca) => [trustBundlePem(ca).trimEnd()]);

const dn = (name: string | undefined): string => (name ?? "").replace(/\n/g, ", ") || "(empty)";

function describeCert(c: X509Certificate, indent: string): string[] {
  const daysLeft = Math.floor((Date.parse(c.validTo) - Date.now()) / 86_400_000);
  const key = c.publicKey.asymmetricKeyDetails;
  return [
    `${indent}subject:  ${dn(c.subject)}`,
    `${indent}issuer:   ${dn(c.issuer)}`,
    `${indent}valid:    ${new Date(c.validFrom).toISOString()} to ${new Date(c.validTo).toISOString()} (${daysLeft} days left)`,
    `${indent}key:      ${c.publicKey.asymmetricKeyType ?? "?"} ${key?.modulusLength ?? key?.namedCurve ?? ""}`.trimEnd(),
    `${indent}sha256:   ${c.fingerprint256}`,
  ];
}

/** Public facts only: the key is never printed. */
export function describeCa(ca: MeshCa): string[] {
  const issuing = issuer(ca);
  const lines = [`rotation: ${ca.rotation.phase} (trusted: ${trustedIds(ca.rotation).join(", ")})`, `issuing CA ${issuing.id}:`, ...describeCert(issuing.cert, "  ")];
  if (issuingChain(issuing).length > 0) lines.push(`  chain:    ${issuing.intermediates.length} intermediate(s), then the root ${dn(issuing.root.subject)}`);
  const roots = trustBundlePem(ca).match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  lines.push(`trust bundle: ${roots} root(s)`);
  const seen = new Set<string>();
  for (const id of trustedIds(ca.rotation)) {
    const root = ca.authorities.get(id)?.root;
    if (root === undefined || seen.has(root.fingerprint256)) continue;
    seen.add(root.fingerprint256);
    lines.push(`  - ${dn(root.subject)}, until ${new Date(root.validTo).toISOString()}, sha256 ${root.fingerprint256}`);
  }
  return lines;
}

// ---- cert -------------------------------------------------------------------------------------

export async function runCert(args: readonly string[], io: CommandIo = consoleIo): Promise<number> {
  const [, rest] = subcommand(args, "cert", ["issue"]);
  const { values } = parseArgs({ args: rest, options: { ...COMMON, ...IDENTITY, out: { type: "string" }, "key-type": { type: "string" } }, strict: true });
  if (values.help === true) return help(io, CERT_HELP);
  const id = identityOf(values, await meshTrustDomain(values["state-dir"], values["trust-domain"]), "cert issue");
  if (values.out === undefined) throw new UsageError("cert issue needs --out DIR");
  const keyType = keyTypeOf(values["key-type"]);
  const lifetimeMs = ttlOf(values.ttl, WORKLOAD_LIFETIME_MS);
  const ca = await existingCa(values["state-dir"], io);
  if (typeof ca === "number") return ca;
  const issued = await issueWorkloadCertificate(issuer(ca), id, { keyType, lifetimeMs });
  await writeCertFiles(values.out, { identity: { chainPem: issued.chainPem, keyPem: issued.keyPem }, bundlePem: trustBundlePem(ca) });
  io.out(`issued ${issued.spiffeId}, valid until ${issued.notAfter.toISOString()}, into ${values.out}:`);
  io.out(`  ${CERT_FILES.chain} (certificate chain), ${CERT_FILES.key} (key, mode 0600), ${CERT_FILES.bundle} (trust bundle)`);
  return 0;
}
