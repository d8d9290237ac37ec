// Values Istio accepts in several spellings are accepted too, and reach the model in one form.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";

const serviceEntry = (protocol: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: shop }
spec:
  hosts: [web.shop.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: ${protocol} }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1 }]
`;

const gateway = (protocol: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { app: web }
  servers:
    - port: { number: 80, name: http, protocol: ${protocol} }
      hosts: ["*"]
`;

const cases: readonly { text: string; protocol?: string; diagnostic?: string }[] = [
  { text: serviceEntry("http"), protocol: "HTTP" },
  { text: serviceEntry("Http2"), protocol: "HTTP2" },
  { text: serviceEntry("grpc"), protocol: "GRPC" },
  { text: serviceEntry("tcp"), protocol: "TCP" },
  { text: serviceEntry("HTTP"), protocol: "HTTP" },
  { text: gateway("http"), protocol: "HTTP" },
  // Still checked, as written in upper case: an Istio protocol gitmesh lacks says so.
  { text: serviceEntry("mongo"), diagnostic: "GM0204 6:47" },
  { text: serviceEntry("bogus"), diagnostic: "GM0204 6:47" },
];

for (const c of cases) {
  test(`protocol names are case-insensitive, as Istio parses them: ${c.text.split("\n")[1]} ${/protocol: (\S+) \}/.exec(c.text)?.[1]}`, () => {
    const loaded = loadMesh([{ path: "a.yaml", text: c.text + (c.text.includes("Gateway") ? "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: web, namespace: shop }\nspec: { address: 10.0.0.1, labels: { app: web } }\n" : "") }]);
    const errors = loaded.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.line}:${d.col}`);
    if (c.diagnostic !== undefined) {
      assert.deepEqual(errors, [c.diagnostic]);
      return;
    }
    assert.deepEqual(errors, []);
    const r = loaded.model.resources.find((x) => x.kind === "ServiceEntry" || x.kind === "Gateway");
    const protocol = r?.kind === "ServiceEntry" ? r.spec.ports?.[0]?.protocol : r?.kind === "Gateway" ? r.spec.servers[0]?.port.protocol : undefined;
    assert.equal(protocol, c.protocol);
  });
}

test("spec may be left out of an AuthorizationPolicy or PeerAuthentication, as their CRDs allow; not of a VirtualService", () => {
  const doc = (apiVersion: string, kind: string) => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: { name: x, namespace: shop }\n`;
  const loaded = loadMesh([
    { path: "a.yaml", text: [doc("security.istio.io/v1", "AuthorizationPolicy"), doc("security.istio.io/v1", "PeerAuthentication"), doc("networking.istio.io/v1", "VirtualService")].join("---\n") },
  ]);
  assert.deepEqual(
    loaded.diagnostics.map((d) => `${d.code} ${d.line}`),
    ["GM0206 9"],
  );
  const ap = loaded.model.resources.find((r) => r.kind === "AuthorizationPolicy");
  assert.deepEqual(ap?.spec, {}, "an ALLOW policy without rules: allow nothing, as Istio reads it");
});

test("a Gateway server port name may be upper case, as Istio allows (HTTP); a space is still refused", () => {
  const gw = (name: string) => gateway("HTTP").replace("name: http,", `name: ${name},`) + "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: web, namespace: shop }\nspec: { address: 10.0.0.1, labels: { app: web } }\n";
  assert.deepEqual(loadMesh([{ path: "a.yaml", text: gw("HTTP") }]).diagnostics.map((d) => d.code), []);
  assert.deepEqual(loadMesh([{ path: "a.yaml", text: gw('"a b"') }]).diagnostics.map((d) => d.code), ["GM0204"]);
});
