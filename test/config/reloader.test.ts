// The reloader against real git repositories: a bad commit never replaces the last good model.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { silentLogger } from "../../src/log.js";
import { ConfigReloader, type ReloadRecord, type ServedModel } from "../../src/config/reloader.js";
import { commitAll, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";

after(removeTempDirs);

const service = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${name}.shop.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
`;
const broken = service("broken").replace("resolution: STATIC", "resolution: SOMETIMES");

function reloaderFor(dir: string, gitRef?: string) {
  const served: ServedModel[] = [];
  const records: ReloadRecord[] = [];
  const reloader = new ConfigReloader({
    dir,
    ...(gitRef === undefined ? {} : { gitRef }),
    logger: silentLogger,
    onModel: (m) => (served.push(m), { ok: true }),
    onReload: (r) => records.push(r),
  });
  return { reloader, served, records };
}

const names = (m: ServedModel | undefined) => m?.model.resources.map((r) => r.name) ?? [];

test("commit, change, bad change, fix: the model follows good config and keeps the last good one", async () => {
  const repo = await initRepo();
  await writeFiles(repo, { "mesh/a.yaml": service("a") });
  const first = await commitAll(repo, "a");
  const { reloader, served, records } = reloaderFor(`${repo}/mesh`);

  assert.equal((await reloader.reload()).outcome, "ok");
  assert.deepEqual(names(reloader.current), ["a"]);
  assert.deepEqual(reloader.current?.source, { dir: `${repo}/mesh`, commit: first, dirty: false });

  await writeFiles(repo, { "mesh/b.yaml": service("b") });
  const second = await commitAll(repo, "b");
  await reloader.reload();
  assert.deepEqual(names(reloader.current), ["a", "b"]);
  assert.equal(reloader.current?.source.commit, second);

  await writeFiles(repo, { "mesh/b.yaml": broken });
  const bad = await commitAll(repo, "a bad commit");
  const refused = await reloader.reload();
  assert.equal(refused.outcome, "invalid");
  assert.equal(refused.source.commit, bad);
  assert.deepEqual(refused.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}`), ["GM0204 b.yaml:7"]);
  assert.deepEqual(names(reloader.current), ["a", "b"], "the last good model is still served");
  assert.equal(reloader.current?.source.commit, second);
  assert.equal(reloader.last, refused);

  await writeFiles(repo, { "mesh/b.yaml": service("c") });
  await reloader.reload();
  assert.deepEqual(names(reloader.current), ["a", "c"]);
  assert.equal(reloader.current?.source.dirty, true, "an uncommitted fix is served and marked dirty");
  assert.deepEqual(served.length, 3);
  assert.deepEqual(records.map((r) => r.outcome), ["ok", "ok", "invalid", "ok"]);
});

test("--git-ref serves exactly the committed ref, whatever the working tree holds", async () => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  const committed = await commitAll(repo);
  await writeFiles(repo, { "a.yaml": broken, "b.yaml": service("b") });
  const { reloader } = reloaderFor(repo, "main");
  const r = await reloader.reload();
  assert.equal(r.outcome, "ok");
  assert.deepEqual(names(reloader.current), ["a"]);
  assert.deepEqual(reloader.current?.source, { dir: repo, ref: "main", commit: committed, dirty: false });

  const missing = reloaderFor(repo, "no-such-branch");
  const failed = await missing.reloader.reload();
  assert.equal(failed.outcome, "error");
  assert.match(failed.error ?? "", /no-such-branch/);
  assert.equal(missing.reloader.current, undefined);
});

test("a burst of reload requests runs one more reload after the running one, not one each", async () => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  await commitAll(repo);
  const { reloader, records } = reloaderFor(repo);
  const burst = await Promise.all(Array.from({ length: 10 }, () => reloader.reload()));
  assert.equal(records.length, 2, "the first request runs; the other nine share one reload after it");
  assert.equal(burst[0], records[0]);
  for (const r of burst.slice(1)) assert.equal(r, records[1]);
});

test("a directory that does not exist is an error record, not a crash", async () => {
  const { reloader } = reloaderFor("/nonexistent/gitmesh-config");
  const r = await reloader.reload();
  assert.equal(r.outcome, "error");
  assert.match(r.error ?? "", /ENOENT|no such/);
});

