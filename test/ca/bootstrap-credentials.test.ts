// Bootstraps hold credentials: with a token they are written 0600, and the Envoy bootstrap lets
// its proxy talk (and send its token) only to gitmesh: it pins the name the proxy dials on the TLS
// port's certificate, not only the mesh root. Proven on real Envoy against real `gitmesh serve`
// processes: one with gitmesh's certificate, and one with a certificate from the same root for
// another name, which Envoy must refuse.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { bootstrapText } from "../../src/cli/bootstrap.js";
import { startEnvoy } from "../support/envoy-process.js";
import { CLI, gitmesh, serveArgs, start } from "../support/gitmesh-process.js";
import { needEnvoy } from "../support/peers.js";
import { tempFiles } from "../support/pki.js";
import { freePort } from "../support/ports.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const mode = (path: string) => statSync(path).mode & 0o777;
const identity = ["--namespace", "default", "--service-account", "frontend"];

test("gitmesh bootstrap writes a bootstrap holding a token 0600 (even over an older 0644 file), one without 0644", async () => {
  const dir = tempFiles();
  const withToken = join(dir, "envoy.json");
  writeFileSync(withToken, "old", { mode: 0o644 });
  const r = await gitmesh(["bootstrap", ...identity, "--token", "gmt1.x.y", "--xds-ca-file", "/etc/gitmesh/trust-bundle.pem", "--out", withToken]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mode(withToken), 0o600);
  assert.match(readFileSync(withToken, "utf8"), /Bearer gmt1\.x\.y/);
  const plain = join(dir, "plain.json");
  assert.equal((await gitmesh(["bootstrap", ...identity, "--out", plain])).code, 0);
  assert.equal(mode(plain), 0o644, "no credential in it");
  assert.deepEqual(readdirSync(dir).sort(), ["envoy.json", "plain.json"], "no temp file left");
});

test("a token given for a proxyless gRPC bootstrap is an error, not silently dropped", async () => {
  const r = await gitmesh(["bootstrap", ...identity, "--proxy", "grpc", "--token", "gmt1.x.y", "--out", join(tempFiles(), "grpc.json")]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--token is for Envoy bootstraps/);
});

test("generate.sh writes every compose bootstrap 0600, owned by the user its Envoy runs as", async () => {
  const state = tempFiles();
  const out = tempFiles();
  assert.equal((await gitmesh(["ca", "init", "--state-dir", state, "--key-type", "ecdsa"])).code, 0);
  execFileSync("sh", [join(root, "envoy-bootstrap/generate.sh"), state, out], { env: { ...process.env, GITMESH: `${process.execPath} ${CLI}` }, stdio: "pipe" });
  for (const file of readdirSync(out).filter((f) => f.endsWith(".json"))) {
    assert.equal(mode(join(out, file)), 0o600, file);
    // The ingress runs the envoyproxy/envoy image's entrypoint, which drops to its envoy user (uid
    // 101); the sidecars run Envoy as root in the demo image. Only root can give a file away.
    if (process.getuid?.() === 0) assert.equal(statSync(join(out, file)).uid, file === "ingress.json" ? 101 : 0, file);
  }
  assert.equal(mode(join(out, "trust-bundle.pem")) & 0o044, 0o044, "the trust bundle stays readable");
});

test("the Envoy bootstrap pins the name it dials: DNS for a name, IP_ADDRESS for an address", () => {
  const base = { kind: "sidecar", nodeId: "n", namespace: "default", serviceAccount: "frontend", labels: {}, adminPort: 15000, xdsCaFile: "/b.pem" } as const;
  const validation = (xdsAddress: string) => {
    const json = JSON.parse(bootstrapText({ ...base, xdsAddress })) as { static_resources: { clusters: { transport_socket: { typed_config: { common_tls_context: { validation_context: unknown } } } }[] } };
    return json.static_resources.clusters[0]!.transport_socket.typed_config.common_tls_context.validation_context;
  };
  assert.deepEqual(validation("gitmesh:15012"), { trusted_ca: { filename: "/b.pem" }, match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "gitmesh" } }] });
  assert.deepEqual(validation("10.1.2.3:15012"), { trusted_ca: { filename: "/b.pem" }, match_typed_subject_alt_names: [{ san_type: "IP_ADDRESS", matcher: { exact: "10.1.2.3" } }] });
});

