import { sameItems } from "../../common/arrays.js";
import type { Steps } from "../../common/steps.js";
import type { Diagnostic } from "../diagnostics.js";
import { movePlaces, type Replacement } from "../load-memo.js";
import type { AnyMeshResource, MeshNaming } from "../resources.js";
import type { MeshKind } from "../types.js";
import { byKindOf, checkContext, whole, type Check, type CheckContext, type EachCheck, type Reuse } from "./context.js";
import { definitionChecks } from "./definitions.js";
import { destinationChecks } from "./destinations.js";
import { duplicateChecks } from "./duplicates.js";
import { checkGatewayServers } from "./gateway-servers.js";
import { headerValueChecks } from "./header-values.js";
import { istioRuleChecks } from "./istio-rules.js";
import { strictBehindPlaintextChecks } from "./mtls.js";
import { principalChecks } from "./principals.js";
import { reachChecks } from "./reach.js";
import { routeChecks } from "./routes.js";
import { selectorChecks } from "./selectors.js";
import { servingChecks } from "./serving.js";

/** Every check that needs more than one resource to see the problem. */
const CHECKS: readonly Check[] = [
  ...duplicateChecks,
  ...definitionChecks,
  ...destinationChecks,
  ...routeChecks,
  ...selectorChecks,
  ...strictBehindPlaintextChecks,
  ...principalChecks,
  ...reachChecks,
  ...servingChecks,
  ...istioRuleChecks,
  ...headerValueChecks,
  whole(checkGatewayServers),
];

/**
 * What a check read (each input by name: a kind's resources, "*" for all of them, "invalid" for
 * the resources that failed their schema, "services\0HOST" and "rules\0HOST" for a host's
 * ServiceEntries and DestinationRules, with the generation it had: see Generations) and what it
 * said.
 */
interface Said {
  readonly reads: readonly (readonly [string, number])[];
  readonly diagnostics: readonly Diagnostic[];
}

/** An "each" check's findings per resource (a resource is another object once its file changed). */
interface EachMemo {
  /** The kind's resources as they were checked, and the generation of that list. */
  readonly list: readonly AnyMeshResource[];
  readonly generation: number;
  /** What was said of each resource, at its place in list. */
  readonly said: readonly Said[];
  /** Everything any of them read, and all they said in config order: said again at once when nothing changed. */
  readonly all: Said;
}

/**
 * The kind an input read by host or selector is made from: "services\0HOST" (a host's
 * ServiceEntries), "rules\0HOST" (its DestinationRules), "selected\0KIND\0JSON" (the workloads
 * of a kind a selector picks, JSON of [namespace, selector]); undefined for a whole input (a kind, "*",
 * "invalid").
 */
function madeFrom(name: string): string | undefined {
  const what = name.slice(0, Math.max(0, name.indexOf("\0")));
  return what === "services" ? "ServiceEntry" : what === "rules" ? "DestinationRule" : what === "selected" ? part(name).slice(0, part(name).indexOf("\0")) : undefined;
}

/** What follows the first "\0" of an input's name. */
const part = (name: string) => name.slice(name.indexOf("\0") + 1);

/** An input read by host or selector, as the context gives it (see madeFrom). */
function partOf(ctx: CheckContext, name: string): readonly AnyMeshResource[] {
  if (name.startsWith("services\0")) return ctx.servicesFor(part(name));
  if (name.startsWith("rules\0")) return ctx.rulesFor(part(name));
  const rest = part(name);
  const kind = rest.slice(0, rest.indexOf("\0")) as "WorkloadEntry" | "WorkloadGroup";
  const [namespace, selector] = JSON.parse(part(rest)) as [string, Record<string, string>];
  return ctx.selected(kind, namespace, selector) as readonly AnyMeshResource[];
}

