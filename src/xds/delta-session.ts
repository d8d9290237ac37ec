import type { DeltaDiscoveryRequest__Output, Node__Output } from "../envoy/index.js";
import { endpointNamesOf, NewClusters, routesInPlace } from "./make-before-break.js";
import { ADS_ORDER, CDS, EDS, LDS, RDS, type ResourceKind } from "./resource-kinds.js";
import type { EncodedResource } from "./resource.js";
import { deltaResponse } from "./responses.js";
import { charsOf, type NameAllowance } from "./allowance.js";
import { admitRequest, answerOf, exhausted, respondOwed, unsharedHolds, type Answer, type Holding, type Session, type SessionAction } from "./session.js";
import { resourcesOf, type Snapshot, type TypeResources } from "./snapshot.js";

interface TypeState {
  readonly kind: ResourceKind;
  wildcard: boolean;
  readonly names: Set<string>;
  /** What the proxy holds, name to version: from initial_resource_versions and what we sent. */
  readonly clientHas: Map<string, string>;
  /** Our latest response of this type, once we have sent one on this stream. */
  latest: { readonly nonce: string; readonly systemVersion: string; answer: Answer } | undefined;
  /** A response is due but the session is holding (see Session.hold). */
  owed: boolean;
  /**
   * The resources the proxy was last brought level with, while nothing else changed since (its
   * subscription, what it holds, the clusters kept for retirement). The server keeps a type's
   * object when a push leaves the type alone (makeSnapshot, composeSnapshot): a push that changes
   * one route then costs each stream nothing for its thousands of clusters and listeners.
   */
  levelWith: TypeResources | undefined;
}

const NO_DIFF: Diff = { changed: [], removed: [], forgotten: [] };

