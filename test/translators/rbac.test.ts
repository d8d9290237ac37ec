// AuthorizationPolicy -> Envoy RBAC filter configs, case by case from YAML. Every case's server
// Listener must pass Envoy's validation rules (PGV) and gRPC's own listener validator, and the
// configs are also evaluated with gRPC's own RBAC engine (grpc-js-xds rbac.js) on sample requests.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { loadMesh } from "../../src/config/load.js";
import type { MeshResource } from "../../src/config/resources.js";
import { decodeMessage, encodeMessage, messageType, typeUrlOf, validateMessage } from "../../src/envoy/index.js";
import { GRPC_SERVER_LISTENER_TEMPLATE, grpcServerListener, grpcServerListenerName } from "../../src/translators/grpc-server.js";
import { policiesForWorkload, rbacFilterConfig, type HttpRbac } from "../../src/translators/rbac.js";

// gRPC registers its RBAC filter only with this set, and reads it when first loaded.
process.env["GRPC_XDS_EXPERIMENTAL_RBAC"] = "true";
const { grpcClientRejects } = await import("../support/grpc-client-validate.js");

type Policy = MeshResource<"AuthorizationPolicy">;

function policies(yaml: string): Policy[] {
  if (yaml === "") return [];
  const loaded = loadMesh([{ path: "authz.yaml", text: yaml }]);
  assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`).join("\n"));
  return loaded.model.resources.filter((r): r is Policy => r.kind === "AuthorizationPolicy");
}

function policy(name: string, spec: string, namespace = "shop"): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${spec
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
`;
}

// ---- gRPC's RBAC engine, on the bytes we send ----

interface RbacEngine {
  apply(info: object): boolean;
}
const require = createRequire(import.meta.url);
const grpcRbac = require("@grpc/grpc-js-xds/build/src/rbac.js") as { parseConfig(rules: object): RbacEngine };

function engine(config: HttpRbac): RbacEngine {
  // As grpc-js-xds decodes the filter config (rbac-filter.js): defaults and oneof names.
  const type = messageType("envoy.extensions.filters.http.rbac.v3.RBAC");
  const bytes = encodeMessage("envoy.extensions.filters.http.rbac.v3.RBAC", config);
  const decoded = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: true, oneofs: true }) as { rules: object };
  return grpcRbac.parseConfig(decoded.rules);
}

interface Request {
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly sourceIp?: string;
  readonly port?: number;
  readonly authority?: string;
}

/** Whether gRPC's server would let the request through the DENY then the ALLOW filter. */
function admits(policiesYaml: readonly Policy[], r: Request): boolean {
  const configs = rbacFilterConfig(policiesYaml);
  const path = r.path ?? "/gitmesh.test.Identity/WhoAmI";
  const md = new Metadata();
  for (const [k, v] of Object.entries(r.headers ?? {})) md.set(k, v);
  md.set(":method", "POST");
  md.set(":authority", r.authority ?? "ratings.shop.svc.cluster.local:9080");
  md.set(":path", path);
  const info = {
    destinationIp: "10.0.0.9",
    destinationPort: r.port ?? 9080,
    sourceIp: r.sourceIp ?? "10.1.2.3",
    headers: md,
    tls: false,
    peerCertificate: null,
    urlPath: path,
  };
  return [configs.deny, configs.allow].every((c) => c === undefined || engine(c).apply(info));
}

function assertValidListener(ps: readonly Policy[]): void {
  const l = grpcServerListener(grpcServerListenerName("0.0.0.0:50051"), 50051, ps);
  const bytes = encodeMessage(l.type, l.message);
  assert.deepEqual(validateMessage(l.type, bytes), [], "breaks Envoy's validation rules");
  assert.equal(grpcClientRejects(typeUrlOf(l.type), bytes), undefined, "gRPC's validator rejects it");
}

// ---- the cases ----

