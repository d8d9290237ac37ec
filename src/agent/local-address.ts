// The address this host reaches the control plane from: where other workloads reach it too, in
// the usual flat network of VMs (INSTANCE_IPS, docs/proxies.md). Connecting a UDP socket sends
// nothing; it only asks the kernel which source address its route to the host would use.
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** The local address toward host:port (IPv4 preferred, as Envoy's bootstrap dials gitmesh). */
export async function localAddressToward(host: string, port: number): Promise<string> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const target = isIP(bare) !== 0 ? { address: bare, family: isIP(bare) } : await preferIpv4(bare);
  const socket = createSocket(target.family === 6 ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, target.address, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

async function preferIpv4(host: string): Promise<{ address: string; family: number }> {
  const all = await lookup(host, { all: true });
  const pick = all.find((a) => a.family === 4) ?? all[0];
  if (pick === undefined) throw new Error(`${host} has no address`);
  return pick;
}

/** Loopback (127.0.0.0/8, ::1): an address no other host can reach this one at. */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}
