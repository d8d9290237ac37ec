// validateSchema and schemas/*.schema.json: valid documents of every kind, and each diagnostic code
// with the line and column it points at.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Ajv } from "ajv";
import { stringify } from "yaml";
import type { Diagnostic } from "../../src/config/diagnostics.js";
import { COMBINED_SCHEMA_FILE, loadSchema, newAjv, schemaDirectory, schemaFileName, validateSchema } from "../../src/config/schema.js";
import { UNSUPPORTED_VALUES_KEYWORD } from "../../src/config/schema-errors.js";
import { parseFile } from "../../src/config/source.js";
import { API_VERSIONS, MESH_KINDS, type MeshDocument, type MeshKind } from "../../src/config/types.js";

/** Strips the leading newline and the common indentation, so YAML can sit indented in the table. */
function dedent(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\s+$/, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join("\n") + "\n";
}

/** A document of `kind` named shop/test whose spec (dedented, then indented under spec:) starts on line 5. */
function withSpec(kind: MeshKind, spec: string): string {
  const body = dedent(spec).trimEnd().split("\n").map((l) => `  ${l}`).join("\n");
  return `apiVersion: ${API_VERSIONS[kind][0] ?? ""}\nkind: ${kind}\nmetadata: { name: test, namespace: shop }\nspec:\n${body}\n`;
}

function check(text: string): Diagnostic[] {
  const { docs, diagnostics } = parseFile({ path: "mesh/test.yaml", text });
  assert.deepEqual(diagnostics, [], "the YAML itself parses");
  assert.equal(docs.length, 1);
  const [doc] = docs;
  assert.ok(doc !== undefined);
  return validateSchema(doc);
}

const summary = (ds: readonly Diagnostic[]): [string, number, number][] => ds.map((d) => [d.code, d.line, d.col]);

