// `gitmesh render` of a host gitmesh resolves itself (resolution DNS, no endpoints): it does not
// resolve, so the clusters are EDS without endpoints, and a note says where the addresses come from.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { render } from "../../src/cli/render.js";
import type { ProxyIdentity } from "../../src/translators/proxy.js";
import { EGRESS_HTTP } from "../support/corpus-files.js";
import { REPO_ROOT } from "../support/peers.js";

for (const kind of ["sidecar", "grpc"] as const) {
  test(`render (${kind}): httpbin.org's cluster is EDS with no endpoints, and a note says gitmesh resolves it while it serves`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "gm-render-dns-"));
    try {
      // Istio's egress task: httpbin.org with resolution DNS and no endpoints.
      copyFileSync(join(REPO_ROOT, EGRESS_HTTP), join(dir, "httpbin.yaml"));
      let text = "";
      const proxy: ProxyIdentity = { nodeId: "sleep", kind, namespace: "default", serviceAccount: "sleep", labels: {}, instanceIps: [] };
      assert.equal(await render({ dir, proxy, format: "yaml", out: (t) => (text += t) }), 0, text);
      const out = parse(text) as { clusters: { name: string; type: string }[]; endpoints: { cluster_name: string; endpoints?: unknown[] }[]; notes?: string[] };
      assert.equal(out.clusters.find((c) => c.name === "outbound|80||httpbin.org")?.type, "EDS");
      assert.deepEqual(out.endpoints.find((e) => e.cluster_name === "outbound|80||httpbin.org"), { cluster_name: "outbound|80||httpbin.org" });
      assert.ok(out.notes?.some((n) => n.startsWith("httpbin.org: its endpoints come from gitmesh's own DNS lookups")), text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
