// compose.yaml, envoy-bootstrap/generate.sh and config-examples/compose must agree: the script
// writes what `gitmesh bootstrap` writes, with a token for each workload's own identity, the names
// apps dial map to the addresses their sidecars listen on, and Envoy accepts the bootstraps where
// an Envoy binary is.
import assert from "node:assert/strict";
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { loadOrCreateTokenKey, verifyBearer } from "../../src/ca/index.js";
import { bootstrapText, type BootstrapOptions } from "../../src/cli/bootstrap.js";
import { openSecure } from "../../src/runtime/index.js";
import { silentLogger } from "../../src/log.js";
import { loadMesh } from "../../src/config/load.js";
import { readDirectory } from "../../src/config/source.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";
import { needEnvoy } from "../support/peers.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
/** The identities envoy-bootstrap/generate.sh writes bootstraps for (its WORKLOADS table). */
const bootstraps: Readonly<Record<string, BootstrapOptions>> = {
  "frontend.json": { ...common(), kind: "sidecar", nodeId: "sidecar~frontend.demo", serviceAccount: "frontend", labels: { app: "frontend", version: "v1" }, workloadGroup: "frontend" },
  "api-v1.json": { ...common(), kind: "sidecar", nodeId: "sidecar~api-v1.demo", serviceAccount: "api", labels: { app: "api", version: "v1" }, workloadGroup: "api-v1" },
  "api-v2.json": { ...common(), kind: "sidecar", nodeId: "sidecar~api-v2.demo", serviceAccount: "api", labels: { app: "api", version: "v2" }, workloadGroup: "api-v2" },
  "ingress.json": { ...common(), kind: "gateway", nodeId: "gateway~ingressgateway.demo", serviceAccount: "ingress", labels: { istio: "ingressgateway" }, workloadGroup: "ingressgateway" },
};

function common() {
  return { xdsAddress: "gitmesh:15012", adminPort: 15000, namespace: "demo", xdsCaFile: "/etc/gitmesh/trust-bundle.pem" } as const;
}

/** Runs generate.sh as compose's gitmesh-init does, against a real state directory. */
async function generated(): Promise<{ dir: string; key: Buffer; bundle: string }> {
  const state = mkdtempSync(join(tmpdir(), "gitmesh-compose-state-"));
  const out = mkdtempSync(join(tmpdir(), "gitmesh-compose-bootstrap-"));
  await openSecure({ stateDir: state, trustDomain: "cluster.local", logger: silentLogger });
  execFileSync("sh", [join(root, "envoy-bootstrap/generate.sh"), state, out], { env: { ...process.env, GITMESH: `${process.execPath} ${join(root, "dist/src/cli/main.js")}` }, encoding: "utf8" });
  return { dir: out, key: await loadOrCreateTokenKey(state), bundle: readFileSync(join(state, "trust-bundle.pem"), "utf8") };
}

test("generate.sh writes each workload a bootstrap with a token for its own identity, verifying gitmesh's TLS port", async () => {
  const { dir, key, bundle } = await generated();
  assert.equal(readFileSync(join(dir, "trust-bundle.pem"), "utf8"), bundle, "the trust bundle is copied for the proxies");
  for (const [file, options] of Object.entries(bootstraps)) {
    const text = readFileSync(join(dir, file), "utf8");
    const written = JSON.parse(text) as { dynamic_resources: { ads_config: { grpc_services: { initial_metadata: { key: string; value: string }[] }[] } } };
    const header = written.dynamic_resources.ads_config.grpc_services[0]?.initial_metadata.find((m) => m.key === "authorization")?.value;
    const verdict = verifyBearer(key, header);
    assert.ok(verdict.ok, `${file}: the token verifies`);
    assert.deepEqual([verdict.namespace, verdict.serviceAccount], [options.namespace, options.serviceAccount], `${file}: the token names the workload's identity`);
    // Everything but the token is what bootstrapText gives for the table's options.
    assert.equal(text, bootstrapText({ ...options, token: header?.replace(/^Bearer /, "") ?? "" }), `${file} is gitmesh bootstrap's output`);
  }
});

test("the CLI refuses to put a token on a plaintext connection", () => {
  const r = spawnSync(process.execPath, [join(root, "dist/src/cli/main.js"), "bootstrap", "--namespace", "demo", "--service-account", "frontend", "--token", "x"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--token needs --xds-ca-file/);
});

interface Compose {
  readonly services: Record<string, { environment?: Record<string, string>; extra_hosts?: string[]; command?: string[] }>;
  readonly "x-workload": { extra_hosts: string[] };
}

test("compose workloads dial service names that resolve to where their sidecars listen", async () => {
  const compose = parse(readFileSync(join(root, "compose.yaml"), "utf8"), { merge: true }) as Compose;
  const loaded = loadMesh(await readDirectory(join(root, "config-examples/compose")));
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.file}:${d.line} ${d.message}`).join("\n"));
  const hosts = execFileSync(process.execPath, [join(root, "dist/src/cli/main.js"), "hosts", join(root, "config-examples/compose"), "--namespace", "demo", "--format", "compose"], { encoding: "utf8" });
  const expected = hosts.trim().split("\n").map((l) => l.trim().replace(/^- "|"$/g, ""));
  assert.deepEqual(compose["x-workload"].extra_hosts, expected, "compose.yaml's extra_hosts are `gitmesh hosts --format compose`");
  const translation = translateMesh(loaded.model);
  for (const [name, service] of Object.entries(compose.services)) {
    const file = service.environment?.["BOOTSTRAP"];
    if (file === undefined) continue;
    const options = bootstraps[file];
    assert.ok(options !== undefined, `${name}: generate.sh writes ${file}`);
    assert.deepEqual(service.extra_hosts, expected, `${name} has the extra_hosts`);
    // The proxy as gitmesh sees it in compose: registered from the container's address.
    const proxy = { nodeId: name, kind: options.kind, namespace: options.namespace, serviceAccount: options.serviceAccount, labels: options.labels, ...(options.workloadGroup === undefined ? {} : { workloadGroup: options.workloadGroup }), instanceIps: [], peerAddress: "172.18.0.5" };
    const listeners = resourcesForProxy(translation, proxy).filter((r) => r.type === "envoy.config.listener.v3.Listener").map((r) => r.name);
    for (const line of expected.filter((l) => l.includes(".svc."))) {
      const [host, address] = line.split(":") as [string, string];
      assert.ok(listeners.includes(`${address}_8080`), `${name}'s sidecar listens where ${host} resolves (${address}:8080): ${listeners.join(", ")}`);
    }
    const url = service.environment?.["UPSTREAM"];
    if (url !== undefined) assert.ok(expected.some((l) => l.startsWith(`${new URL(url).hostname}:`)), `${name}'s UPSTREAM ${url} is a mapped name`);
  }
});

test("Envoy accepts the bootstraps (envoy --mode validate)", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const { dir } = await generated();
  for (const file of Object.keys(bootstraps)) {
    // --mode validate reads the trust bundle at the path the bootstrap names: point it here.
    const text = readFileSync(join(dir, file), "utf8").replaceAll("/etc/gitmesh/trust-bundle.pem", join(dir, "trust-bundle.pem"));
    writeFileSync(join(dir, `local-${file}`), text);
    const r: SpawnSyncReturns<string> = spawnSync(envoy, ["--mode", "validate", "-c", join(dir, `local-${file}`)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
  }
});
