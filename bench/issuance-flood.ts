// A certificate issuance flood (issue 9): one valid credential opens N node ids on the TLS port,
// and a legitimate proxy of another identity connects in the middle of it. Measured: how long the
// legitimate proxy waits for its certificate, and the CPU the flood costs, when the flood's streams
// are abandoned at once (they go away) and when they stay connected. Real key generation (RSA 2048
// by default, as serve's default), through the same WorkloadSecrets serve uses.
//
//   node dist/bench/issuance-flood.js [--flood 300] [--key-type rsa|ecdsa] [--runs 3]
import { openOrCreateCa } from "../src/ca/index.js";
import { silentLogger } from "../src/log.js";
import { WorkloadSecrets } from "../src/runtime/index.js";
import type { StreamIdentity } from "../src/xds/index.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const flood = Number(option("flood", "300"));
const keyType = option("key-type", "rsa") as "rsa" | "ecdsa";
const runs = Number(option("runs", "3"));
const attacker: StreamIdentity = { namespace: "attacker-ns", serviceAccount: "nobody" };
const legit: StreamIdentity = { namespace: "shop", serviceAccount: "web" };

async function once(abandoned: boolean): Promise<{ waitMs: number; cpuMs: number; issued: number }> {
  const opened = await openOrCreateCa(mkdtempSync(join(tmpdir(), "gitmesh-flood-")), { trustDomain: "cluster.local", keyType: "ecdsa" });
  if (!opened.ok) throw new Error("no CA");
  const secrets = new WorkloadSecrets({ ca: opened.ca, trustDomain: "cluster.local", keyType, logger: silentLogger });
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < flood; i++) secrets.secretsFor(`attacker-${i}`, attacker);
  if (abandoned) for (let i = 0; i < flood; i++) secrets.forget(`attacker-${i}`);
  const t0 = performance.now();
  const ready = new Promise<void>((resolve) => secrets.onChanged((p) => p === "web-1" && resolve()));
  secrets.secretsFor("web-1", legit);
  await ready;
  const waitMs = performance.now() - t0;
  const issued = secrets.stats.issued;
  secrets.close();
  const cpu = process.cpuUsage(cpu0);
  return { waitMs, cpuMs: (cpu.user + cpu.system) / 1000, issued };
}

console.log(`flood of ${flood} node ids under one credential, ${keyType} keys, ${runs} runs each`);
console.log("flood streams | legit proxy's wait ms (median, max) | certificates issued before it | CPU ms until then");
for (const abandoned of [true, false]) {
  const results = [];
  for (let r = 0; r < runs; r++) results.push(await once(abandoned));
  const waits = results.map((x) => x.waitMs).sort((a, b) => a - b);
  const median = waits[Math.floor(waits.length / 2)] ?? 0;
  const max = waits.at(-1) ?? 0;
  console.log(
    [abandoned ? "abandoned at once" : "kept open", `${median.toFixed(0)}, ${max.toFixed(0)}`, results.map((x) => x.issued).join("/"), results.map((x) => x.cpuMs.toFixed(0)).join("/")].join(" | "),
  );
}
