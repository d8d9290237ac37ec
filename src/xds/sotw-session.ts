import type { DiscoveryRequest__Output, Node__Output } from "../envoy/index.js";
import { ADS_ORDER, CDS, EDS, LDS, RDS, type ResourceKind } from "./resource-kinds.js";
import type { EncodedResource } from "./resource.js";
import { withNonce } from "./responses.js";
import { admitRequest, type Answer, type SessionAction } from "./session.js";
import { resourcesOf, type Snapshot } from "./snapshot.js";
import { fullView, listView, namedView, type View } from "./views.js";

/** The last response of a type on this stream, or the version a reconnecting proxy says it holds. */
interface Sent {
  readonly version: string;
  /** "" when the version came from a reconnecting proxy rather than from a response of ours. */
  readonly nonce: string;
  readonly items: readonly EncodedResource[];
  answer: Answer;
}

interface TypeState {
  readonly kind: ResourceKind;
  /** Subscribed names, sorted, without duplicates or "*". */
  names: readonly string[];
  /** names joined by "\n": identifies the subscription when sharing views. */
  namesKey: string;
  wildcard: boolean;
  /** Listener and Cluster: an empty list still means "everything" until a name is asked for. */
  legacyEligible: boolean;
  sent: Sent | undefined;
  /** Send even if unchanged: Envoy re-warms a changed Cluster and waits for its endpoints again. */
  forceResend: boolean;
}

/**
 * One state-of-the-world xDS stream (ADS or a single-type service) as a state machine: requests
 * and snapshots in, actions out. No I/O, so every protocol rule here is unit-testable.
 */
export class SotwSession {
  private node: Node__Output | undefined;
  private snapshot: Snapshot | undefined;
  private readonly states = new Map<string, TypeState>();
  private nonces = 0;
  /**
   * Clusters gone from the snapshot that this proxy keeps until the listeners and routes sent in
   * the same push are answered, so no route points at a cluster that was already removed.
   */
  private retiring: readonly EncodedResource[] = [];

  /** @param ordered ADS: send types in ADS_ORDER and keep clusters until routes move off them. */
  constructor(
    private readonly serves: readonly ResourceKind[],
    private readonly ordered: boolean,
  ) {}

  get identifiedNode(): Node__Output | undefined {
    return this.node;
  }

  onRequest(req: DiscoveryRequest__Output): SessionAction[] {
    const admitted = admitRequest(this.node, req.node, req.type_url, this.serves);
    if (!admitted.ok) return [admitted.action];
    this.node = admitted.node;
    const { kind } = admitted;
    const actions: SessionAction[] = [];
    let st = this.states.get(kind.typeUrl);
    if (st === undefined) {
      st = { kind, names: [], namesKey: "", wildcard: false, legacyEligible: kind.legacyWildcard, sent: undefined, forceResend: false };
      if (req.version_info !== "") st.sent = { version: req.version_info, nonce: "", items: [], answer: "ack" };
      this.states.set(kind.typeUrl, st);
    } else {
      // Only an answer to our latest response counts; an older nonce means the proxy has not seen
      // that response yet and will answer it next.
      if (req.response_nonce !== (st.sent?.nonce ?? "")) return [];
      const sent = st.sent;
      if (sent !== undefined && sent.nonce !== "" && sent.answer === "pending") {
        sent.answer = req.error_detail ? "nack" : "ack";
        const base = { kind, version: sent.version, nonce: sent.nonce };
        actions.push(
          req.error_detail
            ? { t: "nack", ...base, code: req.error_detail.code, message: req.error_detail.message }
            : { t: "ack", ...base },
        );
      }
    }
    subscribe(st, req.resource_names);
    actions.push(...this.respond(st));
    if (kind === LDS || kind === RDS) actions.push(...this.releaseRetiredIfSettled());
    return actions;
  }

  onSnapshot(snapshot: Snapshot): SessionAction[] {
    this.snapshot = snapshot;
    if (this.ordered) this.planRetirement();
    const actions: SessionAction[] = [];
    for (const kind of ADS_ORDER) {
      const st = this.states.get(kind.typeUrl);
      if (st !== undefined) actions.push(...this.respond(st));
    }
    actions.push(...this.releaseRetiredIfSettled());
    return actions;
  }

  private respond(st: TypeState): SessionAction[] {
    if (this.snapshot === undefined) return [];
    const view = this.view(st, this.snapshot);
    if (!st.forceResend && st.sent?.version === view.version) return [];
    // For RDS, EDS and SDS an empty response changes nothing on the proxy: say nothing.
    if (!st.kind.fullState && view.items.length === 0) return [];
    const nonce = String(++this.nonces);
    const previous = st.sent;
    st.sent = { version: view.version, nonce, items: view.items, answer: "pending" };
    st.forceResend = false;
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
    if (this.ordered && st.kind === CDS && eds !== undefined && addsOrChanges(previous, view.items)) {
      eds.forceResend = true;
      actions.push(...this.respond(eds));
    }
    return actions;
  }

  private view(st: TypeState, snapshot: Snapshot): View {
    const all = resourcesOf(snapshot, st.kind.typeUrl);
    const view = st.wildcard ? fullView(all) : namedView(all, st.names, st.namesKey);
    if (st.kind !== CDS || this.retiring.length === 0) return view;
    const kept = new Set(view.items.map((r) => r.name));
    const extra = this.retiring.filter((r) => !kept.has(r.name) && (st.wildcard || st.names.includes(r.name)));
    if (extra.length === 0) return view;
    return listView(st.kind.typeUrl, [...view.items, ...extra].sort((a, b) => (a.name < b.name ? -1 : 1)));
  }

  private planRetirement(): void {
    const cds = this.states.get(CDS.typeUrl);
    if (this.snapshot === undefined || cds?.sent === undefined) {
      this.retiring = [];
      return;
    }
    const next = resourcesOf(this.snapshot, CDS.typeUrl).byName;
    const removed = cds.sent.items.filter((r) => !next.has(r.name));
    const snapshot = this.snapshot;
    const routesMoving = [LDS, RDS].some((k) => {
      const st = this.states.get(k.typeUrl);
      if (st === undefined) return false;
      return (st.sent !== undefined && st.sent.answer !== "ack") || st.sent?.version !== this.view(st, snapshot).version;
    });
    this.retiring = routesMoving ? removed : [];
  }

  private releaseRetiredIfSettled(): SessionAction[] {
    if (this.retiring.length === 0) return [];
    // A NACKed route means the proxy still runs its old routes, which may use the held clusters.
    const settled = [LDS, RDS].every((k) => {
      const sent = this.states.get(k.typeUrl)?.sent;
      return sent === undefined || sent.answer === "ack";
    });
    if (!settled) return [];
    this.retiring = [];
    const cds = this.states.get(CDS.typeUrl);
    return cds === undefined ? [] : this.respond(cds);
  }
}

function subscribe(st: TypeState, names: readonly string[]): void {
  if (names.length > 0) st.legacyEligible = false;
  st.wildcard = names.includes("*") || (st.legacyEligible && names.length === 0);
  const sorted = [...new Set(names)].filter((n) => n !== "*").sort();
  const key = sorted.join("\n");
  if (key !== st.namesKey) {
    st.names = sorted;
    st.namesKey = key;
  }
}

function addsOrChanges(previous: Sent | undefined, items: readonly EncodedResource[]): boolean {
  if (previous === undefined) return true;
  const before = new Map(previous.items.map((r) => [r.name, r.version]));
  return items.some((r) => before.get(r.name) !== r.version);
}
