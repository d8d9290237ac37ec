import type { DeltaDiscoveryRequest__Output, Node__Output } from "../envoy/index.js";
import { endpointNamesOf, NewClusters, routesInPlace } from "./make-before-break.js";
import { ADS_ORDER, CDS, EDS, LDS, RDS, type ResourceKind } from "./resource-kinds.js";
import type { EncodedResource } from "./resource.js";
import { deltaBody, withNonce } from "./responses.js";
import { charsOf, type NameAllowance } from "./allowance.js";
import { DeltaLevels, levelHas, levelNames, levelVersions, type DeltaLevel, type DeltaScope, type DeltaStep, type Resend } from "./delta-levels.js";
import { admitRequest, answerOf, exhausted, respondOwed, unsharedHolds, type Answer, type Holding, type Session, type SessionAction } from "./session.js";
import { resourcesOf, type Snapshot, type TypeResources } from "./snapshot.js";
import { NO_NAMES, SubscriptionPool, type Subscription } from "./subscriptions.js";

/** What delta streams share, owned by their server: interned subscriptions and the levels over them. */
export interface DeltaShared {
  readonly pool: SubscriptionPool;
  readonly levels: DeltaLevels;
}

/**
 * What the proxy holds of a type, name to version: either a level it shares with other streams
 * (it was brought level with a resources object under its scope, and nothing changed since), or a
 * map of its own (initial_resource_versions, a re-subscribe, clusters kept for retirement).
 */
type Held = { readonly t: "level"; readonly level: DeltaLevel } | { readonly t: "own"; readonly has: Map<string, string> };

interface TypeState {
  readonly kind: ResourceKind;
  wildcard: boolean;
  readonly names: Set<string>;
  /** names, interned in the server's pool (shared by streams with the same names); stale after a change. */
  subscription: Subscription;
  subscriptionStale: boolean;
  held: Held;
  /** Names to send again whatever the proxy holds, kept with the level until the next response. */
  resend: Resend | undefined;
  /** Our latest response of this type, once we have sent one on this stream. */
  latest: { readonly nonce: string; readonly systemVersion: string; answer: Answer } | undefined;
  /** A response is due but the session is holding (see Session.hold). */
  owed: boolean;
}

const NO_STEP: DeltaStep = { changed: [], names: [], removed: [], added: [], body: undefined };

/**
 * One incremental (delta) xDS stream as a state machine. Each resource has its own version (its
 * content hash); a response carries only what changed and the names removed.
 */
export class DeltaSession implements Session<DeltaDiscoveryRequest__Output> {
  private node: Node__Output | undefined;
  private snapshot: Snapshot | undefined;
  private readonly states = new Map<string, TypeState>();
  private nonces = 0;
  /** Clusters whose removal waits until the proxy's listeners and routes no longer need them. */
  private retiring: ReadonlySet<string> = new Set();
  private holding = false;
  /** Clusters new to the proxy: its listeners and routes wait until they are warm. */
  private readonly newClusters = new NewClusters();

  /**
   * @param ordered ADS: send types in ADS_ORDER and apply the make-before-break rules.
   * @param allowance what this stream may hold: its subscribed names and the names of its
   *   initial_resource_versions are counted against it.
   * @param shared the server's subscription pool and delta levels (see DeltaLevels).
   */
  constructor(
    private readonly serves: readonly ResourceKind[],
    private readonly ordered: boolean,
    private readonly allowance: NameAllowance = unsharedHolds().allowance,
    private readonly shared: DeltaShared = { pool: new SubscriptionPool(), levels: new DeltaLevels() },
  ) {}

  get identifiedNode(): Node__Output | undefined {
    return this.node;
  }

