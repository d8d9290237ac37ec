// validateMessage: the protoc-gen-validate rules Envoy enforces, checked by gitmesh from the loaded
// protos. Valid messages pass; typical mistakes are found at the right path with the right rule;
// every rule kind the loaded protos use is implemented; validating is fast enough for every test.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import protobuf from "protobufjs";
import { encodeMessage, envoyProtoRoot, messageType, pack, typeUrlOf } from "../../src/envoy/index.js";
import type {
  Any,
  Cluster,
  ClusterLoadAssignment,
  EnvoyMessageName,
  EnvoyMessages,
  HttpConnectionManager,
  Listener,
  RouteConfiguration,
} from "../../src/envoy/index.js";
import {
  compileAllPgvRules,
  ENVOY_DURATION_RULE,
  IMPLEMENTED_RULE_KINDS,
  pgvRuleKindsInLoadedProtos,
  validateMessage,
} from "../../src/envoy/pgv.js";
import type { PgvViolation } from "../../src/envoy/pgv.js";
import {
  compileBytesRules,
  compileEnumRules,
  compileNumericRules,
  compileStringRules,
  compileDurationRules,
  compileTimestampRules,
  formatDuration,
} from "../../src/envoy/pgv-rules.js";

const CLUSTER = "envoy.config.cluster.v3.Cluster";
const CLA = "envoy.config.endpoint.v3.ClusterLoadAssignment";
const LISTENER = "envoy.config.listener.v3.Listener";
const ROUTES = "envoy.config.route.v3.RouteConfiguration";
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "envoy.extensions.filters.http.router.v3.Router";
const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** An Any of a loaded message gitmesh has no TypeScript type for (EnvoyMessages lists what it builds). */
function packUntyped(name: string, value: Record<string, unknown>): Any {
  const type = messageType(name);
  return { type_url: typeUrlOf(name), value: Buffer.from(type.encode(type.fromObject(value)).finish()) };
}

/** `value` with a value the generated types forbid (an unknown enum number, say). */
function forbidden<T>(value: unknown): T {
  return value as T;
}

// ------------------------------------------------------------------------------------------------
// Valid messages, built fresh by each call so a case can change one thing.

const cluster = (): Cluster => ({
  name: "backend",
  type: "EDS",
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: "backend" },
  connect_timeout: { seconds: "5", nanos: 250_000_000 },
  lb_policy: "LEAST_REQUEST",
  health_checks: [
    {
      timeout: { seconds: "1" },
      interval: { seconds: "10" },
      unhealthy_threshold: { value: 3 },
      healthy_threshold: { value: 2 },
      http_health_check: { path: "/healthz", host: "backend.internal" },
    },
  ],
  typed_extension_protocol_options: {
    [HTTP_OPTIONS]: packUntyped(HTTP_OPTIONS, {
      explicit_http_config: { http2_protocol_options: {} },
      upstream_http_protocol_options: { auto_sni: true, override_auto_sni_header: "" }, // ignore_empty
    }),
  },
  metadata: { filter_metadata: { "envoy.lb": { fields: { zone: { stringValue: "eu-1" } } } } },
});

const endpoints = (): ClusterLoadAssignment => ({
  cluster_name: "backend",
  endpoints: [
    {
      locality: { region: "eu", zone: "eu-1" },
      lb_endpoints: [
        {
          endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 8080 } } },
          health_status: "HEALTHY",
          load_balancing_weight: { value: 3 },
        },
        { endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 65535 } } } },
      ],
      load_balancing_weight: { value: 1 },
    },
  ],
  policy: { overprovisioning_factor: { value: 140 } },
});

