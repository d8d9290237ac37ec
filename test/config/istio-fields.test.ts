// Every field of Istio's API (test/fixtures/istio-fields.ts, from its protos), written into a valid document of its
// kind: gitmesh either takes it or says it "is not supported by gitmesh" at the field's line. It never
// calls a real Istio field unknown ("not a field of Istio's X"): that message is for typos.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Diagnostic } from "../../src/config/diagnostics.js";
import { loadSchema, validateSchema } from "../../src/config/schema.js";
import { SchemaCode, UNSUPPORTED_KEYWORD } from "../../src/config/schema-errors.js";
import { parseFile } from "../../src/config/source.js";
import { API_VERSIONS, MESH_KINDS, type MeshKind } from "../../src/config/types.js";
import { enumFields, fieldPaths, ISTIO_SPECS, type IstioField, type IstioValue } from "../fixtures/istio-fields.js";

type Json = string | number | boolean | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A valid spec of each kind, into which each field is written. */
const BASE: { readonly [K in MeshKind]: JsonObject } = {
  VirtualService: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews" } }] }] },
  DestinationRule: { host: "reviews" },
  Gateway: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  ServiceEntry: { hosts: ["api.example.com"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DNS" },
  WorkloadEntry: { address: "10.0.0.1" },
  WorkloadGroup: { template: { serviceAccount: "reviews" } },
  Sidecar: { egress: [{ hosts: ["./*"] }] },
  PeerAuthentication: { mtls: { mode: "STRICT" } },
  AuthorizationPolicy: { action: "ALLOW", rules: [{ from: [{ source: { namespaces: ["shop"] } }] }] },
  RequestAuthentication: { jwtRules: [{ issuer: "https://issuer.example.com", jwksUri: "https://issuer.example.com/jwks" }] },
};

const LEAF: { readonly [V in IstioValue]: Json } = {
  string: "x",
  number: 1,
  bool: true,
  duration: "1s",
  enum: "X",
  object: {},
  list: ["x"],
  "map<string>": { k: "v" },
  "map<number>": { k: 1 },
};

/** The concrete path a fixture path writes: spec, then a[] as a[0] and a{} as a.k. */
function concrete(path: string): (string | number)[] {
  return ["spec", ...path.split(".").flatMap((seg) => (seg.endsWith("[]") ? [seg.slice(0, -2), 0] : seg.endsWith("{}") ? [seg.slice(0, -2), "k"] : [seg]))];
}

/** base with value written at path (lists and objects on the way are merged into, not replaced). */
function writeAt(base: Json, path: readonly (string | number)[], value: Json): Json {
  const [step, ...rest] = path;
  if (step === undefined) return value;
  if (typeof step === "number") {
    const list = Array.isArray(base) ? [...base] : [];
    list[step] = writeAt(list[step] ?? {}, rest, value);
    return list;
  }
  const obj: JsonObject = base !== null && typeof base === "object" && !Array.isArray(base) ? { ...base } : {};
  obj[step] = writeAt(obj[step] ?? (typeof rest[0] === "number" ? [] : {}), rest, value);
  return obj;
}

/** The same dotted form diagnostics use for a field (spec.http[0].route). */
const dotted = (path: readonly (string | number)[]): string =>
  path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${p}`)).join("");

/**
 * Block-style YAML, one key a line, recording the line each field's key is written on; so the test
 * knows where a field is without asking the code under test.
 */
function emit(value: JsonObject, path: (string | number)[], indent: string, out: string[], lines: Map<string, number>): void {
  for (const [key, v] of Object.entries(value)) {
    const at = [...path, key];
    lines.set(dotted(at), out.length + 1);
    if (Array.isArray(v) && v.length > 0) {
      out.push(`${indent}${key}:`);
      v.forEach((item, i) => {
        if (item !== null && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length > 0) {
          out.push(`${indent}  -`);
          emit(item, [...at, i], `${indent}    `, out, lines);
        } else out.push(`${indent}  - ${JSON.stringify(item)}`);
      });
    } else if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
      out.push(`${indent}${key}:`);
      emit(v, at, `${indent}  `, out, lines);
    } else out.push(`${indent}${key}: ${JSON.stringify(v)}`);
  }
}

function documentWith(kind: MeshKind, spec: JsonObject): { text: string; lines: Map<string, number> } {
  const out = [`apiVersion: ${API_VERSIONS[kind][0] ?? ""}`, `kind: ${kind}`, "metadata: { name: test, namespace: shop }"];
  const lines = new Map<string, number>();
  emit({ spec }, [], "", out, lines);
  return { text: `${out.join("\n")}\n`, lines };
}

function check(text: string): Diagnostic[] {
  const { docs, diagnostics } = parseFile({ path: "mesh/test.yaml", text });
  assert.deepEqual(diagnostics, [], "the YAML itself parses");
  const [doc] = docs;
  assert.ok(doc !== undefined && docs.length === 1);
  return validateSchema(doc);
}

const shown = (text: string, ds: readonly Diagnostic[]): string =>
  `${text}\n${ds.map((d) => `${d.code} ${d.line}:${d.col} ${d.field ?? ""}: ${d.message}`).join("\n")}`;

describe("every Istio field is taken or 'not supported by gitmesh', at its line", () => {
  test("the fixture covers every kind gitmesh reads", () => {
    assert.deepEqual(Object.keys(ISTIO_SPECS).sort(), [...MESH_KINDS].sort());
  });

  for (const kind of MESH_KINDS) {
    test(`${kind}: the base document is valid`, () => {
      const { text } = documentWith(kind, BASE[kind]);
      const ds = check(text);
      assert.deepEqual(ds, [], shown(text, ds));
    });

    const fields: readonly IstioField[] = fieldPaths(ISTIO_SPECS[kind]);
    describe(kind, () => {
      for (const [path, value, note] of fields) {
        test(`${path}${note !== undefined ? ` (${note})` : ""}`, () => {
          const at = concrete(path);
          const spec = writeAt(BASE[kind], at.slice(1), LEAF[value]) as JsonObject;
          const { text, lines } = documentWith(kind, spec);
          const written = dotted(at);
          const ds = check(text);
          assert.ok(!ds.some((d) => /not a field of Istio/.test(d.message)), `an Istio field called unknown:\n${shown(text, ds)}`);
          const unsupported = ds.filter((d) => d.code === SchemaCode.unsupportedField);
          assert.ok(unsupported.length <= 1, shown(text, ds));
          for (const d of unsupported) {
            assert.match(d.message, /is not supported by gitmesh/, shown(text, ds));
            const field = d.field ?? "";
            // The field itself, or the unsupported field it sits in, at that field's own line.
            assert.ok(written === field || written.startsWith(`${field}.`) || written.startsWith(`${field}[`), `${field} is not on ${written}:\n${shown(text, ds)}`);
            assert.equal(d.line, lines.get(field), `line of ${field}:\n${shown(text, ds)}`);
          }
        });
      }
    });
  }
});

describe("every value of Istio's enums is taken or 'an Istio value gitmesh does not support'", () => {
  for (const kind of MESH_KINDS) {
    describe(kind, () => {
      for (const [path, values] of enumFields(ISTIO_SPECS[kind])) {
        test(`${path}: ${values.join(", ")}`, () => {
          const at = concrete(path);
          const written = dotted(at);
          for (const value of values) {
            const { text } = documentWith(kind, writeAt(BASE[kind], at.slice(1), value) as JsonObject);
            const ds = check(text);
            const refused = ds.filter((d) => d.field === written && d.code === SchemaCode.notAllowed && !/an Istio value gitmesh does not support/.test(d.message));
            assert.deepEqual(refused, [], `${value} is an Istio value:\n${shown(text, ds)}`);
          }
        });
      }
    });
  }
});

describe("x-istio-unsupported lists only Istio fields, and none gitmesh takes", () => {
  for (const kind of MESH_KINDS) {
    test(kind, () => {
      const names = new Set(fieldPaths(ISTIO_SPECS[kind]).map(([path]) => path.split(".").at(-1)?.replace(/(\[\]|\{\})$/, "")));
      const walk = (node: unknown, at: string): void => {
        if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
        else if (node !== null && typeof node === "object") {
          const o = node as Record<string, unknown>;
          for (const name of (o[UNSUPPORTED_KEYWORD] ?? []) as string[]) {
            assert.ok(names.has(name), `${kind} ${at}: ${name} is not a field of Istio's ${kind} anywhere`);
            // Both would happen when a field gitmesh learns to take stays annotated (say, after a merge).
            assert.ok(!Object.hasOwn((o.properties ?? {}) as object, name), `${kind} ${at}: ${name} is both a property and unsupported`);
          }
          for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
        }
      };
      // Kubernetes' ObjectMeta (finalizers, ownerReferences) is not Istio's: skip the metadata schema.
      const schema = loadSchema(kind);
      walk(schema.properties?.spec, "/properties/spec");
      for (const [name, def] of Object.entries(schema.definitions ?? {})) if (name !== "metadata") walk(def, `/definitions/${name}`);
    });
  }
});

