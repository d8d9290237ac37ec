// A minimal DNS server for the fleet, as a host's program: it answers A queries for the names it
// is given with the address of the host it runs on (the server those names stand for), AAAA
// queries (any other type) for them with no records, and any other name with NXDOMAIN. Enough for gitmesh's own
// lookups of ServiceEntry hosts (src/runtime/dns-resolution.ts), which ask the DNS servers of
// /etc/resolv.conf (the fleet points gitmesh's at this one: FleetSpec.dnsServer).
// Environment: GMF_DNS_NAMES (comma-separated names), GMF_DNS_TTL (seconds, default 30).
import { createSocket } from "node:dgram";
import { networkInterfaces } from "node:os";

const TYPE_A = 1;
const NXDOMAIN = 3;

/** The question of a query: its name (lower case), type, and where the question section ends. */
function question(query: Buffer): { name: string; type: number; end: number } | undefined {
  const labels: string[] = [];
  let at = 12;
  while (at < query.length) {
    const length = query[at] ?? 0;
    if (length === 0) break;
    if (length > 63) return undefined; // a compression pointer or a bad label: not in a question
    labels.push(query.subarray(at + 1, at + 1 + length).toString("ascii"));
    at += 1 + length;
  }
  if (at + 5 > query.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: query.readUInt16BE(at + 1), end: at + 5 };
}

/** The answer to one query: the question echoed, and an A record when the name is known. */
export function answer(query: Buffer, names: ReadonlySet<string>, address: string, ttl: number): Buffer | undefined {
  if (query.length < 12) return undefined;
  const q = question(query);
  if (q === undefined) return undefined;
  const known = names.has(q.name);
  const records = known && q.type === TYPE_A ? [address] : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | (known ? 0 : NXDOMAIN), 2); // QR, AA, RD as asked, RA, rcode
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const answers = records.map((a) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    Buffer.from(a.split(".").map(Number)).copy(rr, 12);
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

/** The host's own IPv4 address (not loopback). */
function ownAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error("no IPv4 address on this host");
}

if (process.env["GMF_DNS_NAMES"] !== undefined) {
  const names = new Set(process.env["GMF_DNS_NAMES"].split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== ""));
  const ttl = Number(process.env["GMF_DNS_TTL"] ?? "30");
  const address = ownAddress();
  const socket = createSocket("udp4");
  socket.on("message", (msg, from) => {
    const reply = answer(msg, names, address, ttl);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  socket.bind(53, address, () => console.log("ready"));
}

/** This file, to run as a host's program. */
export const DNS_SERVER = new URL(import.meta.url).pathname;
