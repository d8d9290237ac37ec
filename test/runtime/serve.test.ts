// `serve` as a composition root: a step that fails stops what was started before it, stop() stops
// everything (no reload pushes after it), and the mesh's trust domain is one setting that a later
// start cannot change by accident (issue 9).
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { createLogger } from "../../src/log.js";
import { serve } from "../../src/runtime/index.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";
import { freePort } from "../support/ports.js";

after(removeTempDirs);

const SERVICE = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [${name}.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: http, protocol: HTTP }], endpoints: [{ address: 10.0.0.1 }] }
`;

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "debug", write: (l) => lines.push(l) }) };
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

test("when a later step fails, serve stops what it started: the xDS ports are free again", async () => {
  const [xds, tls, admin] = [await freePort(), await freePort(), await freePort()];
  const blocker = await occupy(admin);
  const { logger } = recordingLogger();
  await assert.rejects(
    serve({ xdsAddress: `127.0.0.1:${xds}`, xdsTlsAddress: `127.0.0.1:${tls}`, adminAddress: `127.0.0.1:${admin}`, stateDir: await tempDir("gitmesh-serve-"), logger }),
    /admin server cannot listen/,
  );
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  // Both xDS ports were bound before the admin server failed; they must have been released.
  for (const port of [xds, tls]) (await occupy(port)).close();
});

test("stop stops everything, the config follower included: no timer or watcher it started is left to fire", async () => {
  const config = await tempDir("gitmesh-serve-config-");
  writeFileSync(join(config, "a.yaml"), SERVICE("a"));
  const { lines, logger } = recordingLogger();
  // Every timer and file watcher created from here on, until it is cleared or closed.
  const live = new Map<number, string>();
  const hook = createHook({
    init: (id, type) => void (WATCHED.has(type) && live.set(id, type)),
    destroy: (id) => void live.delete(id),
  }).enable();
  try {
    const running = await serve({ xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", configDir: config, stateDir: await tempDir("gitmesh-serve-"), logger, resyncSeconds: 0.05 });
    writeFileSync(join(config, "b.yaml"), SERVICE("b")); // a change the watcher is debouncing as serve stops
    await running.stop();
    // Destroy hooks run asynchronously: let them.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...live.values()], [], "nothing serve started is still scheduled or watching");
    assert.match(lines.at(-1) ?? "", / gitmesh stopped /);
  } finally {
    hook.disable();
  }
});

const WATCHED = new Set(["Timeout", "FSEVENTWRAP", "STATWATCHER"]);

test("the trust domain is recorded in the state directory; a start that names another one is refused, saying why", async () => {
  const stateDir = await tempDir("gitmesh-serve-");
  const { logger } = recordingLogger();
  const options = { xdsAddress: "127.0.0.1:0", xdsTlsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", stateDir, logger };
  await (await serve({ ...options, trustDomain: "corp.example" })).stop();
  await assert.rejects(serve({ ...options, trustDomain: "cluster.local" }), /--trust-domain cluster\.local conflicts with the trust domain this mesh was started with, corp\.example/);
  await (await serve({ ...options, trustDomain: "corp.example" })).stop();
  // Not naming one takes the recorded one.
  const lines: string[] = [];
  await (await serve({ ...options, logger: createLogger({ write: (l) => lines.push(l) }) })).stop();
  assert.match(lines.join("\n"), /gitmesh serving .*trustDomain=corp\.example/);
});
