// gitmesh's own DNS lookups (src/runtime/dns-resolution.ts) with a scripted resolver on a fake
// clock: when a host is looked up again (its TTL, clamped), what a failure keeps, when a change
// is reported (only a changed answer pushes), and what is logged.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { test } from "node:test";
import { DnsResolution, MAX_REFRESH_MS, MIN_REFRESH_MS, refreshDelayMs, type NameResolver, type TtlRecord } from "../../src/runtime/dns-resolution.js";
import type { Logger } from "../../src/log.js";
import type { DnsAnswers } from "../../src/translators/services.js";
import { answer } from "../fleet/support/dns.js";
import { fakeScheduler } from "../support/fake-scheduler.js";

/** A record set, or the error code a query fails with (ENODATA: the name has no such record). */
type Script = readonly TtlRecord[] | string;

/** A resolver answering from what the test sets per host and family; counts the A queries. */
function scriptedResolver(): NameResolver & { v4: Map<string, Script>; v6: Map<string, Script>; asked: Map<string, number>; cancelled: boolean } {
  const v4 = new Map<string, Script>();
  const v6 = new Map<string, Script>();
  const asked = new Map<string, number>();
  const answer = (script: Script | undefined): Promise<TtlRecord[]> => {
    if (script === undefined || typeof script === "string") return Promise.reject(Object.assign(new Error(`query failed: ${script ?? "ENODATA"}`), { code: script ?? "ENODATA" }));
    return Promise.resolve([...script]);
  };
  return {
    v4,
    v6,
    asked,
    cancelled: false,
    resolve4(host) {
      asked.set(host, (asked.get(host) ?? 0) + 1);
      return answer(v4.get(host));
    },
    resolve6: (host) => answer(v6.get(host)),
    cancel() {
      this.cancelled = true;
    },
  };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** Lets the scripted queries (settled promises) and the lookups awaiting them run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup() {
  const resolver = scriptedResolver();
  const scheduler = fakeScheduler();
  const logger = recordingLogger();
  const changes: DnsAnswers[] = [];
  const dns = new DnsResolution({ logger, resolver, scheduler, onChange: (a) => changes.push(new Map(a)) });
  /** Advances the clock and lets the lookups it started finish. */
  const advance = async (ms: number) => {
    scheduler.advance(ms);
    await settle();
  };
  return { resolver, logger, changes, dns, advance };
}

const a = (address: string, ttl: number): TtlRecord => ({ address, ttl });

test("refresh delay: the records' smallest TTL, clamped to 5 s .. 5 min", () => {
  const rows: [readonly number[], number][] = [
    [[], MIN_REFRESH_MS],
    [[0], MIN_REFRESH_MS],
    [[1], MIN_REFRESH_MS],
    [[30], 30_000],
    [[120, 30, 60], 30_000],
    [[86_400], MAX_REFRESH_MS],
  ];
  for (const [ttls, ms] of rows) assert.equal(refreshDelayMs(ttls), ms, `TTLs ${ttls.join(",")}`);
  assert.deepEqual([MIN_REFRESH_MS, MAX_REFRESH_MS], [5_000, 300_000]);
});

for (const [ttl, delay] of [
  [0, 5_000],
  [30, 30_000],
  [86_400, 300_000],
] as const) {
  test(`a record with TTL ${ttl} s is looked up again after ${delay / 1000} s, not before`, async () => {
    const { resolver, dns, advance } = setup();
    resolver.v4.set("httpbin.org", [a("10.0.0.1", ttl)]);
    dns.setHosts(["httpbin.org"]);
    await settle();
    assert.equal(resolver.asked.get("httpbin.org"), 1, "looked up at once");
    await advance(delay - 1);
    assert.equal(resolver.asked.get("httpbin.org"), 1, "not before the TTL");
    await advance(1);
    assert.equal(resolver.asked.get("httpbin.org"), 2, "at the TTL");
    dns.close();
    assert.ok(resolver.cancelled, "close cancels queries in flight");
  });
}

test("A and AAAA records, merged and sorted; a family without records (ENODATA) is no failure", async () => {
  const { resolver, dns, changes } = setup();
  resolver.v4.set("h", [a("10.0.0.9", 60), a("10.0.0.1", 60), a("10.0.0.9", 60)]);
  resolver.v6.set("h", [a("2001:db8::1", 60)]);
  resolver.v4.set("v6only", "ENODATA");
  resolver.v6.set("v6only", [a("2001:db8::2", 60)]);
  dns.setHosts(["h", "v6only"]);
  await settle();
  assert.deepEqual(Object.fromEntries(dns.current()), { h: ["10.0.0.1", "10.0.0.9", "2001:db8::1"], v6only: ["2001:db8::2"] });
  assert.equal(changes.length, 2, "one change per host's first answer");
});

test("a failed lookup keeps the last addresses, logs once per change of state, and is retried at the minimum", async () => {
  const { resolver, dns, changes, logger, advance } = setup();
  resolver.v4.set("h", [a("10.0.0.1", 60)]);
  dns.setHosts(["h"]);
  await settle();
  assert.equal(changes.length, 1);
  resolver.v4.set("h", "ETIMEOUT");
  resolver.v6.set("h", "ETIMEOUT");
  await advance(60_000);
  await advance(MIN_REFRESH_MS);
  await advance(MIN_REFRESH_MS);
  assert.equal(resolver.asked.get("h"), 4, "retried every 5 s while failing");
  assert.deepEqual(dns.current().get("h"), ["10.0.0.1"], "the last good addresses stay");
  assert.equal(changes.length, 1, "a failure changes nothing to push");
  const warnings = logger.lines.filter((l) => l.startsWith("warn"));
  assert.equal(warnings.length, 1, logger.lines.join("\n"));
  assert.match(warnings[0] ?? "", /DNS lookup failed.*"host":"h".*ETIMEOUT.*"kept":"10.0.0.1"/);
  resolver.v4.set("h", "ESERVFAIL");
  await advance(MIN_REFRESH_MS);
  assert.equal(logger.lines.filter((l) => l.startsWith("warn")).length, 2, "another failure is another state");
  resolver.v4.set("h", [a("10.0.0.1", 60)]);
  resolver.v6.set("h", "ENODATA");
  await advance(MIN_REFRESH_MS);
  assert.equal(logger.lines.filter((l) => l.startsWith("info") && l.includes("answers again")).length, 1);
  assert.equal(changes.length, 1, "the same answer again: nothing to push");
  dns.close();
});

test("a failure before any answer leaves the host without addresses; a name without records is an answer of none", async () => {
  const { resolver, dns, changes } = setup();
  resolver.v4.set("down", "ECONNREFUSED");
  resolver.v6.set("down", "ECONNREFUSED");
  resolver.v4.set("gone", "ENOTFOUND");
  resolver.v6.set("gone", "ENOTFOUND");
  dns.setHosts(["down", "gone"]);
  await settle();
  assert.equal(dns.current().has("down"), false);
  assert.deepEqual(dns.current().get("gone"), []);
  assert.equal(changes.length, 1);
  dns.close();
});

test("loopback addresses are never served: an answer of only loopback addresses is a failure (a DNS server reading /etc/hosts)", async () => {
  const { resolver, dns, logger } = setup();
  resolver.v4.set("mixed", [a("127.130.4.5", 60), a("10.0.0.1", 60)]);
  resolver.v4.set("looped", [a("127.130.4.6", 60)]);
  resolver.v6.set("looped", [a("::1", 60)]);
  dns.setHosts(["mixed", "looped"]);
  await settle();
  assert.deepEqual(Object.fromEntries(dns.current()), { mixed: ["10.0.0.1"] });
  assert.ok(logger.lines.some((l) => l.startsWith("warn") && l.includes('"host":"looped"') && l.includes("only loopback addresses")), logger.lines.join("\n"));
  dns.close();
});

test("only a changed answer is reported: the same addresses in another order or with another TTL are not", async () => {
  const { resolver, dns, changes, advance } = setup();
  resolver.v4.set("h", [a("10.0.0.2", 10), a("10.0.0.1", 10)]);
  dns.setHosts(["h"]);
  await settle();
  resolver.v4.set("h", [a("10.0.0.1", 20), a("10.0.0.2", 20)]);
  await advance(10_000);
  assert.equal(changes.length, 1);
  resolver.v4.set("h", [a("10.0.0.3", 20)]);
  await advance(20_000);
  assert.equal(changes.length, 2);
  assert.deepEqual(changes[1]?.get("h"), ["10.0.0.3"]);
  dns.close();
});

test("hosts gone from the model are forgotten (a change) and no longer looked up; hosts kept are not looked up again early", async () => {
  const { resolver, dns, changes, advance } = setup();
  resolver.v4.set("a", [a("10.0.0.1", 60)]);
  resolver.v4.set("b", [a("10.0.0.2", 60)]);
  dns.setHosts(["a", "b"]);
  await settle();
  assert.equal(changes.length, 2);
  dns.setHosts(["a"]);
  assert.equal(changes.length, 3);
  assert.deepEqual([...(changes[2]?.keys() ?? [])], ["a"]);
  assert.equal(resolver.asked.get("a"), 1, "a kept host is not looked up again at a reload");
  await advance(60_000);
  assert.equal(resolver.asked.get("b"), 1, "b is not looked up any more");
  assert.equal(resolver.asked.get("a"), 2);
  dns.setHosts([]);
  assert.equal(dns.current().size, 0);
  dns.close();
});

test("a host dropped while its lookup is in flight gets no answer", async () => {
  const { resolver, dns, changes } = setup();
  resolver.v4.set("h", [a("10.0.0.1", 60)]);
  dns.setHosts(["h"]);
  dns.setHosts([]);
  await settle();
  assert.equal(dns.current().size, 0);
  assert.equal(changes.length, 0);
  dns.close();
});

test("with node:dns's Resolver: names are asked of the DNS server, never looked up in /etc/hosts (localhost is not found)", async () => {
  // The fleet's DNS server (its answer function), on a loopback port of this process.
  const socket = createSocket("udp4");
  socket.on("message", (query, from) => {
    const reply = answer(query, new Set(["httpbin.org"]), "10.1.2.3", 30);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${socket.address().port}`]);
  const answered = new Promise<DnsAnswers>((resolve) => {
    const dns = new DnsResolution({
      logger: recordingLogger(),
      resolver,
      onChange: (answers) => {
        if (answers.size < 2) return;
        dns.close();
        resolve(answers);
      },
    });
    dns.setHosts(["httpbin.org", "localhost"]);
  });
  try {
    assert.deepEqual(Object.fromEntries(await answered), { "httpbin.org": ["10.1.2.3"], localhost: [] });
  } finally {
    socket.close();
  }
});
