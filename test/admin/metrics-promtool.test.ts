// /metrics of a running serve, checked by promtool (Debian's prometheus package) and against the
// catalogue in docs/metrics.md: every catalogued metric is there, and the ones a proxy, a refused
// credential and a translation move have moved.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { credentials } from "@grpc/grpc-js";
import { trustBundleFile } from "../../src/ca/index.js";
import { createLogger } from "../../src/log.js";
import { serve } from "../../src/runtime/index.js";
import { CDS } from "../../src/xds/index.js";
import { cloneRepo, commitAll, git, initBare, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";
import { needPeer, REPO_ROOT } from "../support/peers.js";
import { grpcNode, ScriptedClient } from "../support/xds-client.js";

after(removeTempDirs);

const SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a, namespace: shop }
spec: { hosts: [a.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: grpc, protocol: GRPC }], endpoints: [{ address: 10.0.0.1 }] }
`;

/** Runs a program with `input` on its stdin; its exit code and output. */
async function run(command: string, args: readonly string[], input: string): Promise<{ code: number; out: string }> {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  child.stdin.on("error", () => {}); // a program that reads no stdin may close it first
  child.stdin.end(input);
  const [code] = (await once(child, "close")) as [number | null];
  return { code: code ?? 1, out };
}

/** The metric names docs/metrics.md catalogues (first column of its tables). */
export function catalogue(markdown: string): string[] {
  return [...markdown.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1] ?? "");
}

/** A sample's value: `name{labels} value`, labels given in the order prom-client writes them. */
function sample(scrape: string, series: string): number | undefined {
  const line = scrape.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("every catalogued metric is exposed, promtool accepts the exposition and the doc's alert rules, and the metrics move with proxies and credentials", async (t) => {
  const promtool = needPeer(t, "promtool");
  if (promtool === undefined) return;
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": SERVICE });
  await commitAll(repo, "a");
  const stateDir = await tempDir("gitmesh-metrics-");
  const running = await serve({
    xdsAddress: "127.0.0.1:0",
    xdsTlsAddress: "127.0.0.1:0",
    adminAddress: "127.0.0.1:0",
    configDir: repo,
    stateDir,
    logger: createLogger({ level: "error", write: () => {} }),
  });
  t.after(() => running.stop());
  const scrape = async () => (await fetch(`http://127.0.0.1:${running.adminPort}/metrics`)).text();

  // A proxy that ACKs its clusters.
  const plain = new ScriptedClient(`127.0.0.1:${running.xdsPort}`);
  t.after(() => plain.close());
  const stream = plain.sotw();
  stream.send({ node: grpcNode("app-1"), type_url: CDS.typeUrl, resource_names: [] });
  const res = await stream.next();
  stream.send({ type_url: CDS.typeUrl, version_info: res.version_info, response_nonce: res.nonce, resource_names: [] });
  // A stream on the TLS port without a token: refused.
  const tls = new ScriptedClient(`localhost:${running.xdsTlsPort}`, {}, credentials.createSsl(readFileSync(trustBundleFile(stateDir))));
  t.after(() => tls.close());
  const refused = tls.sotw();
  refused.send({ node: grpcNode("intruder"), type_url: CDS.typeUrl, resource_names: [] });
  assert.equal((await refused.ended()).code, 16, "UNAUTHENTICATED");

  let text = await scrape();
  for (let i = 0; sample(text, 'gitmesh_proxies{state="SYNCED"}') !== 1 && i < 200; i++) text = await scrape();
  assert.equal(sample(text, 'gitmesh_proxies{state="SYNCED"}'), 1, "the proxy counts as SYNCED once its ACK is in");
  assert.equal(sample(text, 'gitmesh_proxies{state="NACKED"}'), 0);
  assert.equal(sample(text, 'gitmesh_xds_push_ack_seconds_count{type="CDS"}'), 1, "one push-to-ACK latency observed");
  assert.equal(sample(text, 'gitmesh_credentials_refused_total{reason="missing"}'), 1);
  assert.equal(sample(text, 'gitmesh_translation_duration_seconds_count{outcome="ok"}'), 1);
  assert.ok((sample(text, 'gitmesh_certificate_expiry_seconds{kind="tls_port"}') ?? 0) > 3600, "the TLS port's certificate is valid for a while");
  assert.ok((sample(text, 'gitmesh_certificate_expiry_seconds{kind="root"}') ?? 0) > 365 * 86400, "a mesh-made root lives ten years");
  assert.match(text, /^gitmesh_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);

  const documented = catalogue(readFileSync(join(REPO_ROOT, "docs/metrics.md"), "utf8"));
  assert.ok(documented.length >= 20, `the catalogue lists the metrics (${documented.length})`);
  const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  assert.deepEqual(documented.filter((m) => !exposed.has(m)), [], "every catalogued metric is exposed");
  const ours = [...exposed].filter((m) => m?.startsWith("gitmesh_"));
  assert.deepEqual(ours.filter((m) => !documented.includes(m ?? "")), [], "every gitmesh metric is catalogued");

  const checked = await run(promtool, ["check", "metrics"], text);
  assert.equal(checked.code, 0, `promtool check metrics:\n${checked.out}`);
  // The alert rules docs/metrics.md suggests are valid rules.
  const rules = /```yaml\n(groups:[\s\S]*?)```/.exec(readFileSync(join(REPO_ROOT, "docs/metrics.md"), "utf8"))?.[1];
  assert.ok(rules !== undefined, "docs/metrics.md shows alert rules");
  const rulesFile = join(stateDir, "alerts.yaml");
  writeFileSync(rulesFile, rules);
  const rulesChecked = await run(promtool, ["check", "rules", rulesFile], "");
  assert.equal(rulesChecked.code, 0, `promtool check rules:\n${rulesChecked.out}`);
  stream.cancel();
});

test("git polling moves its metrics: the last successful fetch, then failures once the remote is gone", async (t) => {
  const remote = await initBare();
  const author = await cloneRepo(remote);
  await writeFiles(author, { "a.yaml": SERVICE });
  await commitAll(author, "a");
  await git(author, "push", "--quiet", "origin", "main");
  const checkout = await cloneRepo(remote);
  const running = await serve({
    xdsAddress: "127.0.0.1:0",
    adminAddress: "127.0.0.1:0",
    configDir: checkout,
    stateDir: await tempDir("gitmesh-poll-"),
    gitPollSeconds: 0.1,
    logger: createLogger({ level: "error", write: () => {} }),
  });
  t.after(() => running.stop());
  const scrape = async () => (await fetch(`http://127.0.0.1:${running.adminPort}/metrics`)).text();
  const until = async (what: string, ok: (text: string) => boolean) => {
    for (let deadline = Date.now() + 20_000; ; ) {
      const text = await scrape();
      if (ok(text)) return text;
      if (Date.now() > deadline) throw new Error(`metrics never showed ${what}:\n${text.split("\n").filter((l) => l.startsWith("gitmesh_git")).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const fetched = await until("a successful fetch", (text) => (sample(text, "gitmesh_git_last_fetch_success_timestamp_seconds") ?? 0) > 0);
  assert.equal(sample(fetched, "gitmesh_git_poll_failures_total"), 0);
  await rm(remote, { recursive: true, force: true });
  await until("a failed poll", (text) => (sample(text, "gitmesh_git_poll_failures_total") ?? 0) > 0);
});
