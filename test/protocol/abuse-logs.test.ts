// Issue 9, item 15: clients that try to flood or forge the log. Repeated lines per proxy are
// summarised, every value is capped and escaped, and a node id of a megabyte is refused.
// Scripted clients over real gRPC on loopback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { createLogger } from "../../src/log.js";
import { EDS } from "../../src/xds/index.js";
import { serveOn } from "../support/endpoints.js";
import { edsCluster, endpoints, snapshot } from "../support/fixtures.js";
import { nextOf } from "../support/harness.js";
import { node } from "../support/xds-client.js";

function capturing() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "debug", write: (l) => lines.push(l) }) };
}

test("3,000 NACKs of 4 KB from one proxy write five lines and one summary, and each stays capped", async (t) => {
  const { lines, logger } = capturing();
  const target = await serveOn(t, "plaintext", { logger });
  target.cache.set("p", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const s = target.client().delta();
  s.send({ node: node("p"), type_url: EDS.typeUrl, resource_names_subscribe: ["a"] });
  const text = `rejected: ${"e".repeat(4096)}`;
  for (let i = 0; i < 3_000; i++) {
    const res = await nextOf(s, EDS.typeUrl);
    // NACK it, and ask for it again (delta re-sends a re-subscribed name): another response to NACK.
    s.send({ type_url: EDS.typeUrl, response_nonce: res.nonce, error_detail: { code: 3, message: text }, resource_names_subscribe: ["a"] });
  }
  await nextOf(s, EDS.typeUrl);
  assert.equal(target.server.status.counters.nacks, 3_000);
  const nackLines = () => lines.filter((l) => l.includes("NACK"));
  assert.equal(nackLines().length, 5, "the first five NACK lines of the proxy");
  for (const l of nackLines()) assert.ok(l.length < 1_000, `a NACK line of ${l.length} characters`);
  assert.match(nackLines()[0] ?? "", /error="rejected: e{500}[e.]*\(4120 chars\)"/);
  // The status store keeps the text up to its own bound.
  assert.equal(target.server.status.recentNacks().at(-1)?.message.length, 4096 + "... (10 more characters)".length);
  await target.server.shutdown(500);
  assert.equal(nackLines().length, 6);
  assert.match(nackLines()[5] ?? "", /WARN proxy rejected config \(NACK\)[^:]*: 2995 more such lines held back key=p /);
  const bytes = lines.reduce((n, l) => n + l.length + 1, 0);
  assert.ok(bytes < 20_000, `${bytes} bytes of log for 3,000 NACKs`);
});

test("a node id of a megabyte is refused with INVALID_ARGUMENT, and the log line about it is short", async (t) => {
  const { lines, logger } = capturing();
  const target = await serveOn(t, "plaintext", { logger });
  target.cache.set("healthy", snapshot(edsCluster("a"), endpoints("a", "10.0.0.1:80")));
  const healthy = target.client().sotw();
  healthy.send({ node: node("healthy"), type_url: EDS.typeUrl, resource_names: ["a"] });
  await nextOf(healthy, EDS.typeUrl);
  const s = target.client().sotw();
  s.send({ node: node(`evil\n${"n".repeat(1024 * 1024)}`), type_url: EDS.typeUrl, resource_names: ["a"] });
  const end = await s.ended();
  assert.equal(end.code, status.INVALID_ARGUMENT);
  assert.match(end.details, /node\.id is 1048581 characters; at most 1024/);
  assert.equal(target.server.status.list().length, 1, "only the healthy stream is known");
  for (const l of lines) assert.ok(l.length < 2_000, `a log line of ${l.length} characters: ${l.slice(0, 200)}`);
  assert.ok(lines.some((l) => /WARN proxy refused: node id too long .*node="evil\\nn+\.\.\.\(1048581 chars\)"/.test(l)));
});

test("100 bad requests from one address write five lines and a summary", async (t) => {
  const { lines, logger } = capturing();
  const target = await serveOn(t, "plaintext", { logger });
  const client = target.client();
  for (let i = 0; i < 100; i++) {
    const s = client.sotw();
    s.send(Buffer.from("not protobuf"));
    assert.equal((await s.ended()).code, status.INVALID_ARGUMENT);
  }
  await target.server.shutdown(500);
  const said = lines.filter((l) => l.includes("xDS request rejected"));
  assert.equal(said.length, 6);
  assert.match(said[5] ?? "", /xDS request rejected: 95 more such lines held back key=127\.0\.0\.1/);
});
