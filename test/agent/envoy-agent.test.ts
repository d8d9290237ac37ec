// `gitmesh agent` on a VM (a network namespace) with real Envoy against a real `gitmesh serve` on
// another: the bootstrap it writes, Envoy connected and in sync, the hosts file's service names
// following the config, Envoy restarted when it dies and when the token changes, stopped with the
// agent, and stopped by the next agent when the agent was killed before it could.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { BLOCK_BEGIN, BLOCK_END } from "../../src/agent/index.js";
import { agentMesh, envoyInSync, untilEnvoy } from "../support/agent-mesh.js";
import { tempDir } from "../support/git-repo.js";
import { gitmesh } from "../support/gitmesh-process.js";
import { needEnvoy } from "../support/peers.js";

const mode = (path: string) => statSync(path).mode & 0o777;
const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};
const pidIn = (line: string) => Number(/pid=(\d+)/.exec(line)?.[1]);

/** The api-v1 workload's agent on vm (demo/api, its token bound to the WorkloadGroup). */
async function apiAgent(t: TestContext) {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return undefined;
  const mesh = await agentMesh(t);
  if (mesh === undefined) return undefined;
  const tokenFile = await mesh.tokenFile("--namespace", "demo", "--service-account", "api", "--workload-group", "api-v1");
  const identity = ["--token-file", tokenFile, "--namespace", "demo", "--service-account", "api", "--labels", "app=api,version=v1", "--workload-group", "api-v1"];
  const agent = (runtimeDir: string, ...more: string[]) => mesh.agent(mesh.vm, [...identity, "--runtime-dir", runtimeDir, ...more], { ENVOY_BIN: envoy });
  return { ...mesh, tokenFile, agent };
}

/** The lines between the agent's markers. */
function block(hostsText: string): string[] {
  const lines = hostsText.split("\n");
  return lines.slice(lines.indexOf(BLOCK_BEGIN) + 1, lines.indexOf(BLOCK_END));
}

