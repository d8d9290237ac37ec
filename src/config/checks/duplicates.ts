import type { CheckContext } from "./context.js";

/** GM0301: two resources with the same kind, namespace and name (the later one is reported). */
export function checkDuplicates(ctx: CheckContext): void {
  const seen = new Map<string, { file: string; line: number }>();
  for (const r of ctx.resources) {
    const key = `${r.kind}/${r.namespace}/${r.name}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, { file: r.source.file, line: r.source.doc.range[0] });
      continue;
    }
    ctx.report(r, ["metadata", "name"], "GM0301", "error", `${r.kind} ${r.namespace}/${r.name} is defined twice (also in ${first.file}); rename one or delete the copy`);
  }
}
