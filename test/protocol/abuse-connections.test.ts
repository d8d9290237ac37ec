// Issue 9, item 14: connections that never become a proxy's. Silent and unfinished connections
// are closed within connectionSetupMs, a flood of them cannot keep a proxy out (the oldest
// unidentified one makes room), and `gitmesh serve` says what descriptor limit it runs with.
// Real sockets on loopback; the descriptor flood against a real process under prlimit.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { CDS } from "../../src/xds/index.js";
import { ENDPOINTS, serveOn, type Target } from "../support/endpoints.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { nextOf } from "../support/harness.js";
import { start } from "../support/gitmesh-process.js";
import { waitFor } from "../support/wait.js";
import { ADS_SOTW, grpcNode, node, ScriptedClient } from "../support/xds-client.js";

/** Every way a connection can fail to become a proxy's, as the client's end of it. */
interface Unfinished {
  readonly what: string;
  readonly closed: Promise<unknown>;
  destroy(): void;
}

function silentTcp(port: number): Unfinished {
  const s = connectTcp(port, "127.0.0.1");
  s.on("error", () => {});
  // It reads (to see the server close it), and never sends a byte.
  s.resume();
  return { what: "TCP, nothing sent", closed: once(s, "close"), destroy: () => s.destroy() };
}

function unfinished(target: Target): Unfinished[] {
  const out = [silentTcp(target.port)];
  if (target.ca !== undefined) {
    const s = connectTls({ host: "127.0.0.1", port: target.port, servername: "localhost", ca: target.ca, ALPNProtocols: ["h2"] });
    s.on("error", () => {});
    s.resume();
    out.push({ what: "TLS handshake done, no HTTP/2", closed: once(s, "close"), destroy: () => s.destroy() });
  }
  const h2 = (withStream: boolean): Unfinished => {
    const authority = `${target.ca === undefined ? "http" : "https"}://localhost:${target.port}`;
    const session = connectHttp2(authority, target.ca === undefined ? {} : { ca: target.ca });
    session.on("error", () => {});
    if (withStream) session.request({ ":method": "POST", ":path": ADS_SOTW, "content-type": "application/grpc", te: "trailers" }).on("error", () => {});
    return { what: withStream ? "a stream opened, no request sent" : "HTTP/2 settings exchanged, no stream", closed: once(session, "close"), destroy: () => session.destroy() };
  };
  out.push(h2(false), h2(true));
  return out;
}

for (const endpoint of ENDPOINTS) {
  test(`${endpoint}: silent and unfinished connections are closed within connectionSetupMs, and a proxy connecting meanwhile is served`, async (t) => {
    const target = await serveOn(t, endpoint, { limits: { connectionSetupMs: 2_000 } });
    target.cache.set("healthy", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
    const started = Date.now();
    const attackers = Array.from({ length: 25 }, () => unfinished(target)).flat();
    t.after(() => attackers.forEach((a) => a.destroy()));
    let closedEarly = 0;
    for (const a of attackers) void a.closed.then(() => (Date.now() - started < 2_000 ? closedEarly++ : undefined));
    await waitFor(() => target.server.holdings.connections.pending === attackers.length);

    const healthy = target.client().sotw();
    healthy.send({ node: node("healthy"), type_url: CDS.typeUrl });
    await nextOf(healthy, CDS.typeUrl);
    assert.deepEqual(target.server.holdings.connections, { pending: attackers.length, proxies: 1 }, "the proxy is in, the others still wait");

    await Promise.all(attackers.map((a) => a.closed));
    assert.equal(closedEarly, 0, "none is closed before its time is up");
    assert.deepEqual(target.server.holdings.connections, { pending: 0, proxies: 1 });
    // The streams that sent no request went with their connections.
    await waitFor(() => target.server.streamCount === 1);
  });
}

test("a full server closes the oldest connection that named no node to let a proxy in; a full server of proxies refuses the new one", async (t) => {
  const target = await serveOn(t, "plaintext", { limits: { maxConnections: 20, connectionSetupMs: 600_000 } });
  target.cache.set("healthy", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const silent = Array.from({ length: 40 }, () => silentTcp(target.port));
  t.after(() => silent.forEach((s) => s.destroy()));
  // The first 20 made room for the last 20, oldest first.
  await Promise.all(silent.slice(0, 20).map((s) => s.closed));
  await waitFor(() => target.server.holdings.connections.pending === 20);
  const healthy = target.client().sotw();
  healthy.send({ node: node("healthy"), type_url: CDS.typeUrl });
  await nextOf(healthy, CDS.typeUrl);
  await silent[20]?.closed;
  assert.deepEqual(target.server.holdings.connections, { pending: 19, proxies: 1 });

  // Full of proxies: the 21st proxy connection is refused, the 20 keep their streams.
  const proxies = Array.from({ length: 19 }, (_, i) => {
    target.cache.set(`p${i}`, snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
    const s = target.client().sotw();
    s.send({ node: node(`p${i}`), type_url: CDS.typeUrl });
    return s;
  });
  await Promise.all(proxies.map((s) => nextOf(s, CDS.typeUrl)));
  assert.deepEqual(target.server.holdings.connections, { pending: 0, proxies: 20 });
  const late = silentTcp(target.port);
  await late.closed;
  assert.deepEqual(target.server.holdings.connections, { pending: 0, proxies: 20 });
});

const bookinfo = fileURLToPath(new URL("../../../config-examples/bookinfo", import.meta.url));

test("gitmesh serve with 1,024 descriptors: 1,100 silent connections cannot keep a proxy out, and are closed within 10 s", async (t) => {
  const serve = start(
    ["serve", "--config", bookinfo, "--state-dir", mkdtempSync(join(tmpdir(), "gitmesh-xa-fd-")), "--xds-address", "127.0.0.1:0", "--xds-tls-address", "off", "--admin-address", "127.0.0.1:0"],
    {},
    { prefix: ["prlimit", "--nofile=1024:1024", "--"] },
  );
  t.after(() => serve.child.kill("SIGKILL"));
  const port = Number(/xds=127\.0\.0\.1:(\d+)/.exec(await serve.waitFor(/gitmesh serving/))?.[1]);
  const silent: Socket[] = [];
  t.after(() => silent.forEach((s) => s.destroy()));
  let closed = 0;
  for (let i = 0; i < 1_100; i++) {
    const s = connectTcp(port, "127.0.0.1");
    s.on("error", () => {});
    s.on("close", () => closed++);
    s.resume();
    silent.push(s);
  }
  await Promise.all(silent.map((s) => (s.readyState === "open" ? undefined : once(s, "connect"))));
  const client = new ScriptedClient(`127.0.0.1:${port}`);
  t.after(() => client.close());
  const stream = client.sotw();
  stream.send({ node: grpcNode("healthy"), type_url: CDS.typeUrl });
  const res = await nextOf(stream, CDS.typeUrl);
  assert.ok(res.resources.length > 0, "the proxy got its clusters");
  const closedWhenServed = closed;
  assert.ok(closedWhenServed < 1_100 - 700, `${closedWhenServed} silent connections were closed before the proxy was served: it was let in by eviction, not by waiting`);
  await waitFor(() => closed === 1_100);
  assert.ok(serve.lines.some((l) => /INFO xDS listening .*maxConnections=768 descriptorLimit=1024/.test(l)), "the limit it runs with is in the log");
  assert.ok(serve.lines.some((l) => /xDS connection closed: it named no node within 10000 ms/.test(l)));
  assert.ok(serve.lines.some((l) => /xDS connection closed: the server was full, and it was the oldest that had named no node/.test(l)));
});
