// compose.yaml's fleet without a Docker engine: the same mesh (config-examples/compose), the same
// bootstraps (envoy-bootstrap/generate.sh, run as compose's gitmesh-init runs it), the same demo
// application (demo/app.mjs) with compose's environment, and real Envoy 1.40 on a host per
// container. The GitHub workflow (.github/workflows/ci.yml) runs the real compose and sends the
// same requests.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/peers.js";
import { GITMESH_CLI, sharedFleet, type Fleet, type FleetSpec, type WorkloadSpec } from "./support/fleet.js";
import { waitFor } from "./support/wait.js";

const run = promisify(execFile);

interface ComposeService {
  readonly environment?: Readonly<Record<string, string>>;
  readonly command?: readonly string[];
}
const compose = parse(readFileSync(join(REPO_ROOT, "compose.yaml"), "utf8"), { merge: true }) as { services: Record<string, ComposeService> };

/** Where compose mounts the bootstrap volume in every Envoy container. */
const MOUNT = "/etc/gitmesh";

/** compose's gitmesh-init: generate.sh writes every bootstrap into the fleet's bootstrap directory. */
async function gitmeshInit(f: Fleet): Promise<void> {
  await run("sh", [join(REPO_ROOT, "envoy-bootstrap/generate.sh"), f.stateDir, f.bootstrapDir], { env: { ...process.env, GITMESH: `${process.execPath} ${GITMESH_CLI}` } });
  // The files name the volume's path; the hosts share this machine's files, so point them here.
  for (const file of readdirSync(f.bootstrapDir).filter((n) => n.endsWith(".json"))) {
    const text = readFileSync(join(f.bootstrapDir, file), "utf8").replaceAll(`${MOUNT}/`, `${f.bootstrapDir}/`);
    writeFileSync(join(f.bootstrapDir, `local-${file}`), text);
  }
}

/** A compose workload service: its Envoy with generate.sh's bootstrap, and demo/app.mjs with compose's environment. */
function workload(host: string, service: string): WorkloadSpec {
  const env = compose.services[service]?.environment ?? {};
  const bootstrap = env["BOOTSTRAP"];
  assert.ok(bootstrap !== undefined, `compose service ${service} names its bootstrap`);
  return {
    name: host,
    namespace: "demo",
    bootstrap: (f) => join(f.bootstrapDir, `local-${bootstrap}`),
    programs: [{ argv: [process.execPath, join(REPO_ROOT, "demo/app.mjs")], env, ready: /on 127\.0\.0\.1:/ }],
  };
}

function spec(): FleetSpec {
  const ingressCommand = (compose.services["ingress"]?.command ?? []).join(" ");
  const ingressBootstrap = /\/etc\/gitmesh\/(\S+\.json)/.exec(ingressCommand)?.[1];
  assert.ok(ingressBootstrap !== undefined, `compose's ingress command names its bootstrap: ${ingressCommand}`);
  const dir = join(REPO_ROOT, "config-examples/compose");
  return {
    workloads: [
      { name: "ingress", namespace: "demo", proxy: "gateway", bootstrap: (f) => join(f.bootstrapDir, `local-${ingressBootstrap}`) },
      workload("frontend", "frontend"),
      workload("api-v1", "api-v1"),
      workload("api-v2", "api-v2"),
      // docker compose up --scale api-v1=2: one more container from the same service.
      { ...workload("api-v1-2", "api-v1"), deferEnvoy: true },
    ],
    config: () => Object.fromEntries(readdirSync(dir).map((file) => [file, readFileSync(join(dir, file), "utf8")])),
    beforeEnvoys: gitmeshInit,
  };
}

const fleet = sharedFleet(spec);
after(() => fleet.close());

interface FrontendAnswer {
  readonly service: string;
  readonly upstream: { readonly status: number; readonly body: { readonly service: string; readonly version: string } };
}

async function throughIngress(f: Fleet, headers: Record<string, string> = {}): Promise<FrontendAnswer> {
  const res = await fetch(`http://${f.address("ingress")}:8080/`, { headers });
  assert.equal(res.status, 200);
  return (await res.json()) as FrontendAnswer;
}

test("compose fleet: a request through the ingress reaches the frontend, which calls the api through its sidecar", (t) =>
  fleet.row(t, async (f) => {
    const answer = await throughIngress(f);
    assert.equal(answer.service, "frontend");
    assert.equal(answer.upstream.status, 200, JSON.stringify(answer));
    assert.equal(answer.upstream.body.service, "api");
  }));

test("compose fleet: the api split is 90/10, and x-canary: yes goes to v2", (t) =>
  fleet.row(t, async (f) => {
    const versions: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const v = (await throughIngress(f)).upstream.body.version;
      versions[v] = (versions[v] ?? 0) + 1;
    }
    t.diagnostic(`300 requests: ${JSON.stringify(versions)}`);
    // 10% of 300 has a standard deviation of about 5: 25 is five of them.
    assert.ok(Math.abs((versions["v2"] ?? 0) - 30) <= 25, JSON.stringify(versions));
    for (let i = 0; i < 20; i++) assert.equal((await throughIngress(f, { "x-canary": "yes" })).upstream.body.version, "v2");
  }));

test("compose fleet: scaling a service adds an endpoint with no config change", (t) =>
  fleet.row(t, async (f) => {
    const v1Endpoints = async () => {
      const text = (await f.agent("frontend").envoy("/clusters")).text;
      return new Set(text.split("\n").filter((l) => l.startsWith("outbound|8080|v1|api.demo.svc.cluster.local::") && l.includes("::health_flags::")).map((l) => l.split("::")[1]));
    };
    assert.deepEqual([...(await v1Endpoints())], [`${f.address("api-v1")}:8080`]);
    await f.startEnvoy("api-v1-2");
    await f.synced();
    await waitFor("the frontend's sidecar to see two api v1 endpoints", async () => {
      const now = await v1Endpoints();
      return now.size === 2 ? { ok: true, value: now } : { ok: false, why: [...now].join(", ") };
    });
    const answers = await Promise.all(Array.from({ length: 40 }, () => throughIngress(f)));
    assert.ok(answers.every((a) => a.upstream.status === 200));
  }));
