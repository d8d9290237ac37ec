// Attacks on identity, run against `gitmesh serve` as a real process with scripted clients on its
// plaintext and TLS ports (issue 9): a gateway's private keys, another proxy's snapshot, a place
// among a service's endpoints, and credentials that expire or are revoked while streams are open.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test, type TestContext } from "node:test";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { decodeMessage, TypeUrl } from "../../src/envoy/index.js";
import { CDS, EDS, LDS, SDS } from "../../src/xds/index.js";
import { gitmesh, serveArgs, start, type Running } from "../support/gitmesh-process.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";
import { REPO_ROOT } from "../support/peers.js";
import { namesOf, ScriptedClient, type SotwResponse, type SotwStream } from "../support/xds-client.js";

after(removeTempDirs);

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: shop }
spec:
  hosts: [web.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: web } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: web-1, namespace: shop }
spec: { address: 10.1.0.1, labels: { app: web }, serviceAccount: web }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [ratings.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings, namespace: shop }
spec:
  metadata: { labels: { app: ratings } }
  template: { serviceAccount: ratings }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ingressgateway, namespace: shop }
spec:
  metadata: { labels: { istio: ingressgateway } }
  template: { serviceAccount: ingress }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [shop.example.com]
      tls: { mode: SIMPLE, credentialName: shop-cert }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-edge, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: web } }] }]