  onRequest(req: DeltaDiscoveryRequest__Output): SessionAction[] {
    const admitted = admitRequest(this.node, req.node, req.type_url, this.serves);
    this.node = admitted.node ?? this.node;
    if (admitted.t !== "admitted") return admitted.actions;
    const { kind } = admitted;
    const actions: SessionAction[] = [];
    const wasWarming = this.newClusters.warming;
    let st = this.states.get(kind.typeUrl);
    const first = st === undefined;
    if (st === undefined) {
      // What the proxy says it holds is kept until compared with the snapshot; it counts against
      // the stream's allowance for as long as the stream lives.
      const initial = Object.keys(req.initial_resource_versions ?? {});
      const refused = this.allowance.take(initial.length, charsOf(initial));
      if (refused !== undefined) return [exhausted(refused)];
      st = {
        kind,
        wildcard: kind.legacyWildcard && req.resource_names_subscribe.length === 0,
        names: new Set(),
        subscription: NO_NAMES,
        subscriptionStale: false,
        held: { t: "own", has: new Map(Object.entries(req.initial_resource_versions ?? {})) },
        resend: undefined,
        latest: undefined,
        owed: false,
      };
      this.states.set(kind.typeUrl, st);
    } else if (st.latest !== undefined && req.response_nonce === st.latest.nonce && st.latest.answer === "pending") {
      st.latest.answer = answerOf(req.error_detail);
      const base = { kind, version: st.latest.systemVersion, nonce: st.latest.nonce };
      actions.push(
        req.error_detail ? { t: "nack", ...base, code: req.error_detail.code, message: req.error_detail.message } : { t: "ack", ...base },
      );
      if (kind === CDS || kind === EDS) this.newClusters.answered(kind.short as "CDS" | "EDS", st.latest.nonce, st.latest.answer);
    }
    // Subscription changes count even when the nonce is stale: the proxy will not repeat them.
    const refused = this.takeAllowance(st, req);
    if (refused !== undefined) return [...actions, exhausted(refused)];
    for (const name of req.resource_names_subscribe) {
      if (name === "*") st.wildcard = true;
      else {
        if (!st.names.has(name)) st.subscriptionStale = true;
        st.names.add(name);
        // A re-subscribe (Envoy re-creating a cluster) wants the resource again; on a new stream
        // initial_resource_versions already says what the proxy holds.
        if (!first && this.holds(st, name)) this.ownHeld(st).delete(name);
      }
    }
    for (const name of req.resource_names_unsubscribe) {
      if (name === "*") st.wildcard = false;
      else if (st.names.delete(name)) st.subscriptionStale = true;
    }
    actions.push(...this.respond(st));
    // The new clusters are warm: the listeners and routes that waited for them go now.
    if (wasWarming && !this.newClusters.warming) actions.push(...this.respondRouting());
    if (kind === LDS || kind === RDS || (wasWarming && !this.newClusters.warming)) actions.push(...this.releaseRetiredIfInPlace());
    return actions;
  }

  /** Counts what a request's subscription changes add to (or take from) the stream's names. */
  private takeAllowance(st: TypeState, req: DeltaDiscoveryRequest__Output): string | undefined {
    const unsubscribe = new Set(req.resource_names_unsubscribe);
    const added = new Set<string>();
    for (const name of req.resource_names_subscribe) if (name !== "*" && !st.names.has(name) && !unsubscribe.has(name)) added.add(name);
    let dropped = 0;
    let droppedChars = 0;
    for (const name of unsubscribe) {
      if (name === "*" || !st.names.has(name)) continue;
      dropped++;
      droppedChars += name.length;
    }
    return added.size === 0 && dropped === 0 ? undefined : this.allowance.take(added.size - dropped, charsOf(added) - droppedChars);
  }

  hold(): void {
    this.holding = true;
  }

  resume(): SessionAction[] {
    this.holding = false;
    return respondOwed(this.states, (st) => this.respond(st));
  }

  /** Gives back the stream's subscriptions and levels. */
  close(): void {
    for (const st of this.states.values()) {
      if (st.held.t === "level") this.shared.levels.release(st.held.level);
      st.held = { t: "own", has: new Map() };
      this.shared.pool.release(st.subscription);
      st.subscription = NO_NAMES;
    }
  }

  private respondRouting(): SessionAction[] {
    return [LDS, RDS].flatMap((k) => {
      const st = this.states.get(k.typeUrl);
      return st === undefined ? [] : this.respond(st);
    });
  }

  onSnapshot(snapshot: Snapshot): SessionAction[] {
    this.snapshot = snapshot;
    if (this.ordered) this.planRetirement(snapshot);
    const actions: SessionAction[] = [];
    for (const kind of ADS_ORDER) {
      const st = this.states.get(kind.typeUrl);
      if (st !== undefined) actions.push(...this.respond(st));
    }
    actions.push(...this.releaseRetiredIfInPlace());
    return actions;
  }

  /** What the stream follows now: "*" or its names as the pool's shared subscription. */
  private scopeOf(st: TypeState): DeltaScope {
    if (st.wildcard) return "*";
    if (st.subscriptionStale) {
      const next = this.shared.pool.acquire([...st.names]);
      this.shared.pool.release(st.subscription);
      st.subscription = next;
      st.subscriptionStale = false;
    }
    return st.subscription;
  }

  /** Whether the proxy holds a name of the type (at any version). */
  private holds(st: TypeState, name: string): boolean {
    return st.held.t === "level" ? levelHas(st.held.level, name) : st.held.has.has(name);
  }

  /** The names the proxy holds of the type. */
  private heldNames(st: TypeState): Iterable<string> {
    return st.held.t === "level" ? levelNames(st.held.level) : st.held.has.keys();
  }

