// `gitmesh agent --proxy grpc` for proxyless gRPC applications, on network-namespace hosts against
// a real `gitmesh serve`: the agent registers the workload with its token, writes its certificate
// files from what gitmesh serves over SDS (no CA key on the host), then its gRPC bootstrap; real
// grpc-js-xds applications started on those bootstraps talk mutual TLS (STRICT) through the
// registration, with the WorkloadGroup's port map. A root rotation reaches the files, and a
// revoked token is replaced by writing the file again.
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import { CERT_FILES } from "../../src/cli/ca-usage.js";
import { agentMesh } from "../support/agent-mesh.js";
import type { NetHost } from "../support/netns-hosts.js";
import { tempDir } from "../support/git-repo.js";
import { makeCa, tempFiles } from "../support/pki.js";
import { gitmesh, type Running } from "../support/gitmesh-process.js";

const exec = promisify(execFile);
const NODE_PEER = fileURLToPath(new URL("../interop/node-peer.js", import.meta.url));
const HOST = "ratings.shop.svc.cluster.local";

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: shop }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: grpc, protocol: GRPC }]
  workloadSelector: { labels: { app: ratings } }
---
# Its workloads serve on 19080: the port map a registered proxyless server must be given.
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings, namespace: shop }
spec:
  metadata: { labels: { app: ratings } }
  template: { serviceAccount: ratings, ports: { grpc: 19080 } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ratings, namespace: shop }
spec:
  selector: { matchLabels: { app: ratings } }
  mtls: { mode: STRICT }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings, namespace: shop }
