// Drives SotwSession / DeltaSession directly (no gRPC): requests and snapshots in, actions out,
// summarised for table-driven tests. Every send is also decoded and checked against its summary.
import assert from "node:assert/strict";
import { decodeMessage } from "../../src/envoy/index.js";
import type { DeltaDiscoveryRequest__Output, DiscoveryRequest__Output, Node__Output } from "../../src/envoy/index.js";
import type { Snapshot } from "../../src/xds/index.js";
import type { Session, SessionAction } from "../../src/xds/session.js";

export function nodeOf(id: string): Node__Output {
  return {
    id,
    cluster: "test",
    metadata: null,
    locality: null,
    user_agent_name: "session-driver",
    extensions: [],
    client_features: [],
    listening_addresses: [],
    dynamic_parameters: {},
  };
}

export function sotwReq(fields: Partial<DiscoveryRequest__Output>): DiscoveryRequest__Output {
  return { version_info: "", node: null, resource_names: [], type_url: "", response_nonce: "", error_detail: null, resource_locators: [], ...fields };
}

export function deltaReq(fields: Partial<DeltaDiscoveryRequest__Output>): DeltaDiscoveryRequest__Output {
  return {
    node: null,
    type_url: "",
    resource_names_subscribe: [],
    resource_names_unsubscribe: [],
    initial_resource_versions: {},
    response_nonce: "",
    error_detail: null,
    resource_locators_subscribe: [],
    resource_locators_unsubscribe: [],
    ...fields,
  };
}

export const nackDetail = (message: string) => ({ code: 3, message, details: [] });

/** An action as a table states it. close.message is matched as a regular expression. */
export type Expected =
  | { t: "send"; kind: string; names: string[]; removed?: string[] }
  | { t: "ack" | "nack"; kind: string; nonce: string }
  | { t: "close"; code: number; message?: RegExp }
  | { t: "unserved"; typeUrl: string };

/**
 * One step of a scenario: a request, a snapshot, or the stream holding its responses (the proxy
 * is not reading) and resuming, and exactly the actions it must produce.
 */
export type Step<Req> = ({ req: Req } | { snap: Snapshot } | { hold: true } | { resume: true }) & { expect: Expected[] };

function summary(a: SessionAction, expected: Expected | undefined): Expected {
  switch (a.t) {
    case "send":
      return { t: "send", kind: a.kind.short, names: [...a.names], removed: [...a.removed] };
    case "ack":
    case "nack":
      return { t: a.t, kind: a.kind.short, nonce: a.nonce };
    case "close":
      // The message is checked by regex below; carry the expected one so deepEqual compares the rest.
      return expected?.t === "close" && expected.message !== undefined ? { t: "close", code: a.code, message: expected.message } : { t: "close", code: a.code };
    case "unserved":
      return { t: "unserved", typeUrl: a.typeUrl };
  }
}

function normalise(e: Expected): Expected {
  return e.t === "send" ? { ...e, removed: e.removed ?? [] } : e;
}

/** What the bytes of a send decode to must agree with the action: same type, nonce, names, removals. */
function checkBytes(a: SessionAction, delta: boolean): void {
  if (a.t !== "send") return;
  if (delta) {
    const d = decodeMessage("envoy.service.discovery.v3.DeltaDiscoveryResponse", a.bytes, { defaults: true });
    assert.equal(d["type_url"], a.kind.typeUrl);
    assert.equal(d["nonce"], a.nonce);
    assert.equal(d["system_version_info"], a.version);
    assert.deepEqual((d["resources"] as { name: string }[]).map((r) => r.name), a.names);
    assert.deepEqual(d["removed_resources"], a.removed);
  } else {
    const d = decodeMessage("envoy.service.discovery.v3.DiscoveryResponse", a.bytes, { defaults: true });
    assert.equal(d["type_url"], a.kind.typeUrl);
    assert.equal(d["nonce"], a.nonce);
    assert.equal(d["version_info"], a.version);
    assert.equal((d["resources"] as unknown[]).length, a.names.length);
  }
}

/** Runs the steps in order, asserting each step's actions. */
export function drive<Req>(session: Session<Req>, steps: readonly Step<Req>[], delta: boolean): void {
  steps.forEach((step, i) => {
    const actions = "req" in step ? session.onRequest(step.req) : "snap" in step ? session.onSnapshot(step.snap) : "hold" in step ? (session.hold(), []) : session.resume();
    const label = `step ${i} (${"req" in step ? "request" : "snap" in step ? "snapshot" : "hold" in step ? "hold" : "resume"})`;
    assert.deepEqual(
      actions.map((a, j) => summary(a, step.expect[j])),
      step.expect.map(normalise),
      label,
    );
    actions.forEach((a, j) => {
      const e = step.expect[j];
      if (a.t === "close" && e?.t === "close" && e.message !== undefined) assert.match(a.message, e.message, label);
      checkBytes(a, delta);
    });
  });
}
