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

/** Gateway shop/edge and the ingress workload it selects; servers is the YAML under spec. */
const edgeGateway = (servers: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ingress, namespace: shop }
spec: { address: 10.0.0.9, labels: { istio: ingress } }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { istio: ingress }
  ${servers}
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
    expect: ["GM0302@dr.yaml:5:9", "GM0320@vs.yaml:5:11", "GM0302@vs.yaml:8:32"],
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
    name: "GM0304: weights that do not add up to 100 are relative (a warning); GM0325: weights that add up to 0 (an error)",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match: [{ uri: { prefix: /zero } }]
      route:
        - destination: { host: reviews }
          weight: 0
        - destination: { host: reviews }
    - match: [{ uri: { prefix: /even } }]
      route:
        - destination: { host: reviews }
          weight: 50
        - destination: { host: reviews }
          weight: 50
    - route:
        - destination: { host: reviews }
          weight: 70
        - destination: { host: reviews }
          weight: 20
`,
    },
    expect: ["GM0325@vs.yaml:8:7", "GM0304@vs.yaml:18:7"],
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
    // shop.example.com is routed for sidecars ("mesh") too, where no ServiceEntry declares it.
    expect: ["GM0320@vs.yaml:5:11", "GM0308@vs.yaml:6:20"],
  },
  {
    name: "GM0316: a policy selector that matches no workload (error), and one that does",
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
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ratings, namespace: shop }
spec:
  selector:
    matchLabels: { app: ratings }
  jwtRules: [{ issuer: a, jwks: '{"keys":[]}' }]
`,
    },
    expect: ["GM0316@p.yaml:5:3", "GM0316@p.yaml:21:3"],
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
    name: "GM0315 no port on a multi-port destination",
    files: {
      "se.yaml": reviews,
      "multi.yaml": se("ratings", "ratings.shop.svc.cluster.local", "[{ number: 80, name: http, protocol: HTTP }, { number: 9090, name: grpc, protocol: GRPC }]"),
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
    expect: ["GM0315@vs.yaml:8:11"],
  },
  {
    name: "two DestinationRules for one host merge: each adds a subset, both subsets route (no finding)",
    files: {
      "se.yaml": reviews,
      "a.yaml": dr,
      "b.yaml": dr.replace("name: reviews", "name: reviews-v2").replace("name: v1, labels: { version: v1 }", "name: v2, labels: { version: v2 }"),
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - { destination: { host: reviews, subset: v1 }, weight: 50 }
        - { destination: { host: reviews, subset: v2 }, weight: 50 }
`,
    },
    expect: [],
  },
  {
    name: "GM0314 (warning): a subset name defined again by a later rule is dropped, at the later one naming the first",
    files: { "se.yaml": reviews, "dr.yaml": dr + "---\n" + dr.replace("name: reviews", "name: reviews-too") },
    expect: ["GM0314@dr.yaml:15:15"],
  },
  {
    name: "GM0314 (warning): file order decides which rule is first (b.yaml's subset is the one dropped)",
    files: { "se.yaml": reviews, "b.yaml": dr.replace("name: reviews", "name: aaa"), "a.yaml": dr.replace("name: reviews", "name: zzz") },
    expect: ["GM0314@b.yaml:7:15"],
  },
  {
    name: "GM0314 (warning): a second top-level trafficPolicy for one host is dropped",
    files: {
      "se.yaml": reviews,
      "dr.yaml": `${dr}  trafficPolicy: { loadBalancer: { simple: RANDOM } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-lb, namespace: shop }
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }
`,
    },
    expect: ["GM0314@dr.yaml:15:3"],
  },
  {
    name: "GM0314 (warning): a workload two workloadSelector rules for one host select takes the first in file order only",
    files: {
      "se.yaml": reviews,
      "w.yaml": `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: batch-1, namespace: shop }