const WHO = "/gitmesh.test.Identity/WhoAmI";
const ANY = { any: true };
const rule = (ns: string, name: string, i = 0) => `ns[${ns}]-policy[${name}]-rule[${i}]`;

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly deny?: HttpRbac;
  readonly allow?: HttpRbac;
  readonly problems?: readonly RegExp[];
  /** Requests gRPC's engine must admit, and must refuse. */
  readonly admitted?: readonly Request[];
  readonly refused?: readonly Request[];
}

const cases: Case[] = [
  { name: "no policy: no filter, everything allowed", yaml: "", admitted: [{}, { path: "/x/Y" }] },
  {
    name: "ALLOW on an exact path",
    yaml: policy("p", `action: ALLOW\nrules:\n  - to: [{ operation: { paths: ["${WHO}"] } }]`),
    allow: { rules: { action: "ALLOW", policies: { [rule("shop", "p")]: { permissions: [{ url_path: { path: { exact: WHO } } }], principals: [ANY] } } } },
    admitted: [{}],
    refused: [{ path: "/gitmesh.test.Identity/Other" }],
  },
  {
    name: "ALLOW is the default action; prefix, suffix and any paths",
    yaml: policy("p", `rules:\n  - to: [{ operation: { paths: ["/gitmesh.test.*", "*/Health", "*"] } }]`),
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "p")]: {
            permissions: [{ or_rules: { rules: [{ url_path: { path: { prefix: "/gitmesh.test." } } }, { url_path: { path: { suffix: "/Health" } } }, { url_path: { path: { safe_regex: { regex: ".+" } } } }] } }],
            principals: [ANY],
          },
        },
      },
    },
    admitted: [{ path: "/other.Svc/M" }],
  },
  {
    name: "DENY on a path; notPaths",
    yaml: policy("d", `action: DENY\nrules:\n  - to: [{ operation: { notPaths: ["/grpc.health.*"] } }]`),
    deny: { rules: { action: "DENY", policies: { [rule("shop", "d")]: { permissions: [{ not_rule: { url_path: { path: { prefix: "/grpc.health." } } } }], principals: [ANY] } } } },
    admitted: [{ path: "/grpc.health.v1.Health/Check" }],
    refused: [{}],
  },
  {
    name: "an ALLOW policy without rules denies everything",
    yaml: policy("nothing", "action: ALLOW"),
    allow: { rules: { action: "ALLOW", policies: {} } },
    refused: [{}],
  },
  {
    name: "an empty rule matches everything",
    yaml: policy("all", "rules: [{}]"),
    allow: { rules: { action: "ALLOW", policies: { [rule("shop", "all")]: { permissions: [ANY], principals: [ANY] } } } },
    admitted: [{}],
  },
  {
    name: "methods (an RPC is a POST), notMethods, ports, hosts",
    yaml: policy("ops", `rules:\n  - to:\n      - operation: { methods: [POST], notMethods: [GET], ports: ["9080"], hosts: ["ratings.shop.svc.cluster.local"] }`),
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "ops")]: {
            permissions: [
              {
                and_rules: {
                  rules: [
                    { header: { name: ":authority", string_match: { safe_regex: { regex: "(?i)ratings\\.shop\\.svc\\.cluster\\.local(:[0-9]+)?" } } } },
                    { destination_port: 9080 },
                    { header: { name: ":method", string_match: { exact: "POST" } } },
                    { not_rule: { header: { name: ":method", string_match: { exact: "GET" } } } },
                  ],
                },
              },
            ],
            principals: [ANY],
          },
        },
      },
    },
    admitted: [{}, { authority: "RATINGS.shop.svc.cluster.local" }],
    refused: [{ port: 9081 }, { authority: "reviews.shop.svc.cluster.local:9080" }],
  },
  {
    name: "several `to` entries are ORed as permissions",
    yaml: policy("two", `rules:\n  - to: [{ operation: { paths: ["/a/A"] } }, { operation: { ports: ["1"] } }]`),
    allow: {
      rules: {
        action: "ALLOW",
        policies: { [rule("shop", "two")]: { permissions: [{ url_path: { path: { exact: "/a/A" } } }, { destination_port: 1 }], principals: [ANY] } },
      },
    },
    admitted: [{ path: "/a/A" }, { port: 1 }],
    refused: [{}],
  },
  {
    name: "ipBlocks and notIpBlocks: the direct peer address",
    yaml: policy("ips", `rules:\n  - from: [{ source: { ipBlocks: ["10.1.0.0/16", "192.168.0.1"], notIpBlocks: ["10.1.9.0/24"] } }]`),
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "ips")]: {
            permissions: [ANY],
            principals: [
              {
                and_ids: {
                  ids: [
                    { or_ids: { ids: [{ direct_remote_ip: { address_prefix: "10.1.0.0", prefix_len: { value: 16 } } }, { direct_remote_ip: { address_prefix: "192.168.0.1", prefix_len: { value: 32 } } }] } },
                    { not_id: { direct_remote_ip: { address_prefix: "10.1.9.0", prefix_len: { value: 24 } } } },
                  ],
                },
              },
            ],
          },
        },
      },
    },
    admitted: [{ sourceIp: "10.1.2.3" }, { sourceIp: "192.168.0.1" }],
    refused: [{ sourceIp: "10.1.9.9" }, { sourceIp: "10.2.0.1" }, { sourceIp: "192.168.0.2" }],
  },
  {
    name: "principals and namespaces need mTLS identities: over plaintext an ALLOW on them admits no one",
    yaml: policy("peers", `rules:\n  - from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/ops/*", "*"] } }, { source: { namespaces: ["shop"] } }]`),
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "peers")]: {
            permissions: [ANY],
            principals: [
              {
                or_ids: {
                  ids: [
                    { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/frontend" } } },
                    { authenticated: { principal_name: { prefix: "spiffe://cluster.local/ns/ops/" } } },
                    { authenticated: { principal_name: { safe_regex: { regex: ".+" } } } },
                  ],
                },
              },
              { authenticated: { principal_name: { safe_regex: { regex: ".*/ns/shop/.*" } } } },
            ],
          },
        },
      },
    },
    refused: [{}],
  },
  {
    name: "notPrincipals over plaintext: a DENY on everyone but a principal denies everyone",
    yaml: policy("d", `action: DENY\nrules:\n  - from: [{ source: { notPrincipals: ["cluster.local/ns/shop/sa/admin"] } }]`),
    deny: {
      rules: {
        action: "DENY",
        policies: { [rule("shop", "d")]: { permissions: [ANY], principals: [{ not_id: { authenticated: { principal_name: { exact: "spiffe://cluster.local/ns/shop/sa/admin" } } } }] } },
      },
    },
    refused: [{}],
  },
  {
    name: "when request.headers: values and notValues (Istio's * forms); source.ip",
    yaml: policy(
      "hdr",
      `rules:
  - when:
      - { key: "request.headers[X-User]", values: [jason, "adm*"] }
      - { key: "request.headers[x-env]", notValues: ["*"] }
      - { key: source.ip, values: ["10.0.0.0/8"] }`,
    ),
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "hdr")]: {
            permissions: [ANY],
            principals: [
              {
                and_ids: {
                  ids: [
                    { or_ids: { ids: [{ header: { name: "x-user", string_match: { exact: "jason" } } }, { header: { name: "x-user", string_match: { prefix: "adm" } } }] } },
                    { not_id: { header: { name: "x-env", present_match: true } } },
                    { direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: { value: 8 } } },
                  ],
                },
              },
            ],
          },
        },
      },
    },
    admitted: [{ headers: { "x-user": "jason" } }, { headers: { "x-user": "admin" } }],
    refused: [{}, { headers: { "x-user": "bob" } }, { headers: { "x-user": "jason", "x-env": "prod" } }, { headers: { "x-user": "jason" }, sourceIp: "192.168.1.1" }],
  },
  {
    name: "from, to and when together; several policies and rules; DENY before ALLOW",
    yaml: [
      policy("allow-a", `rules:\n  - from: [{ source: { ipBlocks: ["10.0.0.0/8"] } }]\n    to: [{ operation: { paths: ["/a/*"] } }]\n    when: [{ key: "request.headers[x-user]", values: [jason] }]\n  - to: [{ operation: { paths: ["/public/*"] } }]`),
      policy("deny-b", `action: DENY\nrules:\n  - to: [{ operation: { paths: ["/a/Secret"] } }]`),
    ].join("---\n"),
    deny: { rules: { action: "DENY", policies: { [rule("shop", "deny-b")]: { permissions: [{ url_path: { path: { exact: "/a/Secret" } } }], principals: [ANY] } } } },
    allow: {
      rules: {
        action: "ALLOW",
        policies: {
          [rule("shop", "allow-a", 0)]: {
            permissions: [{ url_path: { path: { prefix: "/a/" } } }],
            principals: [{ and_ids: { ids: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: { value: 8 } } }, { header: { name: "x-user", string_match: { exact: "jason" } } }] } }],
          },
          [rule("shop", "allow-a", 1)]: { permissions: [{ url_path: { path: { prefix: "/public/" } } }], principals: [ANY] },
        },
      },
    },
    admitted: [{ path: "/a/B", headers: { "x-user": "jason" } }, { path: "/public/P" }],
    refused: [{ path: "/a/Secret", headers: { "x-user": "jason" } }, { path: "/a/B" }, { path: "/a/B", headers: { "x-user": "jason" }, sourceIp: "192.168.0.1" }, { path: "/b/B" }],
  },
];

