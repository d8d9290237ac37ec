// Hosts for the fleet: each workload (and gitmesh itself) is a Linux network namespace with a
// loopback of its own and one address on a bridge, as a container is in compose. Sidecars never
// fight over a listener address, and a namespace binds any 127/8 address on its lo. The bridge
// lives in the test's own namespace with the subnet's .1, so the test reaches every host directly.
//
// Everything is named after the test process (gmf<PID>... links, gmf-<PID>-... namespaces and
// /etc/netns entries): two runs never meet, and leftovers of a run that died are found by their
// PID and removed (with the processes still inside them) when the next run starts.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A host of the fleet: a network namespace with an address on the bridge. */
export interface Host {
  readonly name: string;
  readonly netns: string;
  readonly address: string;
  /** argv that runs a command inside the namespace. */
  exec(argv: readonly string[]): string[];
  /** /etc/hosts as the namespace's processes see it (ip netns exec bind-mounts it over /etc/hosts). */
  setHosts(lines: readonly string[]): void;
}

export interface Network {
  readonly subnet: string;
  /** The test's own address on the bridge (the subnet's .1). */
  readonly gateway: string;
  host(name: string): Promise<Host>;
  close(): Promise<void>;
}

const PREFIX = "gmf";
const NETNS_DIR = "/etc/netns";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function ip(...args: string[]): Promise<unknown> {
  return run("ip", args);
}

function ipSync(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

/** Whether this machine can build the fleet's network (root, iproute2, bridges, namespaces). */
export function networkProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "the fleet needs root (network namespaces)";
  try {
    ipSync("netns", "list");
    return undefined;
  } catch {
    return "`ip netns` is not available (iproute2)";
  }
}

/** Removes what runs that died left behind: their processes, namespaces, links and hosts files. */
export function removeLeftovers(): void {
  const dead = (pid: string) => pid !== String(process.pid) && !alive(Number(pid));
  let namespaces: string[] = [];
  try {
    namespaces = ipSync("netns", "list").split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => n !== "");
  } catch {
    return;
  }
  for (const ns of namespaces) {
    const m = /^gmf-(\d+)-/.exec(ns);
    if (m === null || !dead(m[1] ?? "")) continue;
    killInside(ns);
    try {
      ipSync("netns", "del", ns);
    } catch {
      // another run may be cleaning it up at the same moment
    }
  }
  for (const line of ipSync("-o", "link", "show").split("\n")) {
    const m = /^\d+: (gmf(\d+)[bh]\d*)[@:]/.exec(line);
    if (m === null || !dead(m[2] ?? "")) continue;
    try {
      ipSync("link", "del", m[1] ?? "");
    } catch {
      // gone already
    }
  }
  if (existsSync(NETNS_DIR)) {
    for (const entry of readdirSync(NETNS_DIR)) {
      const m = /^gmf-(\d+)-/.exec(entry);
      if (m !== null && dead(m[1] ?? "")) rmSync(join(NETNS_DIR, entry), { recursive: true, force: true });
    }
  }
}

/** Kills the processes inside one of our namespaces (they belong to the run that made it). */
function killInside(ns: string): void {
  let pids: string[] = [];
  try {
    pids = ipSync("netns", "pids", ns).split("\n").filter((p) => /^\d+$/.test(p));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
}

/** A /24 in 198.18.0.0/15 (RFC 2544's benchmarking range) that no interface here uses yet. */
function freeSubnet(): string {
  const used = ipSync("-4", "-o", "addr", "show");
  for (let i = 0; i < 512; i++) {
    const n = (process.pid + i) % 512;
    const subnet = `198.${18 + (n >> 8)}.${n & 0xff}`;
    if (!used.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error("no free /24 in 198.18.0.0/15 for the fleet's bridge");
}

/**
 * A bridge with the test on .1 and hosts from .10 on. close() (idempotent) removes every
 * namespace, link and hosts file it made; they are also removed if the process exits first.
 */
export async function createNetwork(): Promise<Network> {
  removeLeftovers();
  const tag = `${PREFIX}${process.pid}`;
  const bridge = `${tag}b`;
  const subnet = freeSubnet();
  const gateway = `${subnet}.1`;
  const hosts: Host[] = [];
  let closed = false;
  await ip("link", "add", bridge, "type", "bridge");
  const cleanupSync = () => {
    if (closed) return;
    closed = true;
    for (const h of hosts) {
      killInside(h.netns);
      try {
        ipSync("netns", "del", h.netns);
      } catch {
        // already gone
      }
      rmSync(join(NETNS_DIR, h.netns), { recursive: true, force: true });
    }
    try {
      ipSync("link", "del", bridge);
    } catch {
      // already gone
    }
  };
  process.once("exit", cleanupSync);
  await ip("addr", "add", `${gateway}/24`, "dev", bridge);
  await ip("link", "set", bridge, "up");
  return {
    subnet,
    gateway,
    async host(name) {
      if (!/^[a-z0-9-]{1,40}$/.test(name)) throw new Error(`host name ${name}: lowercase letters, digits and dashes`);
      const index = hosts.length;
      if (index > 200) throw new Error("the fleet's /24 holds 200 hosts");
      const netns = `gmf-${process.pid}-${name}`;
      const veth = `${tag}h${index}`;
      const address = `${subnet}.${10 + index}`;
      await ip("netns", "add", netns);
      const host: Host = {
        name,
        netns,
        address,
        exec: (argv) => ["ip", "netns", "exec", netns, ...argv],
        setHosts(lines) {
          mkdirSync(join(NETNS_DIR, netns), { recursive: true });
          writeFileSync(join(NETNS_DIR, netns, "hosts"), `127.0.0.1 localhost\n::1 localhost\n${lines.join("\n")}\n`);
        },
      };
      hosts.push(host);
      host.setHosts([]);
      await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
      await ip("link", "set", veth, "master", bridge, "up");
      await ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
      await ip("-n", netns, "link", "set", "eth0", "up");
      await ip("-n", netns, "link", "set", "lo", "up");
      return host;
    },
    async close() {
      process.removeListener("exit", cleanupSync);
      cleanupSync();
    },
  };
}
