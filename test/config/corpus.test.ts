// Istio's own samples and task YAML, re-typed by hand (test/fixtures/istio-corpus/README.md):
// every scenario validates without errors and is translated for the sample's proxies into
// resources that pass Envoy's validation rules and reference nothing missing.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { encodeMessage, TypeUrl, validateMessage } from "../../src/envoy/index.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { resourcesForProxy } from "../../src/translators/proxy-resources.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { checkConsistency, makeSnapshot, ResourceEncoder } from "../../src/xds/index.js";
import { issueLeaf, organisationCa } from "../fleet/support/certs.js";
import { REPO } from "../support/golden-cases.js";

const CORPUS = join(REPO, "test/fixtures/istio-corpus");

const sidecar = (namespace: string, serviceAccount: string, labels: Record<string, string>): ProxyIdentity =>
  ({ nodeId: `${serviceAccount}-1`, kind: "sidecar", namespace, serviceAccount, labels, instanceIps: [], authenticated: true }) as ProxyIdentity;
const ingress = { nodeId: "ingress-1", kind: "gateway", namespace: "istio-system", serviceAccount: "istio-ingressgateway", labels: { istio: "ingressgateway" }, instanceIps: [], authenticated: true } as ProxyIdentity;

/** The samples' client (Istio's sleep, later curl). */
const client = sidecar("default", "sleep", { app: "sleep" });

/** The proxies each sample is rendered for. */
const PROXIES: Readonly<Record<string, readonly ProxyIdentity[]>> = {
  bookinfo: [sidecar("default", "bookinfo-productpage", { app: "productpage", version: "v1" }), sidecar("default", "bookinfo-reviews", { app: "reviews", version: "v2" }), ingress],
  httpbin: [client, sidecar("default", "httpbin", { app: "httpbin", version: "v1" }), ingress],
  helloworld: [client, sidecar("default", "default", { app: "helloworld", version: "v2" }), ingress],
  "tcp-echo": [client, sidecar("default", "default", { app: "tcp-echo", version: "v1" }), ingress],
  nginx: [sidecar("default", "default", { run: "my-nginx" }), ingress],
  external: [client, { nodeId: "egress-1", kind: "gateway", namespace: "istio-system", serviceAccount: "istio-egressgateway", labels: { istio: "egressgateway" }, instanceIps: [], authenticated: true } as ProxyIdentity],
};

/** Scenarios gitmesh does not serve yet, each with why (the test runs, marked todo). */
const NOT_YET: Readonly<Record<string, string>> = {};

/** The secrets the tasks create (kubectl create secret tls), as the credentials directory holds them. */
const httpbinCredential = issueLeaf(organisationCa("example.com CA"), "httpbin.example.com", { server: ["httpbin.example.com"] });
const credentials = new Map([["httpbin-credential", { cert: httpbinCredential.certPem, key: httpbinCredential.keyPem }]]);

/**
 * The ingress gateway's pod, which Kubernetes would know: a gateway holds a Gateway's private keys
 * only when it is a declared workload the Gateway selects (credentialAccess).
 */
const ingressPod = {
  path: "harness/ingress-pod.yaml",
  text: "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: ingress-1, namespace: istio-system }\nspec: { address: 10.0.0.1, labels: { istio: ingressgateway }, serviceAccount: istio-ingressgateway }\n",
};

/** The secrets the runtime adds per proxy (its own certificate and the trust bundle). */
const PER_PROXY_SECRETS = new Set(["default", "ROOTCA"]);

const read = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort().map((f) => ({ path: `${dir.slice(CORPUS.length + 1)}/${f}`, text: readFileSync(join(dir, f), "utf8") }));

for (const sample of readdirSync(CORPUS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
  const base = read(join(CORPUS, sample, "base"));
  for (const scenario of read(join(CORPUS, sample, "scenarios"))) {
    const todo = NOT_YET[scenario.path];
    test(`Istio ${sample}: ${scenario.path.split("/").pop()} validates and serves`, todo === undefined ? {} : { todo }, () => {
      const loaded = loadMesh([...base, scenario, ingressPod]);
      const errors = loaded.diagnostics.filter((d) => d.severity === "error");
      assert.deepEqual(errors.map((d) => `${d.file}:${d.line}:${d.col} ${d.code} ${d.message}`), []);
      const translation = translateMesh(loaded.model, undefined, { credentials });
      const encoder = new ResourceEncoder();
      const proxies = PROXIES[sample];
      assert.ok(proxies !== undefined, `PROXIES names the proxies of ${sample}`);
      for (const proxy of proxies) {
        const resources = resourcesForProxy(translation, proxy);
        // A gateway has listeners where a Gateway selects it; a sidecar always has some.
        const listens = proxy.kind !== "gateway" || loaded.model.resources.some((r) => r.kind === "Gateway");
        assert.equal(resources.some((r) => r.type === "envoy.config.listener.v3.Listener"), listens, `${proxy.nodeId} gets listeners`);
        for (const r of resources) assert.deepEqual(validateMessage(r.type, encodeMessage(r.type, r.message as never)), [], `${proxy.nodeId}: ${r.type} ${r.name}`);
        const snapshot = makeSnapshot(resources.map((r) => encoder.encode(r)));
        assert.ok(snapshot.ok, JSON.stringify(!snapshot.ok && snapshot.problems));
        const missing = checkConsistency(snapshot.snapshot).filter((p) => !PER_PROXY_SECRETS.has(p.missing.name) || p.missing.typeUrl !== TypeUrl.Secret);
        assert.deepEqual(missing, [], `${proxy.nodeId}: every name referenced is present`);
      }
    });
  }
}
