// What serve leaves out, rewrites or ignores in a service's clusters (clusters.ts, clusterNotes),
// as validate's diagnostics: the same decisions, reported before a merge instead of found in a
// proxy's config. What validate already says where it is written (config/serving.ts: GM0321 to
// GM0323) and what only gRPC clients make of a cluster (render's notes for them) are left out.
import type { Diagnostic } from "../config/diagnostics.js";
import type { MeshModel } from "../config/load.js";
import type { AnyMeshResource } from "../config/resources.js";
import { positionOf } from "../config/source.js";
import { clusterNoteEntries } from "./clusters.js";
import { meshMtls } from "./mtls.js";
import { indexServices } from "./services.js";

export const SERVING_NOTE_CODE = "GM0338";

/** GM0338 warnings, at the service's DestinationRule when it has one (most notes are about its traffic policy), else its ServiceEntry. */
export function servingNotes(model: MeshModel): Diagnostic[] {
  const mtls = meshMtls(model);
  const out: Diagnostic[] = [];
  for (const service of indexServices(model).services) {
    const at: AnyMeshResource = service.rule ?? service.entry;
    const path = service.rule === undefined ? ["spec", "hosts"] : ["spec", "host"];
    const pos = positionOf(at.source, path, "key");
    for (const note of clusterNoteEntries(service, mtls)) {
      if (note.alsoSaid !== undefined) continue;
      out.push({
        code: SERVING_NOTE_CODE,
        severity: "warning",
        message: `serve: ${note.text}`,
        file: at.source.file,
        line: pos.line,
        col: pos.col,
        resource: { kind: at.kind, namespace: at.namespace, name: at.name },
      });
    }
  }
  return out;
}
