// gitmesh installed like a tool, from the tarball `npm pack` makes: `npm install -g` puts it on
// PATH, and a config repository can have it as a devDependency and run `npx gitmesh`. Both work
// from any directory, with no registry (its dependencies travel inside the tarball: an air-gapped
// VM can install it) and find their schemas and protos in the package, not the working directory.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, test } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../support/git-repo.js";
import { REPO_ROOT } from "../support/peers.js";

const exec = promisify(execFile);
const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
/** npm without the network: whatever it needs must be in the tarball. */
const OFFLINE = { ...process.env, npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };

let tarball = "";
before(async () => {
  const dir = await tempDir("gmq-pack-");
  // The build is already there (npm test builds first): pack it as it is.
  await exec("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: REPO_ROOT, env: OFFLINE });
  tarball = join(dir, `gitmesh-${version}.tgz`);
});

/** A config repository's checkout: the bookinfo example, and a broken copy of it. */
async function configRepo(): Promise<string> {
  const repo = await tempDir("gmq-repo-");
  cpSync(join(REPO_ROOT, "config-examples/bookinfo"), join(repo, "mesh"), { recursive: true });
  cpSync(join(REPO_ROOT, "test/fixtures/broken"), join(repo, "broken"), { recursive: true });
  return repo;
}

/** Runs a command to its end: exit code and output, whatever the code. */
async function sh(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(command, [...args], options).then(
    (r) => ({ code: 0, ...r }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
}

test("npm install -g of the packed tarball gives gitmesh on PATH, with only what it needs in the package", async () => {
  const prefix = await tempDir("gmq-prefix-");
  const install = await sh("npm", ["install", "-g", tarball], { cwd: prefix, env: { ...OFFLINE, npm_config_prefix: prefix } });
  assert.equal(install.code, 0, install.stderr);
  assert.doesNotMatch(install.stderr, /install-scripts/, "no install script to approve");
  const installed = join(prefix, "lib/node_modules/gitmesh");
  assert.deepEqual(readdirSync(installed).sort(), ["README.md", "contrib", "dist", "node_modules", "package.json", "protos", "schemas"]);
  assert.deepEqual(readdirSync(join(installed, "dist")), ["src"], "no tests, no benchmarks");
  assert.ok(existsSync(join(installed, "contrib/systemd/gitmesh.service")));
  // PATH holds the install and node only; the working directory is the config repository.
  const repo = await configRepo();
  const env = { PATH: `${join(prefix, "bin")}:${dirname(process.execPath)}:/usr/bin:/bin` };
  const v = await sh("gitmesh", ["--version"], { cwd: repo, env });
  assert.equal(v.stdout, `gitmesh ${version}\n`, v.stderr);
  const ok = await sh("gitmesh", ["validate", "mesh"], { cwd: repo, env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^checked 5 files, \d+ resources: 0 errors, 0 warnings$/m);
  // Errors found through the package's schemas, with the file and line.
  const broken = await sh("gitmesh", ["validate", "broken"], { cwd: repo, env });
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /^broken\/bad-duration\.yaml:9:16: error GM0205 /m);
  // The Envoy protos, through the bundled @grpc/grpc-js-xds.
  const render = await sh("gitmesh", ["render", "mesh", "--namespace", "bookinfo", "--service-account", "productpage", "--format", "json"], { cwd: repo, env });
  assert.equal(render.code, 0, render.stderr);
  assert.ok((JSON.parse(render.stdout) as { clusters: unknown[] }).clusters.length > 0);
});

test("npx gitmesh in a config repository that has gitmesh as a devDependency", async () => {
  const repo = await configRepo();
  writeFileSync(join(repo, "package.json"), JSON.stringify({ name: "mesh-config", private: true, devDependencies: { gitmesh: `file:${tarball}` } }, null, 2));
  const env = { ...OFFLINE, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
  const install = await sh("npm", ["install"], { cwd: repo, env });
  assert.equal(install.code, 0, install.stderr);
  const v = await sh("npx", ["gitmesh", "--version"], { cwd: repo, env });
  assert.equal(v.stdout, `gitmesh ${version}\n`, v.stderr);
  const ok = await sh("npx", ["gitmesh", "validate", "mesh", "--format", "github"], { cwd: repo, env });
  assert.equal(ok.code, 0, ok.stderr);
  const broken = await sh("npx", ["gitmesh", "validate", "broken", "--format", "github"], { cwd: repo, env });
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /^::error file=broken\/bad-duration\.yaml,line=9,col=16,title=GM0205::/m);
});
