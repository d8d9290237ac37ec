// Cross-resource checks: every code, with the file, line and column it points at.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";

const se = (name: string, host: string, ports = "[{ number: 9080, name: http, protocol: HTTP }]", extra = "") => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [${host}]
  ports: ${ports}
  resolution: STATIC${extra}
`;
const reviews = se("reviews", "reviews.shop.svc.cluster.local");
const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
`;

interface Case {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  /** code@file:line:col of every expected finding, in output order. */
  readonly expect: readonly string[];
}

const cases: readonly Case[] = [
  {
    name: "a valid mesh has no findings",
    files: {
      "se.yaml": reviews,
      "dr.yaml": dr,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v1, port: { number: 9080 } }
`,
    },
    expect: [],
  },
  {
    name: "GM0301: the same kind/namespace/name twice",
    files: { "a.yaml": reviews, "b.yaml": reviews },
    expect: ["GM0301@b.yaml:3:19"],
  },
  {
    name: "GM0302: destination and DestinationRule hosts no ServiceEntry declares",
    files: {
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: ratings }
`,
      "dr.yaml": dr,
    },
    expect: ["GM0302@dr.yaml:5:9", "GM0302@vs.yaml:8:32"],
  },
  {
    name: "GM0303: a subset the DestinationRule does not define",
    files: {
      "se.yaml": reviews,
      "dr.yaml": dr,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v9 }
`,
    },
    expect: ["GM0303@vs.yaml:8:49"],
  },
  {
    name: "GM0304: weights that do not add up to 100",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews }
          weight: 70
        - destination: { host: reviews }
          weight: 20
`,
    },
    expect: ["GM0304@vs.yaml:7:7"],
  },
  {
    name: "GM0305: a port the service does not have",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, port: { number: 8080 } }
`,
    },
    expect: ["GM0305@vs.yaml:8:57"],
  },
  {
    name: "GM0306: two VirtualServices claiming one host",
    files: {
      "se.yaml": reviews,
      "a.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews }
`,
      "b.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b, namespace: shop }
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
    - route:
        - destination: { host: reviews }
`,
    },
    expect: ["GM0306@b.yaml:5:11"],
  },
  {
    name: "GM0307: a route an earlier catch-all prefix shadows (warning)",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match:
        - uri: { prefix: /api }
      route:
        - destination: { host: reviews }
    - match:
        - uri: { prefix: /api/v2 }
          headers: { x-canary: { exact: "1" } }
      route:
        - destination: { host: reviews }
    - match:
        - uri: { regex: "/api/.*" }
      route:
        - destination: { host: reviews }
`,
    },
    expect: ["GM0307@vs.yaml:11:7"],
  },
  {
    name: "GM0308: a gateway that does not exist",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [mesh, edge]
  http:
    - route:
        - destination: { host: reviews }
`,
    },
    expect: ["GM0308@vs.yaml:6:20"],
  },
  {
    name: "GM0309: a selector that matches no workload (warning), and one that does",
    files: {
      "w.yaml": `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-1, namespace: shop }
spec:
  address: 10.0.0.1
  labels: { app: reviews }
