import type { DiscoveryRequest__Output, Node__Output } from "../envoy/index.js";
import { sameItems } from "../common/arrays.js";
import { NewClusters, routesInPlace } from "./make-before-break.js";
import { ADS_ORDER, CDS, EDS, LDS, RDS, type ResourceKind } from "./resource-kinds.js";
import type { EncodedResource } from "./resource.js";
import { withNonce } from "./responses.js";
import { admitRequest, answerOf, exhausted, respondOwed, unsharedHolds, type Answer, type Holding, type Session, type SessionAction, type SessionHolds } from "./session.js";
import { resourcesOf, type Snapshot, type TypeResources } from "./snapshot.js";
import { NO_NAMES, type Subscription } from "./subscriptions.js";
import { fullView, listView, type View } from "./views.js";

/** What the proxy holds of a type, as far as this stream knows. */
interface Held {
  readonly version: string;
  readonly items: readonly EncodedResource[];
  /** Nonce of our latest response of this type; undefined until we send one on this stream. */
  readonly nonce: string | undefined;
  /** The proxy's answer to that response ("ack" when it told us on reconnect that it holds it). */
  answer: Answer;
}

interface TypeState {
  readonly kind: ResourceKind;
  /** Subscribed names (shared with every stream that asks for the same ones, from the pool). */
  subscription: Subscription;
  /** The shared view of the subscription this stream holds now (from the pool), if any. */
  view: { readonly subscription: Subscription; readonly all: TypeResources; readonly view: View } | undefined;
  wildcard: boolean;
  /** Listener and Cluster: an empty list still means "everything" until a name is asked for. */
  emptyMeansWildcard: boolean;
  /** The version a reconnecting proxy says it holds, until compared with what we would send. */
  claimed: string | undefined;
  held: Held | undefined;
  /** Send even if unchanged: Envoy re-warms a changed Cluster and waits for its endpoints again. */
  forceResend: boolean;
  /** A response is due but the session is holding (see Session.hold). */
  owed: boolean;
  /** Whether a request has set the subscription yet. */
  subscribed: boolean;
}

/**
 * One state-of-the-world xDS stream (ADS or a single-type service) as a state machine: requests
 * and snapshots in, actions out. No I/O, so every protocol rule here is unit-testable.
 */
export class SotwSession implements Session<DiscoveryRequest__Output> {
  private node: Node__Output | undefined;
  private snapshot: Snapshot | undefined;
  private readonly states = new Map<string, TypeState>();
  private nonces = 0;
  /**
   * Clusters gone from the snapshot that the proxy keeps until its listeners and routes no longer
   * need them (see make-before-break.ts): a route to a removed cluster answers 503.
   */
  private retiring: readonly EncodedResource[] = [];
  private holding = false;
  /** Clusters new to the proxy: its listeners and routes wait until they are warm. */
  private readonly newClusters = new NewClusters();

  /**
   * @param ordered ADS: send types in ADS_ORDER and apply the make-before-break rules.
   * @param holds the server's subscription pool and this stream's name allowance.
   */
  constructor(
    private readonly serves: readonly ResourceKind[],
    private readonly ordered: boolean,
    private readonly holds: SessionHolds = unsharedHolds(),
  ) {}

  get identifiedNode(): Node__Output | undefined {
    return this.node;
  }