for (const c of cases) {
  test(`rbac: ${c.name}`, () => {
    const ps = policies(c.yaml);
    const configs = rbacFilterConfig(ps);
    assert.deepEqual(configs.deny, c.deny);
    assert.deepEqual(configs.allow, c.allow);
    assert.equal(configs.problems.length, (c.problems ?? []).length, configs.problems.join("\n"));
    (c.problems ?? []).forEach((p, i) => assert.match(configs.problems[i]!, p));
    assertValidListener(ps);
    for (const r of c.admitted ?? []) assert.ok(admits(ps, r), `gRPC refuses ${JSON.stringify(r)}`);
    for (const r of c.refused ?? []) assert.ok(!admits(ps, r), `gRPC admits ${JSON.stringify(r)}`);
  });
}

test("rbac: a key the schema does not know is reported; it makes an ALLOW rule match nothing and is ignored in a DENY rule", () => {
  const [allow, deny] = policies(
    [policy("a", `rules:\n  - to: [{ operation: { paths: ["/a/A"] } }]`), policy("d", `action: DENY\nrules:\n  - to: [{ operation: { paths: ["/a/A"] } }]`)].join("---\n"),
  );
  // The schema admits only the keys Envoy can check; simulate one it does not.
  const withKey = (p: Policy): Policy => ({ ...p, spec: { ...p.spec, rules: [{ ...p.spec.rules![0], when: [{ key: "experimental.envoy.filters.a[b]", values: ["x"] }] }] } });
  const configs = rbacFilterConfig([withKey(allow!), withKey(deny!)]);
  assert.deepEqual(configs.allow, { rules: { action: "ALLOW", policies: {} } });
  assert.deepEqual(configs.deny, { rules: { action: "DENY", policies: { [rule("shop", "d")]: { permissions: [{ url_path: { path: { exact: "/a/A" } } }], principals: [ANY] } } } });
  assert.equal(configs.problems.length, 2);
  assert.match(configs.problems[0]!, /shop\/d rule 0: when key "experimental.envoy.filters.a\[b\]" is not supported; the condition is ignored/);
  assert.match(configs.problems[1]!, /shop\/a rule 0: when key "experimental.envoy.filters.a\[b\]" is not supported; the rule matches nothing/);
});

