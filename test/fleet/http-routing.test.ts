// The HTTP routing rows of the behaviour matrix, gRPC and TCP: a VirtualService committed to
// gitmesh's config, real requests from a client through its real Envoy sidecar, and assertions on
// what the backend received (its echo) or what the client got.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";
import { destinationRule, docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";

const NS = "demo";
const API = "http://api.demo.svc.cluster.local:8080";

const workloads = [
  { name: "client", labels: { app: "client" } },
  { name: "api-v1", labels: { app: "api", version: "v1" }, serviceAccount: "api", http: [8080] },
  { name: "api-v2", labels: { app: "api", version: "v2" }, serviceAccount: "api", http: [8080] },
  { name: "mirror", labels: { app: "mirror" }, http: [8080] },
  { name: "flaky", labels: { app: "flaky" }, http: [8080] },
  { name: "greeter-1", labels: { app: "greeter", version: "v1" }, serviceAccount: "greeter", grpc: [9090] },
  { name: "greeter-2", labels: { app: "greeter", version: "v2" }, serviceAccount: "greeter", grpc: [9090] },
  { name: "tcp-1", labels: { app: "tcp-echo", version: "v1" }, serviceAccount: "tcp-echo", tcp: [9000, 9001] },
  { name: "tcp-2", labels: { app: "tcp-echo", version: "v2" }, serviceAccount: "tcp-echo", tcp: [9000, 9001] },
] as const;

const VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: demo }
spec:
  hosts: [api]
  http:
    - name: exact
      match: [{ uri: { exact: /exact } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: prefix
      match: [{ uri: { prefix: /prefix/ } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: regex
      match: [{ uri: { regex: "/re+gex/[0-9]+" } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: header
      match: [{ headers: { x-user: { exact: alice } } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: query
      match: [{ uri: { prefix: /query }, queryParams: { canary: { exact: "yes" } } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: method
      match: [{ uri: { prefix: /method }, method: { exact: DELETE } }]
      route: [{ destination: { host: api, subset: v2 } }]
    - name: split
      match: [{ uri: { prefix: /split } }]
      route:
        - { destination: { host: api, subset: v1 }, weight: 80 }
        - { destination: { host: api, subset: v2 }, weight: 20 }
    - name: rewrite
      match: [{ uri: { prefix: /old/ } }]
      rewrite: { uri: /new/, authority: rewritten.example }
      route: [{ destination: { host: api, subset: v1 } }]
    - name: redirect
      match: [{ uri: { exact: /redirect } }]
      redirect: { uri: /elsewhere, authority: other.example, redirectCode: 302 }
    - name: headers
      match: [{ uri: { prefix: /headers } }]
      headers:
        request: { set: { x-set: "yes" }, add: { x-added: "1" }, remove: [x-remove-me] }
        response: { set: { x-response: set }, remove: [x-echo-name] }
      route: [{ destination: { host: api, subset: v1 } }]
    - name: mirror
      match: [{ uri: { prefix: /mirror } }]
      route: [{ destination: { host: api, subset: v1 } }]
      mirror: { host: mirror }
      mirrorPercentage: { value: 100 }
    - name: delay
      match: [{ uri: { prefix: /delay } }]
      fault: { delay: { fixedDelay: 700ms, percentage: { value: 100 } } }
      route: [{ destination: { host: api, subset: v1 } }]
    - name: abort
      match: [{ uri: { prefix: /abort } }]
      fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }
      route: [{ destination: { host: api, subset: v1 } }]
    - name: timeout
      match: [{ uri: { prefix: /timeout } }]
      timeout: 300ms
      route: [{ destination: { host: api, subset: v1 } }]
    - name: cors
      match: [{ uri: { prefix: /cors } }]
      corsPolicy:
        allowOrigins: [{ exact: "https://ok.example" }]
        allowMethods: [GET, POST]
        allowHeaders: [x-custom]
        maxAge: 1h
      route: [{ destination: { host: api, subset: v1 } }]
    - name: default
      route: [{ destination: { host: api, subset: v1 } }]
`;

const SUBSETS = "subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]";

const OTHERS = `${destinationRule("api", NS, SUBSETS)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaky, namespace: demo }
spec:
  hosts: [flaky]
  http:
    - route: [{ destination: { host: flaky } }]
      retries: { attempts: 3, retryOn: 5xx }
---
${destinationRule("tcp-echo", NS, SUBSETS)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: demo }
spec:
  hosts: [tcp-echo]
  tcp:
    - match: [{ port: 9000 }]
      route: [{ destination: { host: tcp-echo, subset: v1, port: { number: 9000 } } }]
    - match: [{ port: 9001 }]
      route:
        - { destination: { host: tcp-echo, subset: v1, port: { number: 9001 } }, weight: 50 }
        - { destination: { host: tcp-echo, subset: v2, port: { number: 9001 } }, weight: 50 }
`;

function spec(): FleetSpec {
  return {
    workloads: workloads.map((w) => ({ ...w, namespace: NS })),
    config: (address) => ({
      "services.yaml": docs(
        serviceEntry("api", NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: "api" }),
        serviceEntry("mirror", NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: "mirror" }),
        serviceEntry("flaky", NS, [{ number: 8080, name: "http", protocol: "HTTP" }], { app: "flaky" }),
        serviceEntry("greeter", NS, [{ number: 9090, name: "grpc", protocol: "GRPC" }], { app: "greeter" }),
        serviceEntry("tcp-echo", NS, [{ number: 9000, name: "tcp-a", protocol: "TCP" }, { number: 9001, name: "tcp-b", protocol: "TCP" }], { app: "tcp-echo" }),
      ),
      "workloads.yaml": docs(...workloads.map((w) => workloadEntry(w.name, NS, address(w.name), w.labels, "serviceAccount" in w ? w.serviceAccount : w.name))),
      "routing.yaml": docs(VIRTUAL_SERVICE, OTHERS),
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

function answer(body: unknown): EchoAnswer {
  assert.equal(typeof body, "object", `an echo from a backend, got ${JSON.stringify(body)}`);
  return body as EchoAnswer;
}

test("HTTP routing: uri exact, prefix and regex, headers, query parameters and method pick the subset", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const cases: [string, Record<string, string>, string, string][] = [
      ["/exact", {}, "GET", "api-v2"],
      ["/exact/not", {}, "GET", "api-v1"],
      ["/prefix/a/b", {}, "GET", "api-v2"],
      ["/prefix", {}, "GET", "api-v1"],
      ["/reeegex/42", {}, "GET", "api-v2"],
      ["/regex/x42", {}, "GET", "api-v1"],
      ["/anything", { "x-user": "alice" }, "GET", "api-v2"],
      ["/anything", { "x-user": "bob" }, "GET", "api-v1"],
      ["/query?canary=yes", {}, "GET", "api-v2"],
      ["/query?canary=no", {}, "GET", "api-v1"],
      ["/method", {}, "DELETE", "api-v2"],
      ["/method", {}, "GET", "api-v1"],
    ];
    for (const [path, headers, method, expected] of cases) {
      const r = await client.get(`${API}${path}`, headers, method);
      assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r)}`);
      const echo = answer(r.body);
      assert.equal(echo.name, expected, `${method} ${path} ${JSON.stringify(headers)} goes to ${expected}`);
      assert.equal(echo.path, path, "the path arrives as sent");
    }
  }));

test("HTTP routing: a weighted split sends 80/20 over 1,000 requests", (t) =>
  fleet.row(t, async (f) => {
    const s = await f.agent("client").httpSummary({ url: `${API}/split`, count: 1000, concurrency: 8 });
    assert.deepEqual(s.byStatus, { "200": 1000 }, JSON.stringify(s));
    const v2 = s.byName["api-v2"] ?? 0;
    t.diagnostic(`split 80/20: v1 ${s.byName["api-v1"] ?? 0}, v2 ${v2}`);
    // 20% of 1,000 has a standard deviation of about 13: 60 is more than four of them.
    assert.ok(Math.abs(v2 - 200) <= 60, `v2 got ${v2} of 1,000 (expected 200 +- 60)`);
  }));

test("HTTP routing: rewrite of uri and authority, redirect", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const rewritten = answer((await client.get(`${API}/old/page?x=1`)).body);
    assert.equal(rewritten.path, "/new/page?x=1");
    assert.equal(rewritten.headers.host, "rewritten.example");
    const redirect = await client.get(`${API}/redirect`);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers?.location, "http://other.example/elsewhere");
  }));

test("HTTP routing: request and response header operations", (t) =>
  fleet.row(t, async (f) => {
    const r = await f.agent("client").get(`${API}/headers`, { "x-remove-me": "secret", "x-added": "0" });
    const echo = answer(r.body);
    assert.equal(echo.headers["x-set"], "yes");
    // Two header lines, which Node's parser joins with ", ".
    assert.deepEqual(String(echo.headers["x-added"]).split(/,\s*/), ["0", "1"], "add appends to what the client sent");
    assert.equal(echo.headers["x-remove-me"], undefined);
    assert.equal(r.headers?.["x-response"], "set");
    assert.equal(r.headers?.["x-echo-name"], undefined, "the response header is removed");
  }));

test("HTTP routing: mirroring sends the mirror a copy of each request", (t) =>
  fleet.row(t, async (f) => {
    const mirror = f.agent("mirror");
    await mirror.reset();
    const s = await f.agent("client").httpSummary({ url: `${API}/mirror/1`, count: 20 });
    assert.deepEqual(s.byName, { "api-v1": 20 }, "the client is answered by the route's destination");
    const copies = await waitForCount(() => mirror.received(), 20);
    assert.ok(copies.every((c) => c.path === "/mirror/1"));
    assert.match(String(copies[0]?.headers.host), /-shadow(:\d+)?$/, "Envoy marks mirrored requests' host");
  }));

test("HTTP routing: retries reach a backend that fails its first requests", (t) =>
  fleet.row(t, async (f) => {
    const flaky = f.agent("flaky");
    await flaky.behave({ failNext: 3, failStatus: 500 });
    try {
      const r = await f.agent("client").get("http://flaky.demo.svc.cluster.local:8080/once");
      assert.equal(r.status, 200, "the fourth attempt succeeds (attempts: 3)");
      assert.equal((await flaky.received()).length, 4);
      await flaky.reset();
      await flaky.behave({ failNext: 4, failStatus: 500 });
      const exhausted = await f.agent("client").get("http://flaky.demo.svc.cluster.local:8080/twice");
      assert.equal(exhausted.status, 500, "after 3 retries the failure reaches the client");
      assert.equal((await flaky.received()).length, 4);
    } finally {
      await flaky.reset();
    }
  }));

test("HTTP routing: per-route timeout, fault delay and abort", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const slow = await client.get(`${API}/timeout`, { "x-echo-delay-ms": "3000" });
    assert.equal(slow.status, 504, JSON.stringify(slow));
    assert.ok(slow.ms < 2000, `the route's 300ms timeout answered in ${Math.round(slow.ms)} ms`);
    const fast = await client.get(`${API}/timeout`, { "x-echo-delay-ms": "50" });
    assert.equal(fast.status, 200);
    const delayed = await client.get(`${API}/delay`);
    assert.equal(delayed.status, 200);
    assert.ok(delayed.ms >= 650, `the fault delays 700ms; took ${Math.round(delayed.ms)} ms`);
    const aborted = await client.get(`${API}/abort`);
    assert.equal(aborted.status, 418);
  }));

