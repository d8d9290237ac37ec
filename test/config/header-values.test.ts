// GM0333 agrees with real Envoy: each header value is put in a route's request_headers_to_add and
// checked with `envoy --mode validate`; gitmesh refuses exactly the values Envoy refuses.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { headerValueProblem } from "../../src/config/checks/header-values.js";
import { needEnvoy } from "../support/peers.js";

const VALUES = ["plain", "50% off", "100%% sure", "%%", "%", "%START_TIME(%s)%", "%UPSTREAM_HOST", "%DOWNSTREAM_REMOTE_ADDRESS%", "a %REQ(x-id)% b", "%REQ(x-id):10%", "%lower%"];

function bootstrap(value: string): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "x",
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    route_config: {
                      virtual_hosts: [
                        { name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 }, request_headers_to_add: [{ header: { key: "x-v", value } }] }] },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  });
}

function envoyAccepts(envoy: string, file: string): Promise<boolean> {
  return new Promise((resolve) => execFile(envoy, ["--mode", "validate", "-c", file, "--use-dynamic-base-id"], (err) => resolve(err === null)));
}

test("header values: gitmesh refuses (GM0333) exactly what Envoy's parser refuses", async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), "gitmesh-header-values-"));
  try {
    for (const [i, value] of VALUES.entries()) {
      const file = join(dir, `${i}.json`);
      writeFileSync(file, bootstrap(value));
      const accepted = await envoyAccepts(envoy, file);
      assert.equal(headerValueProblem(value) === undefined, accepted, `${JSON.stringify(value)}: Envoy ${accepted ? "accepts" : "refuses"} it`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
