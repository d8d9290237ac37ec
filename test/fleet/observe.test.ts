// "After a commit, which proxies accepted it?" on real Envoy: a fleet of sidecars, a commit pulled
// into gitmesh's checkout, and every surface (gitmesh status, the sync view behind the status
// page, /metrics) showing every Envoy SYNCED at that commit; config-dump matching what Envoy
// itself holds; then a scripted proxyless client that NACKs, shown as NACKED with its text.
import assert from "node:assert/strict";
import { after, test, type TestContext } from "node:test";
import type { SyncView } from "../../src/admin/proxy-status.js";
import { CDS } from "../../src/xds/index.js";
import { credentials } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { needBrowser } from "../support/browser.js";
import { CsdsClient } from "../support/csds-client.js";
import { shellBlocks } from "../support/doc-blocks.js";
import { REPO_ROOT } from "../support/peers.js";
import { cloneRepo, commitAll, git, removeTempDirs, writeFiles } from "../support/git-repo.js";
import { grpcNode, ScriptedClient } from "../support/xds-client.js";
import { Fleet, GITMESH_CLI, needFleet, type FleetSpec } from "./support/fleet.js";
import { docs, serviceEntry, workloadEntry } from "./support/mesh-yaml.js";
import { waitFor } from "./support/wait.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

after(removeTempDirs);
const run = promisify(execFile);

const HTTP = [{ number: 8080, name: "http", protocol: "HTTP" }];
const TCP = [{ number: 9000, name: "tcp", protocol: "TCP" }];
const ENVOYS = ["web", "api"] as const;

function spec(): FleetSpec {
  return {
    workloads: [
      { name: "web", labels: { app: "web" }, http: [8080] },
      { name: "api", labels: { app: "api" }, http: [8080], tcp: [9000] },
    ],
    serveArgs: ["--access-log", "stdout"],
    config: (address) => ({
      "services.yaml": docs(serviceEntry("web", "demo", HTTP, { app: "web" }), serviceEntry("api", "demo", [...HTTP, ...TCP], { app: "api" })),
      "workloads.yaml": docs(...ENVOYS.map((n) => workloadEntry(n, "demo", address(n), { app: n }, n))),
    }),
  };
}

const ROUTE = (header: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: demo }
spec:
  hosts: [api.demo.svc.cluster.local]
  http:
    - headers: { request: { set: { x-observed: "${header}" } } }
      route: [{ destination: { host: api.demo.svc.cluster.local } }]