const routes = (): RouteConfiguration => ({
  name: "r1",
  virtual_hosts: [
    {
      name: "backend",
      domains: ["backend", "backend.example.com:8080", "*"],
      routes: [
        {
          match: { prefix: "/api", headers: [{ name: "x-canary", string_match: { exact: "1" } }] },
          route: {
            weighted_clusters: {
              clusters: [
                { name: "backend-v1", weight: { value: 90 } },
                { name: "backend-v2", weight: { value: 10 } },
              ],
            },
            timeout: { seconds: "15" },
          },
          request_headers_to_add: [{ header: { key: "x-gitmesh", value: "1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
        },
        { match: { path: "/old" }, redirect: { path_redirect: "/new", response_code: "PERMANENT_REDIRECT" } },
        { match: { prefix: "/" }, route: { cluster: "backend", timeout: { seconds: "0" } } },
      ],
      // A type we do not load: left alone, as Envoy may know it.
      typed_per_filter_config: { "example.filter": { type_url: "type.googleapis.com/example.Unknown", value: Buffer.from([1, 2, 3]) } },
    },
  ],
  request_headers_to_remove: ["x-internal"],
});

const hcm = (): HttpConnectionManager => ({
  stat_prefix: "ingress_http",
  codec_type: "AUTO",
  route_config: routes(),
  http_filters: [{ name: "envoy.filters.http.router", typed_config: pack(ROUTER, {}) }],
});

const listener = (manager: HttpConnectionManager = hcm()): Listener => ({
  name: "ingress",
  address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
  filter_chains: [
    {
      filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: pack(HCM, manager) }],
    },
  ],
});

function violations<N extends EnvoyMessageName>(message: N, value: EnvoyMessages[N]): PgvViolation[] {
  return validateMessage(message, encodeMessage(message, value));
}

interface Expected {
  readonly path: string;
  readonly rule: string;
}

interface Case {
  readonly name: string;
  readonly run: () => PgvViolation[];
  readonly expect: readonly Expected[];
}

/** A table row: `value` is typed by `message`, so the table needs no casts. */
function row<N extends EnvoyMessageName>(name: string, message: N, value: () => EnvoyMessages[N], expect: readonly Expected[] = []): Case {
  return { name, run: () => violations(message, value()), expect };
}

const pathsAndRules = (vs: readonly Expected[]): Expected[] =>
  vs.map(({ path, rule }) => ({ path, rule })).sort((a, b) => (a.path + a.rule).localeCompare(b.path + b.rule));

describe("valid messages have no violations", () => {
  const cases: Case[] = [
    row("Cluster (EDS, health check, protocol options in an Any map, metadata)", CLUSTER, cluster),
    row("ClusterLoadAssignment (weights, port 65535)", CLA, endpoints),
    row("RouteConfiguration (weighted clusters, redirect, header matcher, unknown Any)", ROUTES, routes),
    row("Listener with an HttpConnectionManager in typed_config", LISTENER, () => listener()),
    row("Listener with a TcpProxy in typed_config", LISTENER, () => ({
      name: "tcp",
      address: { socket_address: { address: "::", port_value: 5432 } },
      filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: pack(TCP_PROXY, { stat_prefix: "pg", cluster: "pg" }) }] }],
    })),
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(c.run(), []);
    });
  }
});

