// Golden files: each case's config, translated for a proxy, rendered to test/golden/CASE/*.yaml.
// `npm run golden:update` rewrites them (and deletes stale ones); review the diff like code.
// Every resource must also pass Envoy's protoc-gen-validate rules, and the snapshot must be
// consistent (every EDS and RDS name it references present).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { readCredentials } from "../../src/config/credentials.js";
import { describeResources } from "../../src/cli/render.js";
import { loadMesh } from "../../src/config/load.js";
import { readDirectory } from "../../src/config/source.js";
import { encodeMessage, TypeUrl, validateMessage } from "../../src/envoy/index.js";
import { translateMesh } from "../../src/translators/mesh.js";
import { proxyNotes, resourcesForProxy } from "../../src/translators/proxy-resources.js";
import { checkConsistency, makeSnapshot, ResourceEncoder } from "../../src/xds/index.js";
import { goldenCases, REPO } from "../support/golden-cases.js";
import { grpcClientRejects } from "../support/grpc-client-validate.js";

const root = REPO;
const update = process.env["GOLDEN_UPDATE"] === "1";

/** The secrets the runtime adds to each authenticated proxy (workload-secrets.ts), not the translation. */
const PER_PROXY_SECRETS: ReadonlySet<string> = new Set(["default", "ROOTCA"]);
const cases = goldenCases();

for (const c of cases) {
  test(`golden: ${c.name}`, async () => {
    const loaded = loadMesh(await readDirectory(join(root, c.config)));
    assert.ok(loaded.ok, loaded.diagnostics.map((d) => `${d.file}:${d.line} ${d.code} ${d.message}`).join("\n"));
    const credentials = c.credentials === undefined ? undefined : await readCredentials(c.credentials);
    assert.deepEqual(credentials?.problems ?? [], []);
    const translation = translateMesh(loaded.model, undefined, credentials === undefined ? {} : { credentials: credentials.credentials });
    const encoder = new ResourceEncoder();
    const outDir = join(root, "test/golden", c.name, "out");
    const written = new Set<string>();
    for (const [proxyName, proxy] of Object.entries(c.proxies)) {
      const resources = resourcesForProxy(translation, proxy);
      for (const r of resources) {
        const violations = validateMessage(r.type, encodeMessage(r.type, r.message as never));
        assert.deepEqual(violations, [], `${r.type} ${r.name} breaks Envoy's validation rules`);
      }
      if (proxy.kind === "grpc") {
        for (const r of resources) {
          const encoded = encoder.encode(r);
          assert.equal(grpcClientRejects(encoded.typeUrl, encoded.bytes), undefined, `the gRPC xDS client rejects ${r.type} ${r.name}`);
        }
      }
      const snapshot = makeSnapshot(resources.map((r) => encoder.encode(r)));
      assert.ok(snapshot.ok, JSON.stringify(!snapshot.ok && snapshot.problems));
      // What the runtime adds per proxy (its own certificate and the trust bundle) is the only
      // thing a translation may leave unresolved.
      const missing = checkConsistency(snapshot.snapshot).filter((p) => !PER_PROXY_SECRETS.has(p.missing.name) || p.missing.typeUrl !== TypeUrl.Secret);
      assert.deepEqual(missing, [], "every EDS, RDS and SDS name referenced is present");
      const notes = proxyNotes(translation, proxy);
      const groups: Record<string, unknown> = { ...describeResources(resources), ...(notes.length > 0 ? { notes } : {}) };
      for (const [group, items] of Object.entries(groups)) {
        const file = `${proxyName}.${group}.yaml`;
        written.add(file);
        const text = stringify(items, { lineWidth: 0 });
        const path = join(outDir, file);
        if (update) {
          mkdirSync(outDir, { recursive: true });
          writeFileSync(path, text);
        } else {
          assert.ok(existsSync(path), `missing golden file ${path}: run npm run golden:update`);
          assert.equal(text, readFileSync(path, "utf8"), `${path} differs: run npm run golden:update and review the diff`);
        }
      }
    }
    const stale = existsSync(outDir) ? readdirSync(outDir).filter((f) => !written.has(f)) : [];
    if (update) for (const f of stale) rmSync(join(outDir, f));
    else assert.deepEqual(stale, [], "golden files no case produces any more: run npm run golden:update");
  });
}
