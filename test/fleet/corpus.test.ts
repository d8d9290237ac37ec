// Istio's own samples and tasks (test/fixtures/istio-corpus, re-typed by hand) served to real
// Envoy: the files are committed as they are, each scenario alone on top of every sample's base,
// as the tasks apply them one at a time. The harness adds only what Kubernetes would: the pods (a
// WorkloadEntry per fleet host, with the Deployment's labels and service account) and the small
// echo applications standing in for the sample apps, each answering with its workload's name
// (reviews-v1, reviews-v2 ...), so every row checks the version that answered. Requests are made
// where the sample makes them: from productpage's sidecar to reviews and ratings, from sleep's
// sidecar, and from outside the mesh (a host without a proxy) to the ingress gateway.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { REPO_ROOT } from "../support/peers.js";
import type { EchoAnswer, Summary } from "./support/agent.js";
import { sharedFleet, type Fleet, type FleetSpec, type WorkloadSpec } from "./support/fleet.js";
import { docs, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";

const CORPUS = join(REPO_ROOT, "test/fixtures/istio-corpus");
const SAMPLES = ["bookinfo", "helloworld", "httpbin", "tcp-echo"] as const;

const yamlIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

/** Every sample's base files, at the same paths in the config repository. */
function bases(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const sample of SAMPLES) for (const f of yamlIn(join(CORPUS, sample, "base"))) out[`${sample}/base/${f}`] = readFileSync(join(CORPUS, sample, "base", f), "utf8");
  return out;
}

/** One scenario file of a sample, as it is in the corpus. */
const scenario = (sample: (typeof SAMPLES)[number], file: string) => readFileSync(join(CORPUS, sample, "scenarios", file), "utf8");

/** The samples' pods: labels and service accounts as their Deployments have them. */
const pods: readonly (WorkloadSpec & { readonly labels: Readonly<Record<string, string>>; readonly serviceAccount: string })[] = [
  { name: "productpage-v1", labels: { app: "productpage", version: "v1" }, serviceAccount: "bookinfo-productpage", http: [9080] },
  { name: "details-v1", labels: { app: "details", version: "v1" }, serviceAccount: "bookinfo-details", http: [9080] },
  { name: "reviews-v1", labels: { app: "reviews", version: "v1" }, serviceAccount: "bookinfo-reviews", http: [9080] },
  { name: "reviews-v2", labels: { app: "reviews", version: "v2" }, serviceAccount: "bookinfo-reviews", http: [9080] },
  { name: "reviews-v3", labels: { app: "reviews", version: "v3" }, serviceAccount: "bookinfo-reviews", http: [9080] },
  { name: "ratings-v1", labels: { app: "ratings", version: "v1" }, serviceAccount: "bookinfo-ratings", http: [9080] },
  { name: "helloworld-v1", labels: { app: "helloworld", version: "v1" }, serviceAccount: "default", http: [5000] },
  { name: "helloworld-v2", labels: { app: "helloworld", version: "v2" }, serviceAccount: "default", http: [5000] },
  { name: "httpbin-v1", labels: { app: "httpbin", version: "v1" }, serviceAccount: "httpbin", http: [8080] },
  { name: "httpbin-v2", labels: { app: "httpbin", version: "v2" }, serviceAccount: "httpbin", http: [8080] },
  { name: "tcp-echo-v1", labels: { app: "tcp-echo", version: "v1" }, serviceAccount: "default", tcp: [9000, 9001] },
  { name: "tcp-echo-v2", labels: { app: "tcp-echo", version: "v2" }, serviceAccount: "default", tcp: [9000, 9001] },
  // The tasks' client (Istio's sleep, later curl).
  { name: "sleep", labels: { app: "sleep" }, serviceAccount: "sleep" },
];
/** Istio's default ingress gateway, in istio-system as installed. */
const ingress = { name: "ingress", namespace: "istio-system", labels: { istio: "ingressgateway" }, serviceAccount: "istio-ingressgateway", proxy: "gateway" as const };