test("with a state directory, a restart on a broken checkout serves the last good config", async () => {
  const repo = await initRepo();
  const stateDir = await tempDir("gitmesh-state-");
  await writeFiles(repo, { "a.yaml": service("a") });
  const good = await commitAll(repo, "good");
  const before = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: () => ({ ok: true }) });
  assert.equal((await before.reload()).outcome, "ok");

  await writeFiles(repo, { "a.yaml": broken });
  await commitAll(repo, "broken");
  const served: ServedModel[] = [];
  const restarted = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: (m) => (served.push(m), { ok: true }) });
  assert.equal((await restarted.reload()).outcome, "invalid");
  const current = () => restarted.current; // read afresh: assert.equal narrows the property
  assert.equal(current(), undefined);
  assert.equal(await restarted.restoreLastGood(), true);
  assert.deepEqual(names(current()), ["a"]);
  assert.equal(current()?.source.commit, good);
  assert.equal(served.length, 1, "the restored model is handed on like any other");

  const empty = new ConfigReloader({ dir: repo, stateDir: await tempDir("gitmesh-state-"), logger: silentLogger, onModel: () => ({ ok: true }) });
  assert.equal(await empty.restoreLastGood(), false, "nothing saved: nothing restored");
});

test("resync notices what file events miss: a commit that changes no file, and nothing else", async () => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  await commitAll(repo);
  const { reloader } = reloaderFor(repo);
  await reloader.reload();
  await writeFiles(repo, { "a.yaml": service("a").replace("port", "port") + "# edited\n" });
  await reloader.reload();
  assert.equal(reloader.current?.source.dirty, true);
  const committed = await commitAll(repo, "commit the edit");
  const record = await reloader.resync();
  assert.equal(record?.outcome, "ok");
  assert.deepEqual([reloader.current?.source.commit, reloader.current?.source.dirty], [committed, false]);
  assert.equal(await reloader.resync(), undefined, "nothing changed: no reload");
});

test("a model that fails to apply is neither served nor saved as the last good one, and the next start serves the one before", async () => {
  const repo = await initRepo();
  const stateDir = await tempDir("gitmesh-state-");
  await writeFiles(repo, { "a.yaml": service("a") });
  const good = await commitAll(repo, "good");
  let fail = false;
  const reloader = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: () => (fail ? { ok: false, error: "translating the mesh failed: boom" } : { ok: true }) });
  assert.equal((await reloader.reload()).outcome, "ok");
  // A valid commit whose translation fails (a bug): no proxy got it.
  await writeFiles(repo, { "b.yaml": service("b") });
  await commitAll(repo, "valid, but cannot be applied");
  fail = true;
  const r = await reloader.reload();
  assert.equal(r.outcome, "error");
  assert.match(r.error ?? "", /boom/);
  assert.equal(reloader.current?.source.commit, good, "still serving what proxies have");
  // A restart on a checkout that cannot be read falls back to the last good one: the one served.
  const restarted = new ConfigReloader({ dir: "/nonexistent/gitmesh-config", stateDir, logger: silentLogger, onModel: () => ({ ok: true }) });
  assert.equal((await restarted.reload()).outcome, "error");
  assert.equal(await restarted.restoreLastGood(), false, "saved for another directory: not restored");
  const same = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: () => ({ ok: true }) });
  assert.equal(await same.restoreLastGood(), true);
  assert.equal(same.current?.source.commit, good, "the last good config is the one that was applied");
});

test("a restore that fails to apply is not served", async () => {
  const repo = await initRepo();
  const stateDir = await tempDir("gitmesh-state-");
  await writeFiles(repo, { "a.yaml": service("a") });
  await commitAll(repo, "good");
  const first = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: () => ({ ok: true }) });
  assert.equal((await first.reload()).outcome, "ok");
  const refusing = new ConfigReloader({ dir: repo, stateDir, logger: silentLogger, onModel: () => ({ ok: false, error: "cannot" }) });
  assert.equal(await refusing.restoreLastGood(), false);
  assert.equal(refusing.current, undefined);
});

test("after stop, a reload that was in flight applies nothing, and later ones do not run", async () => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": service("a") });
  await commitAll(repo);
  const { reloader, served } = reloaderFor(repo);
  const inFlight = reloader.reload(); // reading the tree is asynchronous: stop lands before it applies
  const stopped = reloader.stop();
  assert.equal((await inFlight).outcome, "error");
  await stopped;
  assert.equal(served.length, 0, "nothing was handed on");
  assert.equal(await reloader.resync(), undefined);
  assert.equal(reloader.current, undefined);
});