spec: { address: 10.0.0.7, labels: { role: batch, tier: low } }
`,
      "a.yaml": dr.replace("  host: reviews", "  host: reviews\n  workloadSelector: { matchLabels: { role: batch } }"),
      "b.yaml": dr.replace("name: reviews", "name: low").replace("  host: reviews", "  host: reviews\n  workloadSelector: { matchLabels: { tier: low } }"),
      "c.yaml": dr.replace("name: reviews", "name: same").replace("  host: reviews", "  host: reviews\n  workloadSelector: { matchLabels: { role: batch } }").replace("name: v1,", "name: v9,"),
    },
    expect: ["GM0314@b.yaml:6:3"],
  },
  {
    name: "rules with different exportTo, or different namespaces, are not merged (no finding)",
    files: {
      "se.yaml": reviews,
      "dr.yaml": `${dr}---
${dr.replace("namespace: shop", "namespace: web").replace("host: reviews", "host: reviews.shop.svc.cluster.local")}---
${dr.replace("name: reviews", "name: private").replace("host: reviews", 'host: reviews\n  exportTo: ["."]')}`,
    },
    expect: [],
  },
  {
    name: "two ServiceEntries for one host in one namespace merge: ports of both, a route to the second's port (no finding)",
    files: {
      "se.yaml": reviews + "---\n" + se("reviews-admin", "reviews.shop.svc.cluster.local", "[{ number: 9081, name: admin, protocol: HTTP }]"),
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, port: { number: 9081 } }
`,
    },
    expect: [],
  },
  {
    name: "GM0313: ServiceEntries for one host with another resolution, a port declared differently, a port name reused, another namespace",
    files: {
      "se.yaml": [
        reviews,
        se("other-resolution", "reviews.shop.svc.cluster.local", "[{ number: 9080, name: http, protocol: HTTP }]").replace("STATIC", "DNS"),
        se("other-port", "reviews.shop.svc.cluster.local", "[{ number: 9080, name: tcp, protocol: TCP }]"),
        se("same-name", "reviews.shop.svc.cluster.local", "[{ number: 9999, name: http, protocol: HTTP }]"),
        se("elsewhere", "reviews.shop.svc.cluster.local").replace("namespace: shop", "namespace: web"),
      ].join("---\n"),
    },
    expect: ["GM0313@se.yaml:15:15", "GM0313@se.yaml:22:11", "GM0313@se.yaml:30:33", "GM0313@se.yaml:37:11"],
  },
  {
    name: "GM0309: a Sidecar, ServiceEntry or Gateway selector that matches no workload (warning)",
    files: {
      "s.yaml": `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: payments, namespace: shop }
spec:
  workloadSelector: { labels: { app: payments } }
  egress: [{ hosts: ["./*"] }]
`,
    },
    expect: ["GM0309@s.yaml:5:3"],
  },
  {
    name: "GM0309: a DestinationRule workloadSelector that matches no workload (warning): its policy reaches no proxy",
    files: {
      "se.yaml": se("reviews", "reviews.shop.svc.cluster.local"),
      "dr.yaml": `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-for-payments, namespace: shop }
spec:
  host: reviews
  workloadSelector: { matchLabels: { app: payments } }
  trafficPolicy: { loadBalancer: { simple: RANDOM } }
`,
    },
    expect: ["GM0309@dr.yaml:6:3"],
  },
  {
    name: "GM0339: a second Sidecar egress listener (none has a port), at its own line",
    files: {
      "s.yaml": `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec:
  egress:
    - hosts: ["./*"]
    - hosts: ["istio-system/*"]
`,
    },
    expect: ["GM0339@s.yaml:7:7"],
  },
  {
    name: "GM0316 spares a policy whose workloads register at run time (a ServiceEntry selects them), not one with a conflicting label",
    files: {
      "se.yaml": se("identity", "identity.shop.svc.cluster.local", "[{ number: 9090, name: grpc, protocol: GRPC }]", "\n  workloadSelector: { labels: { app: identity } }"),
      "p.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: identity, namespace: shop }
spec:
  selector: { matchLabels: { app: identity, version: v2 } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: typo, namespace: shop }
spec:
  selector: { matchLabels: { app: identiy } }
`,
    },
    expect: ["GM0316@p.yaml:11:3", "GM0309@se.yaml:8:3"],
  },
  {
    name: "GM0317: mesh workloads under STRICT behind a ServiceEntry that is not MESH_INTERNAL; MESH_INTERNAL, ISTIO_MUTUAL or PERMISSIVE are fine",
    files: {
      "w.yaml": `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: pay-1, namespace: shop }
spec: { address: 10.0.0.1, labels: { app: pay } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: cart-1, namespace: open }
spec: { address: 10.0.0.2, labels: { app: cart } }
`,
      "pa.yaml": `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: open }
