// The caching loader gives exactly what a fresh load gives, re-parsing only changed files.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createMeshLoader, loadMesh } from "../../src/config/load.js";

const sidecar = (name: string, extra = "") => ({
  path: `${name}.yaml`,
  text: `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  egress: [{ hosts: ["./*"] }]\n${extra}`,
});

test("a caching loader matches a fresh load, reuses unchanged files, and forgets removed ones", () => {
  const loader = createMeshLoader();
  const first = [sidecar("a"), sidecar("b"), sidecar("c")];
  const r1 = loader.load(first);
  assert.deepEqual(r1.model.resources.map((r) => r.name), ["a", "b", "c"]);

  const second = [sidecar("a"), sidecar("b", "bogus: 1\n")];
  const r2 = loader.load(second);
  const fresh = loadMesh(second);
  assert.deepEqual(
    r2.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}`),
    fresh.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}`),
  );
  assert.deepEqual(r2.model.resources.map((r) => r.name), ["a"], "b fails its schema now, c is gone");
  assert.equal(r2.model.resources[0], r1.model.resources[0], "unchanged a.yaml was not parsed again");

  const r3 = loader.load([sidecar("a"), sidecar("c")]);
  assert.deepEqual(r3.model.resources.map((r) => r.name), ["a", "c"]);
  assert.notEqual(r3.model.resources[1], r1.model.resources[2], "c was forgotten when it was removed, so it is parsed afresh");
});
