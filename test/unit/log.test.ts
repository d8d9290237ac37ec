// The one logger: every value capped and escaped, no value can forge or hide a line, and repeated
// lines per key are summarised.
import assert from "node:assert/strict";
import { test } from "node:test";
import { capText, createLogger, formatValue, LogThrottle, MAX_MESSAGE_CHARS, MAX_VALUE_CHARS } from "../../src/log.js";

function capture() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "debug", write: (l) => lines.push(l) }) };
}

const cases: { name: string; value: string | number | boolean; out: string | RegExp }[] = [
  { name: "plain ASCII goes unquoted", value: "proxy-1", out: "proxy-1" },
  { name: "a number", value: 42, out: "42" },
  { name: "spaces are quoted", value: "a b", out: '"a b"' },
  { name: "quotes and backslashes are escaped", value: 'say "hi" \\ bye', out: '"say \\"hi\\" \\\\ bye"' },
  { name: "a newline cannot start a forged line", value: "x\n2026-01-01T00:00:00Z ERROR forged", out: '"x\\n2026-01-01T00:00:00Z ERROR forged"' },
  { name: "terminal escapes are escaped", value: "\u001b[31mred", out: '"\\u001b[31mred"' },
  { name: "bidi overrides and line separators are escaped", value: "a\u202eb\u2028c", out: '"a\\u202eb\\u2028c"' },
  { name: "non-ASCII text stays readable", value: "café", out: '"café"' },
  { name: "a long value is cut and says how long it was", value: "v".repeat(1_000_000), out: new RegExp(`^"v{${MAX_VALUE_CHARS}}\\.\\.\\.\\(1000000 chars\\)"$`) },
];

for (const c of cases) {
  test(`formatValue: ${c.name}`, () => {
    const out = formatValue(c.value);
    if (typeof c.out === "string") assert.equal(out, c.out);
    else assert.match(out, c.out);
  });
}

test("a line is one line whatever its message and values hold, and its size is bounded", () => {
  const { lines, logger } = capture();
  logger.error(`config/evil\nname.yaml:1:1: GM0001 ${"y".repeat(10_000_000)}`, { node: "n".repeat(1024 * 1024), file: "a\r\nb" });
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.ok(line !== undefined && !line.includes("\n") && !line.includes("\r"));
  assert.match(line, /config\/evil\\nname\.yaml/);
  assert.ok(line.length < MAX_MESSAGE_CHARS + 2 * MAX_VALUE_CHARS + 200, `line of ${line.length} characters`);
  assert.match(line, /\(10000\d+ chars\)/);
  assert.match(line, /\(1048576 chars\)/);
});

test("capText leaves short text alone", () => {
  assert.equal(capText("short", 10), "short");
});

test("LogThrottle: the first lines per key pass, the rest are counted and summarised once per interval", () => {
  const { lines, logger } = capture();
  const throttle = new LogThrottle(logger, { burst: 5, intervalMs: 60_000, maxKeys: 2 });
  let passed = 0;
  for (let i = 0; i < 3_000; i++) if (throttle.allow("proxy rejected config (NACK)", "proxy-1")) passed++;
  assert.equal(passed, 5);
  assert.equal(throttle.allow("proxy rejected config (NACK)", "proxy-2"), true, "another key has its own allowance");
  // Past maxKeys, new keys share one "other" key.
  for (let i = 0; i < 10; i++) throttle.allow("proxy rejected config (NACK)", `proxy-x${i}`);
  throttle.flush();
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? "", /WARN proxy rejected config \(NACK\): 2995 more such lines held back key=proxy-1/);
  assert.match(lines[1] ?? "", /WARN proxy rejected config \(NACK\): 5 more such lines held back key=other/);
  // A new interval starts afresh.
  assert.equal(throttle.allow("proxy rejected config (NACK)", "proxy-1"), true);
  throttle.close();
});