/** The cross-resource checks, remembering what each check read and said (see createMeshChecker). */
export interface MeshChecker {
  /**
   * Every check's diagnostics, as steps pausing between checks (a reload of a large mesh keeps
   * the server answering). Resources that failed their schema (invalid) are not checked, but what
   * they declare still counts, so one mistake is reported once rather than at every reference to
   * it. A replacement (see load-memo.ts) says how resources differ from the last call's, so the
   * lists of each kind are updated rather than made again.
   */
  steps(resources: readonly AnyMeshResource[], invalid: readonly AnyMeshResource[], naming: MeshNaming, replacement?: Replacement): Steps<Diagnostic[]>;
}

/**
 * A checker that says again what a check said last time when everything the check read is the
 * same: the same resource objects (a loader keeps a file's resources while its text is unchanged),
 * in the same order, and the same naming. What a check reads is recorded as it runs, through its
 * context, so a rule that starts reading another kind is re-run when that kind changes without
 * anyone declaring it. An "each" check (context.ts, Check) is remembered per resource: a change
 * to one VirtualService checks that one again against the unchanged ServiceEntries and
 * DestinationRules, and says again what was said of the others; the "mesh" checks that read
 * VirtualServices run again over all of them. The context's indexes built from unchanged kinds
 * (hosts, workloads by label pair) are kept too.
 */
export function createMeshChecker(): MeshChecker {
  let memos: (Said | EachMemo | undefined)[] = [];
  let namingBefore = "";
  // The context's indexes (hosts, workloads by label pair ...) by name, with what they were built
  // from. One per name, kept while no check needs it (a load whose checks were all said again
  // builds none): the next one to need it finds it.
  const indexes = new Map<string, { readonly inputs: readonly (readonly unknown[])[]; readonly value: unknown }>();
  const generations = createGenerations();
  // How each value a check derived (ctx.derive) is made, by name: to see whether it changed.
  const derivations = new Map<string, Derivation>();
  const kinds = createKindLists();
  return {
    *steps(resources, invalid, naming, replacement) {
      const out: Diagnostic[] = [];
      const reuse: Reuse = <T>(name: string, inputs: readonly (readonly unknown[])[], build: (before: T | undefined) => T): T => {
        const before = indexes.get(name);
        if (before !== undefined && before.inputs.length === inputs.length && before.inputs.every((items, i) => same(items, inputs[i] ?? []))) return before.value as T;
        const value = build(before?.value as T | undefined);
        indexes.set(name, { inputs, value });
        return value;
      };
      const { byKind, moved } = kinds.of(resources, replacement);
      const ctx = checkContext(resources, invalid, naming, out, reuse, byKind);
      const generation = generations.load((name): Input => {
        // A derived value (ctx.derive) is the same input while it is the very same object.
        const derivation = name.startsWith("derived\0") ? derivations.get(part(name)) : undefined;
        if (derivation !== undefined) return { items: () => [ctx.derive(part(name), derivation.kinds, derivation.build, derivation.shape)] };
        const from = madeFrom(name);
        if (from !== undefined) return { items: () => partOf(ctx, name), from };
        return { items: () => (name === "*" ? resources : name === "invalid" ? invalid : (ctx.ofKind(name as MeshKind) as readonly AnyMeshResource[])) };
      });
      // A check's findings depend on the naming too (short hosts, the root namespace): another
      // naming checks everything again.
      const namingKey = JSON.stringify(naming);
      if (namingKey !== namingBefore) memos = [];
      namingBefore = namingKey;
      const fresh = (said: Said) => said.reads.every(([name, g]) => generation(name) === g);
      // Each input a check reads is noted (by name) on the way.
      let reads = new Set<string>();
      const recorded = recording(ctx, (name) => reads.add(name), derivations);
      const run = (check: (ctx: CheckContext) => void): Said => {
        reads = new Set();
        const said = out.length;
        check(recorded);
        return { reads: [...reads].map((name) => [name, generation(name)] as const), diagnostics: out.slice(said) };
      };
      const next: (Said | EachMemo)[] = [];
      for (const [i, check] of CHECKS.entries()) {
        yield "tick";
        const memo = memos[i];
        if (check.t === "each") {
          next.push(runEach(check, memo !== undefined && "said" in memo && "list" in memo ? memo : undefined));
          continue;
        }
        if (memo !== undefined && "reads" in memo && fresh(memo)) {
          for (const d of memo.diagnostics) out.push(d);
          next.push(memo);
        } else next.push(run(check.run));
      }
      memos = next;
      return out;

      function runEach(check: EachCheck, memo: EachMemo | undefined): EachMemo {
        const list = ctx.ofKind(check.kind) as readonly AnyMeshResource[];
        const kindGeneration = generation(check.kind);
        const unchanged = memo !== undefined && fresh(memo.all);
        if (unchanged && memo.generation === kindGeneration) {
          for (const d of memo.all.diagnostics) out.push(d);
          return memo;
        }
        // What run says goes out as it is said; what is said again, with it, in config order.
        const start = out.length;
        const done = (said: readonly Said[], reads: ReadonlyMap<string, number>): EachMemo => {
          out.length = start;
          const diagnostics = sayAll(said);
          for (const d of diagnostics) out.push(d);
          return { list, generation: kindGeneration, said, all: { reads: [...reads], diagnostics } };
        };
        const at = moved.get(check.kind);
        if (unchanged && at !== undefined && at.before === memo.list) {
          // Some resources replaced at their places, and nothing else any of them read changed:
          // only the new ones are checked.
          const said = [...memo.said];
          const reads = new Map(memo.all.reads);
          for (const i of at.places) {
            const one = run((c) => check.run(c, list[i] as AnyMeshResource));
            said[i] = one;
            for (const [name, g] of one.reads) noteRead(reads, name, g);
          }
          return done(said, reads);
        }
        const before = new Map(memo === undefined ? [] : memo.list.map((r, i) => [r, memo.said[i] as Said]));
        const reads = new Map<string, number>();
        const said = list.map((r) => {
          const was = before.get(r);
          const one = was !== undefined && fresh(was) ? was : run((c) => check.run(c, r));
          for (const [name, g] of one.reads) noteRead(reads, name, g);
          return one;
        });
        return done(said, reads);
      }

      /**
       * Notes a read in what all the resources of a check read: a host's ServiceEntries or
       * DestinationRules, or a selector's workloads, as all of them (a thousand hosts would make
       * a thousand comparisons per load; a change to one of them is found per resource).
       */
      function noteRead(reads: Map<string, number>, name: string, g: number): void {
        const from = madeFrom(name);
        if (from === undefined) reads.set(name, g);
        else reads.set(from, generation(from));
      }

      /** What a check said of each resource, in order. */
      function sayAll(said: readonly Said[]): Diagnostic[] {
        const all: Diagnostic[] = [];
        for (const one of said) for (const d of one.diagnostics) all.push(d);
        return all;
      }
    },
  };
}

