// docs/quickstart-vms.md, run as written: its shell blocks, in order, on two hosts (network
// namespaces with their own addresses, loopback and /etc/hosts), with the package `npm pack` makes,
// real Envoy and real `gitmesh serve`. Each host has its own home directory (the commands' working
// directory) and runtime directory; the hosts have no registry (npm is offline: the package
// carries its dependencies). The one stand-in is scp, which copies into the other host's home, as
// there is no SSH server here. What a block must print is checked by its id.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { envoyInSync, untilEnvoy } from "../support/agent-mesh.js";
import { shellBlocks, type DocBlock } from "../support/doc-blocks.js";
import { tempDir } from "../support/git-repo.js";
import { startProcess, type Running } from "../support/gitmesh-process.js";
import { hostNetwork, type HostNetwork, type NetHost } from "../support/netns-hosts.js";
import { needEnvoy, PEERS_BIN, REPO_ROOT } from "../support/peers.js";

const exec = promisify(execFile);
const DOC = "docs/quickstart-vms.md";
const HOSTS = { "control-plane": "10.0.0.10", app: "10.0.0.20" } as const;
type HostName = keyof typeof HOSTS;

interface Host {
  readonly net: NetHost;
  readonly home: string;
  readonly env: Record<string, string>;
}

/** What the page's blocks must do, by id; background blocks say when they are up. */
const READY: Record<string, (host: Host, p: Running) => Promise<unknown>> = {
  serve: (_h, p) => p.waitFor(/INFO gitmesh serving/),
  "app-v1": (_h, p) => p.waitFor(/Serving HTTP on 127\.0\.0\.1 port 8080/),
  "app-v2": (_h, p) => p.waitFor(/Serving HTTP on 127\.0\.0\.1 port 8080/),
  "agent-v2": async (h, p) => {
    await p.waitFor(/INFO hosts file up to date/);
    await untilEnvoy(h.net, envoyInSync);
  },
  // Both versions registered, as the application host's Envoy sees them.
  "agent-v1": async (h, p) => {
    await p.waitFor(/INFO hosts file up to date/);
    await untilEnvoy(h.net, (s) => envoyInSync(s) && ["v1", "v2"].every((v) => s.get(`cluster.outbound|8080|${v}|api.demo.svc.cluster.local.membership_healthy`) === 1));
  },
};

const CHECK: Record<string, (output: string) => void> = {
  requests: (out) => {
    const counts = Object.fromEntries([...out.matchAll(/^\s*(\d+) (api v[12])$/gm)].map((m) => [m[2]!, Number(m[1])]));
    assert.equal((counts["api v1"] ?? 0) + (counts["api v2"] ?? 0), 100, `every request answered: ${out}`);
    assert.ok((counts["api v2"] ?? 0) > 0 && (counts["api v1"] ?? 0) > 60, `about nine in ten to v1, the rest to the canary: ${out}`);
  },
  canary: (out) => assert.equal(out, "api v2\n"),
  plaintext: (out) => assert.match(out, /^curl: \((52|56)\) /m),
  handshakes: (out) => {
    assert.match(out, /^listener\.10\.0\.0\.20_8080\.ssl\.handshake: [1-9]/m, "the inbound listener took TLS");
    assert.match(out, /^cluster\.outbound\|8080\|v2\|api\.demo\.svc\.cluster\.local\.ssl\.handshake: [1-9]/m, "and the canary was reached over TLS");
  },
};

/** An scp for hosts without an SSH server: `scp FILE... USER@ADDRESS:` copies into that host's home. */
function scpStandIn(dir: string, homes: Readonly<Record<string, string>>): void {
  const cases = Object.entries(homes)
    .map(([address, home]) => `  *@${address}:|${address}:) dest=${JSON.stringify(home)} ;;`)
    .join("\n");
  writeFileSync(
    join(dir, "scp"),
    `#!/bin/sh\n# The quickstart test's scp: copies into the home of the host the last argument names.\nfor last; do :; done\ncase "$last" in\n${cases}\n  *) echo "scp stand-in: unknown host in $last" >&2; exit 1 ;;\nesac\nwhile [ $# -gt 1 ]; do cp -p "$1" "$dest/"; shift; done\n`,
  );
  chmodSync(join(dir, "scp"), 0o755);
}

const state: { net?: HostNetwork; hosts?: Record<HostName, Host>; blocks?: DocBlock[]; started: number; installMs: number } = { started: 0, installMs: 0 };
// The hosts outlive the install test: the next one uses them.
after(() => state.net?.close());

/** What the background blocks said (Envoy's own lines left out), for failure messages. */
function logs(background: readonly { block: DocBlock; p: Running }[]): string {
  return background.map(({ block, p }) => `--- ${block.id ?? "?"} on ${block.on}:\n${p.lines.filter((l) => !l.startsWith("[")).slice(-25).join("\n")}`).join("\n");
}

/** Runs a foreground block on a host: its output (stdout and stderr together) and exit code. */
async function runBlock(host: Host, block: DocBlock): Promise<{ code: number; output: string }> {
  const [c, a] = host.net.argv("bash", ["-eo", "pipefail", "-c", block.text]);
  const p = startProcess(c, a, host.env, host.home);
  const code = await p.exited;
  return { code: code ?? 1, output: p.lines.join("\n") + (p.lines.length > 0 ? "\n" : "") };
}

