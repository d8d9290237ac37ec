// The security half of the interop matrix, for every client under test: AuthorizationPolicies as
// RBAC on the client's own xDS server (ALLOW and DENY by path, header value and principal), and
// mutual TLS with the certificate files `gitmesh cert issue` writes (file_watcher) and SAN checks.
// Policies change live: each row waits until the client's server enforces the new one.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../support/ports.js";
import { skipped } from "./rows.js";
import { CLIENTS, ControlPlane, type CallResult, type Peer } from "./support.js";

const run = promisify(execFile);
const caCli = fileURLToPath(new URL("../support/ca-cli.js", import.meta.url));
const NS = "interop";
const OK = 0;
const PERMISSION_DENIED = 7;
const UNAVAILABLE = 14;
const WHO_AM_I = "/gitmesh.test.Identity/WhoAmI";
const OTHER = "/gitmesh.test.Identity/Other";
const ORDERS = `orders.${NS}.svc.cluster.local`;
const WRONG_SAN = `orders-pinned.${NS}.svc.cluster.local`;
const RIGHT_SAN = `orders-checked.${NS}.svc.cluster.local`;

let cp: ControlPlane;
let pki: string;
/** Certificate directories by service account (`gitmesh cert issue --out`). */
const certs: Record<string, string> = {};

before(async () => {
  pki = await mkdtemp(join(tmpdir(), "gitmesh-interop-pki-"));
  const state = join(pki, "state");
  await run(process.execPath, [caCli, "ca", "init", "--state-dir", state, "--key-type", "ecdsa"]);
  for (const sa of ["orders", "frontend", "intruder"]) {
    certs[sa] = join(pki, sa);
    await run(process.execPath, [caCli, "cert", "issue", "--state-dir", state, "--namespace", NS, "--service-account", sa, "--key-type", "ecdsa", "--out", certs[sa]]);
  }
  cp = await ControlPlane.start();
});

after(async () => {
  await cp.close();
  await rm(pki, { recursive: true, force: true });
});

const policy = (name: string, app: string, spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: ${app} } }
${spec
  .trim()
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}`;

/**
 * The mesh: the frontend serves `rbac` (plaintext) on rbacPort, enforcing frontendPolicy; orders
 * serves on ordersPort under STRICT mTLS, enforcing ordersPolicy; `orders-pinned` is the same
 * workload behind a DestinationRule that expects another identity, `orders-checked` one that
 * expects the workload's own.
 */
function mesh(rbacPort: number, ordersPort: number, frontendPolicy: string, ordersPolicy: string): string {
  return [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: rbac, namespace: ${NS} }
spec:
  hosts: [rbac.${NS}.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: ${rbacPort}, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: frontend } }`,
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: orders, namespace: ${NS} }
spec:
  hosts: [${ORDERS}, ${WRONG_SAN}, ${RIGHT_SAN}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${ordersPort}, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: orders } }`,
    `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: orders-1, namespace: ${NS} }
spec: { address: 127.0.0.1, labels: { app: orders }, serviceAccount: orders }`,
    `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: orders, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: orders } }
  mtls: { mode: STRICT }`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: orders, namespace: ${NS} }
spec:
  host: ${ORDERS}
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: orders-pinned, namespace: ${NS} }
spec:
  host: ${WRONG_SAN}
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/${NS}/sa/someone-else"] } }`,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: orders-checked, namespace: ${NS} }
spec:
  host: ${RIGHT_SAN}
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/${NS}/sa/orders"] } }`,
    ...(frontendPolicy === "" ? [] : [policy("frontend", "frontend", frontendPolicy)]),
    ...(ordersPolicy === "" ? [] : [policy("orders", "orders", ordersPolicy)]),
  ].join("\n---\n");
}

const code = (r: readonly CallResult[]) => r[0]?.code;

/** Calls until every expectation holds at once: [peer, call, wanted status]. */
async function expect(what: string, cases: readonly [Peer, { target: string; method?: string; headers?: Record<string, string>; secure?: boolean }, number][]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: (number | undefined)[] = [];
  while (Date.now() < deadline) {
    last = await Promise.all(cases.map(async ([p, o]) => code(await p.calls({ ...o, count: 1, timeoutMs: 5_000 }))));
    if (last.every((c, i) => c === cases[i]?.[2])) return;
  }
  const [first] = cases;
  assert.fail(`${first?.[0].client.name}: ${what}: got ${JSON.stringify(last)}, want ${JSON.stringify(cases.map((c) => c[2]))}\n${first?.[0].log ?? ""}`);
}

