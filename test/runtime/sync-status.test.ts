// After a commit, which proxies accepted it: the per-proxy sync view (/debug/sync), `gitmesh
// status` and `gitmesh config-dump` against a running serve, with a scripted proxy that ACKs one
// commit and NACKs the next.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { SyncView } from "../../src/admin/proxy-status.js";
import { createLogger } from "../../src/log.js";
import { serve } from "../../src/runtime/index.js";
import { CDS } from "../../src/xds/index.js";
import { commitAll, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";
import { gitmesh } from "../support/gitmesh-process.js";
import { grpcNode, ScriptedClient } from "../support/xds-client.js";

after(removeTempDirs);

const SERVICE = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [${name}.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: grpc, protocol: GRPC }], endpoints: [{ address: 10.0.0.1 }] }
`;

async function syncOf(admin: number): Promise<SyncView> {
  return (await (await fetch(`http://127.0.0.1:${admin}/debug/sync`)).json()) as SyncView;
}

/** Polls the sync view until it satisfies `ok` (each poll answers after the server's own work). */
async function until(admin: number, ok: (v: SyncView) => boolean, what: string): Promise<SyncView> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await syncOf(admin);
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v, null, 2)}`);
    await new Promise((r) => setImmediate(r));
  }
}

test("status shows each proxy's accepted commit per type, SYNCED then NACKED with the proxy's error; config-dump decodes what was sent", async (t) => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": SERVICE("a") });
  const c1 = await commitAll(repo, "a");
  const running = await serve({
    xdsAddress: "127.0.0.1:0",
    adminAddress: "127.0.0.1:0",
    configDir: repo,
    stateDir: await tempDir("gitmesh-sync-"),
    resyncSeconds: 0.2,
    logger: createLogger({ level: "error", write: () => {} }),
  });
  t.after(() => running.stop());
  const admin = `127.0.0.1:${running.adminPort}`;
  const client = new ScriptedClient(`127.0.0.1:${running.xdsPort}`);
  t.after(() => client.close());

  // Before any proxy: nothing connected, the commit served.
  const empty = await gitmesh(["status", "--admin", admin]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, new RegExp(`serving commit ${c1}; 0 proxy stream\\(s\\) connected`));

  const stream = client.sotw();
  stream.send({ node: grpcNode("app-1"), type_url: CDS.typeUrl, resource_names: [] });
  const first = await stream.next();
  assert.ok(first.resources.length > 0, "the proxy got clusters");
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: first.nonce, resource_names: [] });
  const synced = await until(running.adminPort, (v) => v.proxies[0]?.types["CDS"]?.state === "SYNCED", "the ACK");
  const p = synced.proxies[0]!;
  assert.equal(p.nodeId, "app-1");
  assert.equal(p.kind, "grpc");
  assert.equal(p.identity, null, "the plaintext port proves no identity");
  assert.equal(p.state, "SYNCED");
  assert.equal(p.commit, c1);
  assert.equal(p.types["CDS"]?.acceptedCommit, c1);
  assert.equal(p.types["LDS"]?.state, "NOT SENT");

  const ok = await gitmesh(["status", "--admin", admin]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const row = ok.stdout.split("\n").find((l) => l.startsWith("app-1"));
  assert.ok(row !== undefined, ok.stdout);
  assert.match(row, new RegExp(`^app-1\\s+grpc\\s+-\\s+\\S+\\s+SYNCED\\s+${c1.slice(0, 10)}\\s+SYNCED\\s+NOT SENT`));

  // The next commit: the proxy rejects its clusters.
  await writeFiles(repo, { "b.yaml": SERVICE("b") });
  const c2 = await commitAll(repo, "b");
  const second = await stream.next();
  const error = "cluster outbound|80||b.shop.svc.cluster.local: rejected by the test proxy";
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: second.nonce, resource_names: [], error_detail: { code: 3, message: error } });
  // The watcher may load the new file before the commit (the tree is dirty then); the commit's own
  // reload follows with the same content.
  const nacked = await until(running.adminPort, (v) => v.proxies[0]?.types["CDS"]?.state === "NACKED" && v.commit === c2, "the NACK and the commit served");
  assert.equal(nacked.commit, c2);
  assert.equal(nacked.proxies[0]?.state, "NACKED");
  assert.equal(nacked.proxies[0]?.commit, null, "it does not run the served commit in full");
  assert.equal(nacked.proxies[0]?.types["CDS"]?.acceptedCommit, c1, "it still runs the previous commit's clusters");
  assert.equal(nacked.proxies[0]?.types["CDS"]?.lastNack?.message, error);

  const bad = await gitmesh(["status", "--admin", admin]);
  assert.equal(bad.code, 1, "a NACKing proxy makes status fail");
  assert.match(bad.stdout, new RegExp(`app-1\\s+grpc\\s+-\\s+\\S+\\s+NACKED\\s+-\\s+NACKED`));
  assert.ok(bad.stdout.includes(`app-1 CDS NACKED: ${error}`), bad.stdout);

  const detail = await gitmesh(["status", "app-1", "--admin", admin]);
  assert.equal(detail.code, 1);
  assert.match(detail.stdout, /proxy {6}app-1\n/);
  assert.match(detail.stdout, new RegExp(`CDS\\s+NACKED\\s+${c1}\\s+${second.version_info}`));
  assert.ok(detail.stdout.includes(`last CDS NACK (version ${second.version_info}`), detail.stdout);
  assert.ok(detail.stdout.includes(error), detail.stdout);

  // What was sent (and refused): both clusters, decoded.
  const dump = await gitmesh(["config-dump", "app-1", "--type", "cluster", "--admin", admin]);
  assert.equal(dump.code, 0, dump.stderr);
  const body = JSON.parse(dump.stdout) as { dumps: { nodeId: string; types: Record<string, { version: string; state: string; resources: { name: string }[] }> }[] };
  assert.equal(body.dumps[0]?.nodeId, "app-1");
  assert.deepEqual(Object.keys(body.dumps[0]?.types ?? {}), ["CDS"]);
  assert.equal(body.dumps[0]?.types["CDS"]?.state, "NACKED");
  assert.equal(body.dumps[0]?.types["CDS"]?.version, second.version_info);
  const names = body.dumps[0]?.types["CDS"]?.resources.map((r) => r.name) ?? [];
  assert.ok(names.some((n) => n.includes("a.shop")) && names.some((n) => n.includes("b.shop")), names.join(" "));

  // Mistakes say what to do.
  const unknown = await gitmesh(["config-dump", "nobody", "--admin", admin]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no connected proxy named "nobody" \(gitmesh status lists them\)/);
  const badType = await gitmesh(["config-dump", "app-1", "--type", "clusters", "--admin", admin]);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /--type clusters: use cluster, listener, route, endpoint, secret/);
  const down = await gitmesh(["status", "--admin", "127.0.0.1:1"]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach gitmesh's admin server at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  stream.cancel();
});
