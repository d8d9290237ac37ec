// `gitmesh serve --config` as a user runs it: a real process, a real git repository, the admin
// endpoints. It follows commits and never drops its last good config on a bad one.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cloneRepo, commitAll, git, initBare, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";

after(removeTempDirs);

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const service = (name: string, resolution = "STATIC") => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${name}.shop.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: ${resolution}
`;

/**
 * The serve process, with a way to wait for a log line matching a pattern: one logged from line
 * `since` on (default: from now), so a line that came before the wait began is not missed.
 */
function start(args: readonly string[]): { child: ChildProcessWithoutNullStreams; lines(): number; waitFor(p: RegExp, since?: number): Promise<string> } {
  const child = spawn(process.execPath, [cli, "serve", "--xds-address", "127.0.0.1:0", "--xds-tls-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", ...args]);
  // A test that times out may not reach its after hooks: never leave a server running.
  process.once("exit", () => child.kill("SIGKILL"));
  const seen: string[] = [];
  const waiters: { p: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    seen.push(line);
    for (const w of waiters.filter((x) => x.p.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  return {
    child,
    lines: () => seen.length,
    waitFor: (p, since = seen.length) =>
      new Promise((resolve, reject) => {
        const earlier = seen.slice(since).find((l) => p.test(l));
        if (earlier !== undefined) return resolve(earlier);
        waiters.push({ p, resolve });
        child.once("exit", () => reject(new Error(`exited before a line matching ${p}:\n${seen.join("\n")}`)));
      }),
  };
}

async function json(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

test("serve follows commits to the config repo and keeps the last good config on a bad one", async (t) => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  const first = await commitAll(repo, "a");
  const server = start(["--config", repo, "--state-dir", await tempDir("gitmesh-state-")]);
  t.after(() => server.child.kill("SIGKILL"));
  const line = await server.waitFor(/gitmesh serving/);
  const admin = `http://${/admin=(\S+)/.exec(line)?.[1] ?? ""}`;
  assert.match(line, new RegExp(`commit=${first}`));
  assert.match(line, /resources=1/);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);

  // A commit: picked up by the watcher. The files may be loaded before git has the commit (the
  // working tree, dirty); what counts is the load that names the commit.
  let mark = server.lines();
  await writeFiles(repo, { "b.yaml": service("b") });
  const second = await commitAll(repo, "b");
  assert.match(await server.waitFor(new RegExp(`config loaded .*commit=${second}`), mark), /resources=2/);

  // A bad commit: refused, with its diagnostics at /debug/config, the last good config still served.
  mark = server.lines();
  await writeFiles(repo, { "b.yaml": service("b", "SOMETIMES") });
  const bad = await commitAll(repo, "bad");
  await server.waitFor(new RegExp(`config has errors; still serving the last good config.*commit=${bad}`), mark);
  const debug = await json(`${admin}/debug/config`);
  const serving = debug["serving"] as { source: { commit: string }; resources: string[] };
  const last = debug["lastReload"] as { outcome: string; diagnostics: { code: string; file: string; line: number }[] };
  assert.equal(serving.source.commit, second);
  assert.equal(serving.resources.length, 2);
  assert.equal(last.outcome, "invalid");
  assert.deepEqual(last.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}`), ["GM0204 b.yaml:7"]);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200, "still ready: a valid config is served");
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  // The working tree may be loaded once before each commit and again after it.
  const reloads = (outcome: string) => Number(new RegExp(`gitmesh_config_reloads_total\\{outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1]);
  assert.ok(reloads("invalid") >= 1 && reloads("invalid") <= 2, metrics);
  assert.ok(reloads("ok") >= 2 && reloads("ok") <= 3, metrics);

  // The fix: served again.
  mark = server.lines();
  await writeFiles(repo, { "b.yaml": service("b2") });
  const fixed = await commitAll(repo, "fix");
  assert.match(await server.waitFor(new RegExp(`config loaded .*commit=${fixed}`), mark), /resources=2/);
  const after = (await json(`${admin}/debug/config`))["serving"] as { source: { commit: string; dirty: boolean } };
  assert.deepEqual([after.source.commit, after.source.dirty], [fixed, false]);

  const exited = once(server.child, "exit");
  server.child.kill("SIGTERM");
  assert.deepEqual((await exited)[0], 0);
});