describe("violations are found with their path and rule", () => {
  const HCM_IN_LISTENER = "filter_chains[0].filters[0].typed_config<HttpConnectionManager>";
  const cases: Case[] = [
    row(
      "empty cluster name (string.min_len, a proto3 default still counts)",
      CLUSTER,
      () => ({ ...cluster(), name: "" }),
      [{ path: "name", rule: "string.min_len = 1" }],
    ),
    row(
      "port above 65535",
      CLA,
      () => {
        const cla = endpoints();
        cla.endpoints![0]!.lb_endpoints![1]!.endpoint!.address!.socket_address!.port_value = 65536;
        return cla;
      },
      [{ path: "endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value", rule: "uint32.lte = 65535" }],
    ),
    row(
      "connect_timeout of 0 where gt 0 is required",
      CLUSTER,
      () => ({ ...cluster(), connect_timeout: { seconds: 0 } }),
      [{ path: "connect_timeout", rule: "duration.gt = 0s" }],
    ),
    row(
      "negative duration: PGV's gt and Envoy's own duration check",
      CLUSTER,
      () => ({ ...cluster(), connect_timeout: { seconds: -1 } }),
      [
        { path: "connect_timeout", rule: "duration.gt = 0s" },
        { path: "connect_timeout", rule: ENVOY_DURATION_RULE },
      ],
    ),
    row(
      "negative route timeout (a Duration without PGV rules)",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes![2]!.route!.timeout = { nanos: -5 };
        return rc;
      },
      [{ path: "virtual_hosts[0].routes[2].route.timeout", rule: ENVOY_DURATION_RULE }],
    ),
    row(
      "unknown enum value where defined_only",
      CLUSTER,
      () => ({ ...cluster(), lb_policy: forbidden<NonNullable<Cluster["lb_policy"]>>(42) }),
      [{ path: "lb_policy", rule: "enum.defined_only = true" }],
    ),
    row(
      "route with no action (oneof required)",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes![2] = { match: { prefix: "/" } };
        return rc;
      },
      [{ path: "virtual_hosts[0].routes[2].action", rule: "(validate.required) = true" }],
    ),
    row(
      "route with no match (message.required) and a match with no path specifier",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes = [{ route: { cluster: "a" } }, { match: {}, route: { cluster: "a" } }];
        return rc;
      },
      [
        { path: "virtual_hosts[0].routes[0].match", rule: "message.required = true" },
        { path: "virtual_hosts[0].routes[1].match.path_specifier", rule: "(validate.required) = true" },
      ],
    ),
    row(
      "route action with no cluster, and an empty cluster name",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes = [
          { match: { prefix: "/a" }, route: { timeout: { seconds: 1 } } },
          { match: { prefix: "/b" }, route: { cluster: "" } },
        ];
        return rc;
      },
      [
        { path: "virtual_hosts[0].routes[0].route.cluster_specifier", rule: "(validate.required) = true" },
        { path: "virtual_hosts[0].routes[1].route.cluster", rule: "string.min_len = 1" },
      ],
    ),
    row(
      "virtual host with no domains",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.domains = [];
        return rc;
      },
      [{ path: "virtual_hosts[0].domains", rule: "repeated.min_items = 1" }],
    ),
    row(
      "weighted clusters: none listed; one picked by a header name with a newline",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes![0]!.route!.weighted_clusters = { clusters: [] };
        rc.virtual_hosts![0]!.routes![2]!.route = { weighted_clusters: { clusters: [{ cluster_header: "x-pick\nme", weight: { value: 1 } }] } };
        return rc;
      },
      [
        { path: "virtual_hosts[0].routes[0].route.weighted_clusters.clusters", rule: "repeated.min_items = 1" },
        {
          path: "virtual_hosts[0].routes[2].route.weighted_clusters.clusters[0].cluster_header",
          rule: "string.well_known_regex = HTTP_HEADER_NAME, strict = false",
        },
      ],
    ),
    row(
      "endpoint weight of 0 (uint32 rule on a UInt32Value wrapper)",
      CLA,
      () => {
        const cla = endpoints();
        cla.endpoints![0]!.lb_endpoints![0]!.load_balancing_weight = { value: 0 };
        return cla;
      },
      [{ path: "endpoints[0].lb_endpoints[0].load_balancing_weight", rule: "uint32.gte = 1" }],
    ),
    row(
      "locality weight of 0 and priority above 128",
      CLA,
      () => {
        const cla = endpoints();
        cla.endpoints![0]!.load_balancing_weight = { value: 0 };
        cla.endpoints![0]!.priority = 129;
        return cla;
      },
      [
        { path: "endpoints[0].load_balancing_weight", rule: "uint32.gte = 1" },
        { path: "endpoints[0].priority", rule: "uint32.lte = 128" },
      ],
    ),
    row(
      "HCM without stat_prefix, inside a Listener's typed_config",
      LISTENER,
      () => listener({ ...hcm(), stat_prefix: "" }),
      [{ path: `${HCM_IN_LISTENER}.stat_prefix`, rule: "string.min_len = 1" }],
    ),
    row(
      "inline route config inside the HCM inside the Listener: a virtual host with no domains",
      LISTENER,
      () => {
        const manager = hcm();
        (manager.route_config as RouteConfiguration).virtual_hosts![0]!.domains = [];
        return listener(manager);
      },
      [{ path: `${HCM_IN_LISTENER}.route_config.virtual_hosts[0].domains`, rule: "repeated.min_items = 1" }],
    ),
    row(
      "HCM with no route specifier and an unknown codec",
      LISTENER,
      () => {
        const manager = hcm();
        delete manager.route_config;
        return listener({ ...manager, codec_type: forbidden<NonNullable<HttpConnectionManager["codec_type"]>>(7) });
      },
      [
        { path: `${HCM_IN_LISTENER}.codec_type`, rule: "enum.defined_only = true" },
        { path: `${HCM_IN_LISTENER}.route_specifier`, rule: "(validate.required) = true" },
      ],
    ),
    row(
      "TcpProxy without stat_prefix or cluster",
      LISTENER,
      () => ({
        name: "tcp",
        filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: pack(TCP_PROXY, {}) }] }],
      }),
      [
        { path: "filter_chains[0].filters[0].typed_config<TcpProxy>.cluster_specifier", rule: "(validate.required) = true" },
        { path: "filter_chains[0].filters[0].typed_config<TcpProxy>.stat_prefix", rule: "string.min_len = 1" },
      ],
    ),
    row(
      "header name with a newline (HTTP_HEADER_NAME, strict: false) and one with a space (strict)",
      CLUSTER,
      () => ({
        ...cluster(),
        typed_extension_protocol_options: {
          [HTTP_OPTIONS]: packUntyped(HTTP_OPTIONS, {
            explicit_http_config: { http_protocol_options: {} },
            upstream_http_protocol_options: { auto_sni: true, override_auto_sni_header: "x sni" },
          }),
        },
        health_checks: [
          {
            ...cluster().health_checks![0]!,
            http_health_check: { path: "/healthz", request_headers_to_add: [{ header: { key: "x-bad\nname", value: "1" } }] },
          },
        ],
      }),
      [
        {
          path: `typed_extension_protocol_options["${HTTP_OPTIONS}"]<HttpProtocolOptions>.upstream_http_protocol_options.override_auto_sni_header`,
          rule: "string.well_known_regex = HTTP_HEADER_NAME",
        },
        {
          path: "health_checks[0].http_health_check.request_headers_to_add[0].header.key",
          rule: "string.well_known_regex = HTTP_HEADER_NAME, strict = false",
        },
      ],
    ),
    row(
      "health check missing everything it requires",
      CLUSTER,
      () => ({ ...cluster(), health_checks: [{}] }),
      [
        { path: "health_checks[0].health_checker", rule: "(validate.required) = true" },
        { path: "health_checks[0].healthy_threshold", rule: "message.required = true" },
        { path: "health_checks[0].interval", rule: "duration.required = true" },
        { path: "health_checks[0].timeout", rule: "duration.required = true" },
        { path: "health_checks[0].unhealthy_threshold", rule: "message.required = true" },
      ],
    ),
    row(
      "header value with a control character where HTTP_HEADER_VALUE is strict",
      CLUSTER,
      () => ({
        ...cluster(),
        health_checks: [{ ...cluster().health_checks![0]!, http_health_check: { path: "/health\u0001z" } }],
      }),
      [{ path: "health_checks[0].http_health_check.path", rule: "string.well_known_regex = HTTP_HEADER_VALUE" }],
    ),
    row(
      "empty metadata namespace (map keys rule)",
      CLUSTER,
      () => ({ ...cluster(), metadata: { filter_metadata: { "": { fields: {} } } } }),
      [{ path: 'metadata.filter_metadata[""]', rule: "map.keys.string.min_len = 1" }],
    ),
    row(
      "removing an empty header name (repeated items rule)",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.request_headers_to_remove = ["x-ok", ""];
        return rc;
      },
      [{ path: "virtual_hosts[0].request_headers_to_remove[1]", rule: "repeated.items.string.min_len = 1" }],
    ),
    row(
      "path_separated_prefix ending in a slash (string.pattern)",
      ROUTES,
      () => {
        const rc = routes();
        rc.virtual_hosts![0]!.routes![2]!.match = { path_separated_prefix: "/api/" };
        return rc;
      },
      [{ path: "virtual_hosts[0].routes[2].match.path_separated_prefix", rule: 'string.pattern = "^[^?#]+[^?#/]$"' }],
    ),
    row(
      "typed_config bytes that do not decode",
      LISTENER,
      () => ({
        name: "broken",
        filter_chains: [{ filters: [{ name: "hcm", typed_config: { type_url: typeUrlOf(HCM), value: Buffer.from([0x0a, 0xff]) } }] }],
      }),
      [{ path: "filter_chains[0].filters[0].typed_config", rule: "any (unpack)" }],
    ),
  ];
  for (const c of cases) {
    test(c.name, () => {
      const found = c.run();
      assert.deepEqual(pathsAndRules(found), pathsAndRules(c.expect), JSON.stringify(found, null, 2));
      for (const v of found) assert.ok(v.message.length > 0, `a message for ${v.path}`);
    });
  }
});

