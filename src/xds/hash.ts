import { createHash } from "node:crypto";

/**
 * A short content hash used as a version string. Versions are hashes of what is sent, never
 * counters, so a restarted server or another replica gives the same version for the same content
 * and a reconnecting proxy is not re-sent what it already holds.
 */
export function contentHash(parts: Iterable<string | Uint8Array>): string {
  const h = createHash("sha256");
  for (const part of parts) {
    h.update(part);
    h.update("\0");
  }
  return h.digest("base64url").slice(0, 16);
}