interface Diff {
  readonly changed: readonly EncodedResource[];
  readonly removed: readonly string[];
  /** Names the proxy holds but no longer subscribes to: forgotten without telling it. */
  readonly forgotten: readonly string[];
}

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
   *   initial_resource_versions are counted against it (delta names are the stream's own).
   */
  constructor(
    private readonly serves: readonly ResourceKind[],
    private readonly ordered: boolean,
    private readonly allowance: NameAllowance = unsharedHolds().allowance,
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
        clientHas: new Map(Object.entries(req.initial_resource_versions ?? {})),
        latest: undefined,
        owed: false,
        levelWith: undefined,
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
    if (req.resource_names_subscribe.length > 0 || req.resource_names_unsubscribe.length > 0) st.levelWith = undefined;
    for (const name of req.resource_names_subscribe) {
      if (name === "*") st.wildcard = true;
      else {
        st.names.add(name);
        // A re-subscribe (Envoy re-creating a cluster) wants the resource again; on a new stream
        // initial_resource_versions already says what the proxy holds.
        if (!first) st.clientHas.delete(name);
      }
    }
    for (const name of req.resource_names_unsubscribe) {
      if (name === "*") st.wildcard = false;
      else st.names.delete(name);
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

  /** Delta names belong to the stream alone: nothing is shared to give back. */
  close(): void {}

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

  private diff(st: TypeState, snapshot: Snapshot): Diff {
    const all = resourcesOf(snapshot, st.kind.typeUrl);
    if (st.levelWith === all) return NO_DIFF;
    const candidates = st.wildcard ? all.items : [...st.names].sort().flatMap((n) => all.byName.get(n) ?? []);
    const changed = candidates.filter((r) => st.clientHas.get(r.name) !== r.version);
    const removed: string[] = [];
    const forgotten: string[] = [];
    for (const name of [...st.clientHas.keys()].sort()) {
      if (!st.wildcard && !st.names.has(name)) forgotten.push(name);
      else if (!all.byName.has(name) && !(st.kind === CDS && this.retiring.has(name))) removed.push(name);
    }
    return { changed, removed, forgotten };
  }

  private respond(st: TypeState): SessionAction[] {
    if (this.snapshot === undefined) return [];
    if (this.holding) {
      st.owed = true;
      return [];
    }
    if (this.ordered && (st.kind === LDS || st.kind === RDS) && this.newClusters.warming) return [];
    const { changed, removed, forgotten } = this.diff(st, this.snapshot);
    for (const name of forgotten) st.clientHas.delete(name);
    // Once this response is sent the proxy holds exactly the snapshot's (clusters kept for
    // retirement aside: then it is compared again next time).
    st.levelWith = st.kind === CDS && this.retiring.size > 0 ? undefined : resourcesOf(this.snapshot, st.kind.typeUrl);
    if (changed.length === 0 && removed.length === 0) return [];
    const added = st.kind === CDS ? changed.filter((r) => !st.clientHas.has(r.name)) : [];
    for (const r of changed) st.clientHas.set(r.name, r.version);
    for (const name of removed) st.clientHas.delete(name);
    const nonce = String(++this.nonces);
    if (this.ordered && st.kind === CDS && this.states.has(EDS.typeUrl)) this.newClusters.clustersSent(added, removed);
    if (this.ordered && st.kind === EDS) this.newClusters.endpointsSent(changed.map((r) => r.name), nonce);
    const systemVersion = resourcesOf(this.snapshot, st.kind.typeUrl).version;
    st.latest = { nonce, systemVersion, answer: "pending" };
    const bytes = deltaResponse({ typeUrl: st.kind.typeUrl, systemVersion, resources: changed, removed, nonce });
    const actions: SessionAction[] = [
      { t: "send", kind: st.kind, version: systemVersion, nonce, names: changed.map((r) => r.name), removed, bytes },
    ];
    const eds = this.states.get(EDS.typeUrl);
    // Endpoints follow a changed cluster (Envoy warms it until they arrive), unless the proxy has
    // just rejected them.
    if (this.ordered && st.kind === CDS && eds !== undefined && changed.length > 0 && eds.latest?.answer !== "nack") {
      for (const name of endpointNamesOf(changed)) eds.clientHas.delete(name);
      eds.levelWith = undefined;
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
    const next = resourcesOf(snapshot, CDS.typeUrl).byName;
    const removing = [...cds.clientHas.keys()].filter((n) => !next.has(n));
    if (removing.length === 0) {
      this.retiring = new Set();
      return;
    }
    const routesChange = [LDS, RDS].some((k) => {
      const st = this.states.get(k.typeUrl);
      if (st === undefined) return false;
      const d = this.diff(st, snapshot);
      return d.changed.length > 0 || d.removed.length > 0;
    });
    this.retiring = new Set(routesChange || !this.routesInPlace() ? removing : []);
  }

  private routesInPlace(): boolean {
    const lds = this.states.get(LDS.typeUrl);
    const rds = this.states.get(RDS.typeUrl);
    const listeners = this.snapshot === undefined ? undefined : resourcesOf(this.snapshot, LDS.typeUrl).byName;
    return routesInPlace({
      listenersAnswer: lds?.latest?.answer,
      listeners: [...(lds?.clientHas.keys() ?? [])].flatMap((n) => listeners?.get(n) ?? []),
      routesAnswer: rds?.latest?.answer,
      routeNames: new Set(rds?.clientHas.keys() ?? []),
    });
  }

  private releaseRetiredIfInPlace(): SessionAction[] {
    // Routes held for warming clusters are not in place yet, whatever the proxy ACKed before.
    if (this.retiring.size === 0 || this.newClusters.warming || !this.routesInPlace()) return [];
    this.retiring = new Set();
    const cds = this.states.get(CDS.typeUrl);
    if (cds !== undefined) cds.levelWith = undefined;
    return cds === undefined ? [] : this.respond(cds);
  }

  heldOf(typeUrl: string): Holding | undefined {
    const st = this.states.get(typeUrl);
    if (st?.latest === undefined) return undefined;
    const snapshot = this.snapshot;
    const clientHas = st.clientHas;
    return {
      version: st.latest.systemVersion,
      answer: st.latest.answer,
      count: clientHas.size,
      resources: () => {
        const all = snapshot === undefined ? undefined : resourcesOf(snapshot, typeUrl).byName;
        const items: EncodedResource[] = [];
        const outdated: string[] = [];
        for (const [name, version] of clientHas) {
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