describe("host forms: what Istio's validation takes (ValidateWildcardDomain, ValidatePartialWildCard), gitmesh takes", () => {
  // [kind, spec, accepted]: hosts take a wildcard first label, whole or partial; Sidecar egress
  // hosts only "*" or "*." (Istio refuses partial wildcards there), with an optional ~ exclusion.
  const cases: [MeshKind, JsonObject, boolean][] = [
    ["VirtualService", { hosts: ["*api.example.com"], http: [{ route: [{ destination: { host: "api.example.com" } }] }] }, true],
    ["VirtualService", { hosts: ["*-api.example.com"], http: [{ route: [{ destination: { host: "*-api.example.com" } }] }] }, true],
    ["VirtualService", { hosts: ["api*.example.com"], http: [{ route: [{ destination: { host: "api.example.com" } }] }] }, false],
    ["VirtualService", { hosts: ["*.*.example.com"], http: [{ route: [{ destination: { host: "api.example.com" } }] }] }, false],
    ["DestinationRule", { host: "*api.example.com" }, true],
    ["ServiceEntry", { ...BASE.ServiceEntry, hosts: ["*api.example.com"] }, true],
    ["ServiceEntry", { ...BASE.ServiceEntry, hosts: ["**.example.com"] }, false],
    ["Sidecar", { egress: [{ hosts: ["*/*", "~legacy/*", "~/api.example.com", "~./db.example.com", "~*/*.example.com"] }] }, true],
    ["Sidecar", { egress: [{ hosts: ["~~legacy/*"] }] }, false],
    ["Sidecar", { egress: [{ hosts: ["*/*api.example.com"] }] }, false],
    ["Sidecar", { egress: [{ hosts: ["legacy~/*"] }] }, false],
  ];
  for (const [kind, spec, accepted] of cases) {
    test(`${kind} ${JSON.stringify(spec)}: ${accepted ? "taken" : "refused"}`, () => {
      const { text } = documentWith(kind, spec);
      const ds = check(text);
      if (accepted) assert.deepEqual(ds, [], shown(text, ds));
      else assert.ok(ds.length > 0 && ds.every((d) => d.code === SchemaCode.notAllowed), shown(text, ds));
    });
  }
});
