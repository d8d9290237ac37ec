// The mesh CA as the rest of gitmesh sees it: the authorities trusted now, the one that issues,
// and the steps of a rotation, each saved to the state directory before it takes effect.
import type { X509Certificate } from "node:crypto";
import { createRootAuthority, type Authority, type RootOptions } from "./authority.js";
import { abandon, dropPrevious, introduce, issuingId, switchIssuer, trustedIds, type RotationState, type Transition } from "./rotation.js";
import { pausePoint, writeFileAtomic } from "../common/files.js";
import { crossSign } from "./cross-sign.js";
import { commitAuthority, createRotation, loadAuthority, loadCrossSigned, loadRotation, removeAuthority, removeLeftovers, saveAuthority, saveRotation, stateMissing, trustBundleFile } from "./store.js";
import type { CaFileProblem } from "./validate.js";

export interface MeshCa {
  readonly stateDir: string;
  readonly rotation: RotationState;
  /** Every trusted authority by id, with its key. */
  readonly authorities: ReadonlyMap<string, Authority>;
  /**
   * Certificates for an authority's name and key signed by the root it replaced (cross-sign.ts),
   * by authority id: sent after the TLS port's certificate, so proxies that still trust only the
   * old root reconnect.
   */
  readonly crossSigned?: ReadonlyMap<string, readonly X509Certificate[]>;
}

export type OpenResult<C> = { readonly ok: true; readonly ca: C } | { readonly ok: false; readonly problems: readonly CaFileProblem[] };

/**
 * Loads the CA saved in the state directory; `ca: undefined` when there is none yet (nothing, or
 * only what an interrupted first creation left, which is removed). Authorities without the state
 * that says which one issues are an error naming rotation.json and the fix, never "no CA".
 */
export async function openCa(stateDir: string, now: Date = new Date()): Promise<OpenResult<MeshCa | undefined>> {
  const saved = await loadRotation(stateDir);
  if (!saved.ok) return { ok: false, problems: [saved.problem] };
  const trusted = new Set(saved.state === undefined ? [] : trustedIds(saved.state));
  const stored = await removeLeftovers(stateDir, trusted);
  if (saved.state === undefined) {
    const committed = stored.filter((a) => a.state === "committed").map((a) => a.id);
    return committed.length > 0 ? { ok: false, problems: [stateMissing(stateDir, committed)] } : { ok: true, ca: undefined };
  }
  const authorities = new Map<string, Authority>();
  const problems: CaFileProblem[] = [];
  const crossSigned = new Map<string, readonly X509Certificate[]>();
  for (const id of trusted) {
    const loaded = await loadAuthority(stateDir, id, now);
    if (loaded.ok) authorities.set(id, loaded.authority);
    else problems.push(...loaded.problems);
    const cross = await loadCrossSigned(stateDir, id);
    if (cross.length > 0) crossSigned.set(id, cross);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, ca: { stateDir, rotation: saved.state, authorities, crossSigned } };
}

/**
 * Starts a CA with the given authority (imported, or a new root) in a state directory that has
 * none. The authority is saved first (pending), then the first rotation.json is created, which
 * only one creator can do: a creator that loses (serve and `ca init` at once) adopts the winner's
 * CA and removes its own authority, which never issued anything. `created` says which happened.
 */
export async function initCa(stateDir: string, authority: Authority, now: Date = new Date()): Promise<OpenResult<MeshCa> & { readonly created?: boolean }> {
  await saveAuthority(stateDir, authority);
  await pausePoint("ca:authority-saved");
  const rotation: RotationState = { phase: "steady", current: authority.id };
  if (!(await createRotation(stateDir, rotation))) {
    const theirs = await openCa(stateDir, now);
    if (!theirs.ok) return theirs;
    if (theirs.ca === undefined) throw new Error(`bug: ${stateDir} has a rotation state and no CA`);
    if (!trustedIds(theirs.ca.rotation).includes(authority.id)) await removeAuthority(stateDir, authority.id);
    return { ok: true, ca: theirs.ca, created: false };
  }
  await pausePoint("ca:committed");
  await commitAuthority(stateDir, authority.id);
  return { ok: true, ca: { stateDir, rotation, authorities: new Map([[authority.id, authority]]) }, created: true };
}

/** What `gitmesh serve` does on start: the saved CA, or a new self-signed root the first time. */
export async function openOrCreateCa(stateDir: string, root: RootOptions): Promise<OpenResult<MeshCa> & { readonly created?: boolean }> {
  const opened = await openCa(stateDir, root.now);
  if (!opened.ok) return opened;
  if (opened.ca !== undefined) return { ok: true, ca: opened.ca, created: false };
  return initCa(stateDir, await createRootAuthority(root), root.now);
}

/** The authority new certificates are issued under. */
export function issuer(ca: MeshCa): Authority {
  const a = ca.authorities.get(issuingId(ca.rotation));
  if (a === undefined) throw new Error(`bug: issuing authority ${issuingId(ca.rotation)} not loaded`);
  return a;
}

/** Every trusted root, in PEM, each once (two intermediates may share an organisation root). */
export function trustBundlePem(ca: MeshCa): string {
  const roots = new Map<string, string>();
  for (const id of trustedIds(ca.rotation)) {
    const root = ca.authorities.get(id)?.root;
    if (root !== undefined) roots.set(root.fingerprint256, root.toString());
  }
  return [...roots.values()].join("");
}

/**
 * STATE_DIR/trust-bundle.pem: what proxies are given to verify gitmesh and each other (public,
 * 0644; compose copies it to them). Written atomically, like every state file.
 */
export async function writeTrustBundle(stateDir: string, ca: MeshCa): Promise<void> {
  await writeFileAtomic(trustBundleFile(stateDir), trustBundlePem(ca), 0o644);
}

export type RotationStep =
  | { readonly t: "introduce"; readonly authority: Authority }
  | { readonly t: "switch" }
  | { readonly t: "drop"; readonly maxLifetimeMs: number; readonly force?: boolean }
  | { readonly t: "abandon" };

export type RotationResult = { readonly ok: true; readonly ca: MeshCa } | { readonly ok: false; readonly reason: string };

/** Takes one step of a root rotation and saves it; the returned CA is what to serve from now on. */
export async function rotate(ca: MeshCa, step: RotationStep, now: Date = new Date()): Promise<RotationResult> {
  const next: Transition =
    step.t === "introduce"
      ? introduce(ca.rotation, step.authority.id, now)
      : step.t === "switch"
        ? switchIssuer(ca.rotation, now)
        : step.t === "drop"
          ? dropPrevious(ca.rotation, now, step.maxLifetimeMs, step.force ?? false)
          : abandon(ca.rotation);
  if (!next.ok) return next;
  const authorities = new Map(ca.authorities);
  const crossSigned = new Map(ca.crossSigned ?? []);
  if (step.t === "introduce") {
    const cross = crossSign(step.authority, issuer(ca), now);
    await saveAuthority(ca.stateDir, step.authority, cross === undefined ? [] : [cross]);
    authorities.set(step.authority.id, step.authority);
    if (cross !== undefined) crossSigned.set(step.authority.id, [cross]);
  }
  await saveRotation(ca.stateDir, next.state);
  if (step.t === "introduce") await commitAuthority(ca.stateDir, step.authority.id);
  const kept = new Set(trustedIds(next.state));
  for (const id of [...authorities.keys()].filter((id) => !kept.has(id))) {
    authorities.delete(id);
    crossSigned.delete(id);
    await removeAuthority(ca.stateDir, id);
  }
  return { ok: true, ca: { stateDir: ca.stateDir, rotation: next.state, authorities, crossSigned } };
}