spec: { mtls: { mode: PERMISSIVE } }
`,
      "se.yaml": se("pay", "pay.shop.svc.cluster.local", undefined, "\n  workloadSelector: { labels: { app: pay } }") +
        "---\n" + se("pay-ext", "pay-ext.shop.svc.cluster.local", undefined, "\n  location: MESH_EXTERNAL\n  workloadSelector: { labels: { app: pay } }") +
        "---\n" + se("pay-int", "pay-int.shop.svc.cluster.local", undefined, "\n  location: MESH_INTERNAL\n  workloadSelector: { labels: { app: pay } }") +
        "---\n" + se("pay-dr", "pay-dr.shop.svc.cluster.local", undefined, "\n  workloadSelector: { labels: { app: pay } }") +
        "---\n" + se("cart", "cart.open.svc.cluster.local", undefined, "\n  workloadSelector: { labels: { app: cart } }").replace("namespace: shop", "namespace: open"),
      "dr.yaml": `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: pay-dr, namespace: shop }
spec:
  host: pay-dr
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }
`,
    },
    expect: ["GM0317@se.yaml:8:3", "GM0317@se.yaml:17:13"],
  },
  {
    name: "GM0318: principals written with spiffe:// (any case)",
    files: {
      "w.yaml": `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: pay-1, namespace: shop }
spec: { address: 10.0.0.1, labels: { app: pay } }
`,
      "p.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: pay, namespace: shop }
spec:
  selector: { matchLabels: { app: pay } }
  rules:
    - from:
        - source: { principals: [cluster.local/ns/shop/sa/ok, "spiffe://cluster.local/ns/shop/sa/cart"] }
        - source: { notPrincipals: ["SPIFFE://cluster.local/ns/shop/sa/bad"] }
`,
    },
    expect: ["GM0318@p.yaml:8:63", "GM0318@p.yaml:9:37"],
  },
  {
    name: "GM0319: a subset whose labels select none of the service's endpoints (warning); GM0320: a mesh VirtualService host nothing declares (warning)",
    files: {
      "se.yaml": se("reviews", "reviews.shop.svc.cluster.local", undefined, "\n  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]"),
      "dr.yaml": dr + "    - { name: v2, labels: { version: v2 } }\n",
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews, review]
  http:
    - route:
        - destination: { host: reviews, subset: v2 }
`,
    },
    expect: ["GM0319@dr.yaml:8:19", "GM0320@vs.yaml:5:20"],
  },
  {
    name: "GM0321 endpoints a cluster cannot use, GM0322 the endpoints DNS_ROUND_ROBIN leaves out (warnings: serve drops them); GM0324 a host \"*\"",
    files: {
      "se.yaml": se("static", "static.shop.svc.cluster.local", undefined, "\n  endpoints: [{ address: 10.0.0.1 }, { address: db.example.com }]") +
        "---\n" + se("rr", "rr.shop.svc.cluster.local", undefined, "\n  endpoints: [{ address: b.example.com }, { address: a.example.com }, { address: unix:///run/rr.sock }]").replace("resolution: STATIC", "resolution: DNS_ROUND_ROBIN") +
        "---\n" + se("all", '"*"'),
      "w.yaml": `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: by-name, namespace: shop }
