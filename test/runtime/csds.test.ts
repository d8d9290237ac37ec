// CSDS on serve's xDS ports, asked by a real gRPC client with Envoy's own proto: per node, each
// resource sent and its client status (ACKED, NACKED with the error); on the TLS port only to the
// operator's token, on the plaintext port about that port's streams only.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { credentials, status as grpcStatus } from "@grpc/grpc-js";
import { trustBundleFile } from "../../src/ca/index.js";
import { createLogger } from "../../src/log.js";
import { serve } from "../../src/runtime/index.js";
import { CDS } from "../../src/xds/index.js";
import { CsdsClient } from "../support/csds-client.js";
import { commitAll, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";
import { gitmesh } from "../support/gitmesh-process.js";
import { grpcNode, ScriptedClient } from "../support/xds-client.js";

after(removeTempDirs);

const SERVICE = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [${name}.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: grpc, protocol: GRPC }], endpoints: [{ address: 10.0.0.1 }] }
`;

async function token(stateDir: string, namespace: string, serviceAccount: string): Promise<string> {
  const r = await gitmesh(["token", "issue", "--state-dir", stateDir, "--namespace", namespace, "--service-account", serviceAccount]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test("CSDS answers per node with each resource and its client status; the TLS port answers the operator's token only", async (t) => {
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": SERVICE("a") });
  await commitAll(repo, "a");
  const stateDir = await tempDir("gitmesh-csds-");
  const running = await serve({ xdsAddress: "127.0.0.1:0", xdsTlsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", configDir: repo, stateDir, logger: createLogger({ level: "error", write: () => {} }) });
  t.after(() => running.stop());
  const xds = new ScriptedClient(`127.0.0.1:${running.xdsPort}`);
  t.after(() => xds.close());
  const stream = xds.sotw();
  stream.send({ node: grpcNode("app-1"), type_url: CDS.typeUrl, resource_names: [] });
  const first = await stream.next();
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: first.nonce, resource_names: [] });

  const plain = new CsdsClient(`127.0.0.1:${running.xdsPort}`);
  t.after(() => plain.close());
  // The ACK is handled after the request is read: ask until it shows.
  let answer = await plain.fetch();
  for (let i = 0; answer.config[0]?.generic_xds_configs[0]?.client_status !== "ACKED" && i < 100; i++) answer = await plain.fetch();
  assert.equal(answer.config.length, 1);
  const cfg = answer.config[0]!;
  assert.equal(cfg.node?.id, "app-1");
  assert.equal(cfg.client_scope, "plain/app-1");
  assert.equal(cfg.generic_xds_configs.length, first.resources.length, "one entry per cluster sent");
  for (const c of cfg.generic_xds_configs) {
    assert.equal(c.type_url, CDS.typeUrl);
    assert.equal(c.version_info, first.version_info);
    assert.equal(c.config_status, "SYNCED");
    assert.equal(c.client_status, "ACKED");
    assert.equal(c.xds_config?.type_url, CDS.typeUrl, "the resource itself");
  }
  assert.equal((await plain.fetch({ exclude_resource_contents: true })).config[0]?.generic_xds_configs[0]?.xds_config, null);
  assert.deepEqual((await plain.fetch({ node_matchers: [{ node_id: { exact: "nobody" } }] })).config, []);
  assert.equal((await plain.fetch({ node_matchers: [{ node_id: { prefix: "app-" } }] })).config.length, 1);
  await assert.rejects(plain.fetch({ node_matchers: [{ node_id: { exact: "app-1" }, node_metadatas: [{ path: [{ key: "x" }], value: { present_match: true } }] }] }), (e: { code: number }) => e.code === grpcStatus.INVALID_ARGUMENT);
  // A streaming caller gets one answer per request.
  const streamed = await plain.stream([{}, { node_matchers: [{ node_id: { exact: "nobody" } }] }]);
  assert.equal(streamed.length, 2);
  assert.equal(streamed[0]?.config.length, 1);
  assert.equal(streamed[1]?.config.length, 0);

  // The proxy rejects its next clusters: CSDS says NACKED, with its error.
  await writeFiles(repo, { "b.yaml": SERVICE("b") });
  await commitAll(repo, "b");
  const second = await stream.next();
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: second.nonce, resource_names: [], error_detail: { code: 3, message: "no thanks" } });
  let nacked = await plain.fetch();
  for (let i = 0; nacked.config[0]?.generic_xds_configs[0]?.client_status !== "NACKED" && i < 100; i++) nacked = await plain.fetch();
  const rejected = nacked.config[0]?.generic_xds_configs[0];
  assert.equal(rejected?.config_status, "ERROR");
  assert.equal(rejected?.error_state?.details, "no thanks");
  assert.equal(rejected?.error_state?.version_info, second.version_info);

  // A delta stream: each resource with its own version, and config-dump decodes what it holds.
  const delta = xds.delta();
  delta.send({ node: grpcNode("app-2"), type_url: CDS.typeUrl, resource_names_subscribe: [] });
  const d1 = await delta.next();
  delta.send({ type_url: CDS.typeUrl, response_nonce: d1.nonce });
  let both = await plain.fetch({ node_matchers: [{ node_id: { exact: "app-2" } }] });
  for (let i = 0; both.config[0]?.generic_xds_configs[0]?.client_status !== "ACKED" && i < 100; i++) both = await plain.fetch({ node_matchers: [{ node_id: { exact: "app-2" } }] });
  const deltaConfigs = both.config[0]?.generic_xds_configs ?? [];
  assert.deepEqual(deltaConfigs.map((c) => [c.name, c.version_info]).sort(), d1.resources.map((r) => [r.name, r.version]).sort(), "per-resource versions");
  const dumped = (await (await fetch(`http://127.0.0.1:${running.adminPort}/debug/config-dump?proxy=app-2`)).json()) as { dumps: { types: Record<string, { resources: { name: string }[] }> }[] };
  assert.deepEqual(dumped.dumps[0]?.types["CDS"]?.resources.map((r) => r.name).sort(), d1.resources.map((r) => r.name).sort());
  delta.cancel();

  // The TLS port: no token, a workload's token, the operator's token.
  const ca = credentials.createSsl(readFileSync(trustBundleFile(stateDir)));
  const tlsAt = (tok?: string) => new CsdsClient(`localhost:${running.xdsTlsPort}`, ca, {}, tok);
  const anonymous = tlsAt();
  const workload = tlsAt(await token(stateDir, "shop", "web"));
  const operator = tlsAt(await token(stateDir, "istio-system", "gitmesh-operator"));
  t.after(() => [anonymous, workload, operator].forEach((c) => c.close()));
  await assert.rejects(anonymous.fetch(), (e: { code: number }) => e.code === grpcStatus.UNAUTHENTICATED);
  await assert.rejects(workload.fetch(), (e: { code: number; details: string }) => e.code === grpcStatus.PERMISSION_DENIED && /answers an operator only/.test(e.details));
  const all = await operator.fetch();
  assert.ok(all.config.some((c) => c.node?.id === "app-1"), "the operator sees every port's proxies");
  stream.cancel();
});
