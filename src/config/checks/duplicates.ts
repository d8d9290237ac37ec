import type { AnyMeshResource } from "../resources.js";
import type { CheckContext } from "./context.js";

/** GM0301: two resources with the same kind, namespace and name (the later one is reported). */
export function checkDuplicates(ctx: CheckContext): void {
  const seen = new Map<string, AnyMeshResource>();
  for (const r of ctx.resources) {
    const key = `${r.kind}/${r.namespace}/${r.name}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, r);
      continue;
    }
    ctx.report(r, ["metadata", "name"], "GM0301", "error", `${r.kind} ${r.namespace}/${r.name} is defined twice (also at ${ctx.where(first, ["metadata", "name"])}); rename one or delete the copy`);
  }
}
