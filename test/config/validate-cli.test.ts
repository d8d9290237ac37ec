// `gitmesh validate` as CI runs it: the bundled examples pass, and every broken fixture is
// rejected with the code, line and column its header comment names ("# expect: CODE LINE:COL").
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cli = `${root}dist/src/cli/main.js`;
const fixtures = `${root}test/fixtures/broken`;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runIn(root, ...args);
}

function runIn(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

test("the bundled examples pass", async () => {
  const r = await run("validate", "config-examples");
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /^checked \d+ files, \d+ resources: 0 errors, 0 warnings$/m);
});

const broken = readdirSync(fixtures).filter((f) => f.endsWith(".yaml")).sort();

test("every broken fixture is rejected with the right code at the right line", async () => {
  // Each fixture alone: its findings must be exactly those its header names.
  for (const file of broken) {
    const expected = [...readFileSync(`${fixtures}/${file}`, "utf8").matchAll(/^# expect: (\S+) (\d+:\d+)(?: (warning))?$/gm)].map(
      (m) => `${m[1]} ${file}:${m[2]} ${m[3] ?? "error"}`,
    );
    assert.ok(expected.length > 0, `${file} names what it expects`);
    const dir = mkdtempSync(join(tmpdir(), "gitmesh-fixture-"));
    copyFileSync(`${fixtures}/${file}`, `${dir}/${file}`);
    const r = await run("validate", dir, "--format", "json");
    rmSync(dir, { recursive: true, force: true });
    const found = r.stdout
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { code: string; file: string; line: number; col: number; severity: string })
      .map((d) => `${d.code} ${d.file.slice(dir.length + 1)}:${d.line}:${d.col} ${d.severity}`);
    assert.deepEqual(found.sort(), expected.sort(), file);
    assert.equal(r.code, expected.some((e) => e.endsWith("error")) ? 1 : 0, `${file}: exit code`);
  }
});

test("output formats: text lines with a summary, JSON objects, GitHub annotations", async () => {
  const text = await run("validate", "test/fixtures/broken");
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^test\/fixtures\/broken\/bad-duration\.yaml:9:16: error GM0205 .+ \(VirtualService shop\/ratings\)$/m);
  assert.match(text.stdout, /^checked 7 files, \d+ resources: \d+ errors, 2 warnings$/m);
  const github = await run("validate", "test/fixtures/broken", "--format", "github");
  assert.match(github.stdout, /^::error file=test\/fixtures\/broken\/bad-duration\.yaml,line=9,col=16,title=GM0205::/m);
  assert.match(github.stdout, /^::warning file=test\/fixtures\/broken\/sidecar-selects-nothing\.yaml,line=6,col=3,title=GM0309::/m);
  const json = await run("validate", "test/fixtures/broken", "--format", "json");
  for (const line of json.stdout.trim().split("\n")) {
    const d = JSON.parse(line) as Record<string, unknown>;
    for (const key of ["code", "severity", "message", "file", "line", "col"]) assert.ok(key in d, `${key} in ${line}`);
  }
});