/** The findings drawn under the lines they point at, for failure messages. */
const pointed = (text: string, ds: readonly Diagnostic[]): string =>
  ds.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}\n${text.split("\n")[d.line - 1] ?? ""}\n${" ".repeat(d.col - 1)}^`).join("\n");

describe("valid documents: one of every kind, with every supported field", () => {
  const valid: { kind: MeshKind; text: string }[] = [
    { kind: "ServiceEntry", text: dedent(`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata:
        name: details
        namespace: bookinfo
        labels: { app: details, example.com/tier: backend }
        annotations: { example.com/owner: "team a" }
      spec:
        hosts: [details.bookinfo.svc.cluster.local, "*.details.example.com"]
        location: MESH_INTERNAL
        resolution: DNS
        ports:
          - { number: 9080, name: http, protocol: HTTP, targetPort: 8080 }
          - { number: 9443, name: tls, protocol: TLS }
          - { number: 7070, name: grpc, protocol: GRPC }
        endpoints:
          - { address: details.internal.example, ports: { http: 9080 }, labels: { version: v1 }, serviceAccount: details, locality: eu-west/zone-a/rack-1, weight: 10 }
          - address: 10.0.0.7
          - address: unix:///var/run/details.sock`) },
    { kind: "ServiceEntry", text: withSpec("ServiceEntry", `
      hosts: [api.example.com]
      location: MESH_EXTERNAL
      resolution: DNS_ROUND_ROBIN
      ports: [{ number: 443, name: https, protocol: TLS }]
      workloadSelector: { labels: { app: api } }`) },
    { kind: "WorkloadEntry", text: dedent(`
      apiVersion: networking.istio.io/v1beta1
      kind: WorkloadEntry
      metadata: { name: reviews-v2.vm1 }
      spec: { address: 10.0.1.21, ports: { http: 9080 }, labels: { app: reviews }, serviceAccount: reviews, locality: eu-west, weight: 2 }`) },
    { kind: "WorkloadGroup", text: withSpec("WorkloadGroup", `
      metadata: { labels: { app: ratings }, annotations: { note: self-registering } }
      template: { ports: { grpc: 9080 }, serviceAccount: ratings }`) },
    { kind: "DestinationRule", text: withSpec("DestinationRule", `
      host: reviews
      trafficPolicy:
        loadBalancer: { consistentHash: { httpCookie: { name: user, path: /, ttl: 0s } } }
        connectionPool:
          tcp: { maxConnections: 100, connectTimeout: 2.5s }
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 1h }
        outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: 1m30s, baseEjectionTime: 30s, maxEjectionPercent: 50, minHealthPercent: 20 }
        tls: { mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, subjectAltNames: [reviews], sni: reviews.example }
        portLevelSettings:
          - port: { number: 9080 }
            loadBalancer: { simple: LEAST_REQUEST }
            connectionPool: { tcp: { maxConnections: 10 } }
            outlierDetection: { consecutive5xxErrors: 1 }
            tls: { mode: ISTIO_MUTUAL, credentialName: reviews-cert }
      subsets:
        - { name: v1, labels: { version: v1 } }
        - name: v2
          labels: { version: v2 }
          trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } }
        - { name: v3, trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: u } } } }
        - { name: v4, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user, minimumRingSize: 4096 } } } }
        - { name: v5, trafficPolicy: { loadBalancer: { simple: RANDOM } } }`) },
    { kind: "VirtualService", text: withSpec("VirtualService", `
      hosts: [reviews, reviews.example.com]
      gateways: [mesh, istio-system/bookinfo, local-gw]
      http:
        - name: jason
          match:
            - name: by-header
              uri: { prefix: /reviews }
              method: { exact: GET }
              headers: { end-user: { exact: jason }, x-present: {} }
              withoutHeaders: { x-skip: { regex: "y.*" } }
              queryParams: { debug: { exact: "" }, id: { regex: "\\\\d+" } }
              port: 9080
              ignoreUriCase: true
          route:
            - destination: { host: reviews, subset: v2, port: { number: 9080 } }
              weight: 90
              headers: { request: { set: { x-a: "1" }, add: { x-b: "2" }, remove: [x-c] }, response: { remove: [server] } }
            - { destination: { host: reviews, subset: v1 }, weight: 10 }
          rewrite: { uri: /, authority: reviews.internal }
          timeout: 1.5s
          retries: { attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset,connect-failure,503" }
          fault: { delay: { fixedDelay: 100ms, percentage: { value: 0.5 } }, abort: { httpStatus: 503, percentage: { value: 1 } } }
          mirror: { host: reviews-shadow, subset: v3 }
          mirrorPercentage: { value: 12.5 }
          corsPolicy: { allowOrigins: [{ exact: "https://a.example" }, { regex: ".*" }], allowMethods: [GET], allowHeaders: [x-a], exposeHeaders: [x-b], maxAge: 24h, allowCredentials: false }
          headers: { response: { set: { x-served-by: gitmesh } } }
        - fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 1 } } }
          route: [{ destination: { host: reviews } }]
        - redirect: { uri: /new, authority: new.example.com, redirectCode: 308, port: 8443, scheme: https }
      tcp:
        - match: [{ port: 3306 }]
          route: [{ destination: { host: mysql }, weight: 100 }]`) },
    { kind: "Gateway", text: withSpec("Gateway", `
      selector: { istio: ingressgateway }
      servers:
        - { port: { number: 80, name: http, protocol: HTTP }, hosts: [bookinfo.example.com, "./*.example.org"], name: plain }
        - port: { number: 443, name: https, protocol: HTTPS }
          hosts: ["*/bookinfo.example.com"]
          tls: { mode: SIMPLE, credentialName: bookinfo-cert }`) },
    { kind: "Sidecar", text: withSpec("Sidecar", `
      workloadSelector: { labels: { app: reviews } }
      egress: [{ hosts: ["./*", "istio-system/*", "~/*", "*/api.example.com"] }]`) },
    { kind: "PeerAuthentication", text: dedent(`
      apiVersion: security.istio.io/v1beta1
      kind: PeerAuthentication
      metadata: { name: strict, namespace: bookinfo }
      spec:
        selector: { matchLabels: { app: ratings } }
        mtls: { mode: STRICT }
        portLevelMtls: { "8080": { mode: PERMISSIVE }, "65535": { mode: DISABLE } }`) },
    { kind: "AuthorizationPolicy", text: withSpec("AuthorizationPolicy", `
      selector: { matchLabels: { app: ratings } }
      action: DENY
      rules:
        - from:
            - source: { principals: [cluster.local/ns/a/sa/b], notPrincipals: ["*"], namespaces: [a], notNamespaces: [b], ipBlocks: [10.0.0.0/8, 1.2.3.4], notIpBlocks: ["fd00::/8"] }
          to:
            - operation: { hosts: [a.example], notHosts: [b.example], ports: ["8080"], notPorts: ["22"], methods: [GET], notMethods: [DELETE], paths: [/api/*], notPaths: [/admin] }
          when:
            - { key: "request.headers[x-tenant]", values: [a], notValues: [b] }
            - { key: source.ip, notValues: [10.0.0.1] }`) },
    { kind: "AuthorizationPolicy", text: withSpec("AuthorizationPolicy", `
      action: AUDIT
      rules:
        - from:
            - source: { requestPrincipals: [iss/sub, "*"], notRequestPrincipals: ["x*"], serviceAccounts: [a/b], notServiceAccounts: [c/d], remoteIpBlocks: [10.0.0.0/8], notRemoteIpBlocks: ["fd00::1"] }
          when:
            - { key: "request.auth.claims[groups]", values: [admin] }
            - { key: "request.auth.claims[org][team]", values: [a] }
            - { key: request.auth.principal, values: [iss/sub] }
            - { key: request.auth.audiences, values: [a] }
            - { key: request.auth.presenter, values: [a] }
            - { key: source.principal, values: [cluster.local/ns/a/sa/b] }
            - { key: source.namespace, values: [a] }
            - { key: source.serviceAccount, values: [a/b] }
            - { key: remote.ip, values: [1.2.3.4] }
            - { key: destination.ip, values: [10.0.0.0/8] }
            - { key: destination.port, values: ["8080"] }
            - { key: connection.sni, values: ["*.example.com"] }`) },
    { kind: "RequestAuthentication", text: withSpec("RequestAuthentication", `
      selector: { matchLabels: { app: ratings } }
      jwtRules:
        - issuer: https://issuer.example.com
          audiences: [a, b]
          jwksUri: https://issuer.example.com:8443/keys?x=1
          fromHeaders: [{ name: x-jwt, prefix: "Bearer " }, { name: x-raw }]
          fromParams: [token]
          fromCookies: [session]
          forwardOriginalToken: true
          outputPayloadToHeader: x-payload
          outputClaimToHeaders: [{ header: x-sub, claim: sub }]
          timeout: 1.5s
        - issuer: other
          jwks: '{"keys":[]}'`) },
  ];
  test("every kind has a valid example", () => {
    assert.deepEqual([...new Set(valid.map((v) => v.kind))].sort(), [...MESH_KINDS].sort());
  });
  for (const v of valid) {
    test(`${v.kind}: ${v.text.split("\n").find((l) => l.includes("name:"))?.trim() ?? ""}`, () => {
      assert.deepEqual(check(v.text), []);
    });
  }
});

type Expect = [code: string, line: number, col: number, field?: string];