`;

interface Mesh {
  readonly server: Running;
  readonly config: string;
  readonly stateDir: string;
  readonly plain: string;
  readonly tls: string;
  readonly admin: string;
  /** A new channel to the plaintext or TLS port, closed when the test ends. */
  connect(tls: boolean): ScriptedClient;
  token(namespace: string, serviceAccount: string, ...more: string[]): Promise<string>;
  /** A config change every proxy is pushed: a new service (its listener is the push's mark). */
  touch(name: string): void;
}

async function mesh(t: TestContext, ...serveFlags: string[]): Promise<Mesh> {
  const config = await tempDir("gitmesh-attack-config-");
  writeFileSync(join(config, "mesh.yaml"), MESH);
  const credentialsDir = await tempDir("gitmesh-attack-credentials-");
  cpSync(join(REPO_ROOT, "test/golden/sidecars/credentials/shop-cert"), join(credentialsDir, "shop-cert"), { recursive: true });
  const stateDir = await tempDir("gitmesh-attack-state-");
  const server = start(serveArgs(stateDir, "--config", config, "--credentials-dir", credentialsDir, "--workload-key-type", "ecdsa", "--resync-seconds", "0.2", ...serveFlags));
  const clients: ScriptedClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    server.child.kill("SIGKILL");
    await server.exited;
  });
  const line = await server.waitFor(/gitmesh serving/);
  const field = (name: string) => new RegExp(`${name}=(\\S+)`).exec(line)?.[1] ?? "";
  const bundle = readFileSync(join(stateDir, "trust-bundle.pem"));
  return {
    server,
    config,
    stateDir,
    plain: field("xds"),
    tls: field("xdsTls"),
    admin: field("admin"),
    connect(tls) {
      const port = (tls ? field("xdsTls") : field("xds")).split(":").pop() ?? "";
      const c = tls ? new ScriptedClient(`localhost:${port}`, { "grpc.use_local_subchannel_pool": 1 }, credentials.createSsl(bundle)) : new ScriptedClient(`127.0.0.1:${port}`, { "grpc.use_local_subchannel_pool": 1 });
      clients.push(c);
      return c;
    },
    async token(namespace, serviceAccount, ...more) {
      const r = await gitmesh(["token", "issue", "--state-dir", stateDir, "--namespace", namespace, "--service-account", serviceAccount, ...more]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    },
    touch(name) {
      writeFileSync(
        join(config, `${name}.yaml`),
        `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ${name}, namespace: shop }\nspec: { hosts: [${name}.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 7070, name: http, protocol: HTTP }], endpoints: [{ address: 10.7.7.7 }] }\n`,
      );
    },
  };
}

const str = (v: string) => ({ stringValue: v });

/** The event, or a failure naming it after `ms`: what should happen promptly must not hang a test. */
async function within<T>(ms: number, what: string, event: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([event, late]);
  } finally {
    clearTimeout(timer);
  }
}

function nodeOf(id: string, namespace: string, serviceAccount: string, kind: "sidecar" | "gateway" | "grpc", extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  const fields: Record<string, unknown> = { NAMESPACE: str(namespace), SERVICE_ACCOUNT: str(serviceAccount), PROXY_KIND: str(kind), ...extra };
  fields["LABELS"] = { structValue: { fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, str(v)])) } };
  return { id, cluster: "attack", metadata: { fields } };
}

function bearer(token: string): Metadata {
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

/** Takes responses until one of `typeUrl` comes, ACKing each, and returns it. */
async function nextOf(s: SotwStream, typeUrl: string, node: object): Promise<SotwResponse> {
  for (;;) {
    const res = await s.next();
    s.send({ node, type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: subscribed.get(s)?.get(res.type_url) ?? [] });
    if (res.type_url === typeUrl) return res;
  }
}

/** What each scripted stream subscribed to, so ACKs repeat it. */
const subscribed = new WeakMap<SotwStream, Map<string, string[]>>();

function ask(s: SotwStream, node: object, typeUrl: string, names: string[] = []): void {
  let m = subscribed.get(s);
  if (m === undefined) subscribed.set(s, (m = new Map()));
  m.set(typeUrl, names);
  s.send({ node, type_url: typeUrl, resource_names: names });
}

function secretNames(res: SotwResponse): string[] {
  return res.resources.map((r) => String(decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value)["name"]));
}

test("a gateway's private key goes only to the identity the config declares for it, not to any token that claims its labels", async (t) => {
  const m = await mesh(t);
  const claim = { istio: "ingressgateway" };
  // An attacker with a valid token for its own namespace, claiming the gateway's labels.
  const attackerNode = nodeOf("edge-x", "attacker-ns", "nobody", "gateway", {}, claim);
  const attacker = m.connect(true).sotw(undefined, bearer(await m.token("attacker-ns", "nobody")));
  ask(attacker, attackerNode, CDS.typeUrl);
  ask(attacker, attackerNode, LDS.typeUrl);
  await nextOf(attacker, LDS.typeUrl, attackerNode);
  ask(attacker, attackerNode, SDS.typeUrl, ["shop-cert", "ROOTCA", "default"]);
  const got = await nextOf(attacker, SDS.typeUrl, attackerNode);
  assert.ok(!secretNames(got).includes("shop-cert"), `the attacker was sent ${secretNames(got).join(", ")}`);
  assert.ok(attacker.received.every((r) => r.type_url !== TypeUrl.Secret || !secretNames(r).includes("shop-cert")));
  // The declared gateway identity gets it.
  const gatewayNode = nodeOf("edge-1", "shop", "ingress", "gateway", {}, claim);
  const gateway = m.connect(true).sotw(undefined, bearer(await m.token("shop", "ingress")));
  ask(gateway, gatewayNode, CDS.typeUrl);
  ask(gateway, gatewayNode, LDS.typeUrl);
  await nextOf(gateway, LDS.typeUrl, gatewayNode);
  ask(gateway, gatewayNode, SDS.typeUrl, ["shop-cert", "ROOTCA", "default"]);
  let secrets = await nextOf(gateway, SDS.typeUrl, gatewayNode);
  while (!secretNames(secrets).includes("shop-cert")) secrets = await nextOf(gateway, SDS.typeUrl, gatewayNode);
  const proxies = (await (await fetch(`http://${m.admin}/debug/proxies`)).json()) as { notices: Record<string, string[]> };
  assert.match(JSON.stringify(proxies.notices), /edge-x.*may not hold the Gateway's private keys/, "the attacker's status says what it was not given");
});