function spec(): FleetSpec {
  return {
    workloads: [
      ...pods.map((p) => ({ ...p, namespace: "default" })),
      ingress,
      // A client outside the mesh: no sidecar, its requests go to the gateway (or a pod) directly.
      { name: "outside", proxy: "none" },
    ],
    config: (address) => ({
      ...bases(),
      // The pods, which Kubernetes would know: added by the harness, not part of the corpus.
      "harness/pods.yaml": docs(
        ...pods.map((p) => workloadEntry(p.name, "default", address(p.name), p.labels, p.serviceAccount)),
        workloadEntry(ingress.name, ingress.namespace, address(ingress.name), ingress.labels, ingress.serviceAccount),
      ),
    }),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

/** Serves one scenario file (replacing the previous one), or the bases alone. */
async function apply(f: Fleet, sample: (typeof SAMPLES)[number] | undefined, file?: string): Promise<void> {
  await f.commit({ "scenario.yaml": sample === undefined || file === undefined ? undefined : scenario(sample, file) }, `scenario ${sample ?? "none"} ${file ?? ""}`);
  for (const p of pods) await f.agent(p.name).reset();
}

/** Who answered count requests from a host: answers by workload name, and the statuses. */
async function answers(f: Fleet, from: string, url: string, count: number, headers: Record<string, string> = {}): Promise<Summary> {
  return f.agent(from).httpSummary({ url, count, concurrency: 4, headers });
}

const name = (body: unknown) => (body as EchoAnswer | undefined)?.name;
const REVIEWS = "http://reviews:9080/reviews/0";
const RATINGS = "http://ratings:9080/ratings/0";

test("bookinfo base: the ingress gateway serves /productpage, /static and /api/v1/products from productpage; other paths are 404", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, undefined);
    const gw = `http://${f.address("ingress")}:8080`;
    const outside = f.agent("outside");
    for (const path of ["/productpage", "/static/css/site.css", "/api/v1/products/0", "/login"]) {
      const r = await outside.get(`${gw}${path}`);
      assert.deepEqual([r.status, name(r.body), (r.body as EchoAnswer).path], [200, "productpage-v1", path], JSON.stringify(r));
    }
    for (const path of ["/productpage/x", "/reviews", "/"]) assert.equal((await outside.get(`${gw}${path}`)).status, 404, path);
    // Without a VirtualService reviews is spread over its three versions (round robin).
    const spread = await answers(f, "productpage-v1", REVIEWS, 30);
    assert.deepEqual(Object.keys(spread.byName).sort(), ["reviews-v1", "reviews-v2", "reviews-v3"], JSON.stringify(spread));
  }));

test("bookinfo request routing (virtual-service-all-v1): every service answers from v1", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "virtual-service-all-v1.yaml");
    const s = await answers(f, "productpage-v1", REVIEWS, 30);
    assert.deepEqual(s.byName, { "reviews-v1": 30 }, JSON.stringify(s));
    const gw = await f.agent("outside").get(`http://${f.address("ingress")}:8080/productpage`);
    assert.equal(name(gw.body), "productpage-v1");
    for (const [svc, who] of [["ratings", "ratings-v1"], ["details", "details-v1"]] as const) {
      const r = await f.agent("productpage-v1").get(`http://${svc}:9080/`);
      assert.equal(name(r.body), who, JSON.stringify(r));
    }
  }));

test("bookinfo request routing (virtual-service-reviews-test-v2): end-user jason gets reviews v2, everyone else v1", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "virtual-service-reviews-test-v2.yaml");
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20, { "end-user": "jason" })).byName, { "reviews-v2": 20 });
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20, { "end-user": "mallory" })).byName, { "reviews-v1": 20 });
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20)).byName, { "reviews-v1": 20 });
  }));

/** count requests split between two versions: the share of the second within [low, high]. */
function assertSplit(s: Summary, first: string, second: string, count: number, low: number, high: number): void {
  assert.equal((s.byName[first] ?? 0) + (s.byName[second] ?? 0), count, JSON.stringify(s));
  const share = s.byName[second] ?? 0;
  assert.ok(share >= low && share <= high, `${second} answered ${share} of ${count}, expected ${low}-${high}: ${JSON.stringify(s.byName)}`);
}

test("bookinfo traffic shifting: 80/20 to v1/v2, then 50/50 to v1/v3, then all to v3", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "virtual-service-reviews-80-20.yaml");
    assertSplit(await answers(f, "productpage-v1", REVIEWS, 200), "reviews-v1", "reviews-v2", 200, 20, 65);
    await apply(f, "bookinfo", "virtual-service-reviews-50-v3.yaml");
    assertSplit(await answers(f, "productpage-v1", REVIEWS, 200), "reviews-v1", "reviews-v3", 200, 70, 130);
    await apply(f, "bookinfo", "virtual-service-reviews-v3.yaml");
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 30)).byName, { "reviews-v3": 30 });
  }));

