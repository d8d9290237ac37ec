// The CA's state directory against real process faults: gitmesh killed with SIGKILL at each step
// of the CA's first creation and of a rotation, the state file deleted or corrupted, the token key
// replaced by a directory. The next start completes what was committed or says clearly what is
// wrong and how to fix it; it never makes a new root over an existing CA.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gitmesh, killAt, pauseAt, serveArgs, start, tree } from "../support/gitmesh-process.js";
import { tempFiles } from "../support/pki.js";

const init = (state: string, ...more: string[]) => ["ca", "init", "--state-dir", state, "--key-type", "ecdsa", ...more];
const authorities = (state: string) => tree(join(state, "ca", "authorities")).filter((p) => /^[0-9a-f]{16}\/$/.test(p)).map((p) => p.slice(0, 16));
const issuingId = (show: string) => /issuing CA ([0-9a-f]{16}):/.exec(show)?.[1];
/** Everything a killed writer may leave: temp files, staged directories, pending markers. */
const leftovers = (state: string) => tree(state).filter((p) => /\.tmp\/?$|(^|\/)pending$/.test(p));

/** serve on the state directory until it serves (returns its stderr) or exits (returns the code and stderr). */
async function serveOnce(state: string): Promise<{ served: boolean; code: number | null; stderr: string }> {
  const run = start(serveArgs(state));
  const served = await run.waitFor(/gitmesh serving/).then(
    () => true,
    () => false,
  );
  if (served) run.child.kill("SIGKILL");
  const code = await run.exited;
  return { served, code, stderr: run.lines.join("\n") };
}

// Steps of `ca init` in order; those before the commit leave no CA, those after it leave the CA.
const FIRST_CREATION: readonly (readonly [string, "before" | "after"])[] = [
  ["write:ca-key.pem:opened", "before"],
  ["write:ca-cert.pem:written", "before"],
  ["ca:authority-staged", "before"],
  ["write:rotation.json:opened", "before"],
  ["write:rotation.json:written", "before"],
  ["ca:committed", "after"],
];

for (const [step, commit] of FIRST_CREATION) {
  test(`ca init killed at ${step}: the next ca init ${commit === "before" ? "makes the CA" : "finds the committed CA"}, and nothing is left over`, async () => {
    const state = tempFiles();
    await killAt(step, init(state));
    const atKill = authorities(state);
    const show = await gitmesh(["ca", "show", "--state-dir", state]);
    if (commit === "before") {
      assert.equal(show.code, 1, show.stdout);
      assert.match(show.stderr, /no CA in .*: run gitmesh ca init/, "an interrupted first creation is no CA, not a damaged one");
    } else {
      assert.equal(show.code, 0, show.stderr);
      assert.deepEqual([issuingId(show.stdout)], atKill, "the committed root is the CA");
    }
    const again = await gitmesh(init(state));
    assert.equal(again.code, 0, again.stderr);
    const after = await gitmesh(["ca", "show", "--state-dir", state]);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(authorities(state), [issuingId(after.stdout)], "one authority, the issuing one: no orphan with an unused key");
    if (commit === "after") assert.deepEqual(authorities(state), atKill, "not a new root");
    assert.deepEqual(leftovers(state), [], "no temp file, staged directory or pending marker left");
  });
}

test("serve killed in its first creation of the CA starts clean the next time; killed after the commit, it keeps that root", async () => {
  for (const [step, commit] of [
    ["write:rotation.json:written", "before"],
    ["ca:committed", "after"],
  ] as const) {
    const state = tempFiles();
    await killAt(step, serveArgs(state));
    const atKill = authorities(state);
    const served = await serveOnce(state);
    assert.ok(served.served, served.stderr);
    const bundle = new X509Certificate(readFileSync(join(state, "trust-bundle.pem")));
    const [only] = authorities(state);
    assert.deepEqual(authorities(state), [only], `${step}: one authority`);
    assert.equal(bundle.fingerprint256, new X509Certificate(readFileSync(join(state, "ca", "authorities", only!, "ca-cert.pem"))).fingerprint256, `${step}: the trust bundle is its root`);
    if (commit === "after") assert.deepEqual(authorities(state), atKill, `${step}: the committed root is kept`);
    assert.deepEqual(leftovers(state), [], `${step}: nothing left over`);
  }
});