describe("invalid documents: code, line and column", () => {
  // message: the first finding's message; every / none: each finding's message must (not) match.
  const cases: { name: string; text: string; expect: Expect[]; message?: RegExp; every?: RegExp; none?: RegExp }[] = [
    // GM0101 to GM0103: kind, apiVersion, name
    { name: "unknown kind", text: "apiVersion: networking.istio.io/v1\nkind: Frobnicator\nmetadata: { name: x }\nspec: {}\n",
      expect: [["GM0101", 2, 7, "kind"]], message: /unknown kind "Frobnicator": gitmesh supports ServiceEntry, .*AuthorizationPolicy/ },
    { name: "an Istio kind gitmesh lacks says so", text: "apiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: { name: x }\nspec: {}\n",
      expect: [["GM0101", 2, 7, "kind"]], message: /^EnvoyFilter is an Istio kind gitmesh does not support/ },
    { name: "kind in lowercase", text: "apiVersion: networking.istio.io/v1\nkind: virtualservice\nmetadata: { name: x }\nspec: { hosts: [a] }\n",
      expect: [["GM0101", 2, 7, "kind"]], message: /^unknown kind "virtualservice": did you mean "VirtualService"\?/ },
    { name: "kind in the plural", text: "apiVersion: networking.istio.io/v1\nkind: VirtualServices\nmetadata: { name: x }\nspec: { hosts: [a] }\n",
      expect: [["GM0101", 2, 7]], message: /did you mean "VirtualService"\?/ },
    { name: "kind with one letter in the wrong case", text: "apiVersion: networking.istio.io/v1\nkind: Virtualservice\nmetadata: { name: x }\nspec: { hosts: [a] }\n",
      expect: [["GM0101", 2, 7]], message: /did you mean "VirtualService"\?/ },
    { name: "kind: a near miss", text: "apiVersion: networking.istio.io/v1\nkind: DestinationRul\nmetadata: { name: x }\nspec: { host: a }\n",
      expect: [["GM0101", 2, 7]], message: /did you mean "DestinationRule"\?/ },
    { name: "kind: List (kubectl get -o yaml)", text: "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: networking.istio.io/v1\n    kind: Sidecar\n    metadata: { name: a }\n    spec: {}\nmetadata: { resourceVersion: \"\" }\n",
      expect: [["GM0101", 2, 7, "kind"]], message: /^kind "List" is a kubectl List \(this looks like kubectl output\): split it into one document per item \(1 item\), separated by "---"$/ },
    { name: "kind: VirtualServiceList", text: "apiVersion: networking.istio.io/v1\nkind: VirtualServiceList\nitems: []\n",
      expect: [["GM0101", 2, 7]], message: /kubectl List .*split it into one document per item/ },
    { name: "kind: List without items", text: "apiVersion: v1\nkind: List\n", expect: [["GM0101", 2, 7]], message: /^kind "List" is a kubectl List \(this looks like kubectl output\): split it into one document per item, separated by "---"$/ },
    { name: "a kind that is no near miss gets the list of kinds", text: "apiVersion: v1\nkind: Widget\nmetadata: { name: x }\n", expect: [["GM0101", 2, 7]], message: /^unknown kind "Widget": gitmesh supports ServiceEntry, / },
    { name: "missing kind", text: "apiVersion: networking.istio.io/v1\nmetadata: { name: x }\nspec: {}\n", expect: [["GM0101", 1, 1]], message: /no kind/ },
    { name: "apiVersion of another group", text: "apiVersion: security.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec: { hosts: [a] }\n",
      expect: [["GM0102", 1, 13, "apiVersion"]], message: /use one of networking\.istio\.io\/v1, networking\.istio\.io\/v1beta1, networking\.istio\.io\/v1alpha3/ },
    { name: "v1alpha3 is not a security version", text: "apiVersion: security.istio.io/v1alpha3\nkind: PeerAuthentication\nmetadata: { name: x }\nspec: {}\n",
      expect: [["GM0102", 1, 13]], message: /security\.istio\.io\/v1, security\.istio\.io\/v1beta1/ },
    { name: "missing apiVersion", text: "kind: Sidecar\nmetadata: { name: x }\nspec: {}\n", expect: [["GM0102", 1, 1]] },
    { name: "missing metadata.name", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { namespace: a }\nspec: {}\n", expect: [["GM0103", 3, 1, "metadata.name"]] },
    { name: "invalid metadata.name", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: Reviews_V1 }\nspec: {}\n",
      expect: [["GM0103", 3, 19]], message: /DNS-1123 subdomain/ },
    { name: "metadata.name as a number", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: 1.10 }\nspec: {}\n",
      expect: [["GM0103", 3, 19, "metadata.name"]], message: /^metadata\.name is the number 1\.1; quote it \("1\.10"\) so YAML keeps it as the string you wrote$/ },
    { name: "missing metadata", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nspec: {}\n", expect: [["GM0103", 1, 1]] },
    { name: "invalid namespace", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a, namespace: My.Ns }\nspec: {}\n",
      expect: [["GM0204", 3, 33, "metadata.namespace"]] },
    { name: "empty namespace: one finding, not one per rule it breaks", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a, namespace: \"\" }\nspec: {}\n",
      expect: [["GM0203", 3, 33, "metadata.namespace"]], message: /must not be empty/ },
    { name: "empty subset: one finding", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ route: [{ destination: { host: a, subset: '' } }] }]"),
      expect: [["GM0203", 6, 54, "spec.http[0].route[0].destination.subset"]] },
    // GM0201: fields gitmesh does not support, and fields that do not exist
    { name: "DestinationRule tls.caCrl (Istio field)", text: withSpec("DestinationRule", "host: a\ntrafficPolicy:\n  tls:\n    caCrl: x"),
      expect: [["GM0201", 8, 7, "spec.trafficPolicy.tls.caCrl"]], message: /^field spec\.trafficPolicy\.tls\.caCrl is not supported by gitmesh: remove it$/ },
    { name: "DestinationRule exportTo is accepted", text: withSpec("DestinationRule", "host: a\nexportTo: ['.']"), expect: [] },
    { name: "VirtualService and ServiceEntry exportTo are accepted", text: withSpec("VirtualService", "hosts: [a]\nexportTo: ['.', ops]\nhttp: [{ route: [{ destination: { host: a } }] }]"), expect: [] },
    { name: "exportTo takes namespaces, '.', '*' and '~' only", text: withSpec("ServiceEntry", "hosts: [a]\nexportTo: ['./x']"), expect: [["GM0204", 6, 14, "spec.exportTo[0]"]], message: /must be ".", "\*", "~" or a namespace name/ },
    { name: "DestinationRule trafficPolicy.tunnel (Istio field)", text: withSpec("DestinationRule", "host: a\ntrafficPolicy:\n  tunnel: { protocol: CONNECT }"),
      expect: [["GM0201", 7, 5, "spec.trafficPolicy.tunnel"]], message: /not supported by gitmesh/ },
    { name: "typo: not an Istio field", text: withSpec("VirtualService", "hostz: [a]\nhosts: [a]"),
      expect: [["GM0201", 5, 3, "spec.hostz"]], message: /field spec\.hostz is unknown: .*did you mean "hosts"/ },
    { name: "a misspelt required field is reported once", text: withSpec("DestinationRule", "hots: reviews"), expect: [["GM0201", 5, 3, "spec.hots"]], message: /did you mean "host"/ },
    { name: "unknown field, no suggestion", text: withSpec("Sidecar", "frobnicate: true"), expect: [["GM0201", 5, 3]], message: /unknown.*; remove it$/ },
    { name: "status and metadata.uid", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a, uid: x }\nspec: {}\nstatus: {}\n",
      expect: [["GM0201", 3, 22, "metadata.uid"], ["GM0201", 5, 1, "status"]],
      message: /^field metadata\.uid is a Kubernetes bookkeeping field; this looks like kubectl output: delete it \(it has no meaning in gitmesh config\)$/,
      every: /Kubernetes bookkeeping field; this looks like kubectl output: delete it/ },
    { name: "metadata as kubectl writes it", text: dedent(`
      apiVersion: networking.istio.io/v1
      kind: Sidecar
      metadata:
        name: a
        namespace: shop
        resourceVersion: "4711"
        generation: 3
        creationTimestamp: "2024-05-01T10:00:00Z"
        managedFields: [{ manager: kubectl }]
        annotations: { kubectl.kubernetes.io/last-applied-configuration: "{}" }
      spec: {}
      status: { conditions: [] }`),
      expect: [["GM0201", 6, 3, "metadata.resourceVersion"], ["GM0201", 7, 3, "metadata.generation"], ["GM0201", 8, 3, "metadata.creationTimestamp"],
        ["GM0201", 9, 3, "metadata.managedFields"], ["GM0201", 12, 1, "status"]],
      every: /is a Kubernetes bookkeeping field; this looks like kubectl output: delete it \(it has no meaning in gitmesh config\)$/ },
    { name: "metadata.finalizers is not bookkeeping", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a, finalizers: [x] }\nspec: {}\n",
      expect: [["GM0201", 3, 22, "metadata.finalizers"]], message: /not supported by gitmesh: remove it$/ },
    { name: "ServiceEntry endpoint network", text: withSpec("ServiceEntry", "hosts: [a]\nendpoints: [{ address: 1.2.3.4, network: n1 }]"), expect: [["GM0201", 6, 35]] },
    { name: "query parameter prefix (Istio has no prefix here)", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ match: [{ queryParams: { q: { prefix: x } } }], route: [{ destination: { host: a } }] }]"),
      expect: [["GM0201", 6, 42]] },
    { name: "AuthorizationPolicy provider", text: withSpec("AuthorizationPolicy", "provider: { name: ext }"), expect: [["GM0201", 5, 3]], none: /remove it/ },
    { name: "AuthorizationPolicy targetRefs: rewrite, never just remove", text: withSpec("AuthorizationPolicy", "targetRefs: [{ kind: Service, name: a }]"),
      expect: [["GM0201", 5, 3, "spec.targetRefs"]],
      message: /^field spec\.targetRefs is not supported by gitmesh: the policy cannot be enforced as written, and gitmesh rejects it rather than silently widening access; rewrite the policy without targetRefs/,
      none: /remove it/ },
    { name: "AuthorizationPolicy operation and when fields", text: withSpec("AuthorizationPolicy", "rules:\n  - to: [{ operation: { hosts: [a], methods: [GET] } }]\n    when: [{ key: source.ip, values: [1.2.3.4] }]\n    from: [{ source: { remoteIpBlocks: [1.2.3.4] } }]\ntargetRef: { kind: Service, name: a }"),
      expect: [["GM0201", 9, 3, "spec.targetRef"]], every: /cannot be enforced as written/, none: /remove it/ },
    { name: "AuthorizationPolicy misspelt field: no advice to remove it", text: withSpec("AuthorizationPolicy", "rules: [{ from: [{ source: { principal: [a] } }] }]"),
      expect: [["GM0201", 5, 32, "spec.rules[0].from[0].source.principal"]], message: /did you mean "principals"\? the policy cannot be enforced as written/, none: /remove it/ },
    { name: "AuthorizationPolicy metadata fields still say delete", text: "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: a, uid: x }\nspec: {}\n",
      expect: [["GM0201", 3, 22, "metadata.uid"]], message: /bookkeeping field; this looks like kubectl output: delete it/ },
    // GM0202: wrong type
    { name: "hosts as a string", text: withSpec("VirtualService", "hosts: reviews"), expect: [["GM0202", 5, 10, "spec.hosts"]], message: /must be a list, not the string "reviews"/ },
    { name: "weight as a string", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - route:\n      - destination: { host: a }\n        weight: \"50\""),
      expect: [["GM0202", 9, 19, "spec.http[0].route[0].weight"]] },
    { name: "label value as a number", text: withSpec("WorkloadEntry", "address: 1.2.3.4\nlabels: { version: 1 }"), expect: [["GM0202", 6, 22, "spec.labels.version"]],
      message: /^field spec\.labels\.version is the number 1; quote it \("1"\) so YAML keeps it as the string you wrote$/ },
    { name: "unquoted label version 1.10 is the number 1.1", text: withSpec("DestinationRule", "host: a\nsubsets:\n  - name: v1-10\n    labels: { version: 1.10 }"),
      expect: [["GM0202", 8, 26, "spec.subsets[0].labels.version"]], message: /^field spec\.subsets\[0\]\.labels\.version is the number 1\.1; quote it \("1\.10"\) so YAML keeps it as the string you wrote$/ },
    { name: "metadata label and annotation values as a number and a boolean", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: a\n  labels: { release: 2024.10 }\n  annotations: { example.com/enabled: true }\nspec: {}\n",
      expect: [["GM0202", 5, 22, "metadata.labels.release"], ["GM0202", 6, 39, "metadata.annotations.example.com/enabled"]],
      message: /is the number 2024\.1; quote it \("2024\.10"\)/, every: /quote it \("(2024\.10|true)"\) so YAML keeps it as the string you wrote/ },
    { name: "a number where one of a list of strings goes: no advice to quote it", text: withSpec("ServiceEntry", "hosts: [a]\nports: [{ number: 80, name: http, protocol: 80 }]"),
      expect: [["GM0202", 6, 47, "spec.ports[0].protocol"]], message: /must be a string, not the number 80$/ },
    { name: "a header match value as a number", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ match: [{ headers: { x-v: { exact: 0x1F } } }], route: [{ destination: { host: a } }] }]"),
      expect: [["GM0202", 6, 47, "spec.http[0].match[0].headers.x-v.exact"]], message: /is the number 31; quote it \("0x1F"\)/ },
    { name: "a document that is a list", text: "- a\n- b\n", expect: [["GM0202", 1, 1]] },
    // GM0203: out of range
    { name: "port 70000", text: withSpec("ServiceEntry", "hosts: [a]\nports: [{ number: 70000, name: http, protocol: HTTP }]"),
      expect: [["GM0203", 6, 21, "spec.ports[0].number"]], message: /between 1 and 65535/ },
    { name: "weight 101", text: withSpec("VirtualService", "hosts: [a]\ntcp: [{ route: [{ destination: { host: a }, weight: 101 }] }]"), expect: [["GM0203", 6, 55]] },
    { name: "abort with both httpStatus and grpcStatus", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - fault: { abort: { httpStatus: 503, grpcStatus: UNAVAILABLE } }\n    route: [{ destination: { host: a } }]"),
      expect: [["GM0207", 7, 42]], message: /only one of httpStatus\/grpcStatus/ },
    { name: "abort grpcStatus by number", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - fault: { abort: { grpcStatus: \"14\" } }\n    route: [{ destination: { host: a } }]"),
      expect: [["GM0204", 7, 37, "spec.http[0].fault.abort.grpcStatus"]], message: /"UNAVAILABLE"/ },
    { name: "abort without a status", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - fault: { abort: { percentage: { value: 1 } } }\n    route: [{ destination: { host: a } }]"),
      expect: [["GM0206", 7, 16]], message: /exactly one of httpStatus\/grpcStatus/ },
    { name: "minimumRingSize above what Envoy and gRPC accept", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x, minimumRingSize: 9000000 } } }"),
      expect: [["GM0203", 6, 90, "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize"]] },
    { name: "fault percentage 150 and httpStatus 600", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - fault: { abort: { httpStatus: 600, percentage: { value: 150 } } }\n    route: [{ destination: { host: a } }]"),
      expect: [["GM0203", 7, 37, "spec.http[0].fault.abort.httpStatus"], ["GM0203", 7, 63, "spec.http[0].fault.abort.percentage.value"]] },
    { name: "redirectCode 250", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ redirect: { redirectCode: 250 } }]"), expect: [["GM0203", 6, 38]], message: /between 300 and 399/ },
    { name: "negative maxEjectionPercent", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { outlierDetection: { maxEjectionPercent: -1 } }"), expect: [["GM0203", 6, 60]] },
    { name: "empty hosts", text: withSpec("ServiceEntry", "hosts: []"), expect: [["GM0203", 5, 10]], message: /must not be empty/ },
    // GM0204: value not allowed
    { name: "simple PASSTHROUGH", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }"),
      expect: [["GM0204", 6, 44, "spec.trafficPolicy.loadBalancer.simple"]], message: /"PASSTHROUGH", which is an Istio value gitmesh does not support yet: use "ROUND_ROBIN", "LEAST_REQUEST" or "RANDOM"$/ },
    { name: "simple LEAST_CONN", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { simple: LEAST_CONN } }"), expect: [["GM0204", 6, 44]], message: /Istio value gitmesh does not support yet/ },
    { name: "simple: a typo is not allowed", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { simple: ROUND_ROBBIN } }"), expect: [["GM0204", 6, 44]], message: /"ROUND_ROBBIN", which is not allowed/ },
    { name: "ServiceEntry protocol GRPC-WEB", text: withSpec("ServiceEntry", "hosts: [a]\nports: [{ number: 80, name: web, protocol: GRPC-WEB }]"), expect: [["GM0204", 6, 46]],
      message: /^field spec\.ports\[0\]\.protocol is "GRPC-WEB", which is an Istio value gitmesh does not support yet: use "HTTP", "HTTPS", "HTTP2", "GRPC", "TCP" or "TLS"$/ },
    { name: "a protocol that is not Istio's is a plain error", text: withSpec("ServiceEntry", "hosts: [a]\nports: [{ number: 80, name: http, protocol: HTTP3 }]"), expect: [["GM0204", 6, 47]],
      message: /"HTTP3", which is not allowed: use/ },
    { name: "ServiceEntry resolution DYNAMIC_DNS", text: withSpec("ServiceEntry", "hosts: ['*.example.com']\nresolution: DYNAMIC_DNS"), expect: [["GM0204", 6, 15, "spec.resolution"]],
      message: /"DYNAMIC_DNS", which is an Istio value gitmesh does not support yet: use "STATIC", "DNS", "DNS_ROUND_ROBIN" or "NONE"/ },
    { name: "Gateway tls PASSTHROUGH is accepted", text: withSpec("Gateway", "servers:\n  - port: { number: 443, name: tls, protocol: TLS }\n    hosts: [a.example.com]\n    tls: { mode: PASSTHROUGH }"), expect: [] },
    { name: "Gateway tls AUTO_PASSTHROUGH is accepted, OPTIONAL_MUTUAL is not", text: withSpec("Gateway", "servers:\n  - { port: { number: 443, name: a, protocol: TLS }, hosts: [a.example.com], tls: { mode: AUTO_PASSTHROUGH } }\n  - { port: { number: 8443, name: b, protocol: HTTPS }, hosts: [a.example.com], tls: { mode: OPTIONAL_MUTUAL } }"),
      expect: [["GM0204", 7, 96, "spec.servers[1].tls.mode"]], every: /an Istio value gitmesh does not support yet: use "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", "PASSTHROUGH" or "AUTO_PASSTHROUGH"$/ },
    { name: "Gateway protocol MONGO", text: withSpec("Gateway", "servers: [{ port: { number: 27017, name: mongo, protocol: MONGO }, hosts: [a.example.com] }]"),
      expect: [["GM0204", 5, 61]], message: /an Istio value gitmesh does not support yet/ },
    { name: "AuthorizationPolicy action CUSTOM", text: withSpec("AuthorizationPolicy", "action: CUSTOM"), expect: [["GM0204", 5, 11, "spec.action"]],
      message: /^field spec\.action is "CUSTOM", which is an Istio value gitmesh does not support yet: the policy cannot be enforced as written, and gitmesh rejects it rather than silently widening access; rewrite it with "ALLOW", "DENY" or "AUDIT"$/ },
    { name: "AuthorizationPolicy action in lowercase is a plain error", text: withSpec("AuthorizationPolicy", "action: allow"), expect: [["GM0204", 5, 11]], message: /"allow", which is not allowed: use "ALLOW", "DENY" or "AUDIT"/ },
    { name: "redirectCode 304", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ redirect: { redirectCode: 304 } }]"), expect: [["GM0204", 6, 38]], message: /301, 302, 303, 307 or 308/ },
    { name: "condition key gitmesh does not support", text: withSpec("AuthorizationPolicy", "rules: [{ when: [{ key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: [a] }] }]"),
      expect: [["GM0204", 5, 27, "spec.rules[0].when[0].key"]], message: /one of the keys Envoy can check: .*request\.auth\.claims\[<name>\] \(experimental\.envoy\.filters\.\* is not supported by gitmesh\)/ },
    { name: "condition values checked by key: destination.port", text: withSpec("AuthorizationPolicy", "rules: [{ when: [{ key: destination.port, values: [http] }] }]"),
      expect: [["GM0204", 5, 54, "spec.rules[0].when[0].values[0]"]], message: /port number/ },
    { name: "condition values checked by key: remote.ip", text: withSpec("AuthorizationPolicy", "rules: [{ when: [{ key: remote.ip, notValues: [somewhere] }] }]"),
      expect: [["GM0204", 5, 50]], message: /IP address or a CIDR block/ },
    { name: "serviceAccounts are namespace/name", text: withSpec("AuthorizationPolicy", "rules: [{ from: [{ source: { serviceAccounts: [robot] } }] }]"),
      expect: [["GM0204", 5, 50]], message: /"<namespace>\/<service account>"/ },
    { name: "RequestAuthentication jwtRule with both jwksUri and jwks", text: withSpec("RequestAuthentication", "jwtRules:\n  - issuer: a\n    jwksUri: https://a/keys\n    jwks: '{}'"),
      expect: [["GM0207", 8, 7]], message: /only one of jwksUri\/jwks/ },
    { name: "RequestAuthentication jwtRule without keys (no OpenID discovery)", text: withSpec("RequestAuthentication", "jwtRules: [{ issuer: https://a }]"),
      expect: [["GM0206", 5, 14]], message: /exactly one of jwksUri\/jwks/ },
    { name: "RequestAuthentication jwksUri must be http(s)", text: withSpec("RequestAuthentication", "jwtRules: [{ issuer: a, jwksUri: file:///etc/keys }]"),
      expect: [["GM0204", 5, 36]], message: /http:\/\/ or https:\/\/ URL/ },
    { name: "uppercase header name (a map key)", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ match: [{ headers: { End-User: { exact: x } } }], route: [{ destination: { host: a } }] }]"),
      expect: [["GM0204", 6, 33, "spec.http[0].match[0].headers.End-User"]], message: /lowercase header name/ },
    { name: "uppercase withoutHeaders name", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ match: [{ withoutHeaders: { X-Skip: {} } }], route: [{ destination: { host: a } }] }]"),
      expect: [["GM0204", 6, 40, "spec.http[0].match[0].withoutHeaders.X-Skip"]], message: /lowercase header name/ },
    { name: "header operations take names in any case, as Istio does", text: withSpec("VirtualService", dedent(`
      hosts: [a]
      http:
        - route:
            - destination: { host: a }
              headers: { request: { set: { X-Forwarded-Proto: https }, add: { X-Request-Source: mesh }, remove: [X-Debug] } }
          headers:
            request: { set: { Authorization-Context: x } }
            response:
              set: { Strict-Transport-Security: "max-age=31536000", X-Content-Type-Options: nosniff }
              add: { Cache-Control: no-store }
              remove: [Server, X-Powered-By]`)), expect: [] },
    { name: "header operations cannot set host", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ headers: { request: { set: { Host: b } } }, route: [{ destination: { host: a } }] }]"),
      expect: [["GM0204", 6, 41, "spec.http[0].headers.request.set.Host"]], message: /must be an HTTP header name, in any case .*not host .*use rewrite\.authority/ },
    { name: "header operations cannot touch pseudo-headers", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ headers: { response: { remove: [':status'] } }, route: [{ destination: { host: a } }] }]"),
      expect: [["GM0204", 6, 44, "spec.http[0].headers.response.remove[0]"]], message: /is ":status", which is not allowed: it must be an HTTP header name/ },
    { name: "a header operation name with a space", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ headers: { response: { add: { 'X Bad': b } } }, route: [{ destination: { host: a } }] }]"),
      expect: [["GM0204", 6, 42, "spec.http[0].headers.response.add.X Bad"]] },
    { name: "portLevelMtls port 99999", text: withSpec("PeerAuthentication", "portLevelMtls: { \"99999\": { mode: STRICT } }"), expect: [["GM0204", 5, 20, "spec.portLevelMtls.99999"]] },
    { name: "Sidecar host without namespace", text: withSpec("Sidecar", "egress: [{ hosts: [api.example.com] }]"), expect: [["GM0204", 5, 22]], message: /namespace\/dnsName/ },
    // GM0205: durations
    { name: "timeout in words", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ timeout: 3 seconds, route: [{ destination: { host: a } }] }]"),
      expect: [["GM0205", 6, 21, "spec.http[0].timeout"]], message: /not a duration.*"1\.5s"/ },
    { name: "days are not a duration unit", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: c, ttl: 1d } } } }"), expect: [["GM0205", 6, 82]] },
    { name: "a number where a duration goes needs a unit", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { connectionPool: { tcp: { connectTimeout: 10 } } }"), expect: [["GM0205", 6, 61]],
      message: /is the number 10: a duration needs a unit, like "10s"$/ },
    { name: "timeout: 5", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ timeout: 5, route: [{ destination: { host: a } }] }]"),
      expect: [["GM0205", 6, 21, "spec.http[0].timeout"]], message: /^field spec\.http\[0\]\.timeout is the number 5: a duration needs a unit, like "5s"$/ },
    { name: "timeout: 0.5", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ timeout: 0.5, route: [{ destination: { host: a } }] }]"), expect: [["GM0205", 6, 21]], message: /like "0\.5s"$/ },
    { name: "a list where a duration goes is a wrong type", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ timeout: [5s], route: [{ destination: { host: a } }] }]"), expect: [["GM0202", 6, 21]] },
    // GM0206: missing required fields
    { name: "destination without host", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ route: [{ destination: { subset: v1 } }] }]"),
      expect: [["GM0206", 6, 22, "spec.http[0].route[0].destination.host"]], message: /missing required field spec\.http\[0\]\.route\[0\]\.destination\.host/ },
    // A VirtualService without hosts is a delegate (Istio's): no schema error; checks/routes.ts reports one with gateways (GM0362) or that nothing delegates to (GM0365).
    { name: "missing spec", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a }\n", expect: [["GM0206", 1, 1, "spec"]] },
    { name: "empty uri match", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ match: [{ uri: {} }], route: [{ destination: { host: a } }] }]"),
      expect: [["GM0206", 6, 22, "spec.http[0].match[0].uri"]], message: /needs exactly one of exact\/prefix\/regex/ },
    { name: "route with neither route nor redirect", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - name: nothing"), expect: [["GM0206", 7, 7, "spec.http[0]"]], message: /exactly one of route\/redirect/ },
    { name: "empty fault", text: withSpec("VirtualService", "hosts: [a]\nhttp: [{ fault: {}, route: [{ destination: { host: a } }] }]"), expect: [["GM0206", 6, 12]], message: /at least one of delay\/abort/ },
    { name: "condition without values", text: withSpec("AuthorizationPolicy", "rules: [{ when: [{ key: source.ip }] }]"), expect: [["GM0206", 5, 20]] },
    { name: "consistentHash without a key", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { consistentHash: {} } }"), expect: [["GM0206", 6, 36]] },
    // GM0207: only one of
    { name: "uri exact and prefix", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - match:\n      - uri: { exact: /a, prefix: /b }\n    route: [{ destination: { host: a } }]"),
      expect: [["GM0207", 8, 29, "spec.http[0].match[0].uri.prefix"]], message: /only one of exact\/prefix\/regex may be set in spec\.http\[0\]\.match\[0\]\.uri: found exact and prefix/ },
    { name: "simple and consistentHash", text: withSpec("DestinationRule", "host: a\ntrafficPolicy:\n  loadBalancer:\n    simple: RANDOM\n    consistentHash: { useSourceIp: true }"),
      expect: [["GM0207", 9, 7]] },
    { name: "two consistentHash keys", text: withSpec("DestinationRule", "host: a\ntrafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, httpHeaderName: x } } }"),
      expect: [["GM0207", 6, 73, "spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderName"]], message: /found useSourceIp and httpHeaderName/ },
    { name: "endpoints and workloadSelector", text: withSpec("ServiceEntry", "hosts: [a]\nendpoints: [{ address: 1.2.3.4 }]\nworkloadSelector: { labels: { app: a } }"), expect: [["GM0207", 7, 3]] },
    { name: "route and redirect", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - route: [{ destination: { host: a } }]\n    redirect: { uri: /b }"), expect: [["GM0207", 8, 7, "spec.http[0].redirect"]] },
    { name: "redirect and rewrite", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - redirect: { uri: /b }\n    rewrite: { uri: /c }"), expect: [["GM0207", 8, 7, "spec.http[0].rewrite"]] },
    // GM0299: anything else
    { name: "duplicate host", text: withSpec("VirtualService", "hosts: [a, b, a]"), expect: [["GM0299", 5, 17, "spec.hosts[2]"]], message: /lists "a" twice/ },
    // several findings in one document, sorted
    { name: "several problems", text: withSpec("VirtualService", "hosts: [a]\nhttp:\n  - timeout: soon\n    route: [{ destination: { host: a }, weight: 200 }]\n    retries: { attempts: many }"),
      expect: [["GM0205", 7, 16], ["GM0203", 8, 51], ["GM0202", 9, 28]] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const ds = check(c.text);
      assert.deepEqual(summary(ds), c.expect.map(([code, line, col]) => [code, line, col]), pointed(c.text, ds));
      c.expect.forEach(([, , , field], i) => {
        if (field !== undefined) assert.equal(ds[i]?.field, field);
      });
      if (c.message !== undefined) assert.match(ds[0]?.message ?? "", c.message);
      for (const d of ds) {
        if (c.every !== undefined) assert.match(d.message, c.every);
        if (c.none !== undefined) assert.doesNotMatch(d.message, c.none);
      }
      for (const d of ds) {
        assert.equal(d.file, "mesh/test.yaml");
        assert.equal(d.severity, "error");
      }
    });
  }

  test("findings name the resource, in namespace default when none is given", () => {
    const [d] = check("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: a }\nspec: { bogus: 1 }\n");
    assert.deepEqual(d?.resource, { kind: "Sidecar", namespace: "default", name: "a" });
    const [e] = check(withSpec("Sidecar", "bogus: 1"));
    assert.deepEqual(e?.resource, { kind: "Sidecar", namespace: "shop", name: "test" });
  });

  test("the second document of a file is checked on its own lines", () => {
    const text = `${withSpec("Sidecar", "egress: [{ hosts: ['./*'] }]")}---\n${withSpec("Sidecar", "egress: [{ hosts: ['./*'], port: { number: 80 } }]")}`;
    const { docs } = parseFile({ path: "two.yaml", text });
    assert.deepEqual(summary(docs.flatMap((d) => validateSchema(d))), [["GM0201", 11, 30]]);
  });
});