test("bookinfo fault injection: ratings aborted with 500 for jason only", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "virtual-service-ratings-test-abort.yaml");
    const jason = await answers(f, "reviews-v2", RATINGS, 10, { "end-user": "jason" });
    assert.deepEqual([jason.byStatus, jason.byName], [{ "500": 10 }, {}], JSON.stringify(jason));
    const other = await answers(f, "reviews-v2", RATINGS, 10);
    assert.deepEqual([other.byStatus, other.byName], [{ "200": 10 }, { "ratings-v1": 10 }], JSON.stringify(other));
    const received = await f.agent("ratings-v1").received();
    assert.equal(received.filter((r) => r.headers["end-user"] === "jason").length, 0, "an aborted request never reaches ratings");
  }));

test("bookinfo fault injection: ratings delayed 7s for jason only", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "virtual-service-ratings-test-delay.yaml");
    const other = await f.agent("reviews-v2").get(RATINGS);
    assert.equal(name(other.body), "ratings-v1");
    assert.ok(other.ms < 2_000, `no delay without the header: ${other.ms} ms`);
    const [jason] = await f.agent("reviews-v2").http({ url: RATINGS, headers: { "end-user": "jason" }, timeoutMs: 15_000 });
    assert.equal(name(jason?.body), "ratings-v1", JSON.stringify(jason));
    assert.ok((jason?.ms ?? 0) >= 6_900, `jason waits the fixed 7s: ${jason?.ms} ms`);
  }));

test("request timeouts task: reviews v2 with a 0.5s timeout answers 504 when the service is slower", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "task-request-timeouts-reviews.yaml");
    const fast = await f.agent("productpage-v1").get(REVIEWS);
    assert.deepEqual([fast.status, name(fast.body)], [200, "reviews-v2"]);
    const slow = await f.agent("productpage-v1").get(REVIEWS, { "x-echo-delay-ms": "2000" });
    assert.equal(slow.status, 504, JSON.stringify(slow));
    assert.ok(slow.ms >= 450 && slow.ms < 1_900, `cut at 0.5s: ${slow.ms} ms`);
  }));

test("retries task: ratings retried 3 times (4 tries) on 503", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "task-retries-ratings.yaml");
    const ratings = f.agent("ratings-v1");
    await ratings.behave({ failNext: 2, failStatus: 503 });
    const ok = await f.agent("reviews-v2").get(RATINGS);
    assert.deepEqual([ok.status, name(ok.body)], [200, "ratings-v1"], JSON.stringify(ok));
    assert.equal((await ratings.received()).length, 3, "two failures, then the answer");
    await ratings.reset();
    await ratings.behave({ failAll: true, failStatus: 503 });
    const failed = await f.agent("reviews-v2").get(RATINGS);
    assert.equal(failed.status, 503);
    assert.equal((await ratings.received()).length, 4, "attempts: 3 retries after the first try");
  }));

test("authorization for HTTP task: STRICT mTLS mesh-wide, allow-nothing, productpage open to GET, details to productpage only", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "bookinfo", "task-authorization-http.yaml");
    const outside = f.agent("outside");
    const gw = `http://${f.address("ingress")}:8080/productpage`;
    const get = await outside.get(gw);
    assert.deepEqual([get.status, name(get.body)], [200, "productpage-v1"], JSON.stringify(get));
    assert.match(String((get.body as EchoAnswer).headers["x-forwarded-client-cert"]), /URI=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istio-ingressgateway$/);
    const post = await outside.get(gw, {}, "POST");
    assert.equal(post.status, 403, "productpage-viewer allows GET only");
    const details = await f.agent("productpage-v1").get("http://details:9080/details/0");
    assert.deepEqual([details.status, name(details.body)], [200, "details-v1"], "details-viewer: productpage's principal");
    assert.equal((await f.agent("reviews-v1").get("http://details:9080/details/0")).status, 403, "another principal");
    assert.equal((await f.agent("productpage-v1").get(REVIEWS)).status, 403, "allow-nothing: reviews has no ALLOW policy");
    const plain = await outside.get(`http://${f.address("productpage-v1")}:9080/productpage`);
    assert.equal(plain.status, undefined, `STRICT refuses plaintext: ${JSON.stringify(plain)}`);
  }));