spec: { address: vm1.example.com, labels: { app: vm } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: vm, namespace: shop }
spec:
  hosts: [vm.shop.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  workloadSelector: { labels: { app: vm } }
`,
    },
    expect: ["GM0321@se.yaml:8:49", "GM0322@se.yaml:16:15", "GM0321@se.yaml:17:82", "GM0324@se.yaml:23:11", "GM0321@w.yaml:4:18"],
  },
  {
    name: "GM0323: a duration of 0 Envoy refuses, at the top, port level and in a subset (warning: serve uses the default)",
    files: {
      "se.yaml": reviews,
      "dr.yaml": `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  trafficPolicy:
    connectionPool: { tcp: { connectTimeout: 0s } }
    portLevelSettings:
      - port: { number: 9080 }
        outlierDetection: { interval: "0", baseEjectionTime: 30s }
  subsets:
    - name: v1
      trafficPolicy: { outlierDetection: { baseEjectionTime: 0ms } }
`,
    },
    expect: ["GM0323@dr.yaml:7:46", "GM0323@dr.yaml:10:39", "GM0323@dr.yaml:13:62"],
  },
  {
    name: "GM0326 a VirtualService without routes, GM0327 \"*\" for sidecars (not on a gateway), GM0328 an empty Sidecar",
    files: {
      "se.yaml": reviews,
      "gw.yaml": edgeGateway('servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]'),
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: empty, namespace: shop }
spec:
  hosts: [reviews]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: all, namespace: shop }
spec:
  hosts: ["*"]
  http: [{ route: [{ destination: { host: reviews } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: all-at-edge, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{ route: [{ destination: { host: reviews } }] }]
`,
      "sidecar.yaml": `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec: {}
`,
    },
    expect: ["GM0328@sidecar.yaml:4:1", "GM0326@vs.yaml:4:1", "GM0327@vs.yaml:11:11"],
  },
  {
    name: "GM0329 a DENY policy without rules, GM0330 portLevelMtls without a selector",
    files: {
      "p.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-nothing, namespace: shop }
spec:
  action: DENY
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec:
  mtls: { mode: STRICT }
  portLevelMtls:
    "8080": { mode: DISABLE }
`,
    },
    expect: ["GM0329@p.yaml:5:11", "GM0330@p.yaml:12:3"],
  },
  {
    name: "GM0331 endpoint ports that name no service port, GM0332 two Gateway servers with one port name",
    files: {
      "se.yaml": se("reviews", "reviews.shop.svc.cluster.local", undefined, "\n  endpoints: [{ address: 10.0.0.1, ports: { http: 8080, htp: 8081 } }]"),
      "gw.yaml": edgeGateway(`servers:
    - { port: { number: 80, name: web, protocol: HTTP }, hosts: [a.example.com] }
    - { port: { number: 8080, name: web, protocol: HTTP }, hosts: [b.example.com] }`),
    },
    expect: ["GM0332@gw.yaml:13:37", "GM0331@se.yaml:8:57"],
  },
  {
    name: "a document with a YAML syntax error is lost alone, and what it declares is not reported missing again",
    files: {
      "se.yaml": reviews.replace("  resolution: STATIC", "  resolution: STATIC\n  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]\n   bad: indent") + "---\n" + dr.replace("subsets:\n    - { name: v1, labels: { version: v1 } }", "subsets: [{ name: v1, labels: { version: v1 }]"),
      "p.yaml": `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews, namespace: shop }
spec:
  selector: { matchLabels: { version: v1 } }
`,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v1 }
`,
    },
    expect: ["GM0001@se.yaml:9:1", "GM0001@se.yaml:16:48"],
  },
  {
    name: "GM0310 checked by RE2 itself: (?i), [[:alpha:]] and \\d{1000} compile, \\d{1001} does not; GM0333 header values as Envoy parses them",
    files: {
      "se.yaml": reviews,
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - match:
        - uri: { regex: "(?i)/api/[[:alpha:]]+" }
        - uri: { regex: "/\\\\d{1000}" }
        - uri: { regex: "/\\\\d{1001}" }
      headers:
        request:
          set: { x-ok: "100%% sure", x-client: "%DOWNSTREAM_REMOTE_ADDRESS%", x-bad: "50% off" }
      route:
        - destination: { host: reviews }
          headers: { response: { add: { x-start: "%START_TIME(%s)%", x-open: "%UPSTREAM_HOST" } } }
`,
    },
    expect: ["GM0310@vs.yaml:10:25", "GM0333@vs.yaml:13:86", "GM0333@vs.yaml:16:78"],
  },
  {
    name: "a gateway named in Istio's legacy FQDN form (NAME.NAMESPACE.svc.cluster.local) is found; a missing one still is not",
    files: {
      "se.yaml": reviews,
      "gw.yaml": edgeGateway('servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]'),
      "vs.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: other }
spec:
  hosts: ["*"]
  gateways: [edge.shop.svc.cluster.local, gone.shop.svc.cluster.local]
  http: [{ route: [{ destination: { host: reviews.shop.svc.cluster.local } }] }]
`,
    },
    expect: ["GM0308@vs.yaml:6:43"],
  },
  {
    name: "GM0334 HTTPS without tls, GM0335 tls on a plain HTTP server, GM0336 a TCP server beside an HTTP one on a port (warning: serve leaves it out)",
    files: {
      "gw.yaml": edgeGateway(`servers:
    - { port: { number: 443, name: https, protocol: HTTPS }, hosts: [a.example.com] }
    - { port: { number: 80, name: http, protocol: HTTP }, hosts: [a.example.com], tls: { mode: SIMPLE, credentialName: x } }
    - { port: { number: 80, name: tcp, protocol: TCP }, hosts: ["*"] }
    - { port: { number: 8443, name: tls, protocol: TLS }, hosts: [b.example.com], tls: { mode: SIMPLE, credentialName: y } }`),
    },
    expect: ["GM0334@gw.yaml:12:53", "GM0335@gw.yaml:13:83", "GM0336@gw.yaml:14:25"],
  },
  {
    name: "GM0337 a gateway credentialName that is the SDS name of the workload's own certificate or trust bundle",
    files: {
      "gw.yaml": edgeGateway(`servers:
    - { port: { number: 443, name: https, protocol: HTTPS }, hosts: [a.example.com], tls: { mode: SIMPLE, credentialName: default } }
    - { port: { number: 8443, name: https-2, protocol: HTTPS }, hosts: [b.example.com], tls: { mode: SIMPLE, credentialName: ROOTCA } }
    - { port: { number: 9443, name: https-3, protocol: HTTPS }, hosts: [c.example.com], tls: { mode: SIMPLE, credentialName: edge-cert } }`),
    },
    expect: ["GM0337@gw.yaml:12:123", "GM0337@gw.yaml:13:126"],
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
    // (A YAML syntax error is about text, not yet a resource.)
    for (const d of diagnostics.filter((x) => x.code !== "GM0001")) {
      assert.ok(d.resource, "every finding about a resource names it");
      assert.ok(d.message.length > 20, "the message says what to do");
    }
  });
}

