// The mesh translation of a one-file change alone (issue 14): translateMesh with one memo, as
// serve's pusher keeps one, alternating two models that differ in one file, edited the way a
// commit would (the loader hands back the same resource objects for every other file). Each kind
// of file is timed apart, since each reaches a different part of the memo:
//   vs: a VirtualService's weights (its routing view is patched, only its host looked at again)
//   dr: a DestinationRule's load balancer (the rule index is made again, the services re-resolved)
//   se: a ServiceEntry's port (the services are declared again)
//   we: a workload's address (likewise, through the workloads its ServiceEntry selects)
// Prints the median and the fastest of the warm rounds, and the first two (the first change in
// the process), per kind. The push that follows is not included (bench/translate.ts times it).
//
//   node --expose-gc dist/bench/translate-change.js [--services 1000] [--rounds 40] [--kinds vs,dr,se,we]
import { loadavg } from "node:os";
import { createMeshLoader } from "../src/config/load.js";
import { createTranslationMemo, translateMesh } from "../src/translators/mesh.js";
import { meshFiles } from "./mesh-gen.js";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** The file each kind edits, and the edit (present in the generated mesh: asserted). */
const EDITS: Readonly<Record<string, { readonly file: string; readonly from: string; readonly to: string }>> = {
  vs: { file: "svc-0/virtual-service.yaml", from: "weight: 90", to: "weight: 80" },
  dr: { file: "svc-0/destination-rule.yaml", from: "simple: LEAST_REQUEST", to: "simple: ROUND_ROBIN" },
  se: { file: "svc-0/service.yaml", from: "number: 8080", to: "number: 8081" },
  we: { file: "svc-0/workload-v1.yaml", from: "address: 10.0.0.1", to: "address: 10.0.0.9" },
};

const n = Number(option("services", "1000"));
const rounds = Number(option("rounds", "40"));
const files = meshFiles(n);
console.log(`${n} services, ${rounds} translations per kind, load average ${loadavg()[0]?.toFixed(2) ?? "?"}`);
console.log("edit | first two ms | warm median ms | fastest ms");
for (const kind of option("kinds", "vs,dr,se,we").split(",")) {
  const edit = EDITS[kind];
  if (edit === undefined) throw new Error(`--kinds: ${kind} is not one of ${Object.keys(EDITS).join(", ")}`);
  const loader = createMeshLoader();
  const a = loader.load(files).model;
  const changed = files.map((f) => {
    if (!f.path.endsWith(edit.file)) return f;
    if (!f.text.includes(edit.from)) throw new Error(`${edit.file} has no ${edit.from}`);
    return { ...f, text: f.text.replace(edit.from, edit.to) };
  });
  const loaded = loader.load(changed);
  if (!loaded.ok) throw new Error(`the ${kind} edit gives a mesh with errors`);
  const b = loaded.model;
  const memo = createTranslationMemo();
  translateMesh(a, memo);
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    translateMesh(i % 2 === 0 ? b : a, memo);
    ms.push(performance.now() - t0);
  }
  const warm = ms.slice(2).sort((x, y) => x - y);
  const fmt = (v: number | undefined) => (v ?? NaN).toFixed(2);
  console.log(`${kind} | ${fmt(ms[0])}, ${fmt(ms[1])} | ${fmt(warm[warm.length >> 1])} | ${fmt(warm[0])}`);
}