test("httpbin ingress task: httpbin.example.com's /status and /delay through the gateway; other paths and hosts 404", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "httpbin", "task-ingress-gateway.yaml");
    const outside = f.agent("outside");
    const gw = `http://${f.address("ingress")}:80`;
    const host = { host: "httpbin.example.com" };
    const status = await outside.get(`${gw}/status/200`, host);
    assert.equal(status.status, 200, JSON.stringify(status));
    assert.match(String(name(status.body)), /^httpbin-v[12]$/);
    assert.equal((status.body as EchoAnswer).port, 8080, "service port 8000 goes to the pod's targetPort 8080");
    assert.equal((await outside.get(`${gw}/status/418`, { ...host, "x-echo-status": "418" })).status, 418);
    assert.equal((await outside.get(`${gw}/delay/1`, host)).status, 200);
    assert.equal((await outside.get(`${gw}/headers`, host)).status, 404);
    assert.equal((await outside.get(`${gw}/status/200`, { host: "other.example.com" })).status, 404);
  }));

test("httpbin mirroring task: all traffic to v1, a copy of each request to v2", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "httpbin", "task-mirroring.yaml");
    const s = await answers(f, "sleep", "http://httpbin:8000/headers", 10);
    assert.deepEqual(s.byName, { "httpbin-v1": 10 }, JSON.stringify(s));
    const mirrored = await waitFor("v2 receives the mirrored copies", async () => {
      const got = await f.agent("httpbin-v2").received();
      return got.length >= 10 ? { ok: true, value: got } : { ok: false, why: `${got.length} of 10` };
    });
    assert.equal(mirrored.length, 10);
    assert.match(String(mirrored[0]?.headers.host), /^httpbin-shadow(:8000)?$/, "Envoy marks the copy's authority (before the port)");
  }));

test("httpbin circuit breaking task: 1 connection and 1 pending request; the rest overflow with 503", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "httpbin", "task-circuit-breaking.yaml");
    const results = await f.agent("sleep").http({ url: "http://httpbin:8000/get", count: 12, concurrency: 6, headers: { "x-echo-delay-ms": "300" } });
    const overflowed = results.filter((r) => r.status === 503);
    t.diagnostic(`12 requests, 6 at a time: ${results.map((r) => r.status ?? r.error).join(",")}`);
    assert.ok(results.filter((r) => r.status === 200).length >= 2, "the connection and the pending slot are served");
    assert.ok(overflowed.length >= 4, "the rest overflow");
    for (const r of overflowed) assert.equal(r.headers?.["x-envoy-overloaded"], "true", "Envoy's overflow answer");
  }));

test("helloworld canary: 90/10 between v1 and v2", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "helloworld", "canary-90-10.yaml");
    assertSplit(await answers(f, "sleep", "http://helloworld:5000/hello", 200), "helloworld-v1", "helloworld-v2", 200, 5, 40);
  }));

test("helloworld gateway: /hello through the ingress gateway reaches both versions; other paths 404", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "helloworld", "helloworld-gateway.yaml");
    const s = await answers(f, "outside", `http://${f.address("ingress")}:80/hello`, 20);
    assert.deepEqual(Object.keys(s.byName).sort(), ["helloworld-v1", "helloworld-v2"], JSON.stringify(s));
    assert.equal((await f.agent("outside").get(`http://${f.address("ingress")}:80/bye`)).status, 404);
  }));

/** count TCP connections through the gateway's 31400: replies by workload name. */
async function tcpAnswers(f: Fleet, count: number): Promise<Record<string, number>> {
  const replies = await f.agent("outside").tcp({ host: f.address("ingress"), port: 31400, count, payload: "hello" });
  const out: Record<string, number> = {};
  for (const r of replies) {
    const key = r.reply === undefined ? `error ${r.error}` : (/^(tcp-echo-v\d):9000:hello$/.exec(r.reply)?.[1] ?? `reply ${r.reply}`);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

test("tcp-echo traffic shifting: all to v1, then 80/20 between v1 and v2 (TCP through the gateway)", (t) =>
  fleet.row(t, async (f) => {
    await apply(f, "tcp-echo", "tcp-echo-all-v1.yaml");
    assert.deepEqual(await tcpAnswers(f, 20), { "tcp-echo-v1": 20 });
    await apply(f, "tcp-echo", "tcp-echo-20-v2.yaml");
    const split = await tcpAnswers(f, 100);
    t.diagnostic(JSON.stringify(split));
    assert.equal((split["tcp-echo-v1"] ?? 0) + (split["tcp-echo-v2"] ?? 0), 100, JSON.stringify(split));
    assert.ok((split["tcp-echo-v2"] ?? 0) >= 8 && (split["tcp-echo-v2"] ?? 0) <= 35, JSON.stringify(split));
  }));