test("a conflict names both places, each at its own file:line:col", () => {
  const vs = (name: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: shop }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews } }] }]
`;
  const { diagnostics } = loadMesh([
    { path: "se.yaml", text: reviews },
    { path: "a.yaml", text: vs("first") },
    { path: "b.yaml", text: vs("second") },
  ]);
  const conflict = diagnostics.find((d) => d.code === "GM0306");
  assert.equal(`${conflict?.file}:${conflict?.line}:${conflict?.col}`, "b.yaml:5:11");
  assert.match(conflict?.message ?? "", /VirtualService shop\/first \(a\.yaml:5:11\)/);
});

test("severities: GM0304, GM0307, GM0309, GM0314, GM0319 to GM0323, GM0336, GM0360, GM0364 and GM0365 are warnings, the rest errors", () => {
  const warnings = new Set(["GM0304", "GM0307", "GM0309", "GM0314", "GM0319", "GM0320", "GM0321", "GM0322", "GM0323", "GM0336", "GM0360", "GM0364", "GM0365"]);
  for (const c of cases) {
    const { diagnostics } = loadMesh(Object.entries(c.files).map(([path, text]) => ({ path, text })));
    for (const d of diagnostics.filter((x) => x.code.startsWith("GM03"))) assert.equal(d.severity, warnings.has(d.code) ? "warning" : "error", `${d.code} in "${c.name}"`);
  }
});