`,
      "p.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ratings, namespace: shop }
spec:
  selector:
    matchLabels: { app: ratings }
  action: ALLOW
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: reviews, namespace: shop }
spec:
  selector:
    matchLabels: { app: reviews }
  mtls: { mode: STRICT }
`,
    },
    expect: ["GM0309@p.yaml:5:3"],
  },
  {
    name: "a ServiceEntry that fails its schema is reported once, not again at every reference to it",
    files: {
      "se.yaml": se("reviews", "reviews.shop.svc.cluster.local", "[{ number: 9080, name: http, protocol: HTTP }]", "\n  addresses: ['10.0.0.1']"),
      "dr.yaml": dr,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v2, port: { number: 1 } }
`,
    },
    expect: ["GM0201@se.yaml:8:3", "GM0303@vs.yaml:8:49"],
  },
  {
    name: "GM0310 invalid and non-RE2 regexes; GM0311 duplicate ServiceEntry ports; GM0312 duplicate subsets",
    files: {
      "se.yaml": se("reviews", "reviews.shop.svc.cluster.local", "[{ number: 9080, name: http, protocol: HTTP }, { number: 9080, name: http, protocol: HTTP }]"),
      "dr.yaml": dr + "    - { name: v1, labels: { version: v2 } }\n",
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match:
        - uri: { regex: "([a-z" }
        - headers: { x-id: { regex: "(?=a)b" } }
      route:
        - destination: { host: reviews }
`,
    },
    expect: ["GM0312@dr.yaml:8:15", "GM0311@se.yaml:6:67", "GM0311@se.yaml:6:79", "GM0310@vs.yaml:8:25", "GM0310@vs.yaml:9:37"],
  },
  {
    name: "a wildcard DestinationRule needs no ServiceEntry and its subsets count; one destination needs no weight",
    files: {
      "se.yaml": reviews,
      "dr.yaml": `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: all, namespace: shop }
spec:
  host: "*.shop.svc.cluster.local"
  subsets:
    - { name: stable, labels: { track: stable } }
`,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: stable }
          weight: 50
`,
    },
    expect: [],
  },
  {
    name: "GM0307 also for a regex after a catch-all and a repeated exact path; an empty headers map is no condition",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match:
        - uri: { exact: /b }
      route: [{ destination: { host: reviews } }]
    - match:
        - uri: { exact: /b }
      route: [{ destination: { host: reviews } }]
    - match:
        - headers: {}
      route: [{ destination: { host: reviews } }]
    - match:
        - uri: { regex: "/a.*" }
      route: [{ destination: { host: reviews } }]
`,
    },
    expect: ["GM0307@vs.yaml:10:7", "GM0307@vs.yaml:16:7"],
  },
  {
    name: "a ServiceEntry whose hosts is a string (a schema error) still declares the host",
    files: {
      "se.yaml": reviews.replace("hosts: [reviews.shop.svc.cluster.local]", "hosts: reviews.shop.svc.cluster.local"),
      "dr.yaml": dr,
    },
    expect: ["GM0202@se.yaml:5:10"],
  },
  {
    name: "GM0313 one host in two ServiceEntries; GM0314 two DestinationRules for one host; GM0315 no port on a multi-port destination",
    files: {
      "se.yaml": reviews + "---\n" + se("reviews-copy", "reviews.shop.svc.cluster.local"),
      "multi.yaml": se("ratings", "ratings.shop.svc.cluster.local", "[{ number: 80, name: http, protocol: HTTP }, { number: 9090, name: grpc, protocol: GRPC }]"),
      "dr.yaml": dr + "---\n" + dr.replace("name: reviews", "name: reviews-too"),
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: ratings }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: same-service, namespace: shop }
spec:
  hosts: [ratings]
  http:
    - route:
        - destination: { host: ratings }
`,
    },
    expect: ["GM0314@dr.yaml:13:9", "GM0313@se.yaml:13:11", "GM0315@vs.yaml:8:11"],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const files = Object.entries(c.files).map(([path, text]) => ({ path, text }));
    const { diagnostics } = loadMesh(files);
    assert.deepEqual(
      diagnostics.map((d) => `${d.code}@${d.file}:${d.line}:${d.col}`),
      c.expect,
      diagnostics.map((d) => `${d.code} ${d.file}:${d.line}:${d.col} ${d.message}`).join("\n"),
    );
    for (const d of diagnostics) {
      assert.ok(d.resource, "every finding about a resource names it");
      assert.ok(d.message.length > 20, "the message says what to do");
    }
  });
}

test("severities: GM0307 and GM0309 are warnings, the rest errors", () => {
  const warnings = new Set(["GM0307", "GM0309"]);
  for (const c of cases) {
    const { diagnostics } = loadMesh(Object.entries(c.files).map(([path, text]) => ({ path, text })));
    for (const d of diagnostics.filter((x) => x.code.startsWith("GM03"))) assert.equal(d.severity, warnings.has(d.code) ? "warning" : "error", `${d.code} in "${c.name}"`);
  }
});
