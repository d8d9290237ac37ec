// Istio's bookinfo and helloworld samples and the istio.io traffic-management and HTTP
// authorization tasks that use them (test/fixtures/istio-corpus, re-typed by hand), served
// unchanged to real Envoy sidecars and an ingress gateway (support/corpus.ts): the echo
// applications standing in for the sample apps answer with their workload's name (reviews-v1,
// reviews-v2 ...), so every row checks the version that answered. Requests are made where the
// sample makes them: from productpage's sidecar to reviews, from reviews' to ratings, and from
// outside the mesh (a host without a proxy) to the ingress gateway.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { EchoAnswer } from "./support/agent.js";
import { answeredBy, answers, assertSplit, Corpus, INGRESS, type Pod } from "./support/corpus.js";
import { sharedFleet, type FleetSpec } from "./support/fleet.js";

const pod = (name: string, app: string, version: string, serviceAccount: string, port: number): Pod => ({ name, namespace: "default", labels: { app, version }, serviceAccount, http: [port] });
const corpus = new Corpus(
  ["bookinfo", "helloworld"],
  [
    pod("productpage-v1", "productpage", "v1", "bookinfo-productpage", 9080),
    pod("details-v1", "details", "v1", "bookinfo-details", 9080),
    pod("reviews-v1", "reviews", "v1", "bookinfo-reviews", 9080),
    pod("reviews-v2", "reviews", "v2", "bookinfo-reviews", 9080),
    pod("reviews-v3", "reviews", "v3", "bookinfo-reviews", 9080),
    pod("ratings-v1", "ratings", "v1", "bookinfo-ratings", 9080),
    pod("helloworld-v1", "helloworld", "v1", "default", 5000),
    pod("helloworld-v2", "helloworld", "v2", "default", 5000),
    // The helloworld task's client (Istio's sleep, later curl).
    { name: "sleep", namespace: "default", labels: { app: "sleep" }, serviceAccount: "sleep" },
    INGRESS,
  ],
);

function spec(): FleetSpec {
  return {
    // A client outside the mesh: no sidecar, its requests go to the gateway (or a pod) directly.
    workloads: [...corpus.pods, { name: "outside", proxy: "none" }],
    config: (address) => corpus.config(address),
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

const REVIEWS = "http://reviews:9080/reviews/0";
const RATINGS = "http://ratings:9080/ratings/0";

test("bookinfo base: the ingress gateway serves /productpage, /static and /api/v1/products from productpage; other paths are 404", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, undefined);
    const gw = `http://${f.address("ingress")}:8080`;
    const outside = f.agent("outside");
    for (const path of ["/productpage", "/static/css/site.css", "/api/v1/products/0", "/login"]) {
      const r = await outside.get(`${gw}${path}`);
      assert.deepEqual([r.status, answeredBy(r.body), (r.body as EchoAnswer).path], [200, "productpage-v1", path], JSON.stringify(r));
    }
    for (const path of ["/productpage/x", "/reviews", "/"]) assert.equal((await outside.get(`${gw}${path}`)).status, 404, path);
    // Without a VirtualService reviews is spread over its three versions (round robin).
    const spread = await answers(f, "productpage-v1", REVIEWS, 30);
    assert.deepEqual(Object.keys(spread.byName).sort(), ["reviews-v1", "reviews-v2", "reviews-v3"], JSON.stringify(spread));
  }));

test("bookinfo request routing (virtual-service-all-v1): every service answers from v1", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "virtual-service-all-v1.yaml");
    const s = await answers(f, "productpage-v1", REVIEWS, 30);
    assert.deepEqual(s.byName, { "reviews-v1": 30 }, JSON.stringify(s));
    const gw = await f.agent("outside").get(`http://${f.address("ingress")}:8080/productpage`);
    assert.equal(answeredBy(gw.body), "productpage-v1");
    for (const [svc, who] of [["ratings", "ratings-v1"], ["details", "details-v1"]] as const) {
      const r = await f.agent("productpage-v1").get(`http://${svc}:9080/`);
      assert.equal(answeredBy(r.body), who, JSON.stringify(r));
    }
  }));

test("bookinfo request routing (virtual-service-reviews-test-v2): end-user jason gets reviews v2, everyone else v1", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "virtual-service-reviews-test-v2.yaml");
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20, { "end-user": "jason" })).byName, { "reviews-v2": 20 });
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20, { "end-user": "mallory" })).byName, { "reviews-v1": 20 });
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 20)).byName, { "reviews-v1": 20 });
  }));

test("bookinfo traffic shifting: 80/20 to v1/v2, then 50/50 to v1/v3, then all to v3", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "virtual-service-reviews-80-20.yaml");
    assertSplit(await answers(f, "productpage-v1", REVIEWS, 120), "reviews-v1", "reviews-v2", 120, 10, 40);
    await corpus.apply(f, "bookinfo", "virtual-service-reviews-50-v3.yaml");
    assertSplit(await answers(f, "productpage-v1", REVIEWS, 120), "reviews-v1", "reviews-v3", 120, 40, 80);
    await corpus.apply(f, "bookinfo", "virtual-service-reviews-v3.yaml");
    assert.deepEqual((await answers(f, "productpage-v1", REVIEWS, 30)).byName, { "reviews-v3": 30 });
  }));

