import { MESH_KINDS, type MeshKind } from "../types.js";
import { whole, type Check, type CheckContext } from "./context.js";

/**
 * GM0301: two resources with the same kind, namespace and name (the later one is reported). One
 * check per kind, through the context's index of names (kept while only texts change): a changed
 * VirtualService does not make the mesh's names be indexed again.
 */
export const duplicateChecks: readonly Check[] = MESH_KINDS.map((kind) => whole((ctx) => checkDuplicates(ctx, kind)));

function checkDuplicates(ctx: CheckContext, kind: MeshKind): void {
  for (const { resource: r, first } of ctx.duplicates(kind)) {
    ctx.report(r, ["metadata", "name"], "GM0301", "error", `${r.kind} ${r.namespace}/${r.name} is defined twice (also at ${ctx.where(first, ["metadata", "name"])}); rename one or delete the copy`);
  }
}