/**
 * Each input's generation: a number that stays the same while the input holds the very same
 * items in the same order, so a check remembers a number per input instead of the input's
 * thousand items, and a thousand resources' findings are each checked with a few comparisons.
 * An input is compared with the last one seen under its name once per load.
 */
function createGenerations(): { load(input: (name: string) => Input): (name: string) => number } {
  const seen = new Map<string, { readonly items: readonly unknown[]; readonly generation: number; readonly from?: number }>();
  let counter = 0;
  return {
    load(input) {
      const now = new Map<string, number>();
      const generation = (name: string): number => {
        const known = now.get(name);
        if (known !== undefined) return known;
        const before = seen.get(name);
        const { items, from } = input(name);
        // An input made from another (a host's ServiceEntries, from the ServiceEntries) is the
        // same while that one is: it is not looked up again.
        const fromGeneration = from === undefined ? undefined : generation(from);
        let g: number;
        if (before !== undefined && fromGeneration !== undefined && before.from === fromGeneration) g = before.generation;
        else {
          const list = items();
          g = before !== undefined && same(before.items, list) ? before.generation : ++counter;
          seen.set(name, { items: list, generation: g, ...(fromGeneration === undefined ? {} : { from: fromGeneration }) });
        }
        now.set(name, g);
        return g;
      };
      return generation;
    },
  };
}

