// The one atomic write and its leftovers: a writer killed with SIGKILL leaves a temporary file;
// the next writer of that file removes it, and never removes a live writer's.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ABANDONED_AFTER_MS, createFileAtomic, parseTempName, removeAbandonedTemps, tempPath, writerIsGone } from "../../src/common/files.js";
import { killAt, start } from "../support/gitmesh-process.js";
import { tempFiles } from "../support/pki.js";

const service = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a, namespace: shop }
spec:
  hosts: [a.shop.svc.cluster.local]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
`;

const temps = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".tmp"));

test("serve killed while saving the last good config leaves a temp file; the next serve removes it", async () => {
  const config = tempFiles({ "a.yaml": service });
  const state = join(tempFiles(), "state");
  const args = ["serve", "--config", config, "--state-dir", state, "--xds-address", "127.0.0.1:0", "--xds-tls-address", "off", "--admin-address", "127.0.0.1:0"];
  await killAt("write:last-good-config.json:written", args);
  assert.equal(temps(state).length, 1, "the killed writer's temp file is there");
  assert.ok(!readdirSync(state).includes("last-good-config.json"), "the file was never renamed into place");

  const again = start(args);
  // The config is loaded and saved before serve says it is serving.
  await again.waitFor(/gitmesh serving/);
  again.child.kill("SIGKILL");
  await again.exited;
  assert.deepEqual(temps(state), [], "the dead writer's temp file is gone");
  assert.ok(readdirSync(state).includes("last-good-config.json"));
});

test("a temp file is abandoned when its writer died on this host, or after ABANDONED_AFTER_MS from anywhere", async () => {
  const child = spawn(process.execPath, ["-e", ""]);
  await once(child, "exit");
  const dead = child.pid!;
  const now = Date.now();
  const host = hostname().replace(/[^A-Za-z0-9-]/g, "-");
  for (const [name, writer, age, gone] of [
    ["this process", { pid: process.pid, host }, 0, false],
    ["this process, long ago", { pid: process.pid, host }, ABANDONED_AFTER_MS + 1000, true],
    ["a dead process here", { pid: dead, host }, 0, true],
    ["a dead process in the older name form (no host)", { pid: dead }, 0, true],
    ["another host, recent", { pid: dead, host: "elsewhere" }, 0, false],
    ["another host, abandoned", { pid: dead, host: "elsewhere" }, ABANDONED_AFTER_MS + 1000, true],
    ["pid 1 here (alive)", { pid: 1, host }, 0, false],
  ] as const) {
    assert.equal(writerIsGone(writer, now - age, now), gone, name);
  }
});

test("temp names: ours are recognised with their target and writer, nothing else is", () => {
  const made = tempPath("/x/rotation.json").slice("/x/".length);
  assert.deepEqual(parseTempName(made)?.target, "rotation.json");
  assert.equal(parseTempName(made)?.writer.pid, process.pid);
  assert.deepEqual(parseTempName("last-good-config.json.4242.tmp"), { target: "last-good-config.json", writer: { pid: 4242 } }, "the older form");
  assert.deepEqual(parseTempName("0123456789abcdef.77@vm.00aa11bb22cc.tmp")?.target, "0123456789abcdef");
  for (const other of ["notes.tmp", "rotation.json", "a.b.tmp", "rotation.json.x12.tmp"]) assert.equal(parseTempName(other), undefined, other);
});

test("removeAbandonedTemps removes a dead writer's temp files of the targets named, and nothing else", async () => {
  const dir = tempFiles();
  const child = spawn(process.execPath, ["-e", ""]);
  await once(child, "exit");
  const host = hostname().replace(/[^A-Za-z0-9-]/g, "-");
  const deadTemp = `rotation.json.${child.pid}@${host}.0a0b0c0d0e0f.tmp`;
  const liveTemp = `rotation.json.${process.pid}@${host}.0a0b0c0d0e0f.tmp`;
  const oldTemp = `token-key.${process.pid + 1}@elsewhere.0a0b0c0d0e0f.tmp`;
  const otherTarget = `notes.txt.${child.pid}@${host}.0a0b0c0d0e0f.tmp`;
  for (const n of [deadTemp, liveTemp, oldTemp, otherTarget, "rotation.json", "user.tmp"]) writeFileSync(join(dir, n), "x");
  mkdirSync(join(dir, `0123456789abcdef.${child.pid}@${host}.0a0b0c0d0e0f.tmp`));
  writeFileSync(join(dir, `0123456789abcdef.${child.pid}@${host}.0a0b0c0d0e0f.tmp`, "ca-key.pem"), "k");
  const old = new Date(Date.now() - ABANDONED_AFTER_MS - 60_000);
  utimesSync(join(dir, oldTemp), old, old);
  const removed = await removeAbandonedTemps(dir, (target) => target === "rotation.json" || target === "token-key" || /^[0-9a-f]{16}$/.test(target));
  assert.deepEqual(removed.sort(), [`0123456789abcdef.${child.pid}@${host}.0a0b0c0d0e0f.tmp`, deadTemp, oldTemp].sort());
  assert.deepEqual(readdirSync(dir).sort(), [liveTemp, otherTarget, "rotation.json", "user.tmp"].sort());
});

test("createFileAtomic: of concurrent creators one wins, the file is never replaced, no temp file stays", async () => {
  const dir = tempFiles();
  const path = join(dir, "token-key");
  const wins = await Promise.all(Array.from({ length: 8 }, (_, i) => createFileAtomic(path, `key ${i}\n`, 0o600)));
  assert.equal(wins.filter(Boolean).length, 1);
  assert.deepEqual(readdirSync(dir), ["token-key"]);
  assert.equal(await createFileAtomic(path, "later\n"), false);
});
