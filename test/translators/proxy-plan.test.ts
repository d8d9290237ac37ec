// proxyPlanSteps: a proxy's plan with its one long part (the first proxy of a namespace asking
// every service for its DestinationRule) in steps, so the pusher can pause in it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader, loadMesh } from "../../src/config/load.js";
import { createTranslationMemo, translateMesh } from "../../src/translators/mesh.js";
import { proxyFromNode } from "../../src/translators/proxy.js";
import { proxyPlan, proxyPlanSteps, workloadSide } from "../../src/translators/proxy-resources.js";
import { meshFiles } from "../../bench/mesh-gen.js";
import { benchNode } from "../../bench/mesh-proxies.js";

const SERVICES = 300;
// sidecar(0) is a workload of svc-0, which the smaller mesh of the second test has too.

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

test("a proxy's workload side is kept across translations of one memo while its inputs are the very same objects, and worked out again when one changes", () => {
  const files = meshFiles(20);
  const loader = createMeshLoader();
  const memo = createTranslationMemo();
  const proxy = sidecar(0);
  const translate = (edit: (f: { path: string; text: string }) => { path: string; text: string }, extra: { path: string; text: string }[] = []) => {
    const loaded = loader.load([...files.map(edit), ...extra]);
    assert.ok(loaded.ok);
    return translateMesh(loaded.model, memo);
  };
  const same = (f: { path: string; text: string }) => f;
  const first = workloadSide(translate(same), proxy);
  const routed = workloadSide(translate((f) => (f.path.endsWith("svc-0/virtual-service.yaml") ? { ...f, text: f.text.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20") } : f)), proxy);
  assert.equal(routed, first, "a route change keeps it");
  const policy = { path: "team-0/svc-0/policy.yaml", text: "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: svc-0, namespace: team-0 }\nspec:\n  selector: { matchLabels: { app: svc-0 } }\n  action: DENY\n  rules: [{ to: [{ operation: { methods: [POST] } }] }]\n" };
  const t = translate(same, [policy]);
  const guarded = workloadSide(t, proxy);
  assert.notEqual(guarded, first, "a new policy makes it again");
  assert.deepEqual(guarded.policies.map((p) => p.name), ["svc-0"]);
  assert.deepEqual(guarded, workloadSide(translateMesh(t.model), proxy), "what a fresh translation works out");
});
