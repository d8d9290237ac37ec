// The compose images, tested without a Docker engine: the gitmesh image's file set, built the way
// its Dockerfile builds it, serves compose's mesh and passes compose's own healthcheck; the demo
// image's Node runs demo/app.mjs; and the Envoy version is one pin everywhere.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { needFleet } from "./support/fleet.js";
import { createNetwork, type Network } from "./support/net.js";
import { Proc } from "./support/proc.js";
import { waitFor } from "./support/wait.js";

const run = promisify(execFile);
const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

interface Compose {
  readonly services: Record<string, { image?: string; command?: string[]; ports?: string[]; volumes?: string[]; healthcheck?: { test: string[]; interval?: string; retries?: number } }>;
}
const compose = parse(read("compose.yaml"), { merge: true }) as Compose;

interface Dockerfile {
  readonly from: readonly string[];
  readonly workdir: string;
  /** COPY instructions from the build context (not --from another image). */
  readonly copies: readonly { readonly sources: readonly string[]; readonly dest: string }[];
  readonly copiesFrom: readonly string[];
  readonly runs: readonly string[];
  readonly expose: readonly number[];
  readonly entrypoint: readonly string[];
}

/** The instructions of a Dockerfile this project writes (one instruction per line, no continuations). */
function dockerfile(path: string): Dockerfile {
  const out = { from: [] as string[], workdir: "/", copies: [] as { sources: string[]; dest: string }[], copiesFrom: [] as string[], runs: [] as string[], expose: [] as number[], entrypoint: [] as string[] };
  for (const line of read(path).split("\n")) {
    const [instruction = "", ...rest] = line.trim().split(/\s+/);
    const args = rest.join(" ");
    switch (instruction) {
      case "FROM":
        out.from.push(args);
        break;
      case "WORKDIR":
        out.workdir = args;
        break;
      case "COPY":
        if (rest[0]?.startsWith("--from=") === true) out.copiesFrom.push(rest[0].slice("--from=".length));
        else out.copies.push({ sources: rest.slice(0, -1), dest: rest.at(-1) ?? "" });
        break;
      case "RUN":
        out.runs.push(args);
        break;
      case "EXPOSE":
        out.expose.push(...rest.map(Number));
        break;
      case "ENTRYPOINT":
        out.entrypoint = JSON.parse(args) as string[];
        break;
    }
  }
  return out;
}

const ENVOY_IMAGE = /^envoyproxy\/envoy:v(\d+\.\d+\.\d+)$/;

test("compose.yaml and the demo image name the Envoy version pinned in scripts/peers/pins.json", () => {
  const pinned = (JSON.parse(read("scripts/peers/pins.json")) as { envoy: string }).envoy;
  const images = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith("envoyproxy/") === true);
  assert.ok(images.length > 0, "compose runs an Envoy image");
  for (const [name, s] of images) assert.equal(ENVOY_IMAGE.exec(s.image ?? "")?.[1], pinned, `compose service ${name}: ${s.image}`);
  const demo = dockerfile("demo/Dockerfile");
  const envoys = demo.copiesFrom.filter((i) => i.startsWith("envoyproxy/"));
  assert.equal(envoys.length, 1, "the demo image copies Envoy from the official image");
  assert.equal(ENVOY_IMAGE.exec(envoys[0] ?? "")?.[1], pinned);
});

test("the demo image's Node runs demo/app.mjs: a service answers, and one that calls another shows its answer", async (t) => {
  const major = /^node:(\d+)/.exec(dockerfile("demo/Dockerfile").from[0] ?? "")?.[1];
  assert.equal(major, process.versions.node.split(".")[0], "the demo image's Node is the one the project runs (package.json engines), which these tests run under");
  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    const proc = spawn(process.execPath, [join(REPO_ROOT, "demo/app.mjs")], { env: { PATH: process.env["PATH"] ?? "", PORT: String(port), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => proc.kill());
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on("data", (d: Buffer) => (d.toString().includes(`on 127.0.0.1:${port}`) ? resolve() : undefined));
      proc.once("exit", (code) => reject(new Error(`demo/app.mjs exited ${code}`)));
    });
    return `http://127.0.0.1:${port}`;
  };
  const api = await start({ SERVICE: "api", VERSION: "v2" });
  const frontend = await start({ SERVICE: "frontend", VERSION: "v1", UPSTREAM: api });
  const answer = (await (await fetch(`${frontend}/`, { headers: { "x-canary": "yes" } })).json()) as { service: string; version: string; upstream: { status: number; body: { service: string; version: string; path: string } } };
  assert.deepEqual([answer.service, answer.version], ["frontend", "v1"]);
  assert.deepEqual([answer.upstream.status, answer.upstream.body.service, answer.upstream.body.version, answer.upstream.body.path], [200, "api", "v2", "/api/"]);
});

