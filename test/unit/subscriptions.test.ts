// The subscription pool and the name allowance: what streams share, what they are counted for,
// and that everything goes with the last stream that held it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HeldTotals, NameAllowance } from "../../src/xds/allowance.js";
import { NO_NAMES, SubscriptionPool } from "../../src/xds/subscriptions.js";
import { resourcesOf } from "../../src/xds/index.js";
import { EDS } from "../../src/xds/resource-kinds.js";
import { endpoints, snapshot } from "../support/fixtures.js";

const snap = snapshot(endpoints("a", "10.0.0.1:80"), endpoints("b", "10.0.0.2:80"), endpoints("c", "10.0.0.3:80"));
const all = resourcesOf(snap, EDS.typeUrl);

test("streams asking for the same names share one subscription and one view; the last to go drops both", () => {
  const pool = new SubscriptionPool();
  const s1 = pool.acquire(["b", "a", "a"]);
  const s2 = pool.acquire(["a", "b"]);
  assert.equal(s1, s2, "the same sorted, de-duplicated names are one subscription");
  assert.deepEqual(s1.names, ["a", "b"]);
  assert.equal(s1.chars, 2);
  const v1 = pool.view(s1, all);
  const v2 = pool.view(s2, all);
  assert.equal(v1, v2);
  assert.deepEqual(pool.stats, { subscriptions: 1, views: 1, keptBodyBytes: 0 });
  const body = v1.body();
  assert.equal(v2.body(), body, "two streams on the view: its body is kept and shared");
  assert.equal(pool.stats.keptBodyBytes, body.length);
  pool.releaseView(s1, all);
  pool.release(s1);
  assert.equal(pool.stats.views, 1, "one stream still uses it");
  pool.releaseView(s2, all);
  pool.release(s2);
  assert.deepEqual(pool.stats, { subscriptions: 0, views: 0, keptBodyBytes: 0 });
});

test("a view used by one stream builds its body for each send rather than keep it", () => {
  const pool = new SubscriptionPool();
  const s = pool.acquire(["a"]);
  const v = pool.view(s, all);
  assert.notEqual(v.body(), v.body());
  assert.equal(pool.stats.keptBodyBytes, 0);
});

test("kept bodies stop at maxSharedViewBytes; past it they are built for each send", () => {
  const pool = new SubscriptionPool(1);
  const s = [pool.acquire(["a"]), pool.acquire(["a"])];
  const v = [pool.view(s[0] ?? NO_NAMES, all), pool.view(s[1] ?? NO_NAMES, all)];
  assert.notEqual(v[0]?.body(), v[1]?.body());
  assert.equal(pool.stats.keptBodyBytes, 0);
});

test("names that cover the whole type see the type's own full view", () => {
  const pool = new SubscriptionPool();
  const s = pool.acquire(["a", "b", "c"]);
  assert.equal(pool.view(s, all).version, all.version);
});

test("no names is no subscription", () => {
  const pool = new SubscriptionPool();
  assert.equal(pool.acquire(["*"]), NO_NAMES);
  pool.release(NO_NAMES);
  assert.equal(pool.stats.subscriptions, 0);
});

const limits = { maxNamesPerStream: 3, maxNameCharsPerStream: 10, maxNamesTotal: 5, maxNameCharsTotal: 100 };

test("a stream's allowance refuses past its own bound and past the total, and changes nothing when it does", () => {
  const totals = new HeldTotals();
  const one = new NameAllowance(totals, limits);
  const two = new NameAllowance(totals, limits);
  assert.equal(one.take(3, 6), undefined);
  assert.match(one.take(1, 1) ?? "", /the stream would hold 4 resource names; at most 3 per stream/);
  assert.match(one.take(-1, 5) ?? "", /the stream would hold 11 characters of names and node; at most 10 per stream/);
  assert.deepEqual(one.held, { names: 3, chars: 6 });
  assert.equal(two.take(2, 2), undefined);
  assert.match(two.take(1, 1) ?? "", /the server holds 5 resource names for all streams; 1 more would pass its bound of 5/);
  assert.equal(one.take(-2, -4), undefined, "giving back always works");
  assert.equal(two.take(1, 1), undefined);
  one.release();
  two.release();
  assert.deepEqual({ names: totals.names, chars: totals.chars }, { names: 0, chars: 0 });
});