test("rbac: the configs do not depend on the order of the policies", () => {
  const ps = policies([policy("b", "rules: [{}]"), policy("a", `rules:\n  - to: [{ operation: { paths: ["/x/X"] } }]`), policy("c", "rules: [{}]", "ops")].join("---\n"));
  assert.deepEqual(rbacFilterConfig(ps), rbacFilterConfig([...ps].reverse()));
  assert.deepEqual(Object.keys(rbacFilterConfig(ps).allow!.rules!.policies!), [rule("ops", "c"), rule("shop", "a"), rule("shop", "b")]);
});

test("rbac: policiesForWorkload selects by namespace (root namespace mesh-wide) and matchLabels", () => {
  const ps = policies(
    [
      policy("ns-wide", "rules: [{}]"),
      policy("ratings-only", "selector: { matchLabels: { app: ratings } }\nrules: [{}]"),
      policy("other-ns", "rules: [{}]", "ops"),
      policy("mesh", "rules: [{}]", "istio-system"),
      // The workload ratings-only is for: a selector that matches none is an error (GM0316).
      "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: ratings-1, namespace: shop }\nspec: { address: 10.0.0.1, labels: { app: ratings } }\n",
    ].join("---\n"),
  );
  const names = (w: { namespace: string; labels: Record<string, string> }) => policiesForWorkload(ps, w).map((p) => p.name).sort();
  assert.deepEqual(names({ namespace: "shop", labels: { app: "ratings", version: "v1" } }), ["mesh", "ns-wide", "ratings-only"]);
  assert.deepEqual(names({ namespace: "shop", labels: { app: "reviews" } }), ["mesh", "ns-wide"]);
  assert.deepEqual(names({ namespace: "ops", labels: {} }), ["mesh", "other-ns"]);
});

