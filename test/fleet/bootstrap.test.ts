// Every bootstrap `gitmesh bootstrap` can write is accepted by real Envoy (`envoy --mode
// validate`), and a bootstrap that dials the TLS port takes only gitmesh for gitmesh: the mesh CA
// signs every workload's certificate too, so the name must be checked, and real Envoy does.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { createServer, type TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { needEnvoy } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { GITMESH_CLI } from "./support/fleet.js";
import { waitFor } from "./support/wait.js";

const run = promisify(execFile);

function gitmesh(...args: string[]): Promise<string> {
  return run(process.execPath, [GITMESH_CLI, ...args], { encoding: "utf8" }).then((r) => r.stdout);
}

/** A state directory with a mesh CA, and a workload's certificate files from `gitmesh cert issue`. */
async function meshState(t: TestContext): Promise<{ state: string; certs: string }> {
  const dir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-bootstrap-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, "state");
  await gitmesh("ca", "init", "--state-dir", state);
  await gitmesh("cert", "issue", "--state-dir", state, "--namespace", "demo", "--service-account", "web", "--out", join(dir, "certs"), "--key-type", "ecdsa");
  return { state, certs: join(dir, "certs") };
}

test("envoy --mode validate accepts every bootstrap gitmesh bootstrap writes", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const { state, certs } = await meshState(t);
  const bundle = join(certs, "ca_certificates.pem");
  const token = (await gitmesh("token", "issue", "--state-dir", state, "--namespace", "demo", "--service-account", "web")).trim();
  const transports: Record<string, string[]> = {
    plaintext: [],
    "tls by name": ["--xds-ca-file", bundle],
    "tls by name with token": ["--xds-ca-file", bundle, "--token", token],
    "tls by address with token": ["--xds-ca-file", bundle, "--token", token, "--xds-address", "10.1.2.3:15012"],
  };
  const workloads: Record<string, string[]> = {
    "a WorkloadEntry": ["--workload-name", "web-1", "--instance-ip", "10.0.0.7"],
    "a WorkloadGroup": ["--workload-group", "web"],
  };
  let checked = 0;
  for (const proxy of ["sidecar", "gateway"]) {
    for (const [transport, transportArgs] of Object.entries(transports)) {
      for (const [workload, workloadArgs] of Object.entries(workloads)) {
        const file = join(certs, `${proxy}-${checked}.json`);
        await gitmesh("bootstrap", "--proxy", proxy, "--namespace", "demo", "--service-account", "web", "--labels", "app=web,version=v1", ...workloadArgs, ...transportArgs, "--out", file);
        const r = await run(envoy, ["--mode", "validate", "-c", file, "--use-dynamic-base-id", "--log-level", "warn"], { encoding: "utf8" }).catch((e: { stdout: string; stderr: string }) => e);
        assert.match(r.stdout + r.stderr, /configuration '.*' OK/, `${proxy}, ${transport}, ${workload}: ${r.stdout}${r.stderr}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 16);
});

/**
 * Starts Envoy with a bootstrap dialling a TLS server that presents a mesh workload's
 * certificate (signed by the mesh CA, as gitmesh's own is) and returns what Envoy's gitmesh-xds
 * cluster counted once its TLS handshake finished one way or the other.
 */
async function dialImpostor(t: TestContext, envoy: string, bootstrapText: (text: string) => string): Promise<{ handshakes: number; sanFailures: number; served: number }> {
  const { certs } = await meshState(t);
  let served = 0;
  const impostor = createServer({ cert: readFileSync(join(certs, "certificates.pem")), key: readFileSync(join(certs, "private_key.pem")), ALPNProtocols: ["h2"] }, (s: TLSSocket) => {
    served++;
    s.on("error", () => {});
  });
  impostor.on("tlsClientError", () => {});
  const port = await new Promise<number>((resolve) => impostor.listen(0, "127.0.0.1", () => resolve((impostor.address() as { port: number }).port)));
  t.after(() => impostor.close());
  const admin = await freePort();
  const file = join(certs, "bootstrap.json");
  await gitmesh("bootstrap", "--namespace", "demo", "--service-account", "web", "--xds-address", `127.0.0.1:${port}`, "--xds-ca-file", join(certs, "ca_certificates.pem"), "--admin-port", String(admin), "--out", file);
  writeFileSync(file, bootstrapText(readFileSync(file, "utf8")));
  const proc = spawn(envoy, ["-c", file, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warn"], { stdio: "ignore" });
  t.after(() => proc.kill("SIGKILL"));
  const stat = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=${encodeURIComponent(`gitmesh-xds.ssl.${name}`)}`)).text();
    return Number(new RegExp(`gitmesh-xds\\.ssl\\.${name}: (\\d+)`).exec(text)?.[1] ?? 0);
  };
  return waitFor("Envoy's TLS handshake with the impostor to finish", async () => {
    const [handshakes, sanFailures] = [await stat("handshake"), await stat("fail_verify_san")];
    return handshakes + sanFailures > 0 ? { ok: true, value: { handshakes, sanFailures, served } } : { ok: false, why: "no handshake yet" };
  });
}

test("a bootstrap takes only gitmesh's TLS port for gitmesh, not a workload of the same mesh CA", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const refused = await dialImpostor(t, envoy, (text) => text);
  assert.deepEqual([refused.handshakes, refused.sanFailures, refused.served], [0, 1, 0], "the name check refuses a workload certificate");
  // Without the name check the chain alone would let it in: what the check is for.
  const chainOnly = await dialImpostor(t, envoy, (text) => {
    const json = JSON.parse(text) as { static_resources: { clusters: { transport_socket: { typed_config: { common_tls_context: { validation_context: Record<string, unknown> } } } }[] } };
    delete json.static_resources.clusters[0]?.transport_socket.typed_config.common_tls_context.validation_context["match_typed_subject_alt_names"];
    return JSON.stringify(json);
  });
  assert.equal(chainOnly.handshakes, 1, "a chain-only check accepts the impostor");
});
