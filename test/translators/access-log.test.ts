// serve --access-log: parsing, and the rewrite of a proxy's listeners (every connection manager
// and TCP proxy logs; proxyless gRPC is left alone; each listener is rewritten once).
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, pack, type Listener } from "../../src/envoy/index.js";
import { AccessLogging } from "../../src/translators/access-log.js";
import { parseAccessLog } from "../../src/translators/access-log-setting.js";
import type { ProxyLayer } from "../../src/translators/proxy-resources.js";
import { translated, type Translated } from "../../src/translators/translated.js";

test("--access-log takes stdout or an absolute path", () => {
  for (const [input, want] of [
    ["stdout", { t: "stdout" }],
    ["/var/log/envoy/access.json", { t: "file", path: "/var/log/envoy/access.json" }],
    ["access.json", /takes stdout or an absolute file path/],
    ["", /takes stdout or an absolute file path/],
  ] as const) {
    const got = parseAccessLog(input);
    if (want instanceof RegExp) assert.match(String(got), want);
    else assert.deepEqual(got, want);
  }
});

const listener: Translated = translated("envoy.config.listener.v3.Listener", "l", {
  name: "l",
  filter_chains: [
    { filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: pack("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", { stat_prefix: "h", rds: { route_config_name: "r", config_source: { ads: {}, resource_api_version: "V3" } }, http_filters: [{ name: "envoy.filters.http.router", typed_config: pack("envoy.extensions.filters.http.router.v3.Router", {}) }] }) }] },
    { filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: "t", cluster: "c" }) }] },
  ],
});
const layers: readonly ProxyLayer[] = [{ key: "k", resources: () => [listener] }];

function accessLogsOf(l: Translated): string[] {
  const msg = l.message as Listener;
  return (msg.filter_chains ?? []).flatMap((c) =>
    (c.filters ?? []).flatMap((f) => {
      const any = f.typed_config as { type_url: string; value: Buffer };
      const decoded = decodeMessage(any.type_url.replace("type.googleapis.com/", ""), any.value) as { access_log?: { name: string; typed_config: { type_url: string } }[] };
      return (decoded.access_log ?? []).map((a) => `${f.name ?? ""} ${a.name} ${a.typed_config.type_url}`);
    }),
  );
}

test("sidecars and gateways log on every HTTP and TCP filter; proxyless gRPC is left alone; a listener is rewritten once", () => {
  const stdout = new AccessLogging({ t: "stdout" });
  const [sidecar] = stdout.layers("sidecar", layers);
  const once = sidecar?.resources()[0];
  assert.ok(once !== undefined);
  assert.deepEqual(accessLogsOf(once), [
    "envoy.filters.network.http_connection_manager envoy.access_loggers.stdout type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
    "envoy.filters.network.tcp_proxy envoy.access_loggers.stdout type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
  ]);
  assert.equal(stdout.layers("gateway", layers)[0]?.resources()[0], once, "the same object: encoded once, shared");
  assert.equal(stdout.layers("grpc", layers), layers);
  const file = new AccessLogging({ t: "file", path: "/var/log/envoy.json" }).layers("gateway", layers)[0]?.resources()[0];
  assert.match(accessLogsOf(file ?? listener)[0] ?? "", /envoy\.access_loggers\.file .*FileAccessLog$/);
});
