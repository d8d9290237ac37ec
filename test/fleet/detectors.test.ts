// The fleet fails a row when an Envoy refuses config: this proves its detectors see a real refusal.
// A scripted xDS server sends real Envoy a cluster it must reject (CLUSTER_PROVIDED balancing on an
// EDS cluster); the rejection counter, the log line and the server's NACK record all say so, and a
// connectivity warning is not taken for a rejection.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { resource } from "../../src/xds/index.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { startServer } from "../support/harness.js";
import { needEnvoy } from "../support/peers.js";
import { freePort } from "../support/ports.js";
import { directAdmin, envoyState, rejectedCounters, rejectingLines } from "./support/envoy.js";
import { GITMESH_CLI } from "./support/fleet.js";
import { Proc } from "./support/proc.js";
import { waitFor } from "./support/wait.js";

const run = promisify(execFile);

test("a real Envoy's refusal shows in its rejection counter, its log and the server's NACK record", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const h = await startServer(t);
  const refused = resource("envoy.config.cluster.v3.Cluster", "refused", {
    name: "refused",
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
    connect_timeout: { seconds: 1 },
    lb_policy: "CLUSTER_PROVIDED",
  });
  h.cache.set("detector", snapshot(edsCluster("a"), endpoints("a", "127.0.0.1:9"), refused, endpoints("refused", "127.0.0.1:9")));
  const dir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-detector-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const admin = await freePort();
  const bootstrap = join(dir, "bootstrap.json");
  await run(process.execPath, [GITMESH_CLI, "bootstrap", "--namespace", "demo", "--service-account", "detector", "--node-id", "detector", "--xds-address", h.address, "--admin-port", String(admin), "--out", bootstrap]);
  const proc = new Proc("envoy detector", [envoy, "-c", bootstrap, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "info"], join(dir, "envoy.log"));
  t.after(() => proc.stop("SIGKILL"));
  const page = directAdmin(`http://127.0.0.1:${admin}`);
  const counters = await waitFor("Envoy to count the rejected update", async () => {
    const c = await rejectedCounters(page);
    return Object.keys(c).length > 0 ? { ok: true, value: c } : { ok: false, why: "nothing rejected yet" };
  });
  assert.deepEqual(counters, { "cluster_manager.cds.update_rejected": 1 });
  assert.deepEqual((await envoyState(page)).rejected, counters, "synced() would stop at once on it");
  const logged = rejectingLines(proc.tail(400));
  assert.ok(logged.some((l) => /gRPC config for type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster rejected: .*refused/.test(l)), logged.join("\n"));
  assert.equal(h.server.status.recentNacks().length, 1, "gitmesh's xDS server records the NACK (assertClean reads it from /debug/xds)");
  assert.deepEqual(
    rejectingLines([
      "[2026-12-04 23:33:12.000][1][warning][config] [./source/extensions/config_subscription/grpc/grpc_stream.h:189] DeltaAggregatedResources gRPC config stream to gitmesh-xds closed: 14, connection error",
      "[2026-12-04 23:33:12.000][1][info][upstream] [source/common/upstream/cds_api_helper.cc:31] cds: response indicates 1 added/updated cluster(s)",
    ]),
    [],
    "connectivity and progress are not rejections",
  );
});
