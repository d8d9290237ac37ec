// What an operator's view of Envoy config never shows: private keys and other secret material end
// up in terminals, CI logs and pull requests.

/** Fields whose value is secret wherever they appear (TLS keys, generic secrets, ticket keys, passwords). */
const SECRET_FIELDS: ReadonlySet<string> = new Set(["private_key", "secret", "session_ticket_keys", "password", "pkcs12"]);

/** A decoded message with every secret field's value replaced by "(redacted)". */
export function redacted(described: unknown): unknown {
  if (Array.isArray(described)) return described.map(redacted);
  if (typeof described !== "object" || described === null || Buffer.isBuffer(described)) return described;
  return Object.fromEntries(Object.entries(described).map(([k, v]) => (SECRET_FIELDS.has(k) ? [k, "(redacted)"] : [k, redacted(v)])));
}