  onRequest(req: DiscoveryRequest__Output): SessionAction[] {
    const admitted = admitRequest(this.node, req.node, req.type_url, this.serves);
    this.node = admitted.node ?? this.node;
    if (admitted.t !== "admitted") return admitted.actions;
    const { kind } = admitted;
    const actions: SessionAction[] = [];
    const wasWarming = this.newClusters.warming;
    let st = this.states.get(kind.typeUrl);
    if (st === undefined) {
      st = {
        kind,
        subscription: NO_NAMES,
        view: undefined,
        wildcard: false,
        emptyMeansWildcard: kind.legacyWildcard,
        claimed: req.version_info === "" ? undefined : req.version_info,
        held: undefined,
        forceResend: false,
        owed: false,
        subscribed: false,
      };
      this.states.set(kind.typeUrl, st);
    } else if (st.held?.nonce !== undefined) {
      // Only an answer to our latest response counts; an older nonce means the proxy has not seen
      // that response yet and will answer it next. Before we have sent anything, any nonce goes
      // (older Envoys carry their last nonce across a reconnect).
      if (req.response_nonce !== st.held.nonce) return [];
      if (st.held.answer === "pending") {
        st.held.answer = answerOf(req.error_detail);
        actions.push(answerAction(kind, st.held, req.error_detail));
        if (kind === CDS || kind === EDS) this.newClusters.answered(kind.short as "CDS" | "EDS", st.held.nonce, st.held.answer);
      }
    }
    const refused = this.subscribe(st, req.resource_names);
    if (refused !== undefined) return [...actions, exhausted(refused)];
    actions.push(...this.respond(st));
    const warmed = wasWarming && !this.newClusters.warming;
    // The new clusters are warm: the listeners and routes that waited for them go now.
    if (warmed) actions.push(...this.respondRouting());
    if (kind === LDS || kind === RDS || warmed) actions.push(...this.releaseRetiredIfInPlace());
    return actions;
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

  hold(): void {
    this.holding = true;
  }

  resume(): SessionAction[] {
    this.holding = false;
    return respondOwed(this.states, (st) => this.respond(st));
  }

  close(): void {
    for (const st of this.states.values()) {
      this.releaseView(st);
      this.holds.pool.release(st.subscription);
      st.subscription = NO_NAMES;
    }
  }

  private respond(st: TypeState): SessionAction[] {
    if (this.snapshot === undefined) return [];
    if (this.holding) {
      st.owed = true;
      return [];
    }
    if (this.ordered && (st.kind === LDS || st.kind === RDS) && this.newClusters.warming) return [];
    // For RDS, EDS and SDS an empty response changes nothing on the proxy: say nothing.
    if (!st.kind.fullState && !st.wildcard && st.subscription.names.length === 0) return [];
    const view = this.view(st, this.snapshot);
    if (st.claimed !== undefined) {
      // A reconnecting proxy that holds exactly this view is not sent it again.
      if (st.claimed === view.version) st.held = { version: view.version, items: view.items, nonce: undefined, answer: "ack" };
      st.claimed = undefined;
    }
    if (!st.forceResend && st.held?.version === view.version) return [];
    if (!st.kind.fullState && view.items.length === 0) return [];
    const nonce = String(++this.nonces);
    const previous = st.held;
    st.held = { version: view.version, nonce, items: view.items, answer: "pending" };
    st.forceResend = false;
    if (this.ordered && st.kind === CDS && this.states.has(EDS.typeUrl)) {
      const before = new Set((previous?.items ?? []).map((r) => r.name));
      const now = new Set(view.items.map((r) => r.name));
      this.newClusters.clustersSent(
        view.items.filter((r) => !before.has(r.name)),
        [...before].filter((n) => !now.has(n)),
      );
    }
    if (this.ordered && st.kind === EDS) this.newClusters.endpointsSent(view.items.map((r) => r.name), nonce);
    const actions: SessionAction[] = [
      {
        t: "send",
        kind: st.kind,
        version: view.version,
        nonce,
        names: view.items.map((r) => r.name),
        removed: [],
        bytes: withNonce(view.body(), nonce),
      },
    ];
    const eds = this.states.get(EDS.typeUrl);
    // Endpoints follow a changed cluster, unless they are exactly what the proxy just rejected.
    if (this.ordered && st.kind === CDS && eds !== undefined && addsOrChanges(previous, view.items) && eds.held?.answer !== "nack") {
      eds.forceResend = true;
      actions.push(...this.respond(eds));
    }
    return actions;
  }

  private view(st: TypeState, snapshot: Snapshot): View {
    const all = resourcesOf(snapshot, st.kind.typeUrl);
    const view = st.wildcard ? fullView(all) : this.namedView(st, all);
    if (st.kind !== CDS || this.retiring.length === 0) return view;
    const kept = new Set(view.items.map((r) => r.name));
    const extra = this.retiring.filter((r) => !kept.has(r.name) && (st.wildcard || st.subscription.names.includes(r.name)));
    if (extra.length === 0) return view;
    return listView(st.kind.typeUrl, [...view.items, ...extra].sort((a, b) => (a.name < b.name ? -1 : 1)));
  }

  /** The subscription's view over a snapshot type: shared through the pool, held while in use. */
  private namedView(st: TypeState, all: TypeResources): View {
    if (st.subscription === NO_NAMES) return all.items.length === 0 ? fullView(all) : listView(all.typeUrl, []);
    const current = st.view;
    if (current?.all === all && current.subscription === st.subscription) return current.view;
    const view = this.holds.pool.view(st.subscription, all);
    this.releaseView(st);
    st.view = { subscription: st.subscription, all, view };
    return view;
  }

  private releaseView(st: TypeState): void {
    if (st.view === undefined) return;
    this.holds.pool.releaseView(st.view.subscription, st.view.all);
    st.view = undefined;
  }

  /**
   * Takes a request's names as the type's subscription, if the stream's allowance has room for
   * them; otherwise changes nothing and says why.
   */
  private subscribe(st: TypeState, names: readonly string[]): string | undefined {
    // The usual request, an ACK, repeats the list it answered: when it lists the names as the
    // subscription holds them (sorted, once each), nothing changes, and nothing is built to say so.
    if (st.subscribed && !st.wildcard && names.length > 0 && sameItems(st.subscription.names, names)) return undefined;
    const next = this.holds.pool.acquire(names);
    const previous = st.subscription;
    if (next !== previous) {
      const refused = this.holds.allowance.take(next.names.length - previous.names.length, next.chars - previous.chars);
      if (refused !== undefined) {
        this.holds.pool.release(next);
        return refused;
      }
      this.releaseView(st);
    }
    // A repeated list is acquired again by the same stream: give back the extra hold.
    this.holds.pool.release(previous);
    if (names.length > 0) st.emptyMeansWildcard = false;
    st.wildcard = names.includes("*") || (st.emptyMeansWildcard && names.length === 0);
    st.subscription = next;
    st.subscribed = true;
    return undefined;
  }

  /** Before a push: which clusters it removes must stay until routes have moved off them. */
  private planRetirement(snapshot: Snapshot): void {
    const cds = this.states.get(CDS.typeUrl);
    if (cds?.held === undefined) {
      this.retiring = [];
      return;
    }
    const next = resourcesOf(snapshot, CDS.typeUrl).byName;
    const removed = cds.held.items.filter((r) => !next.has(r.name));
    if (removed.length === 0) {
      this.retiring = [];
      return;
    }
    const routesChange = [LDS, RDS].some((k) => {
      const st = this.states.get(k.typeUrl);
      return st !== undefined && st.held?.version !== this.view(st, snapshot).version;
    });
    this.retiring = routesChange || !this.routesInPlace() ? removed : [];
  }

  private routesInPlace(): boolean {
    const lds = this.states.get(LDS.typeUrl)?.held;
    const rds = this.states.get(RDS.typeUrl)?.held;
    // A type never sent has nothing outstanding; listeners still need their routes sent.
    return routesInPlace({
      listenersAnswer: lds?.answer,
      listeners: lds?.items ?? [],
      routesAnswer: rds?.answer,
      routeNames: new Set((rds?.items ?? []).map((r) => r.name)),
    });
  }

  private releaseRetiredIfInPlace(): SessionAction[] {
    // Routes held for warming clusters are not in place yet, whatever the proxy ACKed before.
    if (this.retiring.length === 0 || this.newClusters.warming || !this.routesInPlace()) return [];
    this.retiring = [];
    const cds = this.states.get(CDS.typeUrl);
    return cds === undefined ? [] : this.respond(cds);
  }

  heldOf(typeUrl: string): Holding | undefined {
    const held = this.states.get(typeUrl)?.held;
    if (held === undefined) return undefined;
    const { items } = held;
    return { version: held.version, answer: held.answer, count: items.length, resources: () => ({ items, outdated: [] }) };
  }
}

function answerAction(kind: ResourceKind, held: Held, error: DiscoveryRequest__Output["error_detail"]): SessionAction {
  const base = { kind, version: held.version, nonce: held.nonce ?? "" };
  return error ? { t: "nack", ...base, code: error.code, message: error.message } : { t: "ack", ...base };
}

function addsOrChanges(previous: Held | undefined, items: readonly EncodedResource[]): boolean {
  if (previous === undefined) return true;
  const before = new Map(previous.items.map((r) => [r.name, r.version]));
  return items.some((r) => before.get(r.name) !== r.version);
}