test("HTTP routing: CORS preflight is answered by the sidecar for allowed origins", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const v1 = f.agent("api-v1");
    await v1.reset();
    const preflight = await client.get(`${API}/cors`, { origin: "https://ok.example", "access-control-request-method": "POST", "access-control-request-headers": "x-custom" }, "OPTIONS");
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers?.["access-control-allow-origin"], "https://ok.example");
    assert.match(String(preflight.headers?.["access-control-allow-methods"]), /POST/);
    assert.equal(preflight.headers?.["access-control-allow-headers"], "x-custom");
    assert.equal(preflight.headers?.["access-control-max-age"], "3600");
    assert.equal((await v1.received()).length, 0, "the preflight never reaches the backend");
    const simple = await client.get(`${API}/cors`, { origin: "https://ok.example" });
    assert.equal(simple.headers?.["access-control-allow-origin"], "https://ok.example");
    const other = await client.get(`${API}/cors`, { origin: "https://evil.example" });
    assert.equal(other.headers?.["access-control-allow-origin"], undefined);
  }));

test("gRPC through sidecars, HTTP/2 end to end", (t) =>
  fleet.row(t, async (f) => {
    const results = await f.agent("client").grpc({ target: "greeter.demo.svc.cluster.local:9090", count: 20, metadata: { "x-caller": "client" } });
    assert.ok(results.every((r) => r.code === 0), JSON.stringify(results.filter((r) => r.code !== 0)));
    const names = new Set(results.map((r) => r.answer?.name));
    assert.deepEqual([...names].sort(), ["greeter-1", "greeter-2"], "both endpoints serve");
    assert.equal(results[0]?.answer?.metadata["x-caller"], "client", "metadata arrives");
  }));