  /** The stream's own copy of what the proxy holds, to change it (it leaves its shared level). */
  private ownHeld(st: TypeState): Map<string, string> {
    let has: Map<string, string>;
    if (st.held.t === "own") has = st.held.has;
    else {
      const level = st.held.level;
      has = new Map(levelVersions(level));
      this.shared.levels.release(level);
      st.held = { t: "own", has };
    }
    if (st.resend !== undefined) for (const name of st.resend.names()) has.delete(name);
    st.resend = undefined;
    return has;
  }

  /**
   * The change that brings the proxy level with `all`, and the stream's record of what it holds
   * moved there. A stream at a shared level under its current scope takes the level's step, built
   * once for every stream at that level; otherwise (a map of its own, a changed subscription,
   * clusters kept for retirement) it works out its own diff and joins the shared level after it.
   */
  private advance(st: TypeState, all: TypeResources): { readonly step: DeltaStep; readonly shared: boolean } {
    const scope = this.scopeOf(st);
    const keepsRetiring = st.kind === CDS && this.retiring.size > 0;
    if (st.held.t === "own" && st.held.has.size === 0) st.held = { t: "level", level: this.shared.levels.acquire(scope, st.kind.typeUrl, undefined) };
    const held = st.held;
    if (held.t === "level" && held.level.scope === scope && !keepsRetiring) {
      const resend = st.resend;
      st.resend = undefined;
      if (held.level.all === all && resend === undefined) return { step: NO_STEP, shared: true };
      const step = this.shared.levels.step(held.level, all, resend);
      this.moveTo(st, scope, all);
      return { step, shared: true };
    }
    const has = this.ownHeld(st);
    const { forgotten, ...step } = ownStep(st, has, all, keepsRetiring ? this.retiring : undefined);
    for (const name of forgotten) has.delete(name);
    for (const name of step.removed) has.delete(name);
    for (const r of step.changed) has.set(r.name, r.version);
    // Once this response is sent the proxy holds exactly the scope's resources of `all` (clusters
    // kept for retirement aside: then it keeps its own map and is compared again next time).
    if (!keepsRetiring) this.moveTo(st, scope, all);
    return { step, shared: false };
  }

  private moveTo(st: TypeState, scope: DeltaScope, all: TypeResources): void {
    const next = this.shared.levels.acquire(scope, st.kind.typeUrl, all);
    if (st.held.t === "level") this.shared.levels.release(st.held.level);
    st.held = { t: "level", level: next };
  }

  /** Whether bringing the proxy level with `all` would send anything (changes nothing). */
  private wouldChange(st: TypeState, all: TypeResources): boolean {
    const held = st.held;
    if (held.t === "level" && held.level.all === all) return false;
    if (held.t === "level" && held.level.scope === (st.wildcard ? "*" : st.subscriptionStale ? undefined : st.subscription)) {
      return this.shared.levels.step(held.level, all).body !== undefined;
    }
    const has = held.t === "own" ? held.has : new Map(levelVersions(held.level));
    const step = ownStep(st, has, all, st.kind === CDS && this.retiring.size > 0 ? this.retiring : undefined, false);
    return step.changed.length > 0 || step.removed.length > 0;
  }

  private respond(st: TypeState): SessionAction[] {
    if (this.snapshot === undefined) return [];
    if (this.holding) {
      st.owed = true;
      return [];
    }
    if (this.ordered && (st.kind === LDS || st.kind === RDS) && this.newClusters.warming) return [];
    const all = resourcesOf(this.snapshot, st.kind.typeUrl);
    const { step, shared } = this.advance(st, all);
    const { changed, names, removed, added, body } = step;
    if (body === undefined) return [];
    const nonce = String(++this.nonces);
    if (this.ordered && st.kind === CDS && this.states.has(EDS.typeUrl)) this.newClusters.clustersSent(added, removed);
    if (this.ordered && st.kind === EDS) this.newClusters.endpointsSent(names, nonce);
    const systemVersion = all.version;
    st.latest = { nonce, systemVersion, answer: "pending" };
    const actions: SessionAction[] = [{ t: "send", kind: st.kind, version: systemVersion, nonce, names, removed, bytes: withNonce(body, nonce) }];
    const eds = this.states.get(EDS.typeUrl);
    // Endpoints follow a changed cluster (Envoy warms it until they arrive), unless the proxy has
    // just rejected them.
    if (this.ordered && st.kind === CDS && eds !== undefined && changed.length > 0 && eds.latest?.answer !== "nack") {
      if (shared && eds.held.t === "level" && eds.resend === undefined) {
        // Every stream that took this step of clusters takes one step of endpoints with it.
        eds.resend = { key: step, names: () => new Set(endpointNamesOf(changed)) };
      } else {
        const resend = endpointNamesOf(changed).filter((n) => this.holds(eds, n));
        if (resend.length > 0) {
          const has = this.ownHeld(eds);
          for (const name of resend) has.delete(name);
        }
      }
      actions.push(...this.respond(eds));
    }
    return actions;
  }