describe("rule semantics", () => {
  const check = (c: ((v: unknown, p: string, o: PgvViolation[]) => void) | undefined, v: unknown): string[] => {
    const out: PgvViolation[] = [];
    c?.(v, "x", out);
    return out.map((o) => o.rule);
  };
  const cases: { name: string; check: ((v: unknown, p: string, o: PgvViolation[]) => void) | undefined; value: unknown; rules: string[] }[] = [
    { name: "uint32 range, inside", check: compileNumericRules("uint32", { gte: 1, lte: 10 }, "uint32"), value: 10, rules: [] },
    { name: "uint32 range, below", check: compileNumericRules("uint32", { gte: 1, lte: 10 }, "uint32"), value: 0, rules: ["uint32.gte = 1"] },
    { name: "exclusive range (lt < gt), outside", check: compileNumericRules("int32", { lt: 30, gte: 40 }, "int32"), value: 29, rules: [] },
    { name: "exclusive range (lt < gt), inside", check: compileNumericRules("int32", { lt: 30, gte: 40 }, "int32"), value: 35, rules: ["int32.lt = 30, int32.gte = 40"] },
    { name: "uint64 as Long beyond 2^53", check: compileNumericRules("uint64", { lte: 4294967295 }, "uint64"), value: new protobuf.util.LongBits(1, 0x200000).toLong(true) /* 2^53 + 1 */, rules: ["uint64.lte = 4294967295"] },
    { name: "float compares at float precision", check: compileNumericRules("float", { lte: 0.1 }, "float"), value: Math.fround(0.1), rules: [] },
    { name: "double in / not_in", check: compileNumericRules("double", { in: [1, 2], not_in: 2 }, "double"), value: 2, rules: ["double.not_in = [2]"] },
    { name: "ignore_empty skips a zero", check: compileNumericRules("uint32", { gte: 5, ignore_empty: true }, "uint32"), value: 0, rules: [] },
    { name: "const", check: compileNumericRules("int64", { const: 7 }, "int64"), value: "8", rules: ["int64.const = 7"] },
    { name: "string length counts code points", check: compileStringRules({ max_len: 2 }, "string", "t"), value: "😀😀", rules: [] },
    { name: "string bytes count UTF-8 bytes", check: compileStringRules({ max_bytes: 2 }, "string", "t"), value: "é!", rules: ["string.max_bytes = 2"] },
    { name: "string in (repeated option)", check: compileStringRules({ in: ["http", "https"] }, "string", "t"), value: "ftp", rules: ['string.in = ["http", "https"]'] },
    { name: "string ignore_empty", check: compileStringRules({ well_known_regex: "HTTP_HEADER_NAME", ignore_empty: true }, "string", "t"), value: "", rules: [] },
    { name: "strict header name: ':authority' is fine", check: compileStringRules({ well_known_regex: "HTTP_HEADER_NAME" }, "string", "t"), value: ":authority", rules: [] },
    { name: "strict header name: empty fails", check: compileStringRules({ well_known_regex: "HTTP_HEADER_NAME" }, "string", "t"), value: "", rules: ["string.well_known_regex = HTTP_HEADER_NAME"] },
    { name: "prefix/suffix/contains", check: compileStringRules({ prefix: "a", suffix: "z", not_contains: "m" }, "string", "t"), value: "amz", rules: ['string.not_contains = "m"'] },
    { name: "hostname / ip", check: compileStringRules({ address: true }, "string", "t"), value: "-bad-.example", rules: ["string.address = true"] },
    { name: "bytes length", check: compileBytesRules({ min_len: 1, max_len: 2 }, "bytes", "t"), value: Buffer.from("abc"), rules: ["bytes.max_len = 2"] },
    { name: "enum not_in", check: compileEnumRules({ name: "M", valuesById: { 0: "GET", 6: "CONNECT" } }, { defined_only: true, not_in: 6 }, "enum"), value: 6, rules: ["enum.not_in = [6]"] },
    { name: "duration gte 1ms", check: compileDurationRules({ gte: { nanos: 1000000 } }, "duration").check, value: { nanos: 999999 }, rules: ["duration.gte = 0.001s"] },
    { name: "duration lt 2^32 s", check: compileDurationRules({ lt: { seconds: 4294967296 }, gte: {} }, "duration").check, value: { seconds: 4294967296 }, rules: ["duration.lt = 4294967296s"] },
    { name: "timestamp gt_now", check: compileTimestampRules({ gt_now: true }, "timestamp").check, value: { seconds: 0 }, rules: ["timestamp.gt_now = true"] },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(check(c.check, c.value), c.rules));
  }
  test("formatDuration", () => {
    assert.equal(formatDuration(0n), "0s");
    assert.equal(formatDuration(1_500_000_000n), "1.5s");
    assert.equal(formatDuration(-1_000_000n), "-0.001s");
  });
});

