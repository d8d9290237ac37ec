// compose.yaml, envoy-bootstrap/ and config-examples/compose must agree: the bootstraps are what
// `gitmesh bootstrap` writes (GOLDEN_UPDATE=1 rewrites them), the names apps dial map to the
// addresses their sidecars listen on, and Envoy accepts the bootstraps where an Envoy binary is.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { bootstrapText, type BootstrapOptions } from "../../src/cli/bootstrap.js";
import { loadMesh } from "../../src/config/load.js";
import { readDirectory } from "../../src/config/source.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const update = process.env["GOLDEN_UPDATE"] === "1";
const common = { xdsAddress: "gitmesh:15010", adminPort: 15000, namespace: "demo" } as const;

/** Each bootstrap file and the `gitmesh bootstrap` flags it is made with (see envoy-bootstrap/README.md). */
const bootstraps: Readonly<Record<string, BootstrapOptions>> = {
  "frontend.json": { ...common, kind: "sidecar", nodeId: "sidecar~frontend.demo", serviceAccount: "frontend", labels: { app: "frontend", version: "v1" }, workloadGroup: "frontend" },
  "api-v1.json": { ...common, kind: "sidecar", nodeId: "sidecar~api-v1.demo", serviceAccount: "api", labels: { app: "api", version: "v1" }, workloadGroup: "api-v1" },
  "api-v2.json": { ...common, kind: "sidecar", nodeId: "sidecar~api-v2.demo", serviceAccount: "api", labels: { app: "api", version: "v2" }, workloadGroup: "api-v2" },
  "ingress.json": { ...common, kind: "gateway", nodeId: "gateway~ingress.demo", serviceAccount: "ingress", labels: { istio: "ingressgateway" }, workloadGroup: "ingressgateway" },
};

test("envoy-bootstrap/ holds what gitmesh bootstrap writes", () => {
  for (const [file, options] of Object.entries(bootstraps)) {
    const path = join(root, "envoy-bootstrap", file);
    const text = bootstrapText(options);
    if (update) writeFileSync(path, text);
    else assert.equal(readFileSync(path, "utf8"), text, `${path} differs: run npm run golden:update`);
  }
});

test("the CLI writes the same bootstrap as the table above", () => {
  const out = execFileSync(process.execPath, [join(root, "dist/src/cli/main.js"), "bootstrap", "--namespace", "demo", "--service-account", "frontend", "--labels", "app=frontend,version=v1", "--workload-group", "frontend"], { encoding: "utf8" });
  assert.equal(out, bootstrapText(bootstraps["frontend.json"] ?? assert.fail()));
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
    assert.ok(options !== undefined && existsSync(join(root, "envoy-bootstrap", file)), `${name}: ${file} exists`);
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

test("Envoy accepts the bootstraps (envoy --mode validate)", (t) => {
  const envoy = process.env["ENVOY_BIN"] ?? "envoy";
  if (spawnSync(envoy, ["--version"]).error !== undefined) {
    t.skip(`no Envoy binary (set ENVOY_BIN or put envoy on PATH): bootstraps not checked by Envoy itself`);
    return;
  }
  for (const file of Object.keys(bootstraps)) {
    const r = spawnSync(envoy, ["--mode", "validate", "-c", join(root, "envoy-bootstrap", file)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
  }
});