test("no plaintext stream changes what an authenticated proxy receives, whatever node id it claims, nor the other way round", async (t) => {
  const m = await mesh(t);
  const webNode = nodeOf("web-1", "shop", "web", "sidecar", { WORKLOAD_NAME: str("web-1") }, { app: "web" });
  const web = m.connect(true).sotw(undefined, bearer(await m.token("shop", "web")));
  ask(web, webNode, CDS.typeUrl);
  ask(web, webNode, LDS.typeUrl);
  const first = await nextOf(web, LDS.typeUrl, webNode);
  assert.ok(namesOf(first).includes("inbound|8080"), namesOf(first).join(", "));
  // Plaintext clients claim the authenticated proxy's node id in every form a key has had.
  const impostors = ["web-1", "web-1@shop/web", "mesh/shop/web/web-1", "plain/web-1"].map((id) => {
    const n = nodeOf(id, "shop", "web", "grpc");
    const s = m.connect(false).sotw();
    ask(s, n, LDS.typeUrl);
    return { s, n };
  });
  for (const { s, n } of impostors) await nextOf(s, LDS.typeUrl, n);
  // And an authenticated stream claims a plaintext client's id.
  const plainNode = nodeOf("client-1", "shop", "web", "grpc");
  const plain = m.connect(false).sotw();
  ask(plain, plainNode, LDS.typeUrl);
  await nextOf(plain, LDS.typeUrl, plainNode);
  const squatter = m.connect(true).sotw(undefined, bearer(await m.token("shop", "web")));
  const squatterNode = nodeOf("client-1", "shop", "web", "sidecar", { WORKLOAD_NAME: str("web-1") }, { app: "web" });
  ask(squatter, squatterNode, CDS.typeUrl);
  ask(squatter, squatterNode, LDS.typeUrl);
  await nextOf(squatter, LDS.typeUrl, squatterNode);
  // A config change pushes every proxy: each gets what its own identity and port decide.
  m.touch("mark");
  await within(15_000, "the authenticated sidecar is pushed the change", (async () => {
    let next = await nextOf(web, LDS.typeUrl, webNode);
    while (!namesOf(next).some((n) => n.endsWith("_7070"))) next = await nextOf(web, LDS.typeUrl, webNode);
  })());
  const next = web.received.filter((x) => x.type_url === LDS.typeUrl).at(-1) as SotwResponse;
  assert.ok(namesOf(next).includes("inbound|8080"), `the authenticated sidecar keeps its inbound listener: ${namesOf(next).join(", ")}`);
  for (const r of web.received.filter((x) => x.type_url === LDS.typeUrl)) assert.ok(namesOf(r).includes("inbound|8080"), "in every listener response");
  let plainNext = await nextOf(plain, LDS.typeUrl, plainNode);
  while (!namesOf(plainNext).some((n) => n.startsWith("mark."))) plainNext = await nextOf(plain, LDS.typeUrl, plainNode);
  for (const r of plain.received.filter((x) => x.type_url === LDS.typeUrl)) {
    assert.ok(namesOf(r).every((n) => !n.startsWith("inbound|") && !/^127\./.test(n)), `the plaintext client gets proxyless listeners only: ${namesOf(r).join(", ")}`);
  }
});

