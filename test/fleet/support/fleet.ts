// A fleet: `gitmesh serve`, workloads with their applications, and real Envoy sidecars and
// gateways, each on a host of its own (net.ts), all as local processes. gitmesh is driven as a
// process: its config is a git repository the test commits to, every Envoy's bootstrap comes from
// `gitmesh bootstrap` with a token from `gitmesh token issue`, and every Envoy dials the TLS port
// and gets its certificates over SDS. Names resolve through each host's /etc/hosts, written from
// `gitmesh hosts` as compose's extra_hosts are.
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { commitAll, git, initRepo, writeFiles } from "../../support/git-repo.js";
import { REPO_ROOT, needEnvoy } from "../../support/peers.js";
import { AgentClient, AGENT_PORT } from "./agent-client.js";
import type { AgentConfig } from "./agent.js";
import { configSummary, envoyState, rejectedCounters, rejectingLines } from "./envoy.js";
import { createNetwork, networkProblem, type Host, type Network } from "./net.js";
import { Proc } from "./proc.js";
import { Hopeless, waitFor } from "./wait.js";

const run = promisify(execFile);
export const GITMESH_CLI = join(REPO_ROOT, "dist/src/cli/main.js");
const AGENT = join(REPO_ROOT, "dist/test/fleet/support/agent.js");
const XDS_TLS_PORT = 15012;
const ADMIN_PORT = 15014;
const ENVOY_ADMIN = 15000;

export type ProxyKind = "sidecar" | "gateway" | "none";

export interface WorkloadSpec {
  /** The host's name, the Envoy's node id, and what its applications answer as. */
  readonly name: string;
  readonly namespace?: string;
  /** Default: the name. */
  readonly serviceAccount?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** sidecar (default), gateway, or none: no Envoy, the applications listen on the host's address. */
  readonly proxy?: ProxyKind;
  /** How gitmesh knows the workload: a WorkloadEntry named like the host (default), or a WorkloadGroup it registers in. */
  readonly group?: string;
  readonly http?: readonly number[];
  readonly grpc?: readonly number[];
  readonly tcp?: readonly number[];
  readonly https?: readonly { readonly port: number; readonly cert: string; readonly key: string; readonly ca?: string }[];
  /** Start this workload's Envoy later, with startEnvoy (default: at fleet start). */
  readonly deferEnvoy?: boolean;
  /** The bootstrap file to start its Envoy with, instead of one written by gitmesh bootstrap. */
  readonly bootstrap?: (fleet: Fleet) => string;
  /** Programs the host runs beside its agent (the compose demo app), each ready once it prints `ready`. */
  readonly programs?: readonly { readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly ready: RegExp }[];
}

export interface FleetSpec {
  readonly workloads: readonly WorkloadSpec[];
  /** The config repository's files, given every host's address by name. */
  readonly config: (address: (name: string) => string) => Readonly<Record<string, string>>;
  /** More /etc/hosts lines for every host (names outside the mesh). */
  readonly extraHosts?: (address: (name: string) => string) => readonly string[];
  /** Gateway credentials: NAME -> tls.crt, tls.key (and ca.crt). */
  readonly credentials?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly registrationGraceSeconds?: number;
  readonly serveArgs?: readonly string[];
  /**
   * The workload whose address gitmesh's host has as its DNS server (its /etc/resolv.conf), for
   * gitmesh's own lookups of ServiceEntry hosts (support/dns.ts runs one). Default: the machine's.
   */
  readonly dnsServer?: string;
  /** Runs once gitmesh serves, before any Envoy starts (compose's gitmesh-init). */
  readonly beforeEnvoys?: (fleet: Fleet) => Promise<void>;
}

export interface Workload {
  readonly spec: WorkloadSpec;
  readonly host: Host;
  readonly agent: AgentClient;
  readonly namespace: string;
  readonly serviceAccount: string;
  agentProc?: Proc;
  programs?: Proc[];
  envoy?: Proc;
  bootstrap?: string;
}

/** Where each check of a test starts from: what every Envoy had logged and rejected before. */
export interface Mark {
  readonly lines: ReadonlyMap<string, number>;
  readonly rejected: ReadonlyMap<string, Readonly<Record<string, number>>>;
  readonly nacks: number;
}