describe("schemas/*.schema.json", () => {
  const dir = schemaDirectory();
  const all = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  const read = (f: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>;
  // The per-kind schemas; gitmesh.schema.json only points at them.
  const files = all.filter((f) => f !== COMBINED_SCHEMA_FILE);
  const schemas = new Map(files.map((f) => [f, read(f)]));

  test("one schema per kind, the combined schema, and nothing else", () => {
    assert.deepEqual(all, [...MESH_KINDS.map(schemaFileName), COMBINED_SCHEMA_FILE].sort());
  });

  for (const f of all) {
    test(`${f} is a valid draft-07 JSON Schema that compiles in strict mode`, () => {
      const schema = read(f);
      const meta = new Ajv({ strict: false });
      assert.equal(meta.validateSchema(schema), true, JSON.stringify(meta.errors));
      assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
      const ajv = newAjv();
      // The combined schema refers to the per-kind files by relative path, as an editor resolves them.
      if (f === COMBINED_SCHEMA_FILE) for (const k of MESH_KINDS) ajv.addSchema(loadSchema(k), schemaFileName(k));
      assert.doesNotThrow(() => ajv.compile(schema));
    });
  }

  test("Istio values gitmesh lacks sit next to an enum and are not in it", () => {
    let found = 0;
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      else if (node !== null && typeof node === "object") {
        const o = node as Record<string, unknown>;
        const values = o[UNSUPPORTED_VALUES_KEYWORD];
        if (values !== undefined) {
          found++;
          assert.ok(Array.isArray(o.enum), `${at} lists ${UNSUPPORTED_VALUES_KEYWORD} without an enum`);
          for (const v of values as unknown[]) assert.ok(!(o.enum as unknown[]).includes(v), `${at}: ${String(v)} is both supported and unsupported`);
        }
        for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
      }
    };
    for (const [f, s] of schemas) walk(s, f);
    assert.ok(found >= 6);
  });

  test("each schema pins its kind and accepted apiVersions", () => {
    for (const kind of MESH_KINDS) {
      const props = loadSchema(kind).properties as Record<string, { const?: unknown; enum?: unknown }>;
      assert.equal(props.kind?.const, kind);
      assert.deepEqual(props.apiVersion?.enum, API_VERSIONS[kind]);
    }
  });

  test("definitions shared between schemas are identical", () => {
    const seen = new Map<string, { file: string; text: string }>();
    for (const [f, s] of schemas) {
      for (const [name, def] of Object.entries((s.definitions ?? {}) as Record<string, unknown>)) {
        const text = JSON.stringify(def);
        const first = seen.get(name);
        if (first === undefined) seen.set(name, { file: f, text });
        else assert.equal(text, first.text, `definitions.${name} differs between ${first.file} and ${f}`);
      }
    }
  });

  test("every object rejects unknown fields", () => {
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      else if (node !== null && typeof node === "object") {
        const o = node as Record<string, unknown>;
        if (o.type === "object") assert.ok("additionalProperties" in o, `${at} has no additionalProperties`);
        for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
      }
    };
    for (const [f, s] of schemas) walk(s, f);
  });
});

