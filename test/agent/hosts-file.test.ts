// The hosts file's gitmesh block (only the lines between the markers are the agent's), the names
// it holds, and how it is written: atomically, or in place where the file is a mount point.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BLOCK_BEGIN as B, BLOCK_END as E, dialNames, spliceBlock, updateHostsFile } from "../../src/agent/index.js";
import { retryDelayMs } from "../../src/agent/backoff.js";
import { hostOfCluster } from "../../src/agent/services.js";
import { tempDir } from "../support/git-repo.js";

const run = promisify(execFile);
const LINES = ["127.128.0.1 api.demo.svc.cluster.local api.demo api"];

test("spliceBlock puts the lines between the markers and leaves every other line as it was", () => {
  const table: [string, string, string | RegExp][] = [
    ["an empty file", "", `${B}\n${LINES[0]}\n${E}\n`],
    ["a file without the block: appended", "127.0.0.1 localhost\n", `127.0.0.1 localhost\n${B}\n${LINES[0]}\n${E}\n`],
    ["no newline at the end", "127.0.0.1 localhost", `127.0.0.1 localhost\n${B}\n${LINES[0]}\n${E}\n`],
    ["the block replaced where it is", `a\n${B}\nold line\nolder line\n${E}\nb\n`, `a\n${B}\n${LINES[0]}\n${E}\nb\n`],
    ["a BEGIN without END: refused", `a\n${B}\nold\nb\n`, /markers are out of place \(1 BEGIN, 0 END/],
    ["two blocks: refused", `${B}\n${E}\n${B}\n${E}\n`, /\(2 BEGIN, 2 END/],
    ["END before BEGIN: refused", `${E}\n${B}\n`, /out of place/],
  ];
  for (const [name, before, after] of table) {
    const r = spliceBlock(before, LINES);
    if (typeof after === "string") assert.deepEqual(r, { ok: true, text: after }, name);
    else assert.ok(!r.ok && after.test(r.problem), `${name}: ${JSON.stringify(r)}`);
  }
  assert.deepEqual(spliceBlock(`a\n${B}\nx\n${E}\n`, []), { ok: true, text: `a\n${B}\n${E}\n` }, "no services: an empty block");
});

test("the names an application dials: the host, NAME.NS, and NAME in its own namespace", () => {
  const o = { clusterDomain: "cluster.local", namespace: "demo" };
  assert.deepEqual(dialNames("api.demo.svc.cluster.local", o), ["api.demo.svc.cluster.local", "api.demo", "api"]);
  assert.deepEqual(dialNames("reviews.shop.svc.cluster.local", o), ["reviews.shop.svc.cluster.local", "reviews.shop"]);
  assert.deepEqual(dialNames("api.example.com", o), ["api.example.com"]);
  assert.deepEqual(dialNames("api.demo.svc.corp.internal", { ...o, clusterDomain: "corp.internal" }), ["api.demo.svc.corp.internal", "api.demo", "api"]);
  assert.deepEqual(dialNames("api.demo.svc.cluster.local", o, "other"), ["api.demo.svc.cluster.local"], "a host naming another namespace than its ServiceEntry's");
  assert.equal(hostOfCluster("outbound|8080|v1|api.demo.svc.cluster.local"), "api.demo.svc.cluster.local");
  assert.equal(hostOfCluster("inbound|8080||"), undefined);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map(retryDelayMs), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
});

test("updateHostsFile writes only when the text changes, keeping the file's mode; a missing file is created", async () => {
  const dir = await tempDir("gmq-hosts-");
  const file = join(dir, "hosts");
  writeFileSync(file, "127.0.0.1 localhost\n", { mode: 0o640 });
  assert.deepEqual(await updateHostsFile(file, LINES), { t: "written", inPlace: false });
  assert.equal(readFileSync(file, "utf8"), `127.0.0.1 localhost\n${B}\n${LINES[0]}\n${E}\n`);
  assert.deepEqual(await updateHostsFile(file, LINES), { t: "unchanged" });
  assert.equal(statSync(file).mode & 0o777, 0o640);
  writeFileSync(file, `${B}\n`);
  assert.equal((await updateHostsFile(file, LINES)).t, "refused");
  assert.equal(readFileSync(file, "utf8"), `${B}\n`, "left as it was");
  const fresh = join(dir, "new-hosts");
  assert.deepEqual(await updateHostsFile(fresh, LINES), { t: "written", inPlace: false });
  assert.deepEqual(readdirSync(dir).sort(), ["hosts", "new-hosts"], "no temporary file left");
});

test("a hosts file that is a mount point (a container's, ip netns exec's) is rewritten in place: the file mounted there gets the block", async (t) => {
  const dir = await tempDir("gmq-hosts-");
  const [source, target] = [join(dir, "netns-hosts"), join(dir, "hosts")];
  writeFileSync(source, "127.0.0.1 localhost\n");
  writeFileSync(target, "this file is hidden by the mount\n");
  const module = fileURLToPath(new URL("../../src/agent/hosts-file.js", import.meta.url));
  const script = `import(${JSON.stringify(module)}).then(async (m) => console.log(JSON.stringify(await m.updateHostsFile(${JSON.stringify(target)}, ${JSON.stringify(LINES)}))))`;
  // A private mount namespace: the bind mount is seen by this one command only.
  const r = await run("unshare", ["--mount", "--propagation", "private", "sh", "-c", `mount --bind "$1" "$2" && exec "$3" -e "$4"`, "sh", source, target, process.execPath, script]).catch((e: Error) => e);
  if (r instanceof Error) {
    if (process.env["CI"] === "true") throw r;
    t.skip(`a mount namespace could not be made (needs root and util-linux's unshare): ${r.message.split("\n")[0] ?? ""}`);
    return;
  }
  assert.deepEqual(JSON.parse(r.stdout), { t: "written", inPlace: true });
  assert.equal(readFileSync(source, "utf8"), `127.0.0.1 localhost\n${B}\n${LINES[0]}\n${E}\n`);
  assert.equal(readFileSync(target, "utf8"), "this file is hidden by the mount\n");
  assert.deepEqual(readdirSync(dir).sort(), ["hosts", "netns-hosts"], "no temporary file left beside it");
});
