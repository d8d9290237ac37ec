// How long `gitmesh validate` takes on a config repo of N files (issue 3 target: 1,000 files in
// under 1.5 s). Measures the whole command as a user runs it (process start included) and the
// in-process load, on a generated mesh: per service a ServiceEntry, a DestinationRule with
// subsets, a VirtualService with a split and retries, and two WorkloadEntries, one file each.
//
//   node dist/bench/validate.js [--files 1000] [--runs 5]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadMesh } from "../src/config/load.js";
import { readDirectory } from "../src/config/source.js";
import { FILES_PER_SERVICE, service } from "./mesh-gen.js";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const files = option("files", 1000);
const runs = option("runs", 5);
const dir = mkdtempSync(join(tmpdir(), "gitmesh-validate-bench-"));
try {
  for (let i = 0; i < Math.ceil(files / FILES_PER_SERVICE); i++) {
    for (const [path, text] of Object.entries(service(i))) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  }
  const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
  const cliMs: number[] = [];
  const loadMs: number[] = [];
  let summary = "";
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    summary = execFileSync(process.execPath, [cli, "validate", dir], { encoding: "utf8" }).trim().split("\n").pop() ?? "";
    cliMs.push(performance.now() - t0);
    const t1 = performance.now();
    const result = loadMesh(await readDirectory(dir));
    loadMs.push(performance.now() - t1);
    if (!result.ok) throw new Error(`generated mesh has errors: ${JSON.stringify(result.diagnostics.slice(0, 3))}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(summary);
  console.log(`gitmesh validate (whole command, process start included): median ${median(cliMs).toFixed(0)} ms of ${runs} runs [${cliMs.map((x) => x.toFixed(0)).join(", ")}]`);
  console.log(`load + validate in process (read, parse, schema, cross checks): median ${median(loadMs).toFixed(0)} ms [${loadMs.map((x) => x.toFixed(0)).join(", ")}]`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