describe("schemas/gitmesh.schema.json: one schema for every kind, for editors", () => {
  const dir = schemaDirectory();
  const combined = JSON.parse(readFileSync(join(dir, COMBINED_SCHEMA_FILE), "utf8")) as { allOf: { if: { properties: { kind: { const: string } } }; then: { $ref: string } }[] };
  const ajv = newAjv();
  for (const k of MESH_KINDS) ajv.addSchema(loadSchema(k), schemaFileName(k));
  const validate = ajv.compile(combined);

  test("picks the schema of every kind, by a path relative to itself", () => {
    assert.deepEqual(
      combined.allOf.map((b) => [b.if.properties.kind.const, b.then.$ref]),
      MESH_KINDS.map((k) => [k, schemaFileName(k)]),
    );
    for (const b of combined.allOf) assert.ok(readdirSync(dir).includes(b.then.$ref));
  });

  const examples = join(schemaDirectory(), "..", "config-examples");
  const yamlFiles = (at: string): string[] =>
    readdirSync(at, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(at, e.name)) : /\.ya?ml$/.test(e.name) ? [join(at, e.name)] : []));
  test("accepts every document of the bundled config-examples, files mixing kinds included", () => {
    const kinds = new Set<string>();
    let mixed = 0;
    for (const path of yamlFiles(examples)) {
      const { docs, diagnostics } = parseFile({ path, text: readFileSync(path, "utf8") });
      assert.deepEqual(diagnostics, []);
      if (new Set(docs.map((d) => (d.value as { kind?: string }).kind)).size > 1) mixed++;
      for (const d of docs) {
        kinds.add(String((d.value as { kind?: unknown }).kind));
        assert.equal(validate(d.value), true, `${path} #${d.index}: ${JSON.stringify(validate.errors)}`);
      }
    }
    assert.ok(kinds.size >= 5, "the examples cover several kinds");
    assert.ok(mixed > 0, "some example file mixes kinds");
  });

  const bad: [string, unknown][] = [
    ["a misspelt field", { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "a" }, spec: { hostz: ["a"] } }],
    ["an apiVersion of another kind", { apiVersion: "security.istio.io/v1", kind: "DestinationRule", metadata: { name: "a" }, spec: { host: "a" } }],
    ["a field of another kind", { apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: { name: "a" }, spec: { host: "a" } }],
    ["an unknown kind", { apiVersion: "networking.istio.io/v1", kind: "EnvoyFilter", metadata: { name: "a" }, spec: {} }],
    ["no kind", { apiVersion: "networking.istio.io/v1", metadata: { name: "a" }, spec: {} }],
  ];
  for (const [name, doc] of bad) {
    test(`rejects ${name}`, () => {
      assert.equal(validate(doc), false);
    });
  }
});

