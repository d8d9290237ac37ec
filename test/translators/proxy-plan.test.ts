// proxyPlanSteps: a proxy's plan with its one long part (the first proxy of a namespace asking
// every service for its DestinationRule) in steps, so the pusher can pause in it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { proxyFromNode } from "../../src/translators/proxy.js";
import { proxyPlan, proxyPlanSteps } from "../../src/translators/proxy-resources.js";
import { meshFiles } from "../../bench/mesh-gen.js";
import { benchNode } from "../../bench/mesh-proxies.js";

const SERVICES = 300;

function sidecar(i: number) {
  const r = proxyFromNode(benchNode("sidecar", i, SERVICES));
  assert.ok(r.ok);
  return r.proxy;
}

function run<T>(steps: Generator<"tick", T>): { value: T; ticks: number } {
  let ticks = 0;
  for (;;) {
    const r = steps.next();
    if (r.done === true) return { value: r.value, ticks };
    ticks++;
  }
}

test("the first proxy of a namespace pauses while every service is asked for its rule; the next one finds it done; both plans are proxyPlan's", () => {
  const loaded = loadMesh(meshFiles(SERVICES));
  assert.ok(loaded.ok);
  const t = translateMesh(loaded.model);
  const first = run(proxyPlanSteps(t, sidecar(0)));
  assert.ok(first.ticks >= Math.floor(SERVICES / 64), `paused ${first.ticks} times over ${SERVICES} services`);
  const again = run(proxyPlanSteps(t, sidecar(20))); // the same namespace (team-0)
  assert.equal(again.ticks, 0, "the namespace's answer is kept for the translation");
  const fresh = translateMesh(loaded.model);
  for (const [i, plan] of [[0, first.value], [20, again.value]] as const) {
    const expected = proxyPlan(fresh, sidecar(i));
    assert.deepEqual(plan.layers.map((l) => l.key), expected.layers.map((l) => l.key));
    assert.deepEqual(plan.notes(), expected.notes());
  }
});
