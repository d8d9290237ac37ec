// Istio's samples and tasks (test/fixtures/istio-corpus) on a fleet: the files committed as they
// are, one scenario at a time on top of the samples' bases, as the tasks apply them; the pods
// Kubernetes would know added by the harness (a WorkloadEntry per host); answers counted by the
// workload that gave them.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../support/peers.js";
import type { EchoAnswer, Summary } from "./agent.js";
import type { Fleet, WorkloadSpec } from "./fleet.js";
import { docs, workloadEntry } from "./mesh-yaml.js";

export const CORPUS = join(REPO_ROOT, "test/fixtures/istio-corpus");

const yamlIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

/** A sample's pod: labels and service account as its Deployment has them. */
export type Pod = WorkloadSpec & { readonly labels: Readonly<Record<string, string>>; readonly serviceAccount: string; readonly namespace: string };

/** Istio's default ingress gateway, in istio-system as installed. */
export const INGRESS: Pod = { name: "ingress", namespace: "istio-system", labels: { istio: "ingressgateway" }, serviceAccount: "istio-ingressgateway", proxy: "gateway" };

/** The samples served by one fleet: their base files, and the scenarios its rows apply. */
export class Corpus {
  private readonly applied = new Set<string>();

  constructor(
    readonly samples: readonly string[],
    readonly pods: readonly Pod[],
  ) {}

  /** The config repository: every sample's base files at the same paths, and the pods. */
  config(address: (name: string) => string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const sample of this.samples) for (const f of yamlIn(join(CORPUS, sample, "base"))) out[`${sample}/base/${f}`] = readFileSync(join(CORPUS, sample, "base", f), "utf8");
    // The pods, which Kubernetes would know: added by the harness, not part of the corpus.
    out["harness/pods.yaml"] = docs(...this.pods.map((p) => workloadEntry(p.name, p.namespace, address(p.name), p.labels, p.serviceAccount)));
    return out;
  }

  /** Serves one scenario file of a sample (replacing the previous one), or the bases alone; the applications forget what they received. */
  async apply(f: Fleet, sample?: string, file?: string): Promise<void> {
    const text = sample === undefined || file === undefined ? undefined : readFileSync(join(CORPUS, sample, "scenarios", file), "utf8");
    if (text !== undefined) this.applied.add(`${sample}/${file}`);
    await f.commit({ "scenario.yaml": text }, `scenario ${sample ?? "none"} ${file ?? ""}`);
    await Promise.all(this.pods.filter((p) => p.proxy !== "gateway").map((p) => f.agent(p.name).reset()));
  }

  /** The scenarios of the fleet's samples that no row applied. */
  unapplied(): string[] {
    return this.samples.flatMap((s) => yamlIn(join(CORPUS, s, "scenarios")).map((f) => `${s}/${f}`)).filter((s) => !this.applied.has(s));
  }
}

/** count requests from a host: answers by workload name, and the statuses. */
export function answers(f: Fleet, from: string, url: string, count: number, headers: Record<string, string> = {}): Promise<Summary> {
  return f.agent(from).httpSummary({ url, count, concurrency: 4, headers });
}

/** The workload that answered. */
export const answeredBy = (body: unknown) => (body as EchoAnswer | undefined)?.name;

/** count requests split between two versions: the share of the second within [low, high]. */
export function assertSplit(s: Summary, first: string, second: string, count: number, low: number, high: number): void {
  assert.equal((s.byName[first] ?? 0) + (s.byName[second] ?? 0), count, JSON.stringify(s));
  const share = s.byName[second] ?? 0;
  assert.ok(share >= low && share <= high, `${second} answered ${share} of ${count}, expected ${low}-${high}: ${JSON.stringify(s.byName)}`);
}