describe("every PGV rule kind in the loaded protos is implemented", () => {
  const kinds = pgvRuleKindsInLoadedProtos();

  test("the loaded protos use only implemented rule kinds", (t) => {
    const listed = [...kinds].sort(([a], [b]) => a.localeCompare(b)).map(([k, at]) => `${IMPLEMENTED_RULE_KINDS.has(k) ? "ok     " : "MISSING"} ${k} (${at.length}, e.g. ${at[0]})`);
    t.diagnostic(`${kinds.size} PGV rule kinds in the loaded protos:`);
    for (const line of listed) t.diagnostic(line);
    const missing = [...kinds.keys()].filter((k) => !IMPLEMENTED_RULE_KINDS.has(k));
    assert.deepEqual(missing, [], `PGV rule kinds used by the loaded protos but not implemented in src/envoy/pgv-rules.ts:\n${listed.join("\n")}`);
    // The scan must actually see the rules (a protobufjs change could hide them all).
    for (const k of ["string.min_len", "uint32.lte", "duration.gt", "repeated.min_items", "(validate.required)", "message.required", "enum.defined_only"]) {
      assert.ok(kinds.has(k), `expected the loaded protos to use ${k}`);
    }
  });

  test("every message type's rules compile (no unsupported rule, pattern or type mismatch)", () => {
    assert.ok(compileAllPgvRules() > 500);
  });

  test("protobufjs kept every (validate.*) option written in the loaded proto files", () => {
    // Count `(validate.rules).<kind>` / `(validate.required)` etc. in each file's text and compare
    // with what the reflection carries (one per field and rules type, plus oneof/message options).
    const root = envoyProtoRoot();
    const parsed = new Map<string, number>();
    const bump = (file: string | null, n: number): void => {
      if (file !== null && n > 0) parsed.set(file, (parsed.get(file) ?? 0) + n);
    };
    const countIn = (options: unknown): number => {
      let n = 0;
      for (const entry of Array.isArray(options) ? (options as Record<string, unknown>[]) : []) {
        for (const [k, v] of Object.entries(entry)) {
          if (k === "(validate.rules)") n += Object.keys(v as object).length;
          else if (k.startsWith("(validate.")) n += 1;
        }
      }
      return n;
    };
    const walk = (ns: protobuf.NamespaceBase): void => {
      for (const o of ns.nestedArray) {
        if (o instanceof protobuf.Type) {
          bump(o.filename, countIn(o.parsedOptions));
          for (const f of o.fieldsArray) bump(o.filename, countIn(f.parsedOptions));
          for (const one of o.oneofsArray) bump(o.filename, countIn(one.parsedOptions));
        }
        if (o instanceof protobuf.Namespace) walk(o);
      }
    };
    walk(root);
    let files = 0;
    for (const file of root.files) {
      if (!file.startsWith("/")) continue; // protobufjs's bundled google/protobuf/* have no rules
      const text = readFileSync(file, "utf8").replace(/\/\/.*$/gm, "");
      const written = (text.match(/\(validate\.rules\)\s*\.\s*\w+|\(validate\.(required|disabled|ignored)\)/g) ?? []).length;
      assert.equal(parsed.get(file) ?? 0, written, `${file}: ${written} PGV options written, ${parsed.get(file) ?? 0} parsed`);
      files++;
    }
    assert.ok(files > 50);
  });
});