test("grpc server listener: name template, address, inline non-forwarding route, RBAC filters before the router", () => {
  assert.equal(GRPC_SERVER_LISTENER_TEMPLATE, "gitmesh/grpc/inbound/%s");
  assert.equal(grpcServerListenerName("[::]:50051"), "gitmesh/grpc/inbound/[::]:50051");
  const ps = policies([policy("a", "rules: [{}]"), policy("d", "action: DENY\nrules: [{}]")].join("---\n"));
  const l = grpcServerListener("gitmesh/grpc/inbound/0.0.0.0:50051", 50051, ps);
  const decoded = decodeMessage(l.type, encodeMessage(l.type, l.message)) as {
    name: string;
    address: unknown;
    filter_chains: { filters: { typed_config: { type_url: string; value: Buffer } }[] }[];
  };
  assert.equal(decoded.name, "gitmesh/grpc/inbound/0.0.0.0:50051");
  assert.deepEqual(decoded.address, { socket_address: { address: "0.0.0.0", port_value: 50051 } });
  assert.equal(decoded.filter_chains.length, 1);
  const hcm = decodeMessage("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", decoded.filter_chains[0]!.filters[0]!.typed_config.value) as {
    route_config: unknown;
    http_filters: { name: string; typed_config: { type_url: string } }[];
  };
  assert.deepEqual(hcm.route_config, {
    name: "inbound|50051",
    virtual_hosts: [{ name: "inbound|50051", domains: ["*"], routes: [{ match: { prefix: "/" }, non_forwarding_action: {} }] }],
  });
  assert.deepEqual(
    hcm.http_filters.map((f) => [f.name, f.typed_config.type_url]),
    [
      ["envoy.filters.http.rbac.deny", "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"],
      ["envoy.filters.http.rbac.allow", "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"],
      ["envoy.filters.http.router", "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"],
    ],
  );
  // Without policies: the router alone.
  const open = grpcServerListener("x", 1, []);
  assertValidListener([]);
  const openHcm = decodeMessage(
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    (decodeMessage(open.type, encodeMessage(open.type, open.message)) as typeof decoded).filter_chains[0]!.filters[0]!.typed_config.value,
  ) as { http_filters: { name: string }[] };
  assert.deepEqual(openHcm.http_filters.map((f) => f.name), ["envoy.filters.http.router"]);
});