test("serve with a config that has errors from the start, and nothing saved, is not ready and says why", async (t) => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a", "SOMETIMES") });
  await commitAll(repo);
  const server = start(["--config", repo, "--state-dir", await tempDir("gitmesh-state-")]);
  t.after(() => server.child.kill("SIGKILL"));
  const line = await server.waitFor(/gitmesh serving/);
  const admin = `http://${/admin=(\S+)/.exec(line)?.[1] ?? ""}`;
  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(await ready.text(), /no valid config/);
});

test("a restarted serve whose checkout is broken serves the last good config from its state directory", async (t) => {
  const repo = await initRepo();
  const stateDir = await tempDir("gitmesh-state-");
  await writeFiles(repo, { "a.yaml": service("a") });
  const good = await commitAll(repo, "good");
  const first = start(["--config", repo, "--state-dir", stateDir]);
  t.after(() => first.child.kill("SIGKILL"));
  await first.waitFor(/gitmesh serving/);
  const exited = once(first.child, "exit");
  first.child.kill("SIGTERM");
  await exited;

  await writeFiles(repo, { "a.yaml": service("a", "SOMETIMES") });
  await commitAll(repo, "broken while gitmesh was down");
  const second = start(["--config", repo, "--state-dir", stateDir]);
  t.after(() => second.child.kill("SIGKILL"));
  await second.waitFor(/serving the last good config saved in the state directory/);
  const line = await second.waitFor(/gitmesh serving/);
  assert.match(line, new RegExp(`commit=${good}`));
  const admin = `http://${/admin=(\S+)/.exec(line)?.[1] ?? ""}`;
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);
});

test("--git-poll serves the upstream branch and follows a pushed commit; local files are not served", async (t) => {
  const remote = await initBare();
  const author = await cloneRepo(remote);
  await writeFiles(author, { "a.yaml": service("a") });
  await commitAll(author, "a");
  await git(author, "push", "--quiet", "origin", "HEAD:main");
  const checkout = await cloneRepo(remote);
  await writeFiles(checkout, { "local-draft.yaml": service("draft", "SOMETIMES") }); // never pushed
  const server = start(["--config", checkout, "--git-poll", "1", "--state-dir", await tempDir("gitmesh-state-")]);
  t.after(() => server.child.kill("SIGKILL"));
  const line = await server.waitFor(/gitmesh serving/);
  assert.match(line, /resources=1/);

  const loaded = server.waitFor(/config loaded .*resources=2/);
  await writeFiles(author, { "b.yaml": service("b") });
  const pushed = await commitAll(author, "b");
  await git(author, "push", "--quiet", "origin", "HEAD:main");
  assert.match(await loaded, new RegExp(`commit=${pushed}`));
});

test("a commit that changes no file in the tree is named by its commit at once, not at the next resync", async (t) => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  await commitAll(repo, "a");
  // A resync an hour away: only the watch on git's HEAD can see the commit in time. The commit
  // changes no file (as committing files saved earlier does not), so the tree's watcher sees nothing.
  const server = start(["--config", repo, "--state-dir", await tempDir("gitmesh-state-"), "--resync-seconds", "3600"]);
  t.after(() => server.child.kill("SIGKILL"));
  await server.waitFor(/gitmesh serving/);
  const committed = server.waitFor(/config loaded .*dirty=false/);
  const second = await commitAll(repo, "nothing changed");
  assert.match(await committed, new RegExp(`commit=${second}`));
});