describe("types.ts matches the schemas", () => {
  // Documents built as the TypeScript types allow must pass their schema.
  const vs: MeshDocument<"VirtualService"> = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "reviews", namespace: "bookinfo" },
    spec: {
      hosts: ["reviews"],
      http: [
        { match: [{ uri: { prefix: "/" }, headers: { "x-a": {} }, queryParams: { q: { regex: "a" } } }], route: [{ destination: { host: "reviews", subset: "v1" }, weight: 100 }], rewrite: { uri: "/" } },
        { redirect: { uri: "/b", redirectCode: 302 }, fault: { abort: { httpStatus: 500 } } },
      ],
      tcp: [{ route: [{ destination: { host: "db", port: { number: 5432 } } }] }],
    },
  };
  const dr: MeshDocument<"DestinationRule"> = {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "DestinationRule",
    metadata: { name: "reviews" },
    spec: { host: "reviews", trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: "u", ttl: "10s" } } } }, subsets: [{ name: "v1", labels: { version: "v1" } }] },
  };
  const ap: MeshDocument<"AuthorizationPolicy"> = {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "a" },
    spec: { action: "ALLOW", rules: [{ when: [{ key: "source.ip", notValues: ["1.2.3.4"] }], to: [{ operation: { ports: ["80"] } }] }] },
  };
  for (const d of [vs, dr, ap]) {
    test(`a typed ${d.kind} passes its schema`, () => {
      assert.deepEqual(check(stringify(d)), []);
    });
  }
});
