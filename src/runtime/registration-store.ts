// Self-registered workloads (WORKLOAD_GROUP) kept in the state directory (the claims themselves
// live in registrations.ts while gitmesh runs). A restarted gitmesh
// hears from each Envoy again only when it reconnects, one by one; without this, the first proxies
// back were sent endpoints without the workloads not back yet, and requests to them failed (503,
// no healthy upstream: found with real Envoy restarting gitmesh under load). Restored workloads
// are endpoints again at once, and leave after the registration grace period unless their proxy
// reconnects: exactly what a proxy that lost its stream gets.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";
import type { Logger } from "../log.js";
import type { ProxyIdentity } from "../translators/proxy.js";

const FILE = "registrations.json";

/** A registered workload: the proxy key its stream had, and who it is (authenticated, as it was). */
export interface Registration {
  readonly key: string;
  readonly identity: ProxyIdentity;
}

export interface RegistrationStore {
  /** What the previous run had registered (empty when nothing was saved or it cannot be read). */
  readonly restored: readonly Registration[];
  /** Saves the registrations now held; writes only when they changed, one write at a time. */
  save(registrations: readonly Registration[]): void;
}

export async function openRegistrations(stateDir: string, logger: Logger): Promise<RegistrationStore> {
  const path = join(stateDir, FILE);
  let restored: Registration[] = [];
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as unknown;
    if (Array.isArray(parsed)) restored = parsed.filter(isRegistration);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") logger.warn("cannot read the saved registrations; starting without them", { path, error: (e as Error).message });
  }
  let last = JSON.stringify(restored);
  let writing = Promise.resolve();
  return {
    restored,
    save(registrations) {
      const text = JSON.stringify(registrations);
      if (text === last) return;
      last = text;
      writing = writing
        .then(() => writeFileAtomic(path, text, 0o600))
        .catch((e: unknown) => logger.warn("cannot save the registrations to the state directory", { path, error: (e as Error).message }));
    },
  };
}

function isRegistration(v: unknown): v is Registration {
  const r = v as Partial<Registration> | null;
  const id = r?.identity;
  return (
    typeof r?.key === "string" &&
    typeof id === "object" &&
    id !== null &&
    typeof id.nodeId === "string" &&
    typeof id.namespace === "string" &&
    typeof id.serviceAccount === "string" &&
    typeof id.workloadGroup === "string" &&
    id.authenticated === true &&
    Array.isArray(id.instanceIps)
  );
}