/** An input's items, made when needed, and the input they are made from, if any. */
interface Input {
  readonly items: () => readonly unknown[];
  readonly from?: string;
}

/** The very same list, or one with the very same items (a kind's list is kept while none of it changed). */
function same<T>(a: readonly T[], b: readonly T[]): boolean {
  return a === b || sameItems(a, b);
}

interface KindLists {
  readonly byKind: ReadonlyMap<string, readonly AnyMeshResource[]>;
  /** The kinds some of whose resources were replaced: the list before, and the places replaced. */
  readonly moved: ReadonlyMap<string, { readonly before: readonly AnyMeshResource[]; readonly places: readonly number[] }>;
}

/**
 * The resources by kind, in config order: each list is last time's when none of its resources
 * was replaced (so it is compared by identity alone), and a copy with the new ones at their old
 * ones' places when some were.
 */
function createKindLists(): { of(resources: readonly AnyMeshResource[], replacement: Replacement | undefined): KindLists } {
  let before: { readonly resources: readonly AnyMeshResource[]; readonly byKind: ReadonlyMap<string, readonly AnyMeshResource[]>; readonly at: Map<AnyMeshResource, number> } | undefined;
  return {
    of(resources, replacement) {
      if (before !== undefined && replacement !== undefined && replacement.base === before.resources) {
        const { at } = before;
        const moves = movePlaces(replacement, at);
        if (moves !== undefined) {
          const byKind = new Map(before.byKind);
          const moved = new Map<string, { before: readonly AnyMeshResource[]; places: number[] }>();
          for (const [now, i] of moves) {
            let list = byKind.get(now.kind) as AnyMeshResource[];
            let places = moved.get(now.kind)?.places;
            if (places === undefined) {
              places = [];
              moved.set(now.kind, { before: list, places });
              list = [...list];
              byKind.set(now.kind, list);
            }
            list[i] = now;
            places.push(i);
          }
          before = { resources, byKind, at };
          return { byKind, moved };
        }
      }
      const byKind = byKindOf(resources);
      const at = new Map<AnyMeshResource, number>();
      for (const list of byKind.values()) list.forEach((r, i) => at.set(r, i));
      before = { resources, byKind, at };
      return { byKind, moved: new Map() };
    },
  };
}

/** The arguments of a ctx.derive call. */
interface Derivation {
  readonly kinds: readonly MeshKind[];
  readonly build: Parameters<CheckContext["derive"]>[2];
  readonly shape: Parameters<CheckContext["derive"]>[3];
}

/** The context as a check sees it: each input it reads is noted (by name) on the way. */
function recording(ctx: CheckContext, read: (name: string) => unknown, derivations: Map<string, Derivation>): CheckContext {
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
    // The workloads a selector picks are noted by selector: a changed WorkloadEntry re-checks
    // the services and subsets selecting it.
    selected<K extends "WorkloadEntry" | "WorkloadGroup">(kind: K, namespace: string, selector: Readonly<Record<string, string>>) {
      read(`selected\0${kind}\0${JSON.stringify([namespace, selector])}`);
      return ctx.selected(kind, namespace, selector);
    },
    named<K extends MeshKind>(kind: K, ref: string) {
      read(kind);
      return ctx.named(kind, ref);
    },
    duplicates(kind: MeshKind) {
      read(kind);
      return ctx.duplicates(kind);
    },
    // What a check reads of one host is noted by host: a changed DestinationRule re-checks the
    // routes to its host only.
    servicesFor(host: string) {
      read(`services\0${host}`);
      return ctx.servicesFor(host);
    },
    rulesFor(host: string) {
      read(`rules\0${host}`);
      return ctx.rulesFor(host);
    },
    routeFindings() {
      read("VirtualService");
      return ctx.routeFindings();
    },
    derive(name, kinds, build, shape) {
      // Noted as the value itself, which derive keeps while its kinds keep their shapes.
      derivations.set(name, { kinds, build: build as Derivation["build"], shape });
      read(`derived\0${name}`);
      return ctx.derive(name, kinds, build, shape);
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