test("the GitHub workflow runs .ci/run and the compose fleet, with requests to the ports compose publishes", () => {
  const workflow = parse(read(".github/workflows/ci.yml")) as { jobs: Record<string, { steps: { run?: string }[] }> };
  const runs = Object.values(workflow.jobs).map((j) => j.steps.map((s) => s.run ?? "").join("\n"));
  assert.ok(runs.some((r) => /\.ci\/run\b/.test(r)), "a job runs .ci/run");
  const composeJob = runs.find((r) => /docker compose up .*--build/.test(r));
  assert.ok(composeJob !== undefined, "a job builds and starts compose.yaml's fleet");
  const published = Object.values(compose.services).flatMap((s) => s.ports ?? []).map((p) => p.split(":")[0]);
  for (const port of composeJob.match(/localhost:(\d+)/g) ?? []) assert.ok(published.includes(port.split(":")[1] ?? ""), `${port} is a port compose publishes`);
  assert.match(composeJob, /docker compose down/);
});

let network: Network | undefined;
after(() => network?.close());

test("the gitmesh image's files, built as its Dockerfile builds them, serve compose's mesh and pass compose's healthcheck", async (t) => {
  if (needFleet(t) === undefined) return;
  const file = dockerfile("Dockerfile");
  const gitmesh = compose.services["gitmesh"];
  assert.ok(gitmesh?.command !== undefined && gitmesh.healthcheck !== undefined && gitmesh.ports !== undefined);
  for (const published of gitmesh.ports) assert.ok(file.expose.includes(Number(published.split(":").at(-1))), `EXPOSE has compose's port ${published}`);
  assert.ok(file.expose.includes(15012), "the TLS xDS port is exposed");

  // The build context, as docker sees it: the repository without what .dockerignore leaves out.
  const ignored = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const dir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-image-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, file.workdir);
  for (const { sources, dest } of file.copies) {
    for (const source of sources) {
      const to = dest.endsWith("/") ? join(root, dest, source) : join(root, dest);
      mkdirSync(dirname(to), { recursive: true });
      cpSync(join(REPO_ROOT, source), to, { recursive: true, filter: (from) => !ignored.some((i) => relative(REPO_ROOT, from).split("/").includes(i)) && !relative(REPO_ROOT, from).startsWith("src/envoy/generated") });
    }
  }
  // RUN as docker would, with npm answering from its cache (the machine has no registry to spare).
  for (const command of file.runs) {
    await run("sh", ["-c", command], { cwd: root, env: { ...process.env, npm_config_offline: "true" }, maxBuffer: 16 * 1024 * 1024 }).catch((e: { stderr?: string }) =>
      assert.fail(`RUN ${command} failed: ${e.stderr ?? String(e)}`),
    );
  }
  assert.ok(!existsSync(join(root, "node_modules/typescript")), "the runtime image has no dev dependencies");

  // Compose's volumes: the example mesh as a plain directory (no git in the image), a new state.
  const volumes: Record<string, string> = { "/config": join(dir, "config"), "/state": join(dir, "state") };
  cpSync(join(REPO_ROOT, "config-examples/compose"), volumes["/config"] ?? "", { recursive: true });
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node")); // the image's PATH: node, and no git
  network = await createNetwork();
  const host = await network.host("image");
  const argv = [...file.entrypoint, ...gitmesh.command].map((a) => volumes[a] ?? a);
  // Run from the WORKDIR, as the container does: the entrypoint's relative path is the image's own build.
  const serve = new Proc("gitmesh image", host.exec(["env", `PATH=${bin}`, ...argv]), join(dir, "serve.log"), process.env, root);
  t.after(() => serve.stop());
  await serve.waitForLine(/gitmesh serving/, 60_000).catch((e: Error) => assert.fail(`${e.message}\n(run from ${root})`));
  // Compose's healthcheck, run where compose runs it: inside the container (the image's host).
  const [kind, ...check] = gitmesh.healthcheck.test;
  assert.equal(kind, "CMD");
  const [command = "", ...args] = host.exec(["env", `PATH=${bin}`, ...check]);
  await waitFor(
    "compose's healthcheck to pass",
    async () => {
      const code = await run(command, args).then(
        () => 0,
        (e: { code?: number }) => e.code ?? 1,
      );
      return code === 0 ? { ok: true, value: undefined } : { ok: false, why: `exit ${code}; server log:\n${serve.tail(10).join("\n")}` };
    },
    (gitmesh.healthcheck.retries ?? 15) * 2_000,
    500,
  );
  const errors = serve.tail(100).filter((l) => / (ERROR|WARN) /.test(l) && !/cannot read the git state of the config/.test(l));
  assert.deepEqual(errors, [], "the server starts without errors (the image has no git: its one warning about that is expected)");
});