test("bookinfo fault injection: ratings aborted with 500 for jason only", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "virtual-service-ratings-test-abort.yaml");
    const jason = await answers(f, "reviews-v2", RATINGS, 10, { "end-user": "jason" });
    assert.deepEqual([jason.byStatus, jason.byName], [{ "500": 10 }, {}], JSON.stringify(jason));
    const other = await answers(f, "reviews-v2", RATINGS, 10);
    assert.deepEqual([other.byStatus, other.byName], [{ "200": 10 }, { "ratings-v1": 10 }], JSON.stringify(other));
    const received = await f.agent("ratings-v1").received();
    assert.equal(received.filter((r) => r.headers["end-user"] === "jason").length, 0, "an aborted request never reaches ratings");
  }));

test("bookinfo fault injection: ratings delayed 7s for jason only", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "virtual-service-ratings-test-delay.yaml");
    const other = await f.agent("reviews-v2").get(RATINGS);
    assert.equal(answeredBy(other.body), "ratings-v1");
    assert.ok(other.ms < 2_000, `no delay without the header: ${other.ms} ms`);
    const [jason] = await f.agent("reviews-v2").http({ url: RATINGS, headers: { "end-user": "jason" }, timeoutMs: 15_000 });
    assert.equal(answeredBy(jason?.body), "ratings-v1", JSON.stringify(jason));
    assert.ok((jason?.ms ?? 0) >= 6_900, `jason waits the fixed 7s: ${jason?.ms} ms`);
  }));

test("request timeouts task: reviews v2 with a 0.5s timeout answers 504 when the service is slower", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "task-request-timeouts-reviews.yaml");
    const fast = await f.agent("productpage-v1").get(REVIEWS);
    assert.deepEqual([fast.status, answeredBy(fast.body)], [200, "reviews-v2"]);
    const slow = await f.agent("productpage-v1").get(REVIEWS, { "x-echo-delay-ms": "2000" });
    assert.equal(slow.status, 504, JSON.stringify(slow));
    assert.ok(slow.ms >= 450 && slow.ms < 1_900, `cut at 0.5s: ${slow.ms} ms`);
  }));

test("retries task: ratings retried 3 times (4 tries) on 503", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "task-retries-ratings.yaml");
    const ratings = f.agent("ratings-v1");
    await ratings.behave({ failNext: 2, failStatus: 503 });
    const ok = await f.agent("reviews-v2").get(RATINGS);
    assert.deepEqual([ok.status, answeredBy(ok.body)], [200, "ratings-v1"], JSON.stringify(ok));
    assert.equal((await ratings.received()).length, 3, "two failures, then the answer");
    await ratings.reset();
    await ratings.behave({ failAll: true, failStatus: 503 });
    const failed = await f.agent("reviews-v2").get(RATINGS);
    assert.equal(failed.status, 503);
    assert.equal((await ratings.received()).length, 4, "attempts: 3 retries after the first try");
  }));

test("authorization for HTTP task: STRICT mTLS mesh-wide, allow-nothing, productpage open to GET, details to productpage only", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "bookinfo", "task-authorization-http.yaml");
    const outside = f.agent("outside");
    const gw = `http://${f.address("ingress")}:8080/productpage`;
    const get = await outside.get(gw);
    assert.deepEqual([get.status, answeredBy(get.body)], [200, "productpage-v1"], JSON.stringify(get));
    assert.match(String((get.body as EchoAnswer).headers["x-forwarded-client-cert"]), /URI=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istio-ingressgateway$/);
    const post = await outside.get(gw, {}, "POST");
    assert.equal(post.status, 403, "productpage-viewer allows GET only");
    const details = await f.agent("productpage-v1").get("http://details:9080/details/0");
    assert.deepEqual([details.status, answeredBy(details.body)], [200, "details-v1"], "details-viewer: productpage's principal");
    assert.equal((await f.agent("reviews-v1").get("http://details:9080/details/0")).status, 403, "another principal");
    assert.equal((await f.agent("productpage-v1").get(REVIEWS)).status, 403, "allow-nothing: reviews has no ALLOW policy");
    const plain = await outside.get(`http://${f.address("productpage-v1")}:9080/productpage`);
    assert.equal(plain.status, undefined, `STRICT refuses plaintext: ${JSON.stringify(plain)}`);
  }));

test("helloworld canary: 90/10 between v1 and v2", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "helloworld", "canary-90-10.yaml");
    assertSplit(await answers(f, "sleep", "http://helloworld:5000/hello", 120), "helloworld-v1", "helloworld-v2", 120, 2, 25);
  }));

test("helloworld gateway: /hello through the ingress gateway reaches both versions; other paths 404", (t) =>
  fleet.row(t, async (f) => {
    await corpus.apply(f, "helloworld", "helloworld-gateway.yaml");
    const s = await answers(f, "outside", `http://${f.address("ingress")}:80/hello`, 20);
    assert.deepEqual(Object.keys(s.byName).sort(), ["helloworld-v1", "helloworld-v2"], JSON.stringify(s));
    assert.equal((await f.agent("outside").get(`http://${f.address("ingress")}:80/bye`)).status, 404);
  }));

test("every scenario of bookinfo and helloworld is served by a row above", (t) =>
  fleet.row(t, async () => {
    assert.deepEqual(corpus.unapplied(), []);
  }));