test("rotation.json deleted while authorities exist: serve, ca show and ca init refuse, naming the file and the fix; ca init --force replaces the CA and keeps the old one", async () => {
  const state = tempFiles();
  assert.equal((await gitmesh(init(state))).code, 0);
  const before = authorities(state);
  rmSync(join(state, "ca", "rotation.json"));

  const served = await serveOnce(state);
  assert.equal(served.served, false, "serve must not start on a CA that lost its state");
  assert.equal(served.code, 1);
  assert.match(served.stderr, /ca\/rotation\.json/);
  assert.match(served.stderr, /restore .*from a backup/);
  assert.match(served.stderr, /gitmesh ca init --force/);
  assert.deepEqual(authorities(state), before, "no new root");

  for (const args of [
    ["ca", "show", "--state-dir", state],
    init(state),
  ]) {
    const r = await gitmesh(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, /rotation\.json: is missing, but .*authorit/);
  }
  assert.deepEqual(authorities(state), before, "still no new root");

  const forced = await gitmesh(init(state, "--force"));
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /the previous CA state was moved to .*replaced-/);
  assert.match(forced.stdout, /every proxy needs the new trust bundle/);
  const now = authorities(state);
  assert.equal(now.length, 1);
  assert.notDeepEqual(now, before, "a new root, because it was asked for");
  const kept = tree(join(state, "ca")).filter((p) => p.startsWith("replaced-") && p.endsWith(`${before[0]}/ca-key.pem`));
  assert.equal(kept.length, 1, "the old authority is kept, not deleted");
});

test("a corrupt rotation.json or a missing authority key: serve refuses, naming the file and the fix", async () => {
  const state = tempFiles();
  assert.equal((await gitmesh(init(state))).code, 0);
  const [id] = authorities(state);
  const rotation = join(state, "ca", "rotation.json");
  const good = readFileSync(rotation, "utf8");

  writeFileSync(rotation, "{ half a file");
  const corrupt = await serveOnce(state);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /ca\/rotation\.json.*not a CA rotation state.*restore it from a backup.*gitmesh ca init --force/);

  writeFileSync(rotation, good);
  rmSync(join(state, "ca", "authorities", id!, "ca-key.pem"));
  const keyless = await serveOnce(state);
  assert.equal(keyless.code, 1);
  assert.match(keyless.stderr, new RegExp(`authorities/${id}/ca-key\\.pem.*does not exist.*restore .*from a backup.*gitmesh ca init --force`));
  assert.deepEqual(authorities(state), [id], "no new root");
});

test("ca rotate introduce killed before its step is saved: the unused authority is removed, the CA is as it was", async () => {
  const state = tempFiles();
  assert.equal((await gitmesh(init(state))).code, 0);
  const [current] = authorities(state);
  await killAt("write:rotation.json:opened", ["ca", "rotate", "introduce", "--state-dir", state, "--key-type", "ecdsa"]);
  assert.equal(authorities(state).length, 2, "the new authority was saved before the kill");
  const show = await gitmesh(["ca", "show", "--state-dir", state]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`rotation: steady \\(trusted: ${current}\\)`));
  assert.deepEqual(authorities(state), [current], "the orphan with its unused key is gone");
  assert.deepEqual(leftovers(state), []);
});

test("ca init and serve creating the CA at once agree on one root: the later commit loses and adopts the winner's", async () => {
  const state = tempFiles();
  // ca init stops with its root saved but not committed; serve creates and commits its own.
  const cli = await pauseAt("ca:authority-saved", init(state));
  const run = start(serveArgs(state));
  await run.waitFor(/gitmesh serving/);
  const served = new X509Certificate(readFileSync(join(state, "trust-bundle.pem")));
  assert.equal(await cli.resume(), 0, cli.lines.join("\n"));
  assert.match(cli.lines.join("\n"), /a CA already exists in .*; nothing changed/, "ca init reports the CA serve made");
  run.child.kill("SIGKILL");
  await run.exited;
  const show = await gitmesh(["ca", "show", "--state-dir", state]);
  assert.equal(show.code, 0, show.stderr);
  const id = issuingId(show.stdout)!;
  assert.equal(new X509Certificate(readFileSync(join(state, "ca", "authorities", id, "ca-cert.pem"))).fingerprint256, served.fingerprint256, "the CA is the root serve serves");
  assert.deepEqual(authorities(state), [id], "the loser's root is removed");
  assert.deepEqual(leftovers(state), []);
});

test("a token key that is a directory: serve and token issue say which path and what to do", async () => {
  const state = tempFiles();
  assert.equal((await gitmesh(init(state))).code, 0);
  mkdirSync(join(state, "ca", "token-key"));
  const served = await serveOnce(state);
  assert.equal(served.code, 1);
  assert.match(served.stderr, /ca\/token-key.*is a directory, not a token key/);
  const issue = await gitmesh(["token", "issue", "--state-dir", state, "--namespace", "default", "--service-account", "frontend"]);
  assert.equal(issue.code, 1, issue.stdout);
  assert.match(issue.stderr, /ca\/token-key.*is a directory, not a token key: remove it/);
  assert.doesNotMatch(issue.stderr, /bug/);
});