  /** Before a push: which clusters it removes must stay until routes have moved off them. */
  private planRetirement(snapshot: Snapshot): void {
    const cds = this.states.get(CDS.typeUrl);
    if (cds === undefined) {
      this.retiring = new Set();
      return;
    }
    const nextClusters = resourcesOf(snapshot, CDS.typeUrl);
    const next = nextClusters.byName;
    const held = cds.held;
    // At a shared level the step there says what goes (built once for every stream at the level).
    const removing =
      held.t === "level"
        ? held.level.all === nextClusters
          ? []
          : this.shared.levels.step(held.level, nextClusters).removed
        : [...held.has.keys()].filter((n) => !next.has(n));
    if (removing.length === 0) {
      this.retiring = new Set();
      return;
    }
    const routesChange = [LDS, RDS].some((k) => {
      const st = this.states.get(k.typeUrl);
      return st !== undefined && this.wouldChange(st, resourcesOf(snapshot, k.typeUrl));
    });
    this.retiring = new Set(routesChange || !this.routesInPlace() ? removing : []);
  }

  private routesInPlace(): boolean {
    const lds = this.states.get(LDS.typeUrl);
    const rds = this.states.get(RDS.typeUrl);
    const listeners = this.snapshot === undefined ? undefined : resourcesOf(this.snapshot, LDS.typeUrl).byName;
    return routesInPlace({
      listenersAnswer: lds?.latest?.answer,
      listeners: [...(lds === undefined ? [] : this.heldNames(lds))].flatMap((n) => listeners?.get(n) ?? []),
      routesAnswer: rds?.latest?.answer,
      routeNames: new Set(rds === undefined ? [] : this.heldNames(rds)),
    });
  }

  private releaseRetiredIfInPlace(): SessionAction[] {
    // Routes held for warming clusters are not in place yet, whatever the proxy ACKed before.
    if (this.retiring.size === 0 || this.newClusters.warming || !this.routesInPlace()) return [];
    this.retiring = new Set();
    const cds = this.states.get(CDS.typeUrl);
    return cds === undefined ? [] : this.respond(cds);
  }

  heldOf(typeUrl: string): Holding | undefined {
    const st = this.states.get(typeUrl);
    if (st?.latest === undefined) return undefined;
    const snapshot = this.snapshot;
    const held = st.held;
    const entries = (): Iterable<[string, string]> =>
      held.t === "own" ? held.has : levelVersions(held.level);
    return {
      version: st.latest.systemVersion,
      answer: st.latest.answer,
      count: held.t === "own" ? held.has.size : held.level.count,
      resources: () => {
        const all = snapshot === undefined ? undefined : resourcesOf(snapshot, typeUrl).byName;
        const items: EncodedResource[] = [];
        const outdated: string[] = [];
        for (const [name, version] of entries()) {
          const r = all?.get(name);
          if (r?.version === version) items.push(r);
          else outdated.push(name);
        }
        items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return { items, outdated: outdated.sort() };
      },
    };
  }
}

/** The diff of a stream with a map of its own (what the old per-stream diff did for every stream). */
/** `encode`: build the response body too (false where only whether anything changed is asked). */
function ownStep(st: TypeState, has: ReadonlyMap<string, string>, all: TypeResources, retiring: ReadonlySet<string> | undefined, encode = true): DeltaStep & { forgotten: string[] } {
  const candidates = st.wildcard ? all.items : [...st.names].sort().flatMap((n) => all.byName.get(n) ?? []);
  const changed = candidates.filter((r) => has.get(r.name) !== r.version);
  const added = changed.filter((r) => !has.has(r.name));
  const removed: string[] = [];
  const forgotten: string[] = [];
  for (const name of [...has.keys()].sort()) {
    // Held but no longer subscribed: forgotten without telling the proxy.
    if (!st.wildcard && !st.names.has(name)) forgotten.push(name);
    else if (!all.byName.has(name) && retiring?.has(name) !== true) removed.push(name);
  }
  const body = !encode || (changed.length === 0 && removed.length === 0) ? undefined : deltaBody({ typeUrl: all.typeUrl, systemVersion: all.version, resources: changed, removed });
  return { changed, names: changed.map((r) => r.name), removed, added, body, forgotten };
}