test("files: alone they are the whole config; with --config DIR they are checked within it and only their findings shown", async () => {
  const alone = await run("validate", "test/fixtures/broken/bad-duration.yaml", "test/fixtures/broken/sidecar-selects-nothing.yaml", "--format", "json");
  assert.equal(alone.code, 1);
  const files = alone.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { file: string }).file);
  assert.deepEqual([...new Set(files)].sort(), ["test/fixtures/broken/bad-duration.yaml", "test/fixtures/broken/sidecar-selects-nothing.yaml"]);
  // A file named twice, or inside a directory also named, is read once.
  const once = await run("validate", "test/fixtures/broken/", "./test/fixtures/broken/sidecar-selects-nothing.yaml", "--format", "json");
  assert.ok(!once.stdout.includes("GM0301"), once.stdout);
  const dir = mkdtempSync(join(tmpdir(), "gitmesh-files-"));
  try {
    // The VirtualService alone names a host nothing declares; within its directory it does not.
    writeFileSync(`${dir}/se.yaml`, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: r, namespace: shop }\nspec:\n  hosts: [r.shop.svc.cluster.local]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: STATIC\n  endpoints: [{ address: 10.0.0.1 }]\n");
    writeFileSync(`${dir}/vs.yaml`, "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: r, namespace: shop }\nspec:\n  hosts: [r]\n  http: [{ route: [{ destination: { host: r } }] }]\n");
    writeFileSync(`${dir}/other.yaml`, "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: s, namespace: shop }\nspec: { workloadSelector: { labels: { app: none } }, egress: [{ hosts: [\"./*\"] }] }\n");
    const lone = await run("validate", `${dir}/vs.yaml`);
    assert.equal(lone.code, 1, lone.stdout);
    assert.match(lone.stdout, /vs\.yaml:6:43: error GM0302 /);
    const within = await run("validate", "--config", dir, `${dir}/vs.yaml`);
    assert.equal(within.code, 0, within.stdout);
    assert.match(within.stdout, /^checked 3 files, 3 resources: 0 errors, 0 warnings$/m);
    const whole = await run("validate", "--config", dir);
    assert.equal(whole.code, 0, whole.stdout);
    assert.match(whole.stdout, /other\.yaml:4:9: warning GM0309 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--strict: warnings fail the check", async () => {
  const lenient = await run("validate", "test/fixtures/broken/sidecar-selects-nothing.yaml");
  assert.equal(lenient.code, 0, lenient.stdout);
  const strict = await run("validate", "--strict", "test/fixtures/broken/sidecar-selects-nothing.yaml");
  assert.equal(strict.code, 1, strict.stdout);
  assert.match(strict.stdout, /sidecar-selects-nothing\.yaml:6:3: error GM0309 /);
  assert.match(strict.stdout, /: 1 error, 0 warnings$/m);
});

test("--format github: paths relative to the repository root, wherever validate runs", async () => {
  const repo = mkdtempSync(join(tmpdir(), "gitmesh-gh-"));
  try {
    mkdirSync(`${repo}/.git`);
    mkdirSync(`${repo}/deploy/mesh`, { recursive: true });
    copyFileSync(`${fixtures}/bad-duration.yaml`, `${repo}/deploy/mesh/bad-duration.yaml`);
    for (const [cwd, path] of [[`${repo}/deploy/mesh`, "."], [`${repo}/deploy`, "mesh"], [repo, "deploy/mesh/bad-duration.yaml"], [tmpdir(), `${repo}/deploy/mesh`]] as const) {
      const r = await runIn(cwd, "validate", path, "--format", "github");
      assert.match(r.stdout, /^::error file=deploy\/mesh\/bad-duration\.yaml,line=9,col=16,title=GM0205::/m, `${cwd} ${path}: ${r.stdout}`);
    }
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});

test("usage errors exit 2", async () => {
  for (const args of [["validate"], ["validate", "a", "b"], ["validate", "config-examples", "--format", "xml"], ["validate", "/no/such/dir"], ["frobnicate"]]) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /usage: gitmesh/);
  }
});

test("render shows what a proxyless client would receive, and refuses a config with errors", async () => {
  const ok = await run("render", "config-examples", "--proxy", "grpc", "--namespace", "bookinfo", "--service-account", "productpage", "--format", "json");
  assert.equal(ok.code, 0, ok.stderr);
  const out = JSON.parse(ok.stdout) as Record<string, { name?: string; cluster_name?: string }[]> & { notes?: string[] };
  assert.deepEqual(Object.keys(out), ["listeners", "routes", "clusters", "endpoints", "notes"]);
  assert.ok(
    out.notes?.some((n) => /^reviews\.bookinfo\.svc\.cluster\.local:9080 route canary: retries\.perTryTimeout is ignored by gRPC clients$/.test(n)),
    `notes say what a gRPC client ignores: ${JSON.stringify(out.notes)}`,
  );
  assert.ok(out["listeners"]?.some((l) => l.name === "reviews.bookinfo.svc.cluster.local:9080"));
  assert.ok(out["clusters"]?.some((c) => c.name === "outbound|9080|v2|reviews.bookinfo.svc.cluster.local"));
  const yaml = await run("render", "config-examples", "--proxy", "grpc", "--namespace", "bookinfo", "--service-account", "productpage");
  assert.match(yaml.stdout, /^listeners:\n/);
  const broken = await run("render", "test/fixtures/broken", "--namespace", "shop", "--service-account", "x");
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /the config has errors/);
  const usage = await run("render", "config-examples", "--namespace", "bookinfo");
  assert.equal(usage.code, 2);
});
