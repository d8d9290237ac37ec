// Tokens at the TLS xDS port, over real gRPC+TLS with a scripted client: a token bound to a node
// id or a WorkloadGroup is refused from any other node (a stolen token is no use elsewhere), a
// revoked token is refused at stream start once the server has read the list (revoked by the real
// CLI), and a v1 token from before ids keeps working until it expires.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test, type TestContext } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { issueToken, loadOrCreateTokenKey, tokens, trustBundlePem, type TokenBinding } from "../../src/ca/index.js";
import { loadMesh } from "../../src/config/load.js";
import type { Node__Output } from "../../src/envoy/index.js";
import { silentLogger } from "../../src/log.js";
import { authenticate, MeshPusher, openSecure, WorkloadSecrets } from "../../src/runtime/index.js";
import { CDS, SnapshotCache, XdsServer } from "../../src/xds/index.js";
import { gitmesh } from "../support/gitmesh-process.js";
import { tempFiles } from "../support/pki.js";
import { ScriptedClient } from "../support/xds-client.js";

// One service: a stream that is let in gets its cluster, one that is not gets a status.
const MESH = loadMesh([
  {
    path: "ping.yaml",
    text: "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ping, namespace: default }\nspec: { hosts: [ping.default.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: http, protocol: HTTP }], endpoints: [{ address: 10.0.0.9 }] }\n",
  },
]);

async function tlsServer(t: TestContext) {
  const stateDir = tempFiles();
  const secure = await openSecure({ stateDir, trustDomain: "cluster.local", logger: silentLogger });
  const cache = new SnapshotCache();
  const secrets = new WorkloadSecrets({ ca: secure.ca, trustDomain: "cluster.local", keyType: "ecdsa", logger: silentLogger });
  const pusher = new MeshPusher(cache, silentLogger, { secrets });
  const server = new XdsServer({ source: cache, logger: silentLogger, ...pusher.serverHooks() });
  const port = await server.listen("127.0.0.1:0", secure.credentials, secure.policy);
  assert.ok(MESH.ok);
  pusher.setModel(MESH.model);
  const clients: ScriptedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    secrets.close();
    pusher.close();
    secure.close();
    await server.shutdown(1_000);
  });
  const key = await loadOrCreateTokenKey(stateDir);
  /** Opens a stream with the token, as the node; resolves with the status it ends with, or "served". */
  const attempt = async (token: string, node: object): Promise<{ code: number | "served"; details: string }> => {
    const client = new ScriptedClient(`localhost:${port}`, {}, credentials.createSsl(Buffer.from(trustBundlePem(secure.ca))));
    clients.push(client);
    const m = new Metadata();
    m.set("authorization", `Bearer ${token}`);
    const s = client.sotw(undefined, m);
    s.send({ node, type_url: CDS.typeUrl });
    const first = await Promise.race([s.next().then(() => "served" as const), s.ended()]);
    if (first === "served") {
      s.end();
      return { code: "served", details: "" };
    }
    return { code: first.code, details: first.details };
  };
  return { stateDir, secure, key, attempt };
}

function proxyNode(id: string, extra: Record<string, string> = {}) {
  const fields = Object.fromEntries(Object.entries({ NAMESPACE: "default", SERVICE_ACCOUNT: "frontend", PROXY_KIND: "sidecar", ...extra }).map(([k, v]) => [k, { stringValue: v }]));
  return { id, cluster: "test", metadata: { fields } };
}

