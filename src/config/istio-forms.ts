// Istio accepts some values in more than one spelling; gitmesh's schemas and translators see one.
// Applied to each parsed document before its schema check, so a value is checked (and served)
// in its canonical form while diagnostics still point at the text as written.

/**
 * Istio parses port protocols case-insensitively (protocol.Parse: "http", "Http" and "HTTP" are
 * one protocol), so Kubernetes-style lower-case names work unchanged.
 */
export function canonicalIstioForms(value: unknown): void {
  if (!isRecord(value)) return;
  // A policy whose CRD allows spec to be left out means what an empty spec means (an
  // AuthorizationPolicy ALLOW with no rules: allow nothing; a PeerAuthentication: inherit).
  if (value.spec === undefined && (value.kind === "AuthorizationPolicy" || value.kind === "PeerAuthentication")) value.spec = {};
  if (!isRecord(value.spec)) return;
  const spec = value.spec;
  switch (value.kind) {
    case "ServiceEntry":
      for (const port of records(spec.ports)) upperCase(port, "protocol");
      break;
    case "Gateway":
      for (const server of records(spec.servers)) if (isRecord(server.port)) upperCase(server.port, "protocol");
      break;
  }
}

function upperCase(record: Record<string, unknown>, key: string): void {
  const v = record[key];
  if (typeof v === "string") record[key] = v.toUpperCase();
}

function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