describe("speed", () => {
  test("validating a 1,000-route RouteConfiguration", (t) => {
    const rc: RouteConfiguration = {
      name: "big",
      virtual_hosts: [
        {
          name: "all",
          domains: ["*"],
          routes: Array.from({ length: 1000 }, (_, i) => ({
            name: `r${i}`,
            match: { prefix: `/svc-${i}/`, headers: [{ name: "x-tenant", string_match: { exact: `t${i % 7}` } }] },
            route: {
              cluster: `svc-${i}`,
              timeout: { seconds: "15" },
              retry_policy: { retry_on: "5xx", num_retries: { value: 2 }, per_try_timeout: { seconds: "2" } },
            },
            request_headers_to_add: [{ header: { key: "x-route", value: `r${i}` } }],
          })),
        },
      ],
    };
    const bytes = encodeMessage(ROUTES, rc);
    assert.deepEqual(validateMessage(ROUTES, bytes), []); // warm: compiles the plans
    const runs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = process.hrtime.bigint();
      validateMessage(ROUTES, bytes);
      runs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    runs.sort((a, b) => a - b);
    const median = runs[5] as number;
    t.diagnostic(`1,000 routes (${bytes.length} bytes): median ${median.toFixed(2)} ms, min ${runs[0]?.toFixed(2)} ms, max ${runs[9]?.toFixed(2)} ms`);
    assert.ok(median < 100, `validating 1,000 routes took ${median} ms`);
  });
});