test("the agent runs Envoy in the mesh, keeps the hosts file's names, restarts Envoy when it dies or its token changes, and stops it with itself", async (t) => {
  const mesh = await apiAgent(t);
  if (mesh === undefined) return;
  const runtime = join(await tempDir("gmq-run-"), "agent");
  const agent = mesh.agent(runtime, "--hosts-file", "/etc/hosts");

  await t.test("Envoy connects with the bootstrap it wrote (0600), and accepts everything", async () => {
    const started = await agent.waitFor(/INFO Envoy started pid=\d+/);
    assert.equal(mode(runtime), 0o700);
    assert.equal(mode(join(runtime, "envoy-bootstrap.json")), 0o600, "it holds the token");
    assert.match(readFileSync(join(runtime, "envoy-bootstrap.json"), "utf8"), /"INSTANCE_IPS": "10\.0\.0\.20"/, "the address this host reaches gitmesh from");
    assert.equal(Number(readFileSync(join(runtime, "envoy.pid"), "utf8")), pidIn(started));
    const stats = await untilEnvoy(mesh.vm, envoyInSync);
    assert.ok((stats.get("listener_manager.total_listeners_active") ?? 0) >= 2, "the api's outbound listener and this workload's inbound one");
  });

  await t.test("the hosts file gets the mesh's names in its own block, as gitmesh hosts prints them; the host's lines stay", async () => {
    await agent.waitFor(/hosts file up to date .*services=1/);
    const text = readFileSync(mesh.vm.hostsFile, "utf8");
    assert.match(text, /^127\.0\.0\.1 localhost\n::1 localhost\n10\.0\.0\.20 vm\n/, "the host's own lines first, untouched");
    const expected = await gitmesh(["hosts", mesh.config, "--namespace", "demo"]);
    assert.deepEqual(block(text), expected.stdout.trim().split("\n"));
    assert.match(block(text)[0]!, /^127\.\d+\.\d+\.\d+ api\.demo\.svc\.cluster\.local api\.demo api$/);
  });

  await t.test("a service added to the config reaches the hosts file", async () => {
    const from = agent.lines.length;
    writeFileSync(
      join(mesh.config, "reviews.yaml"),
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: reviews, namespace: shop }\nspec:\n  hosts: [reviews.shop.svc.cluster.local]\n  resolution: STATIC\n  ports: [{ number: 9080, name: http, protocol: HTTP }]\n  endpoints: [{ address: 10.0.0.99 }]\n",
    );
    await agent.waitFor(/hosts file up to date .*services=2 changed=true/, from);
    const expected = await gitmesh(["hosts", mesh.config, "--namespace", "demo"]);
    assert.deepEqual(block(readFileSync(mesh.vm.hostsFile, "utf8")), expected.stdout.trim().split("\n"));
    assert.ok(block(readFileSync(mesh.vm.hostsFile, "utf8")).some((l) => / reviews\.shop\.svc\.cluster\.local reviews\.shop$/.test(l)), "another namespace's service: no bare short name");
  });

  await t.test("Envoy killed: the agent starts it again, and it is back in sync", async () => {
    const before = pidIn(await agent.waitFor(/INFO Envoy started pid=\d+/));
    const from = agent.lines.length;
    process.kill(before, "SIGKILL");
    await agent.waitFor(/WARN Envoy exited; restarting signal=SIGKILL .*inSeconds=1 failuresInARow=1/, from);
    const after = pidIn(await agent.waitFor(/INFO Envoy started pid=\d+/, from));
    assert.notEqual(after, before);
    await untilEnvoy(mesh.vm, envoyInSync);
  });

  await t.test("a new token in the token file: a new bootstrap, and Envoy restarted with it", async () => {
    const token = await mesh.issueToken("--namespace", "demo", "--service-account", "api", "--workload-group", "api-v1", "--ttl", "2h");
    const from = agent.lines.length;
    writeFileSync(mesh.tokenFile, `${token}\n`);
    await agent.waitFor(/INFO restarting Envoy reason="the token file changed"/, from);
    await agent.waitFor(/INFO Envoy started pid=\d+/, from);
    assert.ok(readFileSync(join(runtime, "envoy-bootstrap.json"), "utf8").includes(`Bearer ${token}`));
    assert.equal(mode(join(runtime, "envoy-bootstrap.json")), 0o600);
    await untilEnvoy(mesh.vm, envoyInSync);
  });

  await t.test("SIGTERM: Envoy stops with the agent, which exits 0 and leaves no pid file", async () => {
    const envoyPid = Number(readFileSync(join(runtime, "envoy.pid"), "utf8"));
    assert.ok(running(envoyPid));
    agent.child.kill("SIGTERM");
    assert.equal(await agent.exited, 0);
    assert.ok(!running(envoyPid), "Envoy is gone");
    assert.throws(() => statSync(join(runtime, "envoy.pid")));
    assert.throws(() => statSync(join(runtime, "agent.pid")));
  });

  await t.test("an agent killed with SIGKILL leaves Envoy running; the next agent stops that Envoy and runs its own", async () => {
    const first = mesh.agent(runtime);
    const orphan = pidIn(await first.waitFor(/INFO Envoy started pid=\d+/));
    await untilEnvoy(mesh.vm, envoyInSync);
    first.child.kill("SIGKILL");
    // Its "exit", not its end of output: the Envoy it left holds that open.
    await once(first.child, "exit");
    assert.ok(running(orphan), "SIGKILL gave the agent no chance to stop Envoy");
    const next = mesh.agent(runtime);
    assert.equal(pidIn(await next.waitFor(/WARN stopping the process a previous agent left running pid=\d+/)), orphan);
    const own = pidIn(await next.waitFor(/INFO Envoy started pid=\d+/));
    assert.ok(!running(orphan));
    assert.notEqual(own, orphan);
    await untilEnvoy(mesh.vm, envoyInSync);
    // Two agents on one runtime directory would stop each other's Envoy: the second is refused.
    const second = mesh.agent(runtime);
    assert.equal(await second.exited, 1);
    // (ip netns exec runs the agent in its own process: the child's pid is the agent's.)
    assert.ok(second.lines.some((l) => l.includes(`another gitmesh agent (pid ${next.child.pid}) uses ${runtime}`)), second.lines.join("\n"));
    next.child.kill("SIGTERM");
    assert.equal(await next.exited, 0);
    assert.ok(!running(own));
  });
});

test("Envoy that exits at once is started again after 1 s, 2 s, then 4 s", async (t) => {
  const mesh = await apiAgent(t);
  if (mesh === undefined) return;
  // A real Envoy refusing an argument it does not know: it exits with code 1 before it binds anything.
  const agent = mesh.agent(join(await tempDir("gmq-run-"), "agent"), "--", "--no-such-envoy-flag");
  const starts: number[] = [];
  for (const [i, wait] of [1, 2, 4].entries()) {
    const exited = await agent.waitFor(new RegExp(`WARN Envoy exited; restarting code=1 .*inSeconds=${wait} failuresInARow=${i + 1}`));
    assert.ok(exited);
    starts.push(Date.parse((await agent.waitFor(/INFO Envoy started/, agent.lines.indexOf(exited))).split(" ")[0]!));
  }
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  assert.ok(gaps[0]! >= 1_900 && gaps[1]! >= 3_900, `the delays grow: ${gaps.join(", ")} ms between starts`);
  agent.child.kill("SIGTERM");
  assert.equal(await agent.exited, 0);
});