test("TCP routing by port and by weight", (t) =>
  fleet.row(t, async (f) => {
    const client = f.agent("client");
    const byPort = await client.tcp({ host: "tcp-echo.demo.svc.cluster.local", port: 9000, count: 10, payload: "hi" });
    assert.deepEqual(new Set(byPort.map((r) => r.reply)), new Set(["tcp-1:9000:hi"]), JSON.stringify(byPort));
    const split = await client.tcp({ host: "tcp-echo.demo.svc.cluster.local", port: 9001, count: 200, payload: "hi" });
    const counts: Record<string, number> = {};
    for (const r of split) counts[r.reply ?? r.error ?? "?"] = (counts[r.reply ?? r.error ?? "?"] ?? 0) + 1;
    t.diagnostic(`tcp split 50/50 over 200 connections: ${JSON.stringify(counts)}`);
    assert.deepEqual(Object.keys(counts).sort(), ["tcp-1:9001:hi", "tcp-2:9001:hi"]);
    // 50% of 200 has a standard deviation of about 7: 35 is five of them.
    assert.ok(Math.abs((counts["tcp-1:9001:hi"] ?? 0) - 100) <= 35, JSON.stringify(counts));
  }));

async function waitForCount<T>(read: () => Promise<T[]>, count: number): Promise<T[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const items = await read();
    if (items.length >= count || Date.now() > deadline) {
      assert.equal(items.length, count);
      return items;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
