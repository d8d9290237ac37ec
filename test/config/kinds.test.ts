// Documents that are not mesh config, as found beside Istio YAML: one message each, saying what
// they are and what to write instead; Kubernetes kinds are skipped with a warning.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";

const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: s, namespace: shop }
spec: { egress: [{ hosts: ["./*"] }] }
`;

const cases: readonly { name: string; doc: string; expect: string; says: RegExp }[] = [
  { name: "a Kubernetes Service", doc: "apiVersion: v1\nkind: Service\nmetadata: { name: reviews }\nspec: { selector: { app: reviews } }\n", expect: "GM0104 2:7 warning", says: /ServiceEntry/ },
  { name: "a Deployment", doc: "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: reviews-v1 }\nspec: {}\n", expect: "GM0104 2:7 warning", says: /WorkloadEntry/ },
  { name: "a ServiceAccount", doc: "apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: reviews }\n", expect: "GM0104 2:7 warning", says: /serviceAccount names it/ },
  { name: "a Namespace", doc: "apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n", expect: "GM0104 2:7 warning", says: /metadata\.namespace/ },
  { name: "a Gateway API Gateway (one message, not its schema errors)", doc: "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { gatewayClassName: istio, listeners: [] }\n", expect: "GM0101 2:7 error", says: /Gateway API.*Istio Gateway/ },
  { name: "a Gateway API HTTPRoute", doc: "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: { name: r }\nspec: {}\n", expect: "GM0101 2:7 error", says: /Gateway API/ },
  { name: "an Istio kind gitmesh lacks", doc: "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: { name: ef }\nspec: {}\n", expect: "GM0101 2:7 error", says: /Istio kind gitmesh does not support/ },
];

for (const c of cases) {
  test(`not mesh config: ${c.name}`, () => {
    const loaded = loadMesh([{ path: "a.yaml", text: c.doc + "---\n" + sidecar }]);
    assert.deepEqual(
      loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.severity}`),
      [c.expect],
      loaded.diagnostics.map((d) => d.message).join("\n"),
    );
    assert.match(loaded.diagnostics[0]?.message ?? "", c.says);
    assert.deepEqual(
      loaded.model.resources.map((r) => r.kind),
      ["Sidecar"],
      "the document is not a mesh resource; the rest of the file is read",
    );
    assert.equal(loaded.ok, c.expect.endsWith("warning"));
  });
}
