// Hosts for tests that need several machines: each host is a network namespace with its own
// loopback, its own /etc/hosts (ip netns exec bind-mounts /etc/netns/NS/hosts over it) and one
// address on a private LAN (a bridge in a namespace of its own). Nothing touches this machine's
// own network. Names carry the prefix gmq and the process id (namespaces gmqPID-NAME, veths
// gmqPIDhN/gmqPIDsN inside them); everything is removed when the test ends, and when the process
// exits, so a timed-out test leaves nothing behind.
import { execFile, execFileSync } from "node:child_process";
import { rmSync, mkdirSync, writeFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface NetHost {
  readonly name: string;
  /** The network namespace. */
  readonly ns: string;
  readonly address: string;
  /** Its /etc/hosts as seen from outside (what processes on it read as /etc/hosts). */
  readonly hostsFile: string;
  /** A command line run on this host: ip netns exec NS COMMAND ARGS. */
  argv(command: string, args?: readonly string[]): [string, string[]];
}

export interface HostNetwork {
  readonly hosts: Readonly<Record<string, NetHost>>;
  close(): Promise<void>;
}

/**
 * Hosts named by `addresses` (name -> IPv4 address in one /24), or: under CI=true a failed test,
 * elsewhere a skipped one (namespaces need root and iproute2). Removed when the test ends, or
 * with outliveTest by the caller's close() (and in any case when the process exits).
 */
export async function hostNetwork(t: TestContext, addresses: Readonly<Record<string, string>>, options: { readonly outliveTest?: boolean } = {}): Promise<HostNetwork | undefined> {
  const id = `gmq${process.pid % 100_000}`;
  const sw = `${id}-sw`;
  const names = Object.keys(addresses);
  const all = [sw, ...names.map((n) => `${id}-${n}`)];
  // Whatever still runs in them was started by this test (directly or by what it started, such as
  // the Envoy of an agent killed on purpose): killed, or the namespace would outlive its deletion.
  const removeSync = () => {
    for (const ns of all) {
      try {
        const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        for (const pid of pids.split("\n").filter((p) => /^\d+$/.test(p))) process.kill(Number(pid), "SIGKILL");
      } catch {
        // not there
      }
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // not there
      }
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
  };
  const close = async () => {
    process.removeListener("exit", removeSync);
    removeSync();
  };
  const steps: string[][] = [["netns", "add", sw], ["-n", sw, "link", "add", "br0", "type", "bridge"], ["-n", sw, "link", "set", "br0", "up"]];
  const hosts: Record<string, NetHost> = {};
  names.forEach((name, i) => {
    const ns = `${id}-${name}`;
    const [inHost, inSwitch] = [`${id}h${i}`, `${id}s${i}`];
    steps.push(
      ["netns", "add", ns],
      ["link", "add", inHost, "netns", ns, "type", "veth", "peer", "name", inSwitch, "netns", sw],
      ["-n", ns, "link", "set", inHost, "name", "eth0"],
      ["-n", ns, "addr", "add", `${addresses[name]}/24`, "dev", "eth0"],
      ["-n", ns, "link", "set", "eth0", "up"],
      ["-n", ns, "link", "set", "lo", "up"],
      ["-n", sw, "link", "set", inSwitch, "master", "br0", "up"],
    );
    hosts[name] = {
      name,
      ns,
      address: addresses[name]!,
      hostsFile: `/etc/netns/${ns}/hosts`,
      argv: (command, args = []) => ["ip", ["netns", "exec", ns, command, ...args]],
    };
  });
  try {
    removeSync(); // what an earlier run with this process id left
    process.once("exit", removeSync);
    for (const s of steps) await run("ip", s);
    for (const h of Object.values(hosts)) {
      mkdirSync(`/etc/netns/${h.ns}`, { recursive: true });
      writeFileSync(h.hostsFile, `127.0.0.1 localhost\n::1 localhost\n${h.address} ${h.name}\n`);
    }
  } catch (e) {
    await close();
    const how = `network namespaces could not be made (needs root and iproute2): ${(e as Error).message.split("\n")[0] ?? ""}`;
    if (process.env["CI"] === "true") throw new Error(how);
    t.skip(how);
    return undefined;
  }
  // Also when the runner stops the file at a timeout (SIGTERM): nothing may stay behind.
  process.once("SIGTERM", () => {
    removeSync();
    process.exit(1);
  });
  // outliveTest: the caller closes it (a file's later tests use the same hosts).
  if (options.outliveTest !== true) t.after(close);
  return { hosts, close };
}
