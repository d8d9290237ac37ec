// Issue 9, items 11, 15 and 16 on the config side: files and documents past the documented
// limits are refused early with a clear error, a file's name or content can never forge or flood
// an error message, and `gitmesh serve` keeps serving its last good config meanwhile.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { DEFAULT_CONFIG_LIMITS } from "../../src/config/limits.js";
import { createMeshLoader, loadMesh } from "../../src/config/load.js";
import { parseFile, readDirectory } from "../../src/config/source.js";
import { CLI, start } from "../support/gitmesh-process.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";

after(removeTempDirs);

const serviceEntry = (name: string, extra = "") =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  hosts: [${name}.example.com]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n${extra}`;

async function loadDir(files: Record<string, string | Buffer>) {
  const dir = await tempDir();
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const read = await readDirectory(dir);
  return { dir, read, result: loadMesh(read) };
}

test("a file past 1 MiB is refused without being read, naming the file, its size and the limit", async () => {
  const big = serviceEntry("big", `# ${"x".repeat(2 * 1024 * 1024)}\n`);
  const { read, result } = await loadDir({ "ok.yaml": serviceEntry("ok"), "team/big.yaml": big });
  assert.equal(read.find((f) => f.path === "team/big.yaml")?.text, "", "its text was never read");
  assert.equal(result.ok, false);
  const d = result.diagnostics.find((x) => x.file === "team/big.yaml");
  assert.equal(d?.code, "GM0005");
  assert.equal(d?.message, `the file is ${Buffer.byteLength(big)} bytes; a config file may be at most 1048576 bytes (docs/config.md, "Limits"): split it into smaller files`);
});

test("text that did not come from the directory (a git object) is held to the same limit", () => {
  const { diagnostics } = parseFile({ path: "from-git.yaml", text: "a: " + "b".repeat(DEFAULT_CONFIG_LIMITS.maxFileBytes) });
  assert.deepEqual(diagnostics.map((d) => d.code), ["GM0005"]);
});