/** A serve process on the state directory with extra flags; its TLS port once it serves. */
async function serveTls(t: TestContext, state: string, ...more: string[]): Promise<{ port: number; lines: readonly string[] }> {
  const run = start(serveArgs(state, "--log-level", "debug", ...more));
  t.after(async () => {
    run.child.kill("SIGKILL");
    await run.exited;
  });
  const line = await run.waitFor(/gitmesh serving/);
  return { port: Number(/xdsTls=\S+:(\d+)/.exec(line)?.[1]), lines: run.lines };
}

/** A bootstrap written by the real CLI, with a token for default/frontend bound to its node id. */
async function bootstrapFor(state: string, xdsAddress: string): Promise<{ file: string; adminPort: number }> {
  const token = await gitmesh(["token", "issue", "--state-dir", state, ...identity, "--node-id", "frontend-1"]);
  assert.equal(token.code, 0, token.stderr);
  const adminPort = await freePort();
  const file = join(tempFiles(), "envoy.json");
  const r = await gitmesh(["bootstrap", ...identity, "--node-id", "frontend-1", "--token", token.stdout.trim(), "--xds-ca-file", join(state, "trust-bundle.pem"), "--xds-address", xdsAddress, "--admin-port", String(adminPort), "--out", file]);
  assert.equal(r.code, 0, r.stderr);
  return { file, adminPort };
}

const XDS = "cluster.gitmesh-xds";
/** Envoy either got through to its control plane or was refused by the SAN check: whichever comes first. */
const settled = (s: Map<string, number>) => s.get("control_plane.connected_state") === 1 || (s.get(`${XDS}.ssl.fail_verify_san`) ?? 0) > 0;

test("real Envoy with gitmesh's bootstrap connects to gitmesh's TLS port, and refuses a server with another name from the same root", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const state = tempFiles();
  assert.equal((await gitmesh(["ca", "init", "--state-dir", state, "--key-type", "ecdsa"])).code, 0);
  const gitmeshTls = await serveTls(t, state);
  // Same state directory, so the same root: only the name on its certificate differs.
  const impostor = await serveTls(t, state, "--xds-tls-name", "impostor.example");

  const good = await bootstrapFor(state, `127.0.0.1:${gitmeshTls.port}`);
  const toGitmesh = await startEnvoy(t, envoy, good.file, good.adminPort);
  const ok = await toGitmesh.until(settled);
  assert.equal(ok.get("control_plane.connected_state"), 1, "connected to gitmesh");
  assert.equal(ok.get(`${XDS}.ssl.fail_verify_san`) ?? 0, 0);
  assert.ok((ok.get(`${XDS}.ssl.handshake`) ?? 0) > 0);

  // By name: the certificate's DNS SAN "localhost" (one of serve's default names). Envoy resolves
  // localhost to ::1 and 127.0.0.1; serve listens on the latter (the bootstrap prefers IPv4).
  const byName = await bootstrapFor(state, `localhost:${gitmeshTls.port}`);
  const named = await (await startEnvoy(t, envoy, byName.file, byName.adminPort)).until(settled);
  assert.equal(named.get("control_plane.connected_state"), 1, "connected to gitmesh by name");

  const bad = await bootstrapFor(state, `127.0.0.1:${impostor.port}`);
  const toImpostor = await startEnvoy(t, envoy, bad.file, bad.adminPort);
  const refused = await toImpostor.until(settled);
  assert.ok((refused.get(`${XDS}.ssl.fail_verify_san`) ?? 0) > 0, "the TLS handshake fails on the SAN check");
  assert.equal(refused.get("control_plane.connected_state"), 0, "never connected");
  assert.equal(refused.get(`${XDS}.ssl.handshake`) ?? 0, 0);
  assert.ok(!impostor.lines.some((l) => /xDS stream identified|proxy refused/.test(l)), "the impostor never saw a stream, so never the token");
});