export class Fleet {
  readonly workloads = new Map<string, Workload>();
  gitmesh: Proc | undefined;
  private gitmeshHost!: Host;
  readonly configDir: string;
  readonly stateDir: string;
  readonly bootstrapDir: string;
  readonly credentialsDir: string;
  /** Keep the fleet's files (logs, bootstraps, config) after close: on failure, or with GMF_KEEP=1. */
  private keep = process.env["GMF_KEEP"] === "1";
  private gitmeshStarts = 0;

  private constructor(
    readonly spec: FleetSpec,
    readonly network: Network,
    readonly dir: string,
    readonly envoyBin: string,
  ) {
    this.configDir = join(dir, "config");
    this.stateDir = join(dir, "state");
    this.bootstrapDir = join(dir, "bootstrap");
    this.credentialsDir = join(dir, "credentials");
  }

  /** Builds the network and hosts, starts gitmesh, the applications and the Envoys, and waits until every Envoy is ready and synced. */
  static async start(spec: FleetSpec, envoyBin: string): Promise<Fleet> {
    const network = await createNetwork();
    const dir = mkdtempSync(join(tmpdir(), `gmf-${process.pid}-`));
    const fleet = new Fleet(spec, network, dir, envoyBin);
    try {
      await fleet.build();
      return fleet;
    } catch (e) {
      fleet.keep = true;
      const report = await fleet.report().catch((r: unknown) => `no report: ${String(r)}`);
      await fleet.close();
      throw new Error(`the fleet did not start: ${(e as Error).message}\n${report}`, { cause: e });
    }
  }

  private async build(): Promise<void> {
    for (const d of [this.configDir, this.stateDir, this.bootstrapDir, this.credentialsDir]) mkdirSync(d, { recursive: true });
    for (const [name, files] of Object.entries(this.spec.credentials ?? {})) await writeFiles(join(this.credentialsDir, name), files);
    this.gitmeshHost = await this.network.host("gitmesh");
    for (const spec of this.spec.workloads) {
      const host = await this.network.host(spec.name);
      this.workloads.set(spec.name, { spec, host, agent: new AgentClient(spec.name, host.address), namespace: spec.namespace ?? "demo", serviceAccount: spec.serviceAccount ?? spec.name });
    }
    await initRepo(this.configDir);
    await writeFiles(this.configDir, this.spec.config((n) => this.address(n)));
    await commitAll(this.configDir, "fleet config");
    await this.writeHosts();
    if (this.spec.dnsServer !== undefined) {
      // ip netns exec bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf, as it does hosts.
      mkdirSync(join("/etc/netns", this.gitmeshHost.netns), { recursive: true });
      writeFileSync(join("/etc/netns", this.gitmeshHost.netns, "resolv.conf"), `nameserver ${this.address(this.spec.dnsServer)}\n`);
    }
    await this.startGitmesh();
    await Promise.all([...this.workloads.values()].map((w) => this.startAgent(w)));
    await this.spec.beforeEnvoys?.(this);
    await Promise.all([...this.workloads.values()].filter((w) => w.spec.proxy !== "none" && w.spec.deferEnvoy !== true).map((w) => this.startEnvoy(w.spec.name)));
    await this.synced();
  }

  address(name: string): string {
    if (name === "gitmesh") return this.gitmeshHost.address;
    const w = this.workloads.get(name);
    if (w === undefined) throw new Error(`bug: no host ${name} in the fleet`);
    return w.host.address;
  }

  workload(name: string): Workload {
    const w = this.workloads.get(name);
    if (w === undefined) throw new Error(`bug: no workload ${name}`);
    return w;
  }

  agent(name: string): AgentClient {
    return this.workload(name).agent;
  }

