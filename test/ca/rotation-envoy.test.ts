// A root rotation on real Envoy: a proxy started before it reads only the old root from its
// bundle file, and must still reach gitmesh after the switch, the drop and a restart of gitmesh
// (the TLS port sends its new root cross-signed by the old one, src/ca/cross-sign.ts).
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { startEnvoy } from "../support/envoy-process.js";
import { gitmesh, serveArgs, start, type Running } from "../support/gitmesh-process.js";
import { needEnvoy } from "../support/peers.js";
import { pemCerts, tempFiles } from "../support/pki.js";
import { freePort } from "../support/ports.js";

const XDS = "cluster.gitmesh-xds";

async function serveOn(t: TestContext, state: string, tlsPort: number): Promise<Running> {
  const run = start([...serveArgs(state, "--resync-seconds", "0.2"), "--xds-tls-address", `127.0.0.1:${tlsPort}`]);
  t.after(async () => {
    run.child.kill("SIGKILL");
    await run.exited;
  });
  await run.waitFor(/gitmesh serving/);
  return run;
}

/** Takes a rotation step with the CLI and waits for the running server to apply it (at its next resync). */
async function step(state: string, server: Running, which: string, phase: string, ...more: string[]): Promise<void> {
  const r = await gitmesh(["ca", "rotate", which, "--state-dir", state, ...more]);
  assert.equal(r.code, 0, r.stderr);
  await server.waitFor(new RegExp(`mesh CA rotation step applied .*${phase}`));
}

test("an Envoy that trusts only the old root reconnects after a rotation's switch and drop and a gitmesh restart", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const state = tempFiles();
  assert.equal((await gitmesh(["ca", "init", "--state-dir", state, "--key-type", "ecdsa"])).code, 0);
  // What the proxy's host was given at its start: the bundle as it was then, the old root alone.
  const bundle = join(tempFiles(), "trust-bundle.pem");
  copyFileSync(join(state, "trust-bundle.pem"), bundle);
  const tlsPort = await freePort();
  let server = await serveOn(t, state, tlsPort);
  const token = await gitmesh(["token", "issue", "--state-dir", state, "--namespace", "default", "--service-account", "web", "--node-id", "web-1"]);
  const adminPort = await freePort();
  const file = join(tempFiles(), "envoy.json");
  const written = await gitmesh(["bootstrap", "--namespace", "default", "--service-account", "web", "--node-id", "web-1", "--token", token.stdout.trim(), "--xds-ca-file", bundle, "--xds-address", `127.0.0.1:${tlsPort}`, "--admin-port", String(adminPort), "--out", file]);
  assert.equal(written.code, 0, written.stderr);
  const proxy = await startEnvoy(t, envoy, file, adminPort);
  await proxy.until((s) => s.get("control_plane.connected_state") === 1);

  await step(state, server, "introduce", "introduced", "--key-type", "ecdsa");
  await step(state, server, "switch", "switched");
  await step(state, server, "drop", "steady", "--force");
  assert.equal(pemCerts(readFileSync(join(state, "trust-bundle.pem"), "utf8")).length, 1, "the mesh now trusts the new root alone");
  assert.notEqual(readFileSync(join(state, "trust-bundle.pem"), "utf8"), readFileSync(bundle, "utf8"), "and the proxy's file still holds only the old one");

  // gitmesh restarts: the proxy's stream breaks and it must reconnect, verifying the new TLS
  // certificate against the old root.
  const before = (await proxy.stats()).get(`${XDS}.ssl.handshake`) ?? 0;
  server.child.kill("SIGKILL");
  await server.exited;
  server = await serveOn(t, state, tlsPort);
  const after = await proxy.until((s) => ((s.get(`${XDS}.ssl.handshake`) ?? 0) > before && s.get("control_plane.connected_state") === 1) || (s.get(`${XDS}.ssl.fail_verify_error`) ?? 0) > 0);
  assert.equal(after.get(`${XDS}.ssl.fail_verify_error`) ?? 0, 0, "the TLS port's chain verifies against the old root");
  assert.equal(after.get("control_plane.connected_state"), 1, "reconnected");
});
