import { sameItems } from "../../common/arrays.js";
import type { Steps } from "../../common/steps.js";
import type { Diagnostic } from "../diagnostics.js";
import type { AnyMeshResource, MeshNaming } from "../resources.js";
import type { MeshKind } from "../types.js";
import { checkContext, type CheckContext, type Reuse } from "./context.js";
import { checkDefinitions } from "./definitions.js";
import { checkDestinations } from "./destinations.js";
import { checkDuplicates } from "./duplicates.js";
import { checkGatewayServers } from "./gateway-servers.js";
import { checkHeaderValues } from "./header-values.js";
import { checkIstioRules } from "./istio-rules.js";
import { checkStrictBehindPlaintext } from "./mtls.js";
import { checkPrincipals } from "./principals.js";
import { checkReach } from "./reach.js";
import { checkRoutes } from "./routes.js";
import { checkSelectors } from "./selectors.js";
import { checkServing } from "./serving.js";

/** Every check that needs more than one resource to see the problem. */
const CHECKS = [
  checkDuplicates,
  checkDefinitions,
  checkDestinations,
  checkRoutes,
  checkSelectors,
  checkStrictBehindPlaintext,
  checkPrincipals,
  checkReach,
  checkServing,
  checkIstioRules,
  checkHeaderValues,
  checkGatewayServers,
];

/**
 * What one check read last time (each input by name: a kind's resources, "*" for all of them,
 * "invalid" for the resources that failed their schema) and what it said.
 */
interface CheckMemo {
  readonly reads: ReadonlyMap<string, readonly AnyMeshResource[]>;
  readonly naming: string;
  readonly diagnostics: readonly Diagnostic[];
}

/** The cross-resource checks, remembering what each check read and said (see createMeshChecker). */
export interface MeshChecker {
  /**
   * Every check's diagnostics, as steps pausing between two checks (a reload of a large mesh keeps
   * the server answering). Resources that failed their schema (invalid) are not checked, but what
   * they declare still counts, so one mistake is reported once rather than at every reference to
   * it.
   */
  steps(resources: readonly AnyMeshResource[], invalid: readonly AnyMeshResource[], naming: MeshNaming): Steps<Diagnostic[]>;
}

/**
 * A checker that says again what a check said last time when everything the check read is the
 * same: the same resource objects (a loader keeps a file's resources while its text is unchanged),
 * in the same order, and the same naming. What a check reads is recorded as it runs, through its
 * context, so a rule that starts reading another kind is re-run when that kind changes without
 * anyone declaring it. A change to one VirtualService re-runs the checks that read
 * VirtualServices, not those about workloads, selectors or policies; and the context's indexes
 * built from unchanged kinds (hosts, workloads by label pair) are kept too.
 */
export function createMeshChecker(): MeshChecker {
  let memos: (CheckMemo | undefined)[] = [];
  // The context's indexes (hosts, workloads by label pair ...) by name, with what they were built
  // from. One per name, kept while no check needs it (a load whose checks were all said again
  // builds none): the next one to need it finds it.
  const indexes = new Map<string, { readonly inputs: readonly (readonly unknown[])[]; readonly value: unknown }>();
  return {
    *steps(resources, invalid, naming) {
      const out: Diagnostic[] = [];
      const reuse: Reuse = <T>(name: string, inputs: readonly (readonly unknown[])[], build: () => T): T => {
        const before = indexes.get(name);
        if (before !== undefined && before.inputs.length === inputs.length && before.inputs.every((items, i) => sameItems(items, inputs[i] ?? []))) return before.value as T;
        const value = build();
        indexes.set(name, { inputs, value });
        return value;
      };
      const ctx = checkContext(resources, invalid, naming, out, reuse);
      const input = (name: string): readonly AnyMeshResource[] => (name === "*" ? resources : name === "invalid" ? invalid : (ctx.ofKind(name as MeshKind) as readonly AnyMeshResource[]));
      const namingKey = JSON.stringify(naming);
      const next: CheckMemo[] = [];
      for (const [i, check] of CHECKS.entries()) {
        yield "tick";
        const memo = memos[i];
        if (memo !== undefined && memo.naming === namingKey && [...memo.reads].every(([name, items]) => sameItems(items, input(name)))) {
          out.push(...memo.diagnostics);
          next.push(memo);
          continue;
        }
        const reads = new Map<string, readonly AnyMeshResource[]>();
        const said = out.length;
        check(recording(ctx, (name) => reads.has(name) || reads.set(name, input(name))));
        next.push({ reads, naming: namingKey, diagnostics: out.slice(said) });
      }
      memos = next;
      return out;
    },
  };
}

/** The context as a check sees it: each input it reads is noted (by name) on the way. */
function recording(ctx: CheckContext, read: (name: string) => unknown): CheckContext {
  return {
    get resources() {
      read("*");
      return ctx.resources;
    },
    get invalid() {
      read("invalid");
      return ctx.invalid;
    },
    naming: ctx.naming,
    ofKind<K extends MeshKind>(kind: K) {
      read(kind);
      return ctx.ofKind(kind);
    },
    inNamespace<K extends MeshKind>(kind: K, namespace: string) {
      read(kind);
      return ctx.inNamespace(kind, namespace);
    },
    selected<K extends "WorkloadEntry" | "WorkloadGroup">(kind: K, namespace: string, selector: Readonly<Record<string, string>>) {
      read(kind);
      return ctx.selected(kind, namespace, selector);
    },
    servicesFor(host: string) {
      read("ServiceEntry");
      return ctx.servicesFor(host);
    },
    declaredByInvalid(what: string) {
      read("invalid");
      return ctx.declaredByInvalid(what);
    },
    qualify: ctx.qualify,
    report: ctx.report,
    where: ctx.where,
  };
}