`;

/** `gitmesh ARGS`, whatever its exit code. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GITMESH_CLI, ...args], { encoding: "utf8" });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code?: number; stdout?: string; stderr?: string };
    return { code: code ?? 1, stdout: stdout ?? "", stderr: stderr ?? "" };
  }
}

/** A commit made elsewhere and pulled into gitmesh's checkout: files and HEAD change together. */
async function pullCommit(fleet: Fleet, files: Readonly<Record<string, string>>): Promise<string> {
  const clone = await cloneRepo(fleet.configDir);
  await writeFiles(clone, files);
  const sha = await commitAll(clone, "observe");
  await git(fleet.configDir, "pull", "--quiet", "--ff-only", clone, "main");
  return sha;
}

async function withFleet(t: TestContext, body: (fleet: Fleet) => Promise<void>): Promise<void> {
  const envoy = needFleet(t);
  if (envoy === undefined) return;
  const fleet = await Fleet.start(spec(), envoy);
  try {
    await body(fleet);
  } catch (e) {
    process.stderr.write(`\n=== fleet report for "${t.name}"\n${await fleet.report().catch((r: unknown) => `no report: ${String(r)}`)}\n=== end of fleet report\n`);
    throw e;
  } finally {
    await fleet.close();
  }
}

test("after a commit every surface shows which Envoys accepted it; a NACK shows with its text", (t) =>
  withFleet(t, async (fleet) => {
    const adminAddress = `${fleet.address("gitmesh")}:15014`;
    const sync = async () => (await (await fetch(`http://${adminAddress}/debug/sync`)).json()) as SyncView;
    const metrics = async () => (await fetch(`http://${adminAddress}/metrics`)).text();
    const envoyRows = (v: SyncView) => v.proxies.filter((p) => (ENVOYS as readonly string[]).includes(p.nodeId));

    // A commit: how long until every Envoy has accepted it, as the sync view says.
    const sha = await pullCommit(fleet, { "routes.yaml": ROUTE("one") });
    const pulledAt = performance.now();
    const view = await waitFor(
      "every Envoy SYNCED at the new commit",
      async () => {
        const v = await sync();
        const rows = envoyRows(v);
        const behind = rows.filter((p) => p.state !== "SYNCED" || p.commit !== sha);
        return rows.length === ENVOYS.length && behind.length === 0 ? { ok: true, value: v } : { ok: false, why: JSON.stringify(rows.map((p) => [p.nodeId, p.state, p.commit])) };
      },
      30_000,
      10,
    );
    const ms = Math.round(performance.now() - pulledAt);
    t.diagnostic(`commit pulled to every Envoy SYNCED at it in /debug/sync: ${ms} ms`);
    assert.equal(view.commit, sha);
    for (const p of envoyRows(view)) {
      assert.equal(p.kind, "sidecar");
      assert.equal(p.identity, `demo/${p.nodeId}`, "the identity its token proved");
      assert.ok(p.address.includes(fleet.address(p.nodeId)), `${p.address} is ${p.nodeId}'s host`);
      for (const type of ["CDS", "EDS", "LDS", "RDS", "SDS"]) {
        assert.equal(p.types[type]?.state, "SYNCED", `${p.nodeId} ${type}`);
        assert.equal(p.types[type]?.acceptedCommit, sha, `${p.nodeId} ${type} runs the commit`);
      }
    }

    // The CLI says the same.
    const shown = await cli("status", "--admin", adminAddress);
    assert.equal(shown.code, 0, shown.stdout + shown.stderr);
    for (const name of ENVOYS) {
      assert.match(shown.stdout, new RegExp(`^${name}\\s+sidecar\\s+demo/${name}\\s+\\S+\\s+SYNCED\\s+${sha.slice(0, 10)}\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED$`, "m"));
    }
    // So do the metrics.
    const scraped = await metrics();
    assert.match(scraped, new RegExp(`^gitmesh_proxies\\{state="SYNCED"\\} ${ENVOYS.length}$`, "m"));
    assert.match(scraped, /^gitmesh_proxies\{state="NACKED"\} 0$/m);
    assert.match(scraped, /^gitmesh_xds_push_ack_seconds_count\{type="LDS"\} [1-9]/m);
    // Each sidecar's workload certificate was issued over SDS; the earliest expires within its 24 h.
    assert.match(scraped, /^gitmesh_certificates_issued_total [2-9]\d*$/m);
    const workloadExpiry = Number(/^gitmesh_certificate_expiry_seconds\{kind="workload"\} (\S+)$/m.exec(scraped)?.[1]);
    assert.ok(workloadExpiry > 3600 && workloadExpiry <= 24 * 3600, `workload expiry ${workloadExpiry} s`);

    // So does the status page, in headless Chromium when it is installed (the peer rule).
    const browser = await needBrowser(t);
    if (browser !== undefined) {
      const page = await browser.newPage();
      await page.goto(`http://${adminAddress}/status`);
      const shows = (rows: readonly string[]) => ENVOYS.every((n) => rows.some((r) => r.startsWith(`${n}sidecardemo/${n}`) && r.includes(`SYNCED${sha}SYNCEDSYNCEDSYNCEDSYNCEDSYNCED`)));
      for (let deadline = Date.now() + 10_000; ; ) {
        const rows = await page.locator("#proxies tbody tr").allTextContents();
        if (shows(rows)) break;
        if (Date.now() > deadline) throw new Error(`the status page never showed every Envoy SYNCED at ${sha}:\n${rows.join("\n")}`);
      }
      assert.equal(await page.locator("#commit").textContent(), sha);
    }

    // docs/running.md's commands, as written (the admin address is gitmesh's host's here).
    const block = shellBlocks(readFileSync(join(REPO_ROOT, "docs/running.md"), "utf8")).find((b) => b.id === "observe");
    assert.ok(block !== undefined, "docs/running.md shows the observe commands");
    for (const line of block.text.split("\n").filter((l) => l.startsWith("gitmesh "))) {
      const args = line.replaceAll("127.0.0.1:15014", adminAddress).split(/\s+/).slice(1);
      const r = await cli(...args);
      assert.equal(r.code, 0, `${line}\n${r.stdout}${r.stderr}`);
      assert.ok(r.stdout.includes("web"), `${line} shows the web proxy`);
    }

    // config-dump shows what Envoy holds: the same listeners and routes, the header of this commit.
    const dump = await cli("config-dump", "web", "--type", "listener,route,secret", "--admin", adminAddress);
    assert.equal(dump.code, 0, dump.stderr);
    const dumped = JSON.parse(dump.stdout) as { dumps: { types: Record<string, { resources: { name: string }[] }> }[] };
    const types = dumped.dumps[0]?.types ?? {};
    const envoyDump = JSON.parse((await fleet.agent("web").envoy("/config_dump")).text) as { configs: { dynamic_listeners?: { name: string }[]; dynamic_route_configs?: { route_config: { name: string } }[] }[] };
    const envoyListeners = envoyDump.configs.flatMap((c) => c.dynamic_listeners ?? []).map((l) => l.name).sort();
    const envoyRoutes = envoyDump.configs.flatMap((c) => c.dynamic_route_configs ?? []).map((r) => r.route_config.name).sort();
    assert.deepEqual(types["LDS"]?.resources.map((r) => r.name).sort(), envoyListeners);
    assert.deepEqual(types["RDS"]?.resources.map((r) => r.name).sort(), envoyRoutes);
    assert.ok(dump.stdout.includes('"x-observed"') && dump.stdout.includes('"one"'), "the route carries the commit's header");
    assert.ok((types["SDS"]?.resources.length ?? 0) > 0, "secrets are listed");
    assert.ok(!dump.stdout.includes("PRIVATE KEY"), "no private key is printed");
    assert.ok(dump.stdout.includes('"private_key": "(redacted)"'), dump.stdout.slice(0, 400));

    // CSDS on the TLS port, asked with the operator's token by a real gRPC client: the same
    // listeners as Envoy holds, every resource ACKED.
    const operatorToken = (await fleet.cli("token", "issue", "--state-dir", fleet.stateDir, "--namespace", "istio-system", "--service-account", "gitmesh-operator")).trim();
    const csds = new CsdsClient(`${fleet.address("gitmesh")}:15012`, credentials.createSsl(readFileSync(join(fleet.stateDir, "trust-bundle.pem"))), { "grpc.ssl_target_name_override": "gitmesh", "grpc.default_authority": "gitmesh" }, operatorToken);
    t.after(() => csds.close());
    const status = await csds.fetch({ node_matchers: [{ node_id: { exact: "web" } }] });
    assert.equal(status.config.length, 1);
    const web = status.config[0]?.generic_xds_configs ?? [];
    assert.deepEqual(web.filter((c) => c.type_url.endsWith("Listener")).map((c) => c.name).sort(), envoyListeners);
    assert.ok(web.length > 0 && web.every((c) => c.client_status === "ACKED" && c.config_status === "SYNCED"), JSON.stringify(web.map((c) => [c.name, c.client_status])));
    assert.ok(web.filter((c) => c.type_url.endsWith("Secret")).every((c) => c.xds_config === null), "secrets are named, never sent");

    // A proxy that rejects what it is sent: gitmesh status names it and its error, the metrics count it.
    const client = new ScriptedClient(`${fleet.address("gitmesh")}:15010`);
    t.after(() => client.close());
    const stream = client.sotw();
    stream.send({ node: grpcNode("nacker"), type_url: CDS.typeUrl, resource_names: [] });
    const res = await stream.next();
    const error = "outbound|8080||api.demo.svc.cluster.local: rejected by a scripted proxy";
    stream.send({ type_url: CDS.typeUrl, version_info: "", response_nonce: res.nonce, resource_names: [], error_detail: { code: 3, message: error } });
    await waitFor("the NACK recorded", async () => {
      const v = await sync();
      const p = v.proxies.find((x) => x.nodeId === "nacker");
      return p?.state === "NACKED" ? { ok: true, value: p } : { ok: false, why: p?.state ?? "not connected" };
    });
    const nacked = await cli("status", "--admin", adminAddress);
    assert.equal(nacked.code, 1, "status fails while a proxy NACKs");
    assert.match(nacked.stdout, /^nacker\s+grpc\s+-\s+\S+\s+NACKED\s+-\s+NACKED\s+NOT SENT/m);
    assert.ok(nacked.stdout.includes(`nacker CDS NACKED: ${error}`), nacked.stdout);
    for (const name of ENVOYS) assert.match(nacked.stdout, new RegExp(`^${name}\\s+sidecar\\s+\\S+\\s+\\S+\\s+SYNCED\\s+${sha.slice(0, 10)}`, "m"));
    const withNack = await metrics();
    assert.match(withNack, /^gitmesh_proxies\{state="NACKED"\} 1$/m);
    assert.match(withNack, /^gitmesh_xds_nacks_by_type_total\{type="CDS"\} 1$/m);
    stream.cancel();

    // serve --access-log stdout: a request through both sidecars is a JSON line in each Envoy's
    // output, and so is a TCP connection.
    const envoyOf = (name: string) => {
      const p = fleet.workload(name).envoy;
      if (p === undefined) throw new Error(`bug: ${name} has no Envoy`);
      return p;
    };
    const marks = new Map<string, number>(ENVOYS.map((n) => [n, envoyOf(n).lineCount]));
    const answer = await fleet.agent("web").get("http://api.demo.svc.cluster.local:8080/logged?by=observe");
    assert.equal(answer.status, 200, JSON.stringify(answer));
    const tcp = await fleet.agent("web").tcp({ host: "api.demo.svc.cluster.local", port: 9000, payload: "hi" });
    assert.equal(tcp[0]?.error, undefined, JSON.stringify(tcp));
    const logged = (name: string) =>
      envoyOf(name)
        .linesSince(marks.get(name) ?? 0)
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const name of ENVOYS) {
      const lines = await waitFor(`${name}'s Envoy to log the request and the connection`, async () => {
        const all = logged(name);
        const http = all.find((l) => l["path"] === "/logged?by=observe");
        const conn = all.find((l) => typeof l["upstream_cluster"] === "string" && (l["upstream_cluster"] as string).includes("9000") && l["method"] === null);
        return http !== undefined && conn !== undefined ? { ok: true, value: { http, conn } } : { ok: false, why: JSON.stringify(all).slice(0, 500) };
      });
      assert.equal(lines.http["method"], "GET");
      assert.equal(lines.http["response_code"], 200);
      assert.equal(lines.http["authority"], "api.demo.svc.cluster.local:8080");
      assert.ok(Number(lines.conn["bytes_received"]) > 0, `${name}: the TCP connection's bytes are counted`);
    }
    // The server side names the caller's identity from its certificate.
    const inbound = logged("api").find((l) => l["path"] === "/logged?by=observe");
    assert.equal(inbound?.["downstream_peer_identity"], "spiffe://cluster.local/ns/demo/sa/web");
    await waitFor("the NACKing proxy gone", async () => ((await sync()).proxies.some((p) => p.nodeId === "nacker") ? { ok: false, why: "still listed" } : { ok: true, value: undefined }));
  }));