test("a token bound to a node id is refused from any other node id: a stolen token is no use elsewhere", async (t) => {
  const { key, attempt } = await tlsServer(t);
  const bound = issueToken(key, "default", "frontend", 3600_000, new Date(), { t: "node", nodeId: "frontend-vm-1" });
  assert.equal((await attempt(bound, proxyNode("frontend-vm-1"))).code, "served");
  const stolen = await attempt(bound, proxyNode("attacker-box"));
  assert.equal(stolen.code, status.PERMISSION_DENIED);
  assert.match(stolen.details, /bound to node id "frontend-vm-1", but this stream's node id is "attacker-box"/);
  const unbound = issueToken(key, "default", "frontend");
  assert.equal((await attempt(unbound, proxyNode("attacker-box"))).code, "served", "an unbound token still serves any node of its identity");
});

test("a token bound to a WorkloadGroup serves every member (any node id) and nothing else", async (t) => {
  const { key, attempt } = await tlsServer(t);
  const group = issueToken(key, "default", "frontend", 3600_000, new Date(), { t: "workload-group", name: "frontend" });
  for (const replica of ["frontend-a1", "frontend-b2", "frontend-c3"]) assert.equal((await attempt(group, proxyNode(replica, { WORKLOAD_GROUP: "frontend" }))).code, "served", replica);
  for (const [why, node, details] of [
    ["another group", proxyNode("x", { WORKLOAD_GROUP: "payments" }), /bound to WorkloadGroup frontend, but the node says WORKLOAD_GROUP payments/],
    ["no group", proxyNode("x"), /registers in no WorkloadGroup/],
    ["a WorkloadEntry's name", proxyNode("x", { WORKLOAD_GROUP: "frontend", WORKLOAD_NAME: "frontend-vm" }), /names WorkloadEntry frontend-vm/],
  ] as const) {
    const r = await attempt(group, node);
    assert.equal(r.code, status.PERMISSION_DENIED, why);
    assert.match(r.details, details, why);
  }
});

test("a token revoked with the CLI is refused at stream start once the server reads the list again", async (t) => {
  const { key, stateDir, secure, attempt } = await tlsServer(t);
  const token = issueToken(key, "default", "frontend", 3600_000, new Date(), { t: "workload-group", name: "frontend" });
  const node = proxyNode("frontend-1", { WORKLOAD_GROUP: "frontend" });
  assert.equal((await attempt(token, node)).code, "served");
  const revoke = await gitmesh(["token", "revoke", token, "--state-dir", stateDir]);
  assert.equal(revoke.code, 0, revoke.stderr);
  const id = /revoked token ([0-9a-f]{32})/.exec(revoke.stdout)?.[1];
  assert.ok(id !== undefined, revoke.stdout);
  const reloaded = await secure.revocations.reload();
  assert.deepEqual(reloaded, { ok: true, added: [id] }, "what the server reads at its resync, with the ids to close streams of");
  const refused = await attempt(token, node);
  assert.equal(refused.code, status.UNAUTHENTICATED);
  assert.match(refused.details, new RegExp(`revoked\\): token ${id} was revoked`));
  const fresh = issueToken(key, "default", "frontend", 3600_000, new Date(), { t: "workload-group", name: "frontend" });
  assert.equal((await attempt(fresh, node)).code, "served", "a new token for the same workload works");
});

test("a revocation recorded before the server starts is in force from its first stream", async (t) => {
  const stateDir = tempFiles();
  const key = await loadOrCreateTokenKey(stateDir);
  const token = issueToken(key, "default", "frontend");
  assert.equal((await gitmesh(["token", "revoke", token, "--state-dir", stateDir])).code, 0);
  const secure = await openSecure({ stateDir, trustDomain: "cluster.local", logger: silentLogger });
  t.after(() => secure.close());
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  const decision = secure.policy.t === "authenticated" ? secure.policy.authenticate(m, proxyNode("frontend-1") as unknown as Node__Output) : undefined;
  assert.ok(decision !== undefined && !decision.ok && decision.code === "UNAUTHENTICATED", JSON.stringify(decision));
});

test("the decision names the token: id, expiry and binding (what stream expiry and revocation need)", () => {
  const key = Buffer.alloc(32, 3);
  const now = Date.now();
  const binding: TokenBinding = { t: "workload-group", name: "frontend" };
  const token = issueToken(key, "default", "frontend", 3600_000, new Date(now), binding);
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  const decision = authenticate(tokens(key), m, proxyNode("frontend-1", { WORKLOAD_GROUP: "frontend" }) as unknown as Node__Output);
  assert.ok(decision.ok);
  assert.match(decision.identity.tokenId, /^[0-9a-f]{32}$/);
  assert.equal(decision.identity.expiresAt.getTime(), Math.floor(now / 1000) * 1000 + 3600_000);
  assert.deepEqual(decision.identity.binding, binding);
  assert.deepEqual([decision.identity.namespace, decision.identity.serviceAccount], ["default", "frontend"]);
});

test("a v1 token (issued before ids and bindings) is still served, and can be revoked by giving it", async (t) => {
  const { key, stateDir, secure, attempt } = await tlsServer(t);
  const iat = Math.floor(Date.now() / 1000);
  const body = `gmt1.${Buffer.from(JSON.stringify({ v: 1, ns: "default", sa: "frontend", iat, exp: iat + 3600 })).toString("base64url")}`;
  const v1 = `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
  assert.equal((await attempt(v1, proxyNode("anything"))).code, "served");
  const revoke = await gitmesh(["token", "revoke", v1, "--state-dir", stateDir]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.match(revoke.stdout, /revoked token v1-[0-9a-f]{32}/);
  await secure.revocations.reload();
  assert.equal((await attempt(v1, proxyNode("anything"))).code, status.UNAUTHENTICATED);
});
