// Istio's locality failover priorities (applyLocalityFailover), table-driven.
import assert from "node:assert/strict";
import { test } from "node:test";
import { failoverPriorities } from "../../src/translators/locality.js";

const at = (region: string, zone = "", sub_zone = "") => ({ locality: { region, zone, sub_zone }, lb_endpoints: [] });

const ENDPOINTS = [at("eu", "a", "1"), at("eu", "a", "2"), at("eu", "b"), at("us", "c"), at("ap", "d")];

const cases: { name: string; client: string; failover?: { from: string; to: string }[]; want: number[] }[] = [
  { name: "subzone, zone, region, elsewhere", client: "eu/a/1", want: [0, 1, 2, 3, 3] },
  { name: "failover: the to region comes before the rest", client: "eu/a/1", failover: [{ from: "eu", to: "ap" }], want: [0, 1, 2, 4, 3] },
  { name: "a failover rule for another region changes nothing", client: "eu/a/1", failover: [{ from: "us", to: "ap" }], want: [0, 1, 2, 3, 3] },
  { name: "no gaps: a client in a region without endpoints", client: "sa/x", want: [0, 0, 0, 0, 0] },
  { name: "a client with a zone only", client: "eu/b", want: [1, 1, 0, 2, 2] },
];


for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(failoverPriorities(c.client, ENDPOINTS, c.failover === undefined ? undefined : { failover: c.failover }), c.want);
  });
}