  /** Runs the gitmesh CLI (not serve) and returns its output. */
  async cli(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(process.execPath, [GITMESH_CLI, ...args], { encoding: "utf8" });
      return stdout;
    } catch (e) {
      const { stderr, stdout } = e as { stderr?: string; stdout?: string };
      throw new Error(`gitmesh ${args[0] ?? ""} failed:\n${stdout ?? ""}${stderr ?? ""}`, { cause: e });
    }
  }

  /** Every host's /etc/hosts: gitmesh, the names `gitmesh hosts` prints for its namespace, and the spec's extra lines. */
  async writeHosts(): Promise<void> {
    const extra = this.spec.extraHosts?.((n) => this.address(n)) ?? [];
    const byNamespace = new Map<string, string[]>();
    for (const w of this.workloads.values()) {
      let lines = byNamespace.get(w.namespace);
      if (lines === undefined) {
        lines = (await this.cli("hosts", this.configDir, "--namespace", w.namespace)).trim().split("\n").filter((l) => l !== "");
        byNamespace.set(w.namespace, lines);
      }
      w.host.setHosts([`${this.gitmeshHost.address} gitmesh`, ...lines, ...extra]);
    }
  }

  async startGitmesh(): Promise<void> {
    const argv = this.gitmeshHost.exec([
      process.execPath,
      GITMESH_CLI,
      "serve",
      "--config",
      this.configDir,
      "--state-dir",
      this.stateDir,
      "--xds-address",
      "0.0.0.0:15010",
      "--xds-tls-address",
      `0.0.0.0:${XDS_TLS_PORT}`,
      "--xds-tls-name",
      "gitmesh",
      "--admin-address",
      `0.0.0.0:${ADMIN_PORT}`,
      "--credentials-dir",
      this.credentialsDir,
      "--registration-grace",
      String(this.spec.registrationGraceSeconds ?? 10),
      ...(this.spec.serveArgs ?? []),
    ]);
    this.gitmesh = new Proc("gitmesh", argv, join(this.dir, `gitmesh-${++this.gitmeshStarts}.log`));
    await this.gitmesh.waitForLine(/gitmesh serving/, 60_000);
    await waitFor("gitmesh /readyz", async () => {
      const res = await fetch(`${this.adminBase}/readyz`);
      return res.ok ? { ok: true, value: undefined } : { ok: false, why: await res.text() };
    });
  }

  async stopGitmesh(): Promise<void> {
    await this.gitmesh?.stop();
  }

  /**
   * Cuts a host off from gitmesh (a blackhole route to gitmesh's address in its namespace) or
   * restores it: its Envoy cannot reach the control plane, while its traffic with the other hosts
   * goes on.
   */
  async cutOffFromGitmesh(name: string, cut: boolean): Promise<void> {
    await run("ip", ["-n", this.workload(name).host.netns, "route", cut ? "add" : "del", "blackhole", `${this.gitmeshHost.address}/32`]);
  }

  /** Stops gitmesh, runs whileDown, starts it again from the same state, and waits until every Envoy is back in sync. */
  async restartGitmesh(whileDown: () => Promise<void> = async () => {}): Promise<void> {
    await this.stopGitmesh();
    await whileDown();
    await this.startGitmesh();
    await this.synced(60_000);
  }

  get adminBase(): string {
    return `http://${this.gitmeshHost.address}:${ADMIN_PORT}`;
  }

  async debugXds(): Promise<XdsView> {
    return (await (await fetch(`${this.adminBase}/debug/xds`)).json()) as XdsView;
  }

  async debugConfig(): Promise<DebugConfig> {
    return (await (await fetch(`${this.adminBase}/debug/config`)).json()) as DebugConfig;
  }

  private async startAgent(w: Workload): Promise<void> {
    const behind = w.spec.proxy !== "none";
    const config: AgentConfig = {
      name: w.spec.name,
      control: `${w.host.address}:${AGENT_PORT}`,
      bind: behind ? "127.0.0.1" : w.host.address,
      ...(w.spec.http === undefined ? {} : { http: w.spec.http }),
      ...(w.spec.grpc === undefined ? {} : { grpc: w.spec.grpc }),
      ...(w.spec.tcp === undefined ? {} : { tcp: w.spec.tcp }),
      ...(w.spec.https === undefined ? {} : { https: w.spec.https }),
      envoyAdmin: ENVOY_ADMIN,
    };
    w.agentProc = new Proc(`agent ${w.spec.name}`, w.host.exec([process.execPath, AGENT]), join(this.dir, `agent-${w.spec.name}.log`), { ...process.env, GMF_AGENT: JSON.stringify(config) });
    await w.agentProc.waitForLine(/^agent .* ready$/, 30_000);
    w.programs = (w.spec.programs ?? []).map((p, i) => new Proc(`${w.spec.name} program ${i}`, w.host.exec(p.argv), join(this.dir, `program-${w.spec.name}-${i}.log`), { PATH: process.env["PATH"] ?? "", ...p.env }));
    await Promise.all((w.spec.programs ?? []).map((p, i) => w.programs?.[i]?.waitForLine(p.ready, 30_000)));
  }

  /** A token for the workload's identity and its bootstrap, both from the gitmesh CLI. */
  private async writeBootstrap(w: Workload): Promise<string> {
    const bundle = join(this.bootstrapDir, "trust-bundle.pem");
    copyFileSync(join(this.stateDir, "trust-bundle.pem"), bundle);
    const token = (await this.cli("token", "issue", "--state-dir", this.stateDir, "--namespace", w.namespace, "--service-account", w.serviceAccount)).trim();
    const file = join(this.bootstrapDir, `${w.spec.name}.json`);
    const labels = Object.entries(w.spec.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
    await this.cli(
      "bootstrap",
      "--proxy",
      w.spec.proxy === "gateway" ? "gateway" : "sidecar",
      "--namespace",
      w.namespace,
      "--service-account",
      w.serviceAccount,
      ...(labels === "" ? [] : ["--labels", labels]),
      ...(w.spec.group === undefined ? ["--workload-name", w.spec.name] : ["--workload-group", w.spec.group]),
      "--token",
      token,
      "--xds-ca-file",
      bundle,
      "--xds-address",
      `gitmesh:${XDS_TLS_PORT}`,
      "--admin-port",
      String(ENVOY_ADMIN),
      "--out",
      file,
    );
    return file;
  }

  /** Starts (or starts again) a workload's Envoy and waits until it is ready. */
  async startEnvoy(name: string): Promise<void> {
    const w = this.workload(name);
    if (w.envoy?.running === true) throw new Error(`bug: ${name}'s Envoy is running`);
    w.bootstrap ??= w.spec.bootstrap?.(this) ?? (await this.writeBootstrap(w));
    const argv = w.host.exec([this.envoyBin, "-c", w.bootstrap, "--use-dynamic-base-id", "--concurrency", "1", "--service-node", name, "--log-level", "info", "--drain-time-s", "1"]);
    w.envoy = new Proc(`envoy ${name}`, argv, join(this.dir, `envoy-${name}.log`));
    await waitFor(`${name}'s Envoy /ready`, async () => {
      if (w.envoy?.running !== true) throw new Hopeless(`${name}'s Envoy exited:\n${w.envoy?.tail(30).join("\n")}`);
      const r = await w.agent.envoy("/ready");
      return r.status === 200 ? { ok: true, value: undefined } : { ok: false, why: `${r.status} ${r.text.trim()}` };
    }, 60_000);
  }

  async stopEnvoy(name: string): Promise<void> {
    await this.workload(name).envoy?.stop();
  }

  private envoys(): Workload[] {
    return [...this.workloads.values()].filter((w) => w.envoy?.running === true);
  }

  /** Commits files to the config repository (undefined deletes one) and waits until every Envoy has the result. */
  async commit(files: Readonly<Record<string, string | undefined>>, message = "change"): Promise<string> {
    for (const [path, text] of Object.entries(files)) {
      if (text === undefined) rmSync(join(this.configDir, path), { force: true });
      else await writeFiles(this.configDir, { [path]: text });
    }
    const sha = await commitAll(this.configDir, message);
    await this.served(sha);
    await this.writeHosts();
    await this.synced();
    return sha;
  }

  /** Waits until gitmesh serves the commit (pushed to every proxy as it does). */
  async served(sha: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(`gitmesh to serve commit ${sha.slice(0, 8)}`, async () => {
      const c = await this.debugConfig();
      const last = c.lastReload;
      if (last !== null && last.outcome !== "ok" && last.source.commit === sha) throw new Hopeless(`gitmesh refused commit ${sha}: ${JSON.stringify(last.diagnostics ?? last.error)}`);
      return last?.outcome === "ok" && last.source.commit === sha && c.serving?.source.commit === sha ? { ok: true, value: undefined } : { ok: false, why: `serving ${c.serving?.source.commit ?? "nothing"}` };
    }, timeoutMs);
  }

  /**
   * Waits until every running Envoy is ready, holds nothing warming, and has ACKed everything
   * gitmesh sent it; a NACK, a rejected update or a listener in error fails at once.
   */
  async synced(timeoutMs = 30_000, except: readonly string[] = []): Promise<void> {
    await waitFor(`every Envoy${except.length === 0 ? "" : ` but ${except.join(", ")}`} synced`, async () => {
      const view = await this.debugXds();
      for (const w of this.envoys().filter((e) => !except.includes(e.spec.name))) {
        const streams = view.streams.filter((s) => s.nodeId === w.spec.name);
        if (streams.length === 0) return { ok: false, why: `${w.spec.name} has no xDS stream` };
        for (const s of streams) {
          for (const [type, t] of Object.entries(s.types)) {
            if (t.sync === "NACKED") throw new Hopeless(`${w.spec.name} NACKed ${type}: ${t.lastNack?.message ?? "?"}`);
            if (t.sync === "STALE") return { ok: false, why: `${w.spec.name} has not answered ${type} ${t.sentVersion ?? ""}` };
          }
        }
        const state = await envoyState(w.agent);
        if (state.errors.length > 0) throw new Hopeless(`${w.spec.name} holds config in error: ${state.errors.join("; ")}`);
        if (Object.keys(state.rejected).length > 0) throw new Hopeless(`${w.spec.name} rejected updates: ${JSON.stringify(state.rejected)}`);
        if (!state.ready) return { ok: false, why: `${w.spec.name} is not ready` };
        if (state.warming.length > 0) return { ok: false, why: `${w.spec.name} is warming ${state.warming.join(", ")}` };
      }
      return { ok: true, value: undefined };
    }, timeoutMs, 100);
  }

  /** What every Envoy had logged and rejected, and gitmesh's NACK count, now. */
  async mark(): Promise<Mark> {
    const lines = new Map<string, number>();
    const rejected = new Map<string, Record<string, number>>();
    for (const w of this.envoys()) {
      lines.set(w.spec.name, w.envoy?.lineCount ?? 0);
      rejected.set(w.spec.name, await rejectedCounters(w.agent));
    }
    return { lines, rejected, nacks: (await this.debugXds()).recentNacks.length };
  }

  /** Fails when, since the mark, an Envoy NACKed, counted a rejected update or logged a line rejecting config. */
  async assertClean(mark: Mark): Promise<void> {
    const problems: string[] = [];
    const view = await this.debugXds();
    for (const n of view.recentNacks.slice(mark.nacks)) problems.push(`gitmesh recorded a NACK from ${n.proxy} for ${n.type}: ${n.message}`);
    for (const w of this.envoys()) {
      const lines = rejectingLines(w.envoy?.linesSince(mark.lines.get(w.spec.name) ?? 0) ?? []);
      for (const l of lines) problems.push(`${w.spec.name}'s Envoy: ${l}`);
      const before = mark.rejected.get(w.spec.name) ?? {};
      const state = await envoyState(w.agent);
      for (const [k, v] of Object.entries(state.rejected)) if (v > (before[k] ?? 0)) problems.push(`${w.spec.name}'s Envoy rejected updates: ${k} ${before[k] ?? 0} -> ${v}`);
      for (const e of state.errors) problems.push(`${w.spec.name}'s Envoy holds config in error: ${e}`);
      for (const r of state.warming) problems.push(`${w.spec.name}'s Envoy is left warming ${r}`);
    }
    if (problems.length > 0) throw new Error(`real Envoy refused config:\n${problems.join("\n")}`);
  }

  /** Log tails, each Envoy's config in short, and gitmesh's view of every stream: printed when a test fails. */
  async report(): Promise<string> {
    this.keep = true;
    const parts: string[] = [`fleet files (kept): ${this.dir}`];
    if (this.gitmesh !== undefined) parts.push(`--- gitmesh log tail\n${this.gitmesh.tail(40).join("\n")}`);
    try {
      const view = await this.debugXds();
      const streams = view.streams.map((s) => `${s.nodeId} (${s.peer}): ${Object.entries(s.types).map(([k, v]) => `${k}=${v.sync}`).join(" ")}`);
      const nacks = view.recentNacks.map((n) => `NACK ${n.proxy} ${n.type}: ${n.message}`);
      parts.push(`--- gitmesh /debug/xds\n${[...streams, ...nacks].join("\n")}`);
    } catch (e) {
      parts.push(`--- gitmesh /debug/xds unreadable: ${(e as Error).message}`);
    }
    for (const w of this.workloads.values()) {
      if (w.envoy === undefined) continue;
      parts.push(`--- ${w.spec.name}'s Envoy log tail\n${w.envoy.tail(30).join("\n")}`);
      if (!w.envoy.running) continue;
      try {
        const dump = await w.agent.envoy("/config_dump");
        const file = join(this.dir, `config_dump-${w.spec.name}.json`);
        writeFileSync(file, dump.text);
        parts.push(`--- ${w.spec.name}'s config (full dump: ${file})\n${await configSummary(w.agent)}`);
      } catch (e) {
        parts.push(`--- ${w.spec.name}'s config_dump unreadable: ${(e as Error).message}`);
      }
    }
    return parts.join("\n");
  }

  /** Stops every process and removes the hosts; the files stay when a report was made. */
  async close(): Promise<void> {
    const procs = [...this.workloads.values()].flatMap((w) => [w.envoy, w.agentProc, ...(w.programs ?? [])]).filter((p): p is Proc => p !== undefined);
    await Promise.all(procs.map((p) => p.stop("SIGTERM", 3_000)));
    await this.gitmesh?.stop("SIGTERM", 5_000);
    await this.network.close();
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The config repository's head (for tests that read it). */
  head(): Promise<string> {
    return git(this.configDir, "rev-parse", "HEAD");
  }
}

export interface XdsView {
  readonly streams: readonly {
    readonly id: number;
    readonly proxy: string;
    readonly nodeId: string;
    readonly peer: string;
    readonly connectedAt: string;
    readonly types: Readonly<Record<string, { sync: string; sentVersion: string | null; sentAt: string | null; ackedVersion: string | null; lastNack: { message: string } | null }>>;
  }[];
  readonly recentNacks: readonly { proxy: string; type: string; message: string }[];
}

export interface DebugConfig {
  readonly serving: { readonly source: { readonly commit?: string } } | null;
  readonly lastReload: { readonly outcome: string; readonly source: { readonly commit?: string }; readonly error?: string; readonly diagnostics?: unknown } | null;
}

export interface RowOptions {
  /** The row is a test marked todo: its failure is expected, so it prints no report and keeps no files. */
  readonly todo?: boolean;
}

/**
 * One fleet per test file, started by the first test that needs it and stopped after the file's
 * tests. Each test is a row: on failure it prints the fleet's report; when it passes, it fails
 * anyway if an Envoy NACKed, counted a rejected update or logged a line refusing config meanwhile.
 */
export function sharedFleet(spec: () => FleetSpec): {
  row: (t: TestContext, body: (fleet: Fleet) => Promise<void>, options?: RowOptions) => Promise<void>;
  close: () => Promise<void>;
} {
  let started: Promise<Fleet> | undefined;
  return {
    async row(t, body, options = {}) {
      const envoy = needFleet(t);
      if (envoy === undefined) return;
      started ??= Fleet.start(spec(), envoy);
      const fleet = await started;
      let mark: Mark | undefined;
      try {
        mark = await fleet.mark();
        await body(fleet);
        await fleet.assertClean(mark);
      } catch (e) {
        // A known failure (a test marked todo): no report, and the fleet's files are not kept for it.
        if (options.todo === true) throw e;
        // Printed as it is (t.diagnostic would fold it into one line).
        process.stderr.write(`\n=== fleet report for "${t.name}"\n${await fleet.report().catch((r: unknown) => `no report: ${String(r)}`)}\n=== end of fleet report\n`);
        throw e;
      }
    },
    async close() {
      const fleet = await started?.catch(() => undefined);
      await fleet?.close();
    },
  };
}

/** Envoy and a machine that can build the fleet's network; as needEnvoy otherwise. */
export function needFleet(t: TestContext): string | undefined {
  const envoy = needEnvoy(t);
  if (envoy === undefined) return undefined;
  const problem = networkProblem();
  if (problem === undefined) return envoy;
  if (process.env["CI"] === "true") throw new Error(`${problem} (CI=true runs the fleet)`);
  t.skip(problem);
  return undefined;
}