test("a plaintext stream cannot make itself an endpoint; the group's own identity can, and a refusal says why", async (t) => {
  const m = await mesh(t);
  const claim = { WORKLOAD_GROUP: str("ratings"), INSTANCE_IPS: str("10.9.9.9") };
  const squatter = m.connect(false).sotw();
  const squatterNode = nodeOf("ratings-x", "shop", "ratings", "grpc", claim, { app: "ratings" });
  ask(squatter, squatterNode, CDS.typeUrl);
  await nextOf(squatter, CDS.typeUrl, squatterNode);
  // A client watches the ratings endpoints.
  const clientNode = nodeOf("client-1", "shop", "web", "grpc");
  const client = m.connect(false).sotw();
  ask(client, clientNode, CDS.typeUrl);
  const clusters = (await nextOf(client, CDS.typeUrl, clientNode)).resources.map((r) => String(decodeMessage("envoy.config.cluster.v3.Cluster", r.value)["name"]));
  const ratings = clusters.filter((n) => n.includes("ratings.shop"));
  assert.ok(ratings.length > 0, clusters.join(", "));
  ask(client, clientNode, EDS.typeUrl, ratings);
  m.touch("mark");
  // After the push that carries the mark, the squatter's address is still not an endpoint.
  await nextOf(client, CDS.typeUrl, clientNode);
  const addresses = () => JSON.stringify(client.received.filter((r) => r.type_url === EDS.typeUrl).map((r) => r.resources.map((x) => decodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", x.value))));
  assert.doesNotMatch(addresses(), /10\.9\.9\.9/);
  const proxies = (await (await fetch(`http://${m.admin}/debug/proxies`)).json()) as { registrations: { refused: Record<string, string> } };
  assert.match(JSON.stringify(proxies.registrations.refused), /ratings-x names WorkloadGroup shop\/ratings but did not authenticate/);
  // The group's own identity, authenticated, registers and becomes an endpoint.
  const member = m.connect(true).sotw(undefined, bearer(await m.token("shop", "ratings")));
  const memberNode = nodeOf("ratings-1", "shop", "ratings", "grpc", { WORKLOAD_GROUP: str("ratings"), INSTANCE_IPS: str("10.8.8.8") }, { app: "ratings" });
  ask(member, memberNode, CDS.typeUrl);
  for (;;) {
    const res = await nextOf(client, EDS.typeUrl, clientNode);
    if (/10\.8\.8\.8/.test(JSON.stringify(res.resources.map((x) => decodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", x.value))))) break;
  }
  assert.doesNotMatch(addresses(), /10\.9\.9\.9/);
});

test("an Envoy proxy on the plaintext port is refused, saying to use the TLS port with a token", async (t) => {
  const m = await mesh(t);
  for (const kind of ["sidecar", "gateway"] as const) {
    const s = m.connect(false).sotw();
    ask(s, nodeOf(`${kind}-1`, "shop", "web", kind), CDS.typeUrl);
    const end = await Promise.race([s.ended(), s.next().then(() => ({ code: status.OK, details: "it was served" }))]);
    assert.equal(end.code, status.PERMISSION_DENIED, `${kind}: ${end.details}`);
    assert.match(end.details, /TLS xDS port \(15012\) with a token/);
    assert.deepEqual(s.received, []);
  }
});

test("a stream ends with UNAUTHENTICATED when its token expires, and at once when the token is revoked", async (t) => {
  const m = await mesh(t);
  const node = nodeOf("web-1", "shop", "web", "grpc");
  const expiring = m.connect(true).sotw(undefined, bearer(await m.token("shop", "web", "--ttl", "3s")));
  ask(expiring, node, CDS.typeUrl);
  await nextOf(expiring, CDS.typeUrl, node);
  const expired = await within(15_000, "the stream of an expired token ends", expiring.ended());
  assert.equal(expired.code, status.UNAUTHENTICATED, expired.details);
  assert.match(expired.details, /expired/);

  const token = await m.token("shop", "web");
  const revoked = m.connect(true).sotw(undefined, bearer(token));
  ask(revoked, node, CDS.typeUrl);
  await nextOf(revoked, CDS.typeUrl, node);
  const r = await gitmesh(["token", "revoke", token, "--state-dir", m.stateDir]);
  assert.equal(r.code, 0, r.stderr);
  const end = await within(15_000, "the stream of a revoked token ends", revoked.ended());
  assert.equal(end.code, status.UNAUTHENTICATED, end.details);
  assert.match(end.details, /revoked/);
  // A new stream with it is refused from the start.
  const again = m.connect(true).sotw(undefined, bearer(token));
  ask(again, node, CDS.typeUrl);
  assert.equal((await again.ended()).code, status.UNAUTHENTICATED);
  assert.deepEqual(again.received, []);
});

test("a certificate lifetime beyond setTimeout's 24.8-day limit is issued once, not again and again", async (t) => {
  const m = await mesh(t, "--workload-cert-ttl", "1000");
  const node = nodeOf("web-1", "shop", "web", "sidecar", { WORKLOAD_NAME: str("web-1") }, { app: "web" });
  const s = m.connect(true).sotw(undefined, bearer(await m.token("shop", "web")));
  ask(s, node, CDS.typeUrl);
  ask(s, node, LDS.typeUrl);
  ask(s, node, SDS.typeUrl, ["default", "ROOTCA"]);
  let secrets = await nextOf(s, SDS.typeUrl, node);
  while (!secretNames(secrets).includes("default")) secrets = await nextOf(s, SDS.typeUrl, node);
  const before = s.received.length;
  // A push every proxy gets: everything the stream is sent up to it came in order before it.
  m.touch("mark");
  let lds = await nextOf(s, LDS.typeUrl, node);
  while (!namesOf(lds).some((n) => n.endsWith("_7070"))) lds = await nextOf(s, LDS.typeUrl, node);
  const since = s.received.slice(before);
  assert.deepEqual(since.filter((r) => r.type_url === TypeUrl.Secret).map(secretNames), [], "no certificate was issued again meanwhile");
});
