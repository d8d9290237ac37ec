// A private network for peers that must not reach anything: a network namespace whose only links
// are its loopback and a veth pair to this host. A golden config's endpoints (10.0.0.0/8 and DNS
// names) are unreachable from it, so a client trying them fails at once and nothing leaves the
// machine. Named gm12-PID (the project's prefix for this suite); removed at the end.
import { execFile } from "node:child_process";
import type { TestContext } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PrivateNetwork {
  /** The namespace peers run in (ip netns exec NAME ...). */
  readonly name: string;
  /** This host's end of the veth pair: where a peer in the namespace reaches gitmesh. */
  readonly hostAddress: string;
  close(): Promise<void>;
}

/**
 * A new private network, or: under CI=true a failed test, elsewhere a skipped one (creating a
 * namespace needs root and iproute2).
 */
export async function privateNetwork(t: TestContext): Promise<PrivateNetwork | undefined> {
  const id = process.pid % 100_000;
  const name = `gm12-${id}`;
  const [host, peer] = [`gm12h${id}`, `gm12n${id}`];
  // A /30 of 169.254.0.0/16 (link-local: never routed) per process.
  const base = `169.254.${(Math.floor(id / 64) % 250) + 1}.${(id % 64) * 4}`;
  const at = (n: number) => base.replace(/\.[0-9]+$/, (m) => `.${Number(m.slice(1)) + n}`);
  const steps = [
    ["netns", "add", name],
    ["link", "add", host, "type", "veth", "peer", "name", peer],
    ["link", "set", peer, "netns", name],
    ["addr", "add", `${at(1)}/30`, "dev", host],
    ["link", "set", host, "up"],
    ["-n", name, "addr", "add", `${at(2)}/30`, "dev", peer],
    ["-n", name, "link", "set", peer, "up"],
    ["-n", name, "link", "set", "lo", "up"],
  ];
  const close = async () => {
    await run("ip", ["netns", "del", name]).catch(() => undefined);
    await run("ip", ["link", "del", host]).catch(() => undefined);
  };
  try {
    await close(); // a namespace left by an earlier run of this process id
    for (const s of steps) await run("ip", s);
  } catch (e) {
    await close();
    const how = `a private network namespace could not be made (needs root and iproute2): ${(e as Error).message.split("\n")[0] ?? ""}`;
    if (process.env["CI"] === "true") throw new Error(how);
    t.skip(how);
    return undefined;
  }
  return { name, hostAddress: at(1), close };
}
