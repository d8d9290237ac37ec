// VirtualService http routes to Envoy routes, table-driven from YAML: each case loads a mesh (a
// ServiceEntry, a DestinationRule and the case's VirtualService) through the real loader and
// asserts the exact routes for reviews:9080. Every case's RouteConfiguration must also pass the
// PGV rules Envoy enforces, and the proxyless gRPC client's own RDS validation (the first
// consumer of these routes) unless the case says gRPC cannot take it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
// The package's entry point first: it sets up the proto loading its internals rely on.
import * as xds from "@grpc/grpc-js-xds";
import { RouteConfigurationResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type.js";
import type { XdsDecodeContext } from "@grpc/grpc-js-xds/build/src/xds-resource-type/xds-resource-type.js";
import { loadMesh } from "../../src/config/load.js";
import { decodeMessage, encodeMessage, pack, typeUrlOf, validateMessage, type Any, type CorsPolicy, type HTTPFault } from "../../src/envoy/index.js";
import type { Route } from "../../src/envoy/generated/envoy/config/route/v3/Route.js";
import type { RouteAction } from "../../src/envoy/generated/envoy/config/route/v3/RouteAction.js";
import type { RetryPolicy } from "../../src/envoy/generated/envoy/config/route/v3/RetryPolicy.js";
import { grpcRoutes } from "../../src/translators/grpc-compat.js";
import { clusterName } from "../../src/translators/names.js";
import { httpRoutes, routeConfiguration } from "../../src/translators/routes.js";
import { duration, optionalFilter } from "../../src/translators/routes-values.js";
import { indexServices, type ServiceIndex } from "../../src/translators/services.js";

// ---- the mesh ----

const HOST = "reviews.shop.svc.cluster.local";
const RATINGS = "ratings.shop.svc.cluster.local";

const SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - { number: 9080, name: http, protocol: HTTP }
    - { number: 9090, name: grpc, protocol: GRPC }
  endpoints:
    - { address: 10.0.0.1, labels: { version: v1 } }
    - { address: 10.0.0.2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [${RATINGS}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - { number: 8080, name: http, protocol: HTTP }
  endpoints:
    - { address: 10.0.1.1 }
`;

const SUBSETS = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;

/** The VirtualService for reviews with these http routes (YAML of the list, at any indent). */
function virtualService(http: string): string {
  const lines = http.replace(/^\n+|\s+$/g, "").split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
${lines.map((l) => "    " + l.slice(indent)).join("\n")}
`;
}

function mesh(docs: readonly string[]): ServiceIndex {
  const result = loadMesh([{ path: "mesh.yaml", text: docs.join("\n---\n") }]);
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  assert.deepEqual(errors, [], "the case's config must be valid");
  return indexServices(result.model);
}

function routesFor(docs: readonly string[], port = 9080): Route[] {
  const index = mesh(docs);
  return httpRoutes(index.virtualServiceFor(HOST), { host: HOST, port }, index);
}

// ---- expected values ----

const ZERO = { seconds: 0, nanos: 0 };
const secs = (seconds: number, nanos = 0) => ({ seconds, nanos });
const cluster = (port = 9080, subset = "") => clusterName(HOST, port, subset);
const PREVIOUS_HOSTS = {
  name: "envoy.retry_host_predicates.previous_hosts",
  typed_config: { type_url: "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate", value: Buffer.alloc(0) },
};
/** Istio's default retry policy. */
const DEFAULT_RETRY: RetryPolicy = {
  retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
  num_retries: { value: 2 },
  retry_host_predicate: [PREVIOUS_HOSTS],
  host_selection_retry_max_attempts: 5,
  retriable_status_codes: [503],
};

/** A forwarding action with Istio's defaults (no timeout, default retries) and these fields. */
function action(fields: RouteAction, timeout = ZERO): RouteAction {
  return { timeout, retry_policy: DEFAULT_RETRY, ...fields };
}

function withoutRetries(a: RouteAction): RouteAction {
  const copy = { ...a };
  delete copy.retry_policy;
  return copy;
}

const to = (c: string, fields: RouteAction = {}): RouteAction => action({ cluster: c, ...fields });
const ALL = { prefix: "/" };
const CS = { case_sensitive: { value: true } };
const fault = (config: HTTPFault): Any => pack("envoy.extensions.filters.http.fault.v3.HTTPFault", config);
const cors = (config: CorsPolicy): Any => optionalFilter(pack("envoy.extensions.filters.http.cors.v3.CorsPolicy", config));
const CORS_DEFAULTS: CorsPolicy = { filter_enabled: { default_value: { numerator: 100, denominator: "HUNDRED" } }, forward_not_matching_preflights: { value: true } };

// ---- the cases ----

interface Case {
  readonly name: string;
  /** The http routes of reviews' VirtualService (none: no VirtualService). */
  readonly http?: string;
  /** Documents replacing the DestinationRule. */
  readonly rules?: string;
  readonly port?: number;
  readonly routes: Route[];
  /** Proxyless gRPC clients refuse this RouteConfiguration (documented limitation). */
  readonly grpcRefuses?: RegExp;
}

const cases: Case[] = [
  // -- no VirtualService, no match --
  { name: "no VirtualService: the default route", routes: [{ name: "default", match: ALL, route: to(cluster()) }] },
  {
    name: "no match: everything, with no case_sensitive (as Istio)",
    http: `
      - route: [{ destination: { host: reviews, subset: v1 } }]`,
    routes: [{ match: ALL, route: to(cluster(9080, "v1")) }],
  },
  // -- uri --
  {
    name: "uri exact",
    http: `
      - name: exact
        match: [{ uri: { exact: /health } }]
        route: [{ destination: { host: reviews } }]`,
    routes: [{ name: "exact", match: { path: "/health", ...CS }, route: to(cluster()) }],
  },
  {
    name: "uri prefix",
    http: `
      - match: [{ uri: { prefix: /api/ } }]
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: { prefix: "/api/", ...CS }, route: to(cluster()) }],
  },
  {
    name: "uri regex: safe_regex, engine left to Envoy (RE2)",
    http: `
      - match: [{ uri: { regex: "/v[0-9]+/.*" } }]
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: { safe_regex: { regex: "/v[0-9]+/.*" }, ...CS }, route: to(cluster()) }],
  },
  {
    name: "ignoreUriCase: case_sensitive false",
    http: `
      - match: [{ uri: { prefix: /Api }, ignoreUriCase: true }]
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: { prefix: "/Api", case_sensitive: { value: false } }, route: to(cluster()) }],
  },
  // -- headers, query parameters, method --
  {
    name: "headers: exact, prefix, regex, presence; sorted by name",
    http: `
      - match:
          - headers:
              x-user: { exact: jason }
              end-user: { prefix: "j" }
              x-tenant: { regex: "t-[0-9]+" }
              x-debug: {}
              x-any: { prefix: "" }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: {
          ...ALL,
          ...CS,
          headers: [
            { name: "end-user", string_match: { prefix: "j" } },
            { name: "x-any", present_match: true },
            { name: "x-debug", present_match: true },
            { name: "x-tenant", string_match: { safe_regex: { regex: "t-[0-9]+" } } },
            { name: "x-user", string_match: { exact: "jason" } },
          ],
        },
        route: to(cluster()),
      },
    ],
  },
  {
    name: "withoutHeaders: inverted; a value match also matches the header's absence",
    http: `
      - match:
          - headers: { x-canary: { exact: "yes" } }
            withoutHeaders:
              x-canary: { exact: "no" }
              x-internal: {}
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: {
          ...ALL,
          ...CS,
          headers: [
            { name: "x-canary", string_match: { exact: "yes" } },
            { name: "x-canary", string_match: { exact: "no" }, invert_match: true, treat_missing_header_as_empty: true },
            { name: "x-internal", present_match: true, invert_match: true },
          ],
        },
        route: to(cluster()),
      },
    ],
  },
  {
    name: "queryParams: exact, regex, exact \"\" for presence; sorted by name",
    http: `
      - match:
          - queryParams:
              page: { regex: "[0-9]+" }
              debug: { exact: "" }
              lang: { exact: en }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: {
          ...ALL,
          ...CS,
          query_parameters: [
            { name: "debug", present_match: true },
            { name: "lang", string_match: { exact: "en" } },
            { name: "page", string_match: { safe_regex: { regex: "[0-9]+" } } },
          ],
        },
        route: to(cluster()),
      },
    ],
  },
  {
    name: "method: a :method header match, after the headers",
    http: `
      - match: [{ method: { exact: POST }, headers: { x-a: { exact: "1" } } }]
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: { ...ALL, ...CS, headers: [{ name: "x-a", string_match: { exact: "1" } }, { name: ":method", string_match: { exact: "POST" } }] },
        route: to(cluster()),
      },
    ],
  },
  {
    name: "several matches: one route each, named route.match",
    http: `
      - name: api
        match:
          - { name: v1, uri: { prefix: /v1 } }
          - { uri: { prefix: /v2 } }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      { name: "api.v1", match: { prefix: "/v1", ...CS }, route: to(cluster()) },
      { name: "api", match: { prefix: "/v2", ...CS }, route: to(cluster()) },
    ],
  },
  // -- destinations --
  {
    name: "weights: weighted_clusters as given; 0 dropped; a port, the only port, the routed port",
    http: `
      - route:
          - { destination: { host: reviews, subset: v1 }, weight: 60 }
          - { destination: { host: reviews, subset: v2, port: { number: 9090 } }, weight: 30 }
          - { destination: { host: ratings }, weight: 10 }
          - { destination: { host: reviews }, weight: 0 }`,
    routes: [
      {
        match: ALL,
        route: action({
          weighted_clusters: {
            clusters: [
              { name: cluster(9080, "v1"), weight: { value: 60 } },
              { name: cluster(9090, "v2"), weight: { value: 30 } },
              { name: clusterName(RATINGS, 8080), weight: { value: 10 } },
            ],
          },
        }),
      },
    ],
  },
  {
    name: "one destination takes everything, whatever its weight",
    http: `
      - route: [{ destination: { host: ratings.shop.svc.cluster.local }, weight: 100 }]`,
    routes: [{ match: ALL, route: to(clusterName(RATINGS, 8080)) }],
  },
  // -- timeout, retries --
  {
    name: "timeout: RouteAction.timeout alone (Envoy ignores it beside max_stream_duration)",
    http: `
      - timeout: 1m30.5s
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: ALL, route: action({ cluster: cluster() }, secs(90, 500_000_000)) }],
  },
  {
    name: "retries: attempts, perTryTimeout, retryOn with status codes moved to retriable_status_codes",
    http: `
      - retries: { attempts: 3, perTryTimeout: 250ms, retryOn: "5xx,503,connect-failure,429" }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: ALL,
        route: to(cluster(), {
          retry_policy: {
            ...DEFAULT_RETRY,
            num_retries: { value: 3 },
            per_try_timeout: secs(0, 250_000_000),
            retry_on: "5xx,connect-failure,retriable-status-codes",
            retriable_status_codes: [503, 429],
          },
        }),
      },
    ],
  },
  {
    name: "retries: retryOn without status codes drops Istio's default 503",
    http: `
      - retries: { attempts: 1, retryOn: "reset,unavailable" }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: ALL,
        route: to(cluster(), { retry_policy: { retry_on: "reset,unavailable", num_retries: { value: 1 }, retry_host_predicate: [PREVIOUS_HOSTS], host_selection_retry_max_attempts: 5 } }),
      },
    ],
  },
  {
    name: "retries: attempts 0 disables retries (no retry_policy)",
    http: `
      - retries: { attempts: 0 }
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: ALL, route: withoutRetries(to(cluster())) }],
  },
  // -- headers --
  {
    name: "header operations: route then destination; set overwrites, add appends, sorted",
    http: `
      - headers:
          request:
            set: { x-b: "2", x-a: "1" }
            add: { x-trace: t }
            remove: [x-secret]
          response:
            set: { Cache-Control: no-store }
            remove: [server]
        route:
          - destination: { host: reviews }
            headers:
              request: { set: { x-dest: d } }
              response: { add: { x-served-by: reviews }, remove: [x-powered-by] }`,
    routes: [
      {
        match: ALL,
        route: to(cluster()),
        request_headers_to_add: [
          { header: { key: "x-a", value: "1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-b", value: "2" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-trace", value: "t" }, append_action: "APPEND_IF_EXISTS_OR_ADD" },
          { header: { key: "x-dest", value: "d" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
        ],
        request_headers_to_remove: ["x-secret"],
        response_headers_to_add: [
          { header: { key: "Cache-Control", value: "no-store" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-served-by", value: "reviews" }, append_action: "APPEND_IF_EXISTS_OR_ADD" },
        ],
        response_headers_to_remove: ["server", "x-powered-by"],
      },
    ],
  },
  {
    name: "header operations of split destinations: on their cluster weights",
    http: `
      - route:
          - { destination: { host: reviews, subset: v1 }, weight: 50, headers: { request: { add: { x-v: "1" } }, response: { remove: [x-internal] } } }
          - { destination: { host: reviews, subset: v2 }, weight: 50 }`,
    routes: [
      {
        match: ALL,
        route: action({
          weighted_clusters: {
            clusters: [
              {
                name: cluster(9080, "v1"),
                weight: { value: 50 },
                request_headers_to_add: [{ header: { key: "x-v", value: "1" }, append_action: "APPEND_IF_EXISTS_OR_ADD" }],
                response_headers_to_remove: ["x-internal"],
              },
              { name: cluster(9080, "v2"), weight: { value: 50 } },
            ],
          },
        }),
      },
    ],
  },
  // -- rewrite, redirect --
  {
    name: "rewrite: prefix_rewrite (for prefix and exact matches alike) and host_rewrite_literal",
    http: `
      - match: [{ uri: { prefix: /old/ } }, { uri: { exact: /legacy } }]
        rewrite: { uri: /new/, authority: reviews.internal }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      { match: { prefix: "/old/", ...CS }, route: to(cluster(), { prefix_rewrite: "/new/", host_rewrite_literal: "reviews.internal" }) },
      { match: { path: "/legacy", ...CS }, route: to(cluster(), { prefix_rewrite: "/new/", host_rewrite_literal: "reviews.internal" }) },
    ],
  },
  {
    name: "redirect: path, host, code, port and scheme; the route's headers still apply",
    http: `
      - match: [{ uri: { exact: /old } }]
        redirect: { uri: /new, authority: shop.example.com, redirectCode: 302, port: 8443, scheme: https }
        headers: { response: { set: { x-moved: "yes" } } }
      - match: [{ uri: { exact: /plain } }]
        redirect: { uri: /p, port: 80 }
      - match: [{ uri: { exact: /tls } }]
        redirect: { scheme: https, port: 443, redirectCode: 308 }`,
    routes: [
      {
        match: { path: "/old", ...CS },
        redirect: { path_redirect: "/new", host_redirect: "shop.example.com", response_code: "FOUND", port_redirect: 8443, scheme_redirect: "https" },
        response_headers_to_add: [{ header: { key: "x-moved", value: "yes" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
      },
      { match: { path: "/plain", ...CS }, redirect: { path_redirect: "/p", response_code: "MOVED_PERMANENTLY" } },
      { match: { path: "/tls", ...CS }, redirect: { scheme_redirect: "https", response_code: "PERMANENT_REDIRECT" } },
    ],
    grpcRefuses: /unsupported action: redirect/,
  },
  // -- fault, mirror, cors --
  {
    name: "fault: delay and abort, percentages per million; none given: 0",
    http: `
      - match: [{ uri: { prefix: /slow } }]
        fault: { delay: { fixedDelay: 5s, percentage: { value: 0.1 } } }
        route: [{ destination: { host: reviews } }]
      - match: [{ uri: { prefix: /fail } }]
        fault: { abort: { httpStatus: 503, percentage: { value: 4.35 } }, delay: { fixedDelay: 100ms } }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: { prefix: "/slow", ...CS },
        route: to(cluster()),
        typed_per_filter_config: { "envoy.filters.http.fault": fault({ delay: { fixed_delay: secs(5), percentage: { numerator: 1000, denominator: "MILLION" } } }) },
      },
      {
        match: { prefix: "/fail", ...CS },
        route: to(cluster()),
        typed_per_filter_config: {
          "envoy.filters.http.fault": fault({
            delay: { fixed_delay: secs(0, 100_000_000), percentage: { numerator: 0, denominator: "MILLION" } },
            abort: { http_status: 503, percentage: { numerator: 43500, denominator: "MILLION" } },
          }),
        },
      },
    ],
  },
  {
    name: "mirror: all by default, mirrorPercentage per million, 0 mirrors nothing",
    http: `
      - match: [{ uri: { prefix: /a } }]
        mirror: { host: ratings }
        route: [{ destination: { host: reviews } }]
      - match: [{ uri: { prefix: /b } }]
        mirror: { host: reviews, subset: v2 }
        mirrorPercentage: { value: 25.5 }
        route: [{ destination: { host: reviews, subset: v1 } }]
      - match: [{ uri: { prefix: /c } }]
        mirror: { host: ratings }
        mirrorPercentage: { value: 0 }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: { prefix: "/a", ...CS },
        route: to(cluster(), {
          request_mirror_policies: [{ cluster: clusterName(RATINGS, 8080), runtime_fraction: { default_value: { numerator: 100, denominator: "HUNDRED" } }, trace_sampled: { value: false } }],
        }),
      },
      {
        match: { prefix: "/b", ...CS },
        route: to(cluster(9080, "v1"), {
          request_mirror_policies: [{ cluster: cluster(9080, "v2"), runtime_fraction: { default_value: { numerator: 255_000, denominator: "MILLION" } }, trace_sampled: { value: false } }],
        }),
      },
      { match: { prefix: "/c", ...CS }, route: to(cluster()) },
    ],
  },
  {
    name: "mirrors: each with its percentage (none: all, 0: no policy); mirrorPercent a whole percentage (0: none)",
    http: `
      - match: [{ uri: { prefix: /a } }]
        mirrors:
          - destination: { host: ratings }
          - destination: { host: reviews, subset: v2 }
            percentage: { value: 12.5 }
          - destination: { host: reviews, subset: v1 }
            percentage: { value: 0 }
        route: [{ destination: { host: reviews } }]
      - match: [{ uri: { prefix: /b } }]
        mirror: { host: ratings }
        mirrorPercent: 40
        route: [{ destination: { host: reviews } }]
      - match: [{ uri: { prefix: /c } }]
        mirror: { host: ratings }
        mirrorPercent: 0
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: { prefix: "/a", ...CS },
        route: to(cluster(), {
          request_mirror_policies: [
            { cluster: clusterName(RATINGS, 8080), runtime_fraction: { default_value: { numerator: 100, denominator: "HUNDRED" } }, trace_sampled: { value: false } },
            { cluster: cluster(9080, "v2"), runtime_fraction: { default_value: { numerator: 125_000, denominator: "MILLION" } }, trace_sampled: { value: false } },
          ],
        }),
      },
      {
        match: { prefix: "/b", ...CS },
        route: to(cluster(), {
          request_mirror_policies: [{ cluster: clusterName(RATINGS, 8080), runtime_fraction: { default_value: { numerator: 40, denominator: "HUNDRED" } }, trace_sampled: { value: false } }],
        }),
      },
      { match: { prefix: "/c", ...CS }, route: to(cluster()) },
    ],
  },
  {
    name: "directResponse: status and a text or base64 body, with the route's response headers; gRPC clients never see it",
    http: `
      - match: [{ uri: { prefix: /down } }]
        directResponse: { status: 503, body: { string: "down\\n" } }
        headers: { response: { set: { retry-after: "60" } } }
      - match: [{ uri: { prefix: /bytes } }]
        directResponse: { status: 200, body: { bytes: aGk= } }
      - match: [{ uri: { prefix: /empty } }]
        directResponse: { status: 204 }`,
    routes: [
      {
        match: { prefix: "/down", ...CS },
        direct_response: { status: 503, body: { inline_string: "down\n" } },
        response_headers_to_add: [{ header: { key: "retry-after", value: "60" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
      },
      { match: { prefix: "/bytes", ...CS }, direct_response: { status: 200, body: { inline_bytes: "aGk=" } } },
      { match: { prefix: "/empty", ...CS }, direct_response: { status: 204 } },
    ],
    // Why grpc-compat.ts leaves these routes out for gRPC clients.
    grpcRefuses: /unsupported action: direct_response/,
  },
  {
    name: "authority and scheme: header matchers after :method, as Istio orders them",
    http: `
      - match: [{ scheme: { exact: https }, authority: { regex: 'shop\\..*' }, method: { exact: GET }, headers: { x-a: { exact: "1" } } }]
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: {
          prefix: "/",
          ...CS,
          headers: [
            { name: "x-a", string_match: { exact: "1" } },
            { name: ":method", string_match: { exact: "GET" } },
            { name: ":authority", string_match: { safe_regex: { regex: "shop\\..*" } } },
            { name: ":scheme", string_match: { exact: "https" } },
          ],
        },
        route: to(cluster()),
      },
    ],
  },
  {
    name: "uriRegexRewrite: regex_rewrite with RE2 groups",
    http: `
      - match: [{ uri: { prefix: /users/ } }]
        rewrite: { uriRegexRewrite: { match: "^/users/([^/]+)$", rewrite: '/people/\\1' } }
        route: [{ destination: { host: reviews } }]`,
    routes: [{ match: { prefix: "/users/", ...CS }, route: to(cluster(), { regex_rewrite: { pattern: { regex: "^/users/([^/]+)$" }, substitution: "/people/\\1" } }) }],
  },
  {
    name: "corsPolicy: Istio's CorsPolicy, in an optional FilterConfig",
    http: `
      - corsPolicy:
          allowOrigins: [{ exact: "https://shop.example.com" }, { prefix: "https://dev." }, { regex: "https://.*\\\\.example\\\\.org" }]
          allowMethods: [GET, POST]
          allowHeaders: [x-user, content-type]
          exposeHeaders: [x-request-id]
          maxAge: 24h
          allowCredentials: true
        route: [{ destination: { host: reviews } }]
      - match: [{ uri: { prefix: / } }]
        corsPolicy: { allowOrigins: [{ exact: "*" }] }
        route: [{ destination: { host: reviews } }]`,
    routes: [
      {
        match: ALL,
        route: to(cluster()),
        typed_per_filter_config: {
          "envoy.filters.http.cors": cors({
            ...CORS_DEFAULTS,
            allow_origin_string_match: [{ exact: "https://shop.example.com" }, { prefix: "https://dev." }, { safe_regex: { regex: "https://.*\\.example\\.org" } }],
            allow_methods: "GET,POST",
            allow_headers: "x-user,content-type",
            expose_headers: "x-request-id",
            max_age: "86400",
            allow_credentials: { value: true },
          }),
        },
      },
      // The first route matches everything: the second is never translated.
    ],
  },
  // -- ports, order --
  {
    name: "port-filtered matches: a match for another port gives no route",
    http: `
      - name: grpc-only
        match: [{ port: 9090 }]
        route: [{ destination: { host: reviews, subset: v2 } }]
      - name: mixed
        match: [{ port: 9090, uri: { prefix: /x } }, { port: 9080, uri: { prefix: /y } }]
        route: [{ destination: { host: reviews, subset: v1 } }]
      - route: [{ destination: { host: reviews } }]`,
    routes: [
      { name: "mixed", match: { prefix: "/y", ...CS }, route: to(cluster(9080, "v1")) },
      { match: ALL, route: to(cluster()) },
    ],
  },
  {
    name: "port-filtered matches: the other port gets its own routes",
    port: 9090,
    http: `
      - name: grpc-only
        match: [{ port: 9090 }]
        route: [{ destination: { host: reviews, subset: v2 } }]`,
    routes: [{ name: "grpc-only", match: { ...ALL, ...CS }, route: to(cluster(9090, "v2")) }],
  },
  {
    name: "no http route applies to the port: the default route",
    http: `
      - match: [{ port: 9090 }]
        route: [{ destination: { host: reviews, subset: v2 } }]`,
    routes: [{ name: "default", match: ALL, route: to(cluster()) }],
  },
  {
    name: "order kept; nothing after a route that matches everything",
    http: `
      - name: b
        match: [{ uri: { prefix: /b } }]
        route: [{ destination: { host: reviews, subset: v2 } }]
      - name: a
        match: [{ uri: { prefix: /a } }]
        route: [{ destination: { host: reviews, subset: v1 } }]
      - name: rest
        match: [{ uri: { prefix: / } }, { uri: { prefix: /never } }]
        route: [{ destination: { host: reviews } }]
      - name: unreachable
        route: [{ destination: { host: ratings } }]`,
    routes: [
      { name: "b", match: { prefix: "/b", ...CS }, route: to(cluster(9080, "v2")) },
      { name: "a", match: { prefix: "/a", ...CS }, route: to(cluster(9080, "v1")) },
      { name: "rest", match: { prefix: "/", ...CS }, route: to(cluster()) },
    ],
  },
  // -- consistent hashing (DestinationRule) --
  {
    name: "consistent hash: hash_policy from the subset, no previous-hosts retry predicate",
    rules: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user } } }
  subsets:
    - name: v1
      labels: { version: v1 }
      trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: session, path: /, ttl: 1h } } } }
    - { name: v2, labels: { version: v2 } }`,
    http: `
      - match: [{ uri: { prefix: /v1 } }]
        route: [{ destination: { host: reviews, subset: v1 } }]
      - route: [{ destination: { host: reviews, subset: v2 } }]`,
    routes: [
      {
        match: { prefix: "/v1", ...CS },
        route: to(cluster(9080, "v1"), {
          hash_policy: [{ cookie: { name: "session", path: "/", ttl: secs(3600) } }],
          retry_policy: withoutPredicate(DEFAULT_RETRY),
        }),
      },
      { match: ALL, route: to(cluster(9080, "v2"), { hash_policy: [{ header: { header_name: "x-user" } }], retry_policy: withoutPredicate(DEFAULT_RETRY) }) },
    ],
  },
  {
    name: "consistent hash: the default route takes the rule's setting for its port",
    rules: `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: { consistentHash: { useSourceIp: true } }
    portLevelSettings:
      - { port: { number: 9080 }, loadBalancer: { consistentHash: { httpQueryParameterName: user } } }`,
    routes: [{ name: "default", match: ALL, route: to(cluster(), { hash_policy: [{ query_parameter: { name: "user" } }], retry_policy: withoutPredicate(DEFAULT_RETRY) }) }],
  },
];

function withoutPredicate(p: RetryPolicy): RetryPolicy {
  const copy = { ...p };
  delete copy.retry_host_predicate;
  return copy;
}

xds.register(); // registers its HTTP filters (fault), which RDS validation consults

/** What grpc-js-xds says of a RouteConfiguration: undefined if it takes it, else its error. */
function grpcVerdict(bytes: Buffer): string | undefined {
  const result = RouteConfigurationResourceType.get().decode({} as XdsDecodeContext, { type_url: typeUrlOf("envoy.config.route.v3.RouteConfiguration"), value: bytes });
  return result.error;
}

describe("httpRoutes", () => {
  for (const c of cases) {
    test(c.name, () => {
      const docs = [SERVICES, c.rules ?? SUBSETS, ...(c.http === undefined ? [] : [virtualService(c.http)])];
      const routes = routesFor(docs, c.port);
      assert.deepStrictEqual(routes, c.routes);
      // Envoy would accept it: every PGV rule holds, through the packed filter configs too.
      const rc = routeConfiguration("reviews:9080", [{ name: "reviews", domains: [HOST, `${HOST}:9080`], routes }]);
      const bytes = encodeMessage(rc.type, rc.message);
      assert.deepEqual(validateMessage(rc.type, bytes), []);
      // And so would a proxyless gRPC client (or it refuses, as documented).
      const verdict = grpcVerdict(bytes);
      if (c.grpcRefuses === undefined) assert.equal(verdict, undefined);
      else assert.match(verdict ?? "", c.grpcRefuses);
    });
  }
});

describe("direct response bodies", () => {
  test("a body past Envoy's default 4096 bytes raises the RouteConfiguration's limit to fit; a smaller one leaves Envoy's default", () => {
    const big = "é".repeat(3000); // 6000 bytes in UTF-8
    const routes = routesFor([SERVICES, SUBSETS, virtualService(`
      - match: [{ uri: { prefix: /big } }]
        directResponse: { status: 200, body: { string: "${big}" } }
      - route: [{ destination: { host: reviews } }]`)]);
    const rc = routeConfiguration("reviews:9080", [{ name: "reviews", domains: ["*"], routes }]);
    assert.deepEqual(rc.message.max_direct_response_body_size_bytes, { value: 6000 });
    assert.deepEqual(validateMessage(rc.type, encodeMessage(rc.type, rc.message)), []);
    const small = routeConfiguration("reviews:9080", [{ name: "reviews", domains: ["*"], routes: routesFor([SERVICES, SUBSETS, virtualService(`
      - directResponse: { status: 200, body: { string: small } }`)]) }]);
    assert.equal(small.message.max_direct_response_body_size_bytes, undefined);
  });

  test("gRPC clients get the routes without the direct responses", () => {
    const routes = routesFor([SERVICES, SUBSETS, virtualService(`
      - match: [{ uri: { prefix: /down } }]
        directResponse: { status: 503 }
      - route: [{ destination: { host: reviews } }]`)]);
    assert.deepEqual(grpcRoutes(routes).map((r) => r.match), [ALL]);
  });
});

describe("on the wire", () => {
  test("fault and CORS configs decode to what was meant", () => {
    const routes = routesFor([
      SERVICES,
      SUBSETS,
      virtualService(`
        - fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
          corsPolicy: { allowOrigins: [{ exact: "https://a.example" }], maxAge: 90s }
          route: [{ destination: { host: reviews } }]`),
    ]);
    const filters = routes[0]?.typed_per_filter_config ?? {};
    const faultAny = filters["envoy.filters.http.fault"] as { type_url: string; value: Buffer } | undefined;
    assert.equal(faultAny?.type_url, "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault");
    assert.deepEqual(decodeMessage("envoy.extensions.filters.http.fault.v3.HTTPFault", faultAny?.value ?? Buffer.alloc(0)), {
      abort: { http_status: 418, percentage: { numerator: 1_000_000, denominator: "MILLION" } },
    });
    const corsAny = filters["envoy.filters.http.cors"] as { type_url: string; value: Buffer } | undefined;
    assert.equal(corsAny?.type_url, "type.googleapis.com/envoy.config.route.v3.FilterConfig");
    const wrapper = decodeMessage("envoy.config.route.v3.FilterConfig", corsAny?.value ?? Buffer.alloc(0)) as { config: { type_url: string; value: Buffer }; is_optional: boolean };
    assert.equal(wrapper.is_optional, true);
    assert.equal(wrapper.config.type_url, "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy");
    assert.deepEqual(decodeMessage("envoy.extensions.filters.http.cors.v3.CorsPolicy", wrapper.config.value), {
      allow_origin_string_match: [{ exact: "https://a.example" }],
      max_age: "90",
      filter_enabled: { default_value: { numerator: 100, denominator: "HUNDRED" } },
      forward_not_matching_preflights: { value: true },
    });
  });

  test("the default timeout is on the wire as an explicit 0s (absent, Envoy would apply its 15s)", () => {
    const routes = routesFor([SERVICES, SUBSETS]);
    const rc = routeConfiguration("r", [{ name: "reviews", domains: [HOST], routes }]);
    const decoded = decodeMessage(rc.type, encodeMessage(rc.type, rc.message)) as { virtual_hosts: { routes: { route: { timeout: unknown } }[] }[] };
    assert.deepEqual(decoded.virtual_hosts[0]?.routes[0]?.route.timeout, { seconds: "0", nanos: 0 });
  });

  test("a timeout reaches gRPC clients as max_stream_duration, Envoy as timeout alone", () => {
    const routes = routesFor([SERVICES, SUBSETS, virtualService(`
      - timeout: 2s
        route: [{ destination: { host: reviews } }]`)]);
    // Real Envoy ignores RouteAction.timeout when max_stream_duration is set (found by the fleet).
    assert.equal(routes[0]?.route?.max_stream_duration, undefined);
    assert.deepEqual(routes[0]?.route?.timeout, secs(2));
    const [grpc] = grpcRoutes(routes);
    assert.deepEqual(grpc?.route?.max_stream_duration, { grpc_timeout_header_max: secs(2) });
  });

  test("the same input gives the same bytes (deterministic)", () => {
    const http = `
      - match: [{ headers: { b: { exact: "1" }, a: { prefix: x } }, queryParams: { z: { exact: "1" }, y: { regex: "." } } }]
        headers: { request: { set: { z: "1", a: "2" } } }
        route: [{ destination: { host: reviews } }]`;
    const encode = () => {
      const rc = routeConfiguration("r", [{ name: "reviews", domains: [HOST], routes: routesFor([SERVICES, SUBSETS, virtualService(http)]) }]);
      return encodeMessage(rc.type, rc.message);
    };
    assert.deepEqual(encode(), encode());
  });
});

test("durations in Go's format, exactly", () => {
  const cases: [string, { seconds: number; nanos: number }][] = [
    ["0", { seconds: 0, nanos: 0 }],
    ["1.5s", { seconds: 1, nanos: 500_000_000 }],
    ["1h2m3.004005006s", { seconds: 3723, nanos: 4_005_006 }],
    ["0.1s", { seconds: 0, nanos: 100_000_000 }],
    ["1.5ms", { seconds: 0, nanos: 1_500_000 }],
    ["2us", { seconds: 0, nanos: 2_000 }],
    ["2µs", { seconds: 0, nanos: 2_000 }],
    ["10ns", { seconds: 0, nanos: 10 }],
    ["1m0.5s", { seconds: 60, nanos: 500_000_000 }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(duration(text), expected, text);
  for (const bad of ["", "5", "1x", "s", "1s2"]) assert.throws(() => duration(bad), /is not a duration/, bad);
});

describe("routeConfiguration", () => {
  const route: Route = { match: ALL, route: { cluster: "c" } };

  test("virtual hosts sorted by name; validate_clusters false", () => {
    const rc = routeConfiguration("80", [
      { name: "b", domains: ["b.example"], routes: [route] },
      { name: "a", domains: ["a.example", "a.example:80"], routes: [route] },
    ]);
    assert.equal(rc.type, "envoy.config.route.v3.RouteConfiguration");
    assert.equal(rc.name, "80");
    assert.deepStrictEqual(rc.message, {
      name: "80",
      virtual_hosts: [
        { name: "a", domains: ["a.example", "a.example:80"], routes: [route] },
        { name: "b", domains: ["b.example"], routes: [route] },
      ],
      validate_clusters: { value: false },
    });
    assert.deepEqual(validateMessage(rc.type, encodeMessage(rc.type, rc.message)), []);
  });

  test("a domain in two virtual hosts (Envoy would refuse it) is a bug: throws", () => {
    assert.throws(() => routeConfiguration("80", [
      { name: "a", domains: ["shop.example"], routes: [route] },
      { name: "b", domains: ["Shop.example"], routes: [route] },
    ]), /domain Shop.example is in virtual hosts a and b/);
    assert.throws(() => routeConfiguration("80", [
      { name: "a", domains: ["a"], routes: [route] },
      { name: "a", domains: ["b"], routes: [route] },
    ]), /two virtual hosts named a/);
  });
});