test(`${DOC}: the install step, on both hosts`, async (t) => {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return;
  const net = await hostNetwork(t, HOSTS, { outliveTest: true });
  if (net === undefined) return;
  state.net = net;
  state.started = Date.now();
  const blocks = shellBlocks(readFileSync(join(REPO_ROOT, DOC), "utf8"));
  state.blocks = blocks;
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  const pack = await tempDir("gmq-pack-");
  await exec("npm", ["pack", "--ignore-scripts", "--pack-destination", pack], { cwd: REPO_ROOT });
  const shims = await tempDir("gmq-bin-");
  const hosts = {} as Record<HostName, Host>;
  for (const name of Object.keys(HOSTS) as HostName[]) {
    const home = await tempDir(`gmq-home-${name}-`);
    copyFileSync(join(pack, `gitmesh-${version}.tgz`), join(home, `gitmesh-${version}.tgz`)); // "on both hosts"
    mkdirSync(join(home, "run"), { mode: 0o700 });
    hosts[name] = {
      net: net.hosts[name]!,
      home,
      env: {
        HOME: home,
        // Each host has its own /run and npm prefix; Envoy from the peers, then the system's tools.
        RUNTIME_DIRECTORY: join(home, "run"),
        npm_config_prefix: join(home, ".npm-global"),
        npm_config_offline: "true",
        npm_config_update_notifier: "false",
        PATH: [shims, join(home, ".npm-global/bin"), dirname(envoy), PEERS_BIN, dirname(process.execPath), process.env["PATH"] ?? ""].join(":"),
        PYTHONUNBUFFERED: "1",
      },
    };
  }
  scpStandIn(shims, Object.fromEntries(Object.values(hosts).map((h) => [h.net.address, h.home])));
  state.hosts = hosts;
  const install = blocks[0]!;
  assert.equal(install.on, "both", "the page starts by installing gitmesh on both hosts");
  // Two machines install at the same time.
  const results = await Promise.all(Object.values(hosts).map((h) => runBlock(h, install)));
  for (const r of results) {
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`^gitmesh ${version.replaceAll(".", "\\.")}$`, "m"));
  }
  state.installMs = Date.now() - state.started;
});

test(`${DOC}: the rest of the page, block by block, ends with requests through Envoy over mutual TLS and a canary`, async (t) => {
  if (state.hosts === undefined || state.blocks === undefined) return t.skip("the install step did not run");
  const hosts = state.hosts;
  const background: { block: DocBlock; p: Running }[] = [];
  // "exit", not the end of output: a process a shell left behind may hold that open until the
  // namespaces go (which kills whatever still runs in them).
  const stop = async (p: Running) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
    p.child.kill("SIGTERM");
    const [code] = (await once(p.child, "exit")) as [number | null];
    return code;
  };
  t.after(async () => {
    for (const { p } of background.reverse()) await stop(p);
  });
  for (const block of state.blocks.slice(1)) {
    const where = `${DOC}:${block.line} (${block.id ?? "block"} on ${block.on})`;
    const on = block.on === "both" ? Object.values(hosts) : [hosts[block.on as HostName]];
    for (const host of on) {
      assert.ok(host !== undefined, `${where}: no such host`);
      if (block.background) {
        const [c, a] = host.net.argv("bash", ["-eo", "pipefail", "-c", block.text]);
        const p = startProcess(c, a, host.env, host.home);
        background.push({ block, p });
        const ready = block.id === undefined ? undefined : READY[block.id];
        assert.ok(ready !== undefined, `${where}: the test does not know when it is up`);
        await ready(host, p).catch((e: Error) => assert.fail(`${where}: ${e.message}\n${logs(background)}`));
        continue;
      }
      const r = await runBlock(host, block);
      if (block.expectFail) assert.notEqual(r.code, 0, `${where} must fail:\n${r.output}\n${logs(background)}`);
      else assert.equal(r.code, 0, `${where} failed:\n${r.output}\n${logs(background)}`);
      if (block.id !== undefined) {
        t.diagnostic(`${block.id}: ${r.output.trimEnd().replaceAll("\n", " | ")}`);
        CHECK[block.id]?.(r.output);
      }
    }
  }
  assert.deepEqual(Object.keys(CHECK).filter((id) => !state.blocks!.some((b) => b.id === id)), [], "every check has its block");
  t.diagnostic(`the quickstart took ${((Date.now() - state.started) / 1000).toFixed(0)} s, of which ${(state.installMs / 1000).toFixed(0)} s installing gitmesh on both hosts`);
  // Ctrl-C in each terminal: the agents stop their Envoys and exit 0, and so does gitmesh serve.
  for (const { block, p } of background.splice(0).reverse()) {
    const code = await stop(p);
    if (block.id?.startsWith("agent") === true || block.id === "serve") assert.equal(code, 0, `${block.id} exits 0:\n${p.lines.slice(-20).join("\n")}`);
  }
});
