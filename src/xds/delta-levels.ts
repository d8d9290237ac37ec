import { deltaBody } from "./responses.js";
import type { EncodedResource } from "./resource.js";
import type { TypeResources } from "./snapshot.js";
import type { Subscription } from "./subscriptions.js";

/** Which resources of a type a delta stream follows: all of them ("*"), or a subscription's names. */
export type DeltaScope = "*" | Subscription;

/**
 * What a delta stream's proxy holds of a type when it was last brought level with a resources
 * object under a scope: exactly the scope's resources of it, at their versions (none at all when
 * `all` is undefined: a fresh stream). Thousands of streams of one kind of sidecar are at the same
 * level after a push; they share it, and with it the step to the next push.
 */
export interface DeltaLevel {
  readonly typeUrl: string;
  readonly scope: DeltaScope;
  readonly all: TypeResources | undefined;
  /** How many resources a proxy at the level holds (status pages ask every second). */
  readonly count: number;
}

/** A response's worth of change from a level to a resources object (see DeltaLevels.step). */
export interface DeltaStep {
  /** New or changed resources, in name order. */
  readonly changed: readonly EncodedResource[];
  /** Their names (what a send action reports). */
  readonly names: readonly string[];
  /** Names held and gone, in name order. */
  readonly removed: readonly string[];
  /** Of changed, those the proxy did not hold at all (new clusters wait to warm). */
  readonly added: readonly EncodedResource[];
  /** The DeltaDiscoveryResponse without its nonce; undefined when nothing changed. */
  readonly body: Buffer | undefined;
}

/**
 * Names a proxy is to be sent again whatever it holds (endpoints follow a changed cluster), keyed
 * by the object they come from: the shared step of the clusters that changed, so every stream that
 * took that step shares the endpoints' step too.
 */
export interface Resend {
  readonly key: object;
  /** Built by the first stream to take the step only. */
  names(): ReadonlySet<string>;
}

interface Steps {
  plain: DeltaStep | undefined;
  readonly resending: Map<object, DeltaStep>;
}

interface LevelEntry {
  readonly level: DeltaLevel;
  /** Streams at this level now. */
  refs: number;
  /** Steps from it to the resources objects streams moved on to (the latest few). */
  readonly steps: Map<TypeResources, Steps>;
}

/** Steps kept per level (a push's, and the one before for a stream that missed a push), and resends per step. */
const STEPS_PER_LEVEL = 2;

/**
 * The levels delta streams are at, shared: a push computes each distinct step (level to resources
 * object) and its response body once, and every stream at that level sends those bytes with its own
 * nonce. Owned by the server; streams acquire and release levels, and a level no stream is at is
 * dropped at once with its steps, so nothing outlives the streams that use it.
 */
export class DeltaLevels {
  private readonly byScope = new Map<DeltaScope, Map<TypeResources | string, LevelEntry>>();

  /** The level of a scope over a resources object (undefined: nothing held); give it back with release. */
  acquire(scope: DeltaScope, typeUrl: string, all: TypeResources | undefined): DeltaLevel {
    let levels = this.byScope.get(scope);
    if (levels === undefined) {
      levels = new Map();
      this.byScope.set(scope, levels);
    }
    const key = all ?? typeUrl;
    let entry = levels.get(key);
    if (entry === undefined) {
      const names = all === undefined ? 0 : scope === "*" ? all.items.length : scope.names.reduce((n, name) => (all.byName.has(name) ? n + 1 : n), 0);
      entry = { level: { typeUrl, scope, all, count: names }, refs: 0, steps: new Map() };
      levels.set(key, entry);
    }
    entry.refs++;
    return entry.level;
  }

  release(level: DeltaLevel): void {
    const levels = this.byScope.get(level.scope);
    const key = level.all ?? level.typeUrl;
    const entry = levels?.get(key);
    if (levels === undefined || entry?.level !== level || --entry.refs > 0) return;
    levels.delete(key);
    if (levels.size === 0) this.byScope.delete(level.scope);
  }

  /**
   * What moves a proxy at `from` (a level some stream holds) to hold `to`'s resources of its
   * scope, sending `resend`'s names again.
   */
  step(from: DeltaLevel, to: TypeResources, resend?: Resend): DeltaStep {
    const entry = this.byScope.get(from.scope)?.get(from.all ?? from.typeUrl);
    if (entry?.level !== from) throw new Error("bug: a step from a level nobody holds");
    let steps = entry.steps.get(to);
    if (steps === undefined) {
      steps = { plain: undefined, resending: new Map() };
      if (entry.steps.size >= STEPS_PER_LEVEL) entry.steps.delete(entry.steps.keys().next().value as TypeResources);
      entry.steps.set(to, steps);
    }
    if (resend === undefined) return (steps.plain ??= stepBetween(from, to, undefined));
    let step = steps.resending.get(resend.key);
    if (step === undefined) {
      step = stepBetween(from, to, resend.names());
      if (steps.resending.size >= STEPS_PER_LEVEL) steps.resending.delete(steps.resending.keys().next().value as object);
      steps.resending.set(resend.key, step);
    }
    return step;
  }

  /** Levels held now (for tests and leak checks). */
  get size(): number {
    let n = 0;
    for (const levels of this.byScope.values()) n += levels.size;
    return n;
  }
}

/** The names a level holds, in name order. */
/** The names of a level's resources with their versions: a stream's own record of what it holds, made from the level. */
export function levelVersions(level: DeltaLevel): [string, string][] {
  return levelNames(level).map((n) => [n, level.all?.byName.get(n)?.version ?? ""]);
}

export function levelNames(level: DeltaLevel): readonly string[] {
  const all = level.all;
  if (all === undefined) return [];
  return level.scope === "*" ? all.items.map((r) => r.name) : level.scope.names.filter((n) => all.byName.has(n));
}

/** Whether a proxy at the level holds the name. */
export function levelHas(level: DeltaLevel, name: string): boolean {
  if (level.all?.byName.has(name) !== true) return false;
  return level.scope === "*" || sortedIncludes(level.scope.names, name);
}

function sortedIncludes(names: readonly string[], name: string): boolean {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const n = names[mid] as string;
    if (n === name) return true;
    if (n < name) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/** The step; names to send again count as not held (neither unchanged nor to be removed). */
function stepBetween(from: DeltaLevel, to: TypeResources, resend: ReadonlySet<string> | undefined): DeltaStep {
  const before = from.all?.byName;
  const held = (name: string): EncodedResource | undefined => (resend?.has(name) === true ? undefined : before?.get(name));
  const candidates = from.scope === "*" ? to.items : from.scope.names.flatMap((n) => to.byName.get(n) ?? []);
  const changed = candidates.filter((r) => held(r.name)?.version !== r.version);
  const added = changed.filter((r) => held(r.name) === undefined);
  const removed = levelNames(from).filter((n) => !to.byName.has(n) && resend?.has(n) !== true);
  const body = changed.length === 0 && removed.length === 0 ? undefined : deltaBody({ typeUrl: to.typeUrl, systemVersion: to.version, resources: changed, removed });
  return { changed, names: changed.map((r) => r.name), removed, added, body };
}