for (const client of CLIENTS) {
  test(`security: ${client.name}`, async (t) => {
    const [rbacPort, ordersPort] = [await freePort(), await freePort()];
    cp.setMesh(mesh(rbacPort, ordersPort, "", ""));
    const peer = (sa: string) => cp.peer(t, client, { serviceAccount: sa, certDir: certs[sa] ?? "" });
    const frontend = await peer("frontend");
    if (frontend === undefined) return;
    const orders = await peer("orders");
    const intruder = await peer("intruder");
    assert.ok(orders !== undefined && intruder !== undefined);
    await frontend.serve({ port: rbacPort, name: "frontend", xds: true });
    await orders.serve({ port: ordersPort, name: "orders", xds: true, secure: true });

    const rbac = { target: `127.0.0.1:${rbacPort}` };
    const mtls = { target: `xds:///${ORDERS}:${ordersPort}`, secure: true };
    const rows: Record<string, () => Promise<void>> = {
      "RBAC: no policy serves every call": () =>
        expect("no policy", [
          [frontend, { ...rbac, method: WHO_AM_I }, OK],
          [frontend, { ...rbac, method: OTHER }, OK],
        ]),
      "RBAC: ALLOW by path": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, `action: ALLOW\nrules: [{ to: [{ operation: { paths: ["${WHO_AM_I}"] } }] }]`, ""));
        await expect("ALLOW on the WhoAmI path", [
          [frontend, { ...rbac, method: WHO_AM_I }, OK],
          [frontend, { ...rbac, method: OTHER }, PERMISSION_DENIED],
        ]);
      },
      "RBAC: DENY by path": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, `action: DENY\nrules: [{ to: [{ operation: { paths: ["${WHO_AM_I}"] } }] }]`, ""));
        await expect("DENY on the WhoAmI path", [
          [frontend, { ...rbac, method: WHO_AM_I }, PERMISSION_DENIED],
          [frontend, { ...rbac, method: OTHER }, OK],
        ]);
      },
      "RBAC: ALLOW by header value": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, `action: ALLOW\nrules: [{ when: [{ key: "request.headers[x-user]", values: [jason, "adm*"] }] }]`, ""));
        await expect("ALLOW x-user jason or adm*", [
          [frontend, { ...rbac, headers: { "x-user": "jason" } }, OK],
          [frontend, { ...rbac, headers: { "x-user": "admin" } }, OK],
          [frontend, { ...rbac, headers: { "x-user": "bob" } }, PERMISSION_DENIED],
          [frontend, rbac, PERMISSION_DENIED],
        ]);
      },
      "RBAC: DENY by header value": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, `action: DENY\nrules: [{ when: [{ key: "request.headers[x-user]", values: [bob] }] }]`, ""));
        await expect("DENY x-user bob", [
          [frontend, { ...rbac, headers: { "x-user": "bob" } }, PERMISSION_DENIED],
          [frontend, { ...rbac, headers: { "x-user": "jason" } }, OK],
          [frontend, rbac, OK],
        ]);
      },
      "mTLS (file_watcher certificates): mesh identities are served, plaintext is refused": () =>
        expect("STRICT mTLS", [
          [frontend, mtls, OK],
          [intruder, mtls, OK],
          [frontend, { target: `127.0.0.1:${ordersPort}` }, UNAVAILABLE],
        ]),
      "mTLS: the client checks the server's SAN": () =>
        expect("DestinationRules expecting the server's identity and another one", [
          [frontend, { target: `xds:///${RIGHT_SAN}:${ordersPort}`, secure: true }, OK],
          [frontend, { target: `xds:///${WRONG_SAN}:${ordersPort}`, secure: true }, UNAVAILABLE],
        ]),
      "RBAC: ALLOW by principal": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, "", `action: ALLOW\nrules: [{ from: [{ source: { principals: ["cluster.local/ns/${NS}/sa/frontend"] } }] }]`));
        await expect("ALLOW the frontend's principal", [
          [frontend, mtls, OK],
          [intruder, mtls, PERMISSION_DENIED],
          [orders, mtls, PERMISSION_DENIED],
        ]);
      },
      "RBAC: DENY by principal": async () => {
        cp.setMesh(mesh(rbacPort, ordersPort, "", `action: DENY\nrules: [{ from: [{ source: { principals: ["cluster.local/ns/${NS}/sa/intruder"] } }] }]`));
        // orders calling itself tells this policy from the previous row's.
        await expect("DENY the intruder's principal", [
          [frontend, mtls, OK],
          [intruder, mtls, PERMISSION_DENIED],
          [orders, mtls, OK],
        ]);
      },
    };
    for (const [row, go] of Object.entries(rows)) {
      const reason = skipped(client.name, row);
      await t.test(row, async (rt) => {
        if (reason !== undefined) return rt.skip(reason);
        await go();
      });
    }
    for (const p of [frontend, orders, intruder]) assert.deepEqual(cp.nacksOf(p), [], `${client.name} (${p.nodeId}) refused what gitmesh sent`);
  });
}
