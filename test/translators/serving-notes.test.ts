// What serve leaves out or changes in clusters, as validate reports it (GM0338): the notes only
// clusterNotes says, at the DestinationRule (or the ServiceEntry without one); never what validate
// already says where it is written (GM0321-GM0323) or what concerns gRPC clients alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { servingNotes } from "../../src/translators/serving-notes.js";

const se = (name: string, resolution: string, extra = "") => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${name}.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: ${resolution}
  ports: [{ number: 80, name: http, protocol: HTTP }]
${extra}`;

const dr = (name: string, trafficPolicy: string) => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: shop }
spec:
  host: ${name}
  trafficPolicy:
${trafficPolicy}`;

const cases: { name: string; text: string; expect: string[] }[] = [
  {
    name: "resolution NONE with endpoints: served as EDS with them, at the ServiceEntry's hosts",
    text: se("a", "NONE", "  endpoints: [{ address: 10.0.0.1 }]\n"),
    expect: ["mesh.yaml:5:3 resolution NONE with endpoints listed or selected is served as EDS"],
  },
  {
    name: "warmup with consistentHash has no effect: at the DestinationRule's host",
    text: se("b", "STATIC", "  endpoints: [{ address: 10.0.0.2 }]\n") + dr("b", "    loadBalancer: { consistentHash: { httpHeaderName: x-user }, warmup: { duration: 10s } }\n"),
    expect: ["mesh.yaml:15:3 loadBalancer warmup has no effect with consistentHash"],
  },
  {
    name: "what validate says where it is written, or what only gRPC clients mind, is not repeated",
    text: se("c", "STATIC", "  endpoints: [{ address: 10.0.0.3 }]\n") + dr("c", "    loadBalancer: { simple: LEAST_REQUEST }\n    connectionPool: { tcp: { connectTimeout: 0s } }\n"),
    expect: [],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const loaded = loadMesh([{ path: "mesh.yaml", text: c.text }]);
    assert.ok(loaded.ok, loaded.diagnostics.map((d) => d.message).join("\n"));
    const found = servingNotes(loaded.model);
    assert.ok(found.every((d) => d.code === "GM0338" && d.severity === "warning"));
    assert.equal(found.length, c.expect.length, found.map((d) => d.message).join("\n"));
    c.expect.forEach((e, i) => {
      const d = found[i];
      const [where, text] = [e.slice(0, e.indexOf(" ")), e.slice(e.indexOf(" ") + 1)];
      assert.equal(`${d?.file}:${d?.line}:${d?.col}`, where);
      assert.ok(d?.message.includes(text), d?.message);
    });
  });
}