spec:
  host: ${HOST}
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }
`;

const pems = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

/** A TLS handshake from a host to ADDRESS:PORT verified with a bundle file: "verified" or why not. */
async function tlsFrom(host: NetHost, address: string, caFile: string): Promise<string> {
  const [hostname, port] = address.split(":");
  const script = `const s = require("node:tls").connect({ host: ${JSON.stringify(hostname)}, port: ${port}, ca: require("node:fs").readFileSync(${JSON.stringify(caFile)}), ALPNProtocols: ["h2"] }, () => { console.log("verified"); s.destroy(); }); s.on("error", (e) => console.log("refused: " + e.message));`;
  const [c, a] = host.argv(process.execPath, ["-e", script]);
  return (await exec(c, a)).stdout.trim();
}

/** One command to a grpc-js-xds peer (test/interop/protocol.md) and its answer. */
async function ask(peer: Running, id: number, command: object): Promise<Record<string, unknown>> {
  const from = peer.lines.length;
  peer.child.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
  const line = await peer.waitFor(new RegExp(`^\\{"id":${id},`), from);
  return JSON.parse(line) as Record<string, unknown>;
}

/**
 * The mesh CA is an organisation's intermediate (gitmesh ca init --intermediate-cert): a root
 * rotation then has no cross-signed certificate (docs/ca.md), so after the switch only the bundle
 * gitmesh pushed verifies its TLS port.
 */
async function importIntermediate(state: string): Promise<void> {
  const root = makeCa({ cn: "Org Root", keyType: "ec" });
  const intermediate = makeCa({ cn: "Org Mesh CA", parent: root, keyType: "ec" });
  const files = tempFiles({ "cert.pem": intermediate.certPem, "key.pem": intermediate.keyPem, "chain.pem": root.certPem });
  const r = await gitmesh(["ca", "init", "--state-dir", state, "--intermediate-cert", join(files, "cert.pem"), "--intermediate-key", join(files, "key.pem"), "--chain", join(files, "chain.pem")]);
  assert.equal(r.code, 0, r.stderr);
}

test("a proxyless gRPC server and client get their certificates, registration and bootstraps from the agent, and talk mutual TLS", async (t) => {
  const mesh = await agentMesh(t, MESH, importIntermediate);
  if (mesh === undefined) return;
  const serverDir = await tempDir("gmq-run-");
  const serverToken = await mesh.tokenFile("--namespace", "shop", "--service-account", "ratings", "--workload-group", "ratings");
  const server = mesh.agent(mesh.vm, ["--proxy", "grpc", "--token-file", serverToken, "--namespace", "shop", "--service-account", "ratings", "--labels", "app=ratings", "--workload-group", "ratings", "--node-id", "ratings-vm", "--runtime-dir", serverDir]);
  // The client on the other host, with a token bound to its node id and no group: not an endpoint.
  const clientDir = await tempDir("gmq-run-");
  const clientToken = await mesh.tokenFile("--namespace", "shop", "--service-account", "frontend", "--node-id", "frontend-cp");
  const client = mesh.agent(mesh.cp, ["--proxy", "grpc", "--token-file", clientToken, "--namespace", "shop", "--service-account", "frontend", "--node-id", "frontend-cp", "--runtime-dir", clientDir]);

  await t.test("the certificate files, from SDS: the workload's identity, its key 0600, the trust bundle; then the bootstrap", async () => {
    const ready = await server.waitFor(/INFO ready: start the application with GRPC_XDS_BOOTSTRAP/);
    assert.match(ready, new RegExp(`GRPC_XDS_BOOTSTRAP=${join(serverDir, "grpc-bootstrap.json")}`));
    const certs = join(serverDir, "certs");
    const leaf = new X509Certificate(readFileSync(join(certs, CERT_FILES.chain)));
    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/ratings");
    assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(join(certs, CERT_FILES.key)))));
    assert.equal(statSync(join(certs, CERT_FILES.key)).mode & 0o777, 0o600);
    const bundle = (await gitmesh(["ca", "bundle", "--state-dir", mesh.state])).stdout;
    assert.equal(readFileSync(join(certs, CERT_FILES.bundle), "utf8").trim(), bundle.trim());
    const bootstrap = JSON.parse(readFileSync(join(serverDir, "grpc-bootstrap.json"), "utf8")) as {
      xds_servers: { server_uri: string }[];
      node: { id: string; metadata: Record<string, unknown> };
      certificate_providers: { default: { config: { certificate_file: string } } };
    };
    assert.equal(bootstrap.xds_servers[0]?.server_uri, `${mesh.cp.address}:15010`, "grpc-js's plaintext port");
    assert.equal(bootstrap.node.id, "ratings-vm");
    assert.equal(bootstrap.node.metadata["WORKLOAD_GROUP"], undefined, "the application registers nothing itself");
    assert.equal(bootstrap.node.metadata["WORKLOAD_NAME"], "ratings-ratings-vm", "it is the WorkloadEntry its agent registered");
    assert.equal(bootstrap.certificate_providers.default.config.certificate_file, join(certs, CERT_FILES.chain));
    assert.match(await client.waitFor(/INFO ready: /), /GRPC_XDS_BOOTSTRAP=/);
  });

  await t.test("grpc-js-xds applications on those bootstraps: the client reaches the registered server over mutual TLS, on the group's port", async () => {
    const app = mesh.start(mesh.vm, process.execPath, [NODE_PEER], { GRPC_XDS_BOOTSTRAP: join(serverDir, "grpc-bootstrap.json") });
    await app.waitFor(/"ready":true/);
    assert.deepEqual(await ask(app, 1, { op: "serve", xds: true, secure: true, port: 19080, name: "ratings-vm" }), { id: 1, serving: true });
    const caller = mesh.start(mesh.cp, process.execPath, [NODE_PEER], { GRPC_XDS_BOOTSTRAP: join(clientDir, "grpc-bootstrap.json") });
    await caller.waitFor(/"ready":true/);
    // The XdsServer serves once its Listener came; the client's first calls may meet it starting.
    let results: { code: number; backend?: string; message?: string }[] = [];
    for (let id = 2; id < 40; id++) {
      results = (await ask(caller, id, { op: "calls", target: `xds:///${HOST}:9080`, secure: true, count: 5, timeoutMs: 5_000 }))["results"] as typeof results;
      if (results.every((r) => r.code === 0)) break;
    }
    assert.deepEqual(results.map((r) => [r.code, r.backend]), Array(5).fill([0, "ratings-vm"]), JSON.stringify(results));
    // Without a certificate the STRICT server refuses: the calls above were mutual TLS.
    const plain = (await ask(caller, 99, { op: "calls", target: `${mesh.vm.address}:19080`, secure: false, count: 1, timeoutMs: 3_000 }))["results"] as typeof results;
    assert.notEqual(plain[0]?.code, 0, "a plaintext call to the server is refused");
  });

  await t.test("a root rotation reaches the files: the two-root bundle, then a certificate from the new root", async () => {
    const certs = join(serverDir, "certs");
    const [oldRoot] = pems((await gitmesh(["ca", "bundle", "--state-dir", mesh.state])).stdout);
    const from = server.lines.length;
    assert.equal((await gitmesh(["ca", "rotate", "introduce", "--state-dir", mesh.state, "--key-type", "ecdsa"])).code, 0);
    await server.waitFor(/INFO trust bundle written .*roots=2/, from);
    assert.equal(pems(readFileSync(join(certs, CERT_FILES.bundle), "utf8")).length, 2);
    const switched = server.lines.length;
    assert.equal((await gitmesh(["ca", "rotate", "switch", "--state-dir", mesh.state])).code, 0);
    await server.waitFor(/INFO workload certificate written/, switched);
    const leaf = new X509Certificate(readFileSync(join(certs, CERT_FILES.chain)));
    const roots = pems(readFileSync(join(certs, CERT_FILES.bundle), "utf8")).map((p) => new X509Certificate(p));
    const signer = roots.find((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
    assert.ok(signer !== undefined && signer.fingerprint256 !== new X509Certificate(oldRoot!).fingerprint256, "signed by the new root");
    assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(join(certs, CERT_FILES.key)))), "with its own key beside it");
  });

  await t.test("after the switch gitmesh's TLS port has a certificate from the new root: the agent reconnects with the bundle gitmesh sent, though its --xds-ca-file has the old root alone", async () => {
    assert.equal(pems(readFileSync(mesh.bundleFile, "utf8")).length, 1);
    // The file alone no longer verifies gitmesh (no cross-signed certificate under an imported
    // intermediate); the bundle gitmesh pushed does.
    assert.match(await tlsFrom(mesh.vm, `${mesh.cp.address}:15012`, mesh.bundleFile), /^refused: /);
    assert.equal(await tlsFrom(mesh.vm, `${mesh.cp.address}:15012`, join(serverDir, "certs", CERT_FILES.bundle)), "verified");
    // A revoked token ends the stream, saying why; a new token written to the file is used at the next connection.
    const from = server.lines.length;
    assert.equal((await gitmesh(["token", "revoke", readFileSync(serverToken, "utf8").trim(), "--state-dir", mesh.state])).code, 0);
    await server.waitFor(/WARN xDS stream to gitmesh ended; reconnecting .*UNAUTHENTICATED: the credential was revoked/, from);
    writeFileSync(serverToken, `${await mesh.issueToken("--namespace", "shop", "--service-account", "ratings", "--workload-group", "ratings")}\n`);
    await server.waitFor(/INFO xDS stream served again/, from);
  });

  for (const agent of [server, client]) {
    agent.child.kill("SIGTERM");
    assert.equal(await agent.exited, 0);
  }
});