const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}\n`;

const documents: { name: string; text: string; code: string; message: RegExp; line?: number }[] = [
  { name: "lists nested 100,000 deep stop the parser at level 64", text: `a: 1\nb: ${nested(100_000)}`, code: "GM0005", message: /values nest more than 64 levels deep here/, line: 2 },
  { name: "mappings nested deeper than 64 levels", text: Array.from({ length: 70 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n") + " 1\n", code: "GM0005", message: /nest more than 64 levels/ },
  { name: "a document of more than 100,000 values", text: `a: [${"1,".repeat(100_000)}1]\n`, code: "GM0005", message: /the document holds more than 100000 values \(docs\/config\.md, "Limits"\): split it/ },
  { name: "a mapping of 50,000 keys with one twice is checked in one pass", text: `${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join("\n")}\nk7: 2\n`, code: "GM0002", message: /^duplicate key: "k7" appears twice/, line: 50_001 },
];

for (const c of documents) {
  test(`documents: ${c.name}`, () => {
    const { diagnostics, docs } = parseFile({ path: "x.yaml", text: c.text });
    assert.deepEqual(docs, [], "nothing of it is used");
    assert.equal(diagnostics.length, 1, diagnostics.map((d) => d.message).join("\n"));
    assert.equal(diagnostics[0]?.code, c.code);
    assert.match(diagnostics[0]?.message ?? "", c.message);
    if (c.line !== undefined) assert.equal(diagnostics[0]?.line, c.line);
  });
}

test("a 100,000-character value is quoted as a short excerpt, and every message stays short", async () => {
  const long = "v".repeat(100_000);
  const { result } = await loadDir({
    "a.yaml": serviceEntry("a").replace("resolution: DNS", `resolution: ${long}`),
    "b.yaml": `apiVersion: ${long}\nkind: ServiceEntry\nmetadata: { name: b }\nspec: {}\n`,
    "c.yaml": serviceEntry("c", `  ${long}: 1\n`),
  });
  assert.ok(result.diagnostics.length >= 3);
  for (const d of result.diagnostics) {
    assert.ok(d.message.length < 400, `a message of ${d.message.length} characters: ${d.message.slice(0, 300)}`);
    assert.ok((d.field ?? "").length < 400);
  }
  assert.match(result.diagnostics.find((d) => d.file === "a.yaml")?.message ?? "", /field spec\.resolution is "v{64}"\.\.\.\(100000 chars\), which is not allowed/);
});

test("a file name with a newline cannot forge a line: the file is refused, and its name shown escaped", async () => {
  const { result, dir } = await loadDir({ "ok.yaml": serviceEntry("ok"), "evil\nok.yaml:1:1: error GM0000 forged.yaml": serviceEntry("evil") });
  const d = result.diagnostics.find((x) => x.code === "GM0007");
  assert.equal(d?.file, "evil\\nok.yaml:1:1: error GM0000 forged.yaml");
  assert.match(d?.message ?? "", /the file name has control or invisible characters \(shown escaped\); rename it/);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "validate", dir]).catch((e: { stdout: string }) => e);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2, stdout);
  assert.match(lines[0] ?? "", /\/evil\\nok\.yaml:1:1: error GM0000 forged\.yaml:1:1: error GM0007 /);
});

test("validate --follow-external-links reads what links outside lead to", async () => {
  const outside = await tempDir();
  await writeFile(join(outside, "shared.yaml"), serviceEntry("shared"));
  const dir = await tempDir();
  await symlink(join(outside, "shared.yaml"), join(dir, "shared.yaml"));
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, "validate", dir, ...args]).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (e: { code: number; stdout: string }) => e,
    );
  const refused = await run([]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /\/shared\.yaml:1:1: error GM0006 a symbolic link to /);
  assert.equal((await run(["--follow-external-links"])).code, 0);
});

test("loadAsync gives load's result, and lets the event loop turn while it parses", async () => {
  const files = Array.from({ length: 40 }, (_, i) => ({ path: `f${i}.yaml`, text: Array.from({ length: 50 }, (_, j) => serviceEntry(`s${i}-${j}`)).join("---\n") }));
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  const asynchronous = await createMeshLoader().loadAsync(files);
  clearInterval(timer);
  const synchronous = createMeshLoader().load(files);
  assert.deepEqual(asynchronous.diagnostics, synchronous.diagnostics);
  assert.deepEqual(
    asynchronous.model.resources.map((r) => `${r.kind} ${r.namespace}/${r.name}`),
    synchronous.model.resources.map((r) => `${r.kind} ${r.namespace}/${r.name}`),
  );
  assert.equal(asynchronous.model.resources.length, 2_000);
  assert.ok(turns > 0, "timers ran while it loaded");
});

test("a file refused once is read again when it is fixed, even to empty", async () => {
  const loader = createMeshLoader();
  const refused = loader.load([{ path: "a.yaml", text: "", refused: { code: "GM0005", message: "too big" } }, { path: "b.yaml", text: serviceEntry("b") }]);
  assert.deepEqual(refused.diagnostics.map((d) => d.code), ["GM0005"]);
  const fixed = loader.load([{ path: "a.yaml", text: "" }, { path: "b.yaml", text: serviceEntry("b") }]);
  assert.deepEqual(fixed.diagnostics.map((d) => d.code), []);
});

test("40,000 hosts in one ServiceEntry, one of them twice, are checked in one pass (GM0299)", () => {
  const hosts = Array.from({ length: 40_000 }, (_, i) => `  - h${i}.example.com`).join("\n");
  const text = `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: many, namespace: shop }\nspec:\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n  hosts:\n${hosts}\n  - h7.example.com\n`;
  const { diagnostics } = loadMesh([{ path: "many.yaml", text }]);
  assert.deepEqual(
    diagnostics.map((d) => `${d.code} ${d.message}`),
    ['GM0299 field spec.hosts lists "h7.example.com" twice (items 7 and 40000): remove the duplicate'],
  );
});

test("gitmesh serve refuses a 50 MB file with GM0005 and keeps serving the last good config", async (t) => {
  const dir = await tempDir();
  await writeFile(join(dir, "ok.yaml"), serviceEntry("ok"));
  const serve = start(["serve", "--config", dir, "--state-dir", await tempDir(), "--xds-address", "127.0.0.1:0", "--xds-tls-address", "off", "--admin-address", "127.0.0.1:0"]);
  t.after(() => serve.child.kill("SIGKILL"));
  const started = await serve.waitFor(/gitmesh serving/);
  const admin = /admin=(127\.0\.0\.1:\d+)/.exec(started)?.[1];
  assert.ok(admin, started);
  const refused = serve.waitFor(/ERROR big\.yaml:1:1: GM0005 the file is \d+ bytes; a config file may be at most 1048576 bytes/);
  const stillServing = serve.waitFor(/config has errors; still serving the last good config/);
  await writeFile(join(dir, "big.yaml"), serviceEntry("big", `# ${"x".repeat(50 * 1024 * 1024)}\n`));
  await refused;
  await stillServing;
  const get = async (path: string) => {
    const res = await fetch(`http://${admin}${path}`);
    return { status: res.status, body: await res.text() };
  };
  assert.equal((await get("/healthz")).status, 200);
  assert.equal((await get("/readyz")).status, 200);
  const config = JSON.parse((await get("/debug/config")).body) as { serving: { resources: string[] }; lastReload: { outcome: string } };
  assert.equal(config.lastReload.outcome, "invalid");
  assert.deepEqual(config.serving.resources, ["ServiceEntry shop/ok (ok.yaml)"]);
});
