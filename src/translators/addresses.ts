// Where an application finds a mesh service through its sidecar. Without iptables there is no
// interception: the application dials the service's name, the name resolves (through /etc/hosts,
// or compose's extra_hosts, which `gitmesh hosts` prints) to a loopback address of the service's
// own, and the sidecar listens there on each of the service's ports. A service of its own address
// is what lets two services share a port, TCP ones included, and leaves 127.0.0.1 to the
// application. See docs/proxies.md, "How traffic reaches the sidecar".

/** 127.128.0.0/9: inside loopback (every 127/8 address is local on Linux), away from 127.0.0.1. */
const BASE = (127 << 24) | (128 << 16);
const SIZE = 1 << 23;

/**
 * Each host's loopback address: a hash of the host, so it stays the same as other services come
 * and go. Hosts are placed in sorted order and a collision takes the next free address, so the
 * outcome is deterministic; a collision is rare (in a mesh of 1,000 services a given host meets
 * one about once in 8,000) and moves only the later host of the two.
 */
export function serviceAddresses(hosts: readonly string[]): Map<string, string> {
  const taken = new Set<number>();
  const out = new Map<string, string>();
  for (const host of [...new Set(hosts)].sort()) {
    let slot = fnv1a(host) % SIZE;
    while (taken.has(slot) || !usable(slot)) slot = (slot + 1) % SIZE;
    taken.add(slot);
    out.set(host, ipv4(BASE + slot));
  }
  return out;
}

/** Skips the .0 and .255 host parts, which some tools take for network and broadcast addresses. */
function usable(slot: number): boolean {
  const last = slot & 0xff;
  return last !== 0 && last !== 255;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function ipv4(n: number): string {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}
