// Istio AuthorizationPolicy -> Envoy's RBAC HTTP filter (envoy.extensions.filters.http.rbac.v3.RBAC),
// as Istio builds it: one filter with the DENY policies, checked first, then one filter with the
// ALLOW policies (present only when an ALLOW policy applies, so that "no ALLOW policy" allows
// everything and "an ALLOW policy that matches nothing" denies everything).
//
// One Istio rule becomes one Envoy policy, named as Istio names it: ns[NS]-policy[NAME]-rule[I].
// An Envoy policy matches when any of its permissions and any of its principals match, so a rule
// maps to: permissions = one per `to` entry (each the AND of its fields and of the `when`
// conditions on the destination: destination.ip/port, connection.sni), principals = one per `from`
// entry (each the AND of its fields and of the other `when` conditions, about the request's
// source, headers or verified JWT). Within a field the values are ORed; a not-field is
// NOT(OR(values)).
//
// End-user identities (requestPrincipals, request.auth.*) are read from the dynamic metadata the
// jwt_authn filter before these writes (jwt.ts): metadata[envoy.filters.http.jwt_authn].payload,
// through Principal.sourced_metadata (Envoy 1.40 deprecates Principal.metadata; protos/overlay).
// AUDIT policies are a third filter, first, with Envoy's action LOG: it never refuses, it marks
// matching requests for the access log (dynamic metadata envoy.common access_log_hint) and counts
// them in its own stats (rbac.audit.*, per rule).
//
// For proxyless gRPC servers (peer "grpc"), only what gRPC's xDS server (@grpc/grpc-js-xds 1.14.1,
// rbac.js) evaluates as Envoy does is emitted:
// permissions and_rules, or_rules, not_rule, any, header, url_path, destination_port, destination_ip;
// principals and_ids, or_ids, not_id, any, authenticated, direct_remote_ip, remote_ip, header;
// string matchers exact, prefix, suffix, safe_regex (gRPC anchors a regex at both ends, as RE2 full
// match does in Envoy). Never emitted for gRPC: metadata and sourced_metadata (gRPC verifies no
// JWT), requested_server_name (gRPC matches it against ""), destination_port_range, matcher,
// uri_template, filter_state, action LOG (gRPC rejects the filter, so AUDIT policies are left out
// there). A rule using them is handled as an unsupported condition: an ALLOW rule matches nothing,
// a DENY rule denies more.
import type { RBAC as HttpRbac } from "../envoy/generated/envoy/extensions/filters/http/rbac/v3/RBAC.js";
import type { RBAC as RbacRules } from "../envoy/generated/envoy/config/rbac/v3/RBAC.js";
import type { Policy } from "../envoy/generated/envoy/config/rbac/v3/Policy.js";
import type { Permission } from "../envoy/generated/envoy/config/rbac/v3/Permission.js";
import type { Principal } from "../envoy/generated/envoy/config/rbac/v3/Principal.js";
import type { StringMatcher } from "../envoy/generated/envoy/type/matcher/v3/StringMatcher.js";
import type { HeaderMatcher } from "../envoy/generated/envoy/config/route/v3/HeaderMatcher.js";
import type { HttpFilter } from "../envoy/generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter.js";
import type { MeshResource } from "../config/resources.js";
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationRule, AuthorizationSource, Labels } from "../config/types.js";
import type { MetadataMatcher } from "../envoy/generated/envoy/type/matcher/v3/MetadataMatcher.js";
import { pack, type Any } from "../envoy/index.js";
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from "./jwt.js";

export type { HttpRbac };

type AuthorizationPolicy = MeshResource<"AuthorizationPolicy">;

/** The RBAC filter configs for one workload, in the order they run. */
export interface RbacFilterConfigs {
  /** The AUDIT policies (action LOG); absent when none applies, and always for gRPC. */
  readonly audit?: HttpRbac;
  /** The DENY policies; absent when none applies. */
  readonly deny?: HttpRbac;
  /** The ALLOW policies; absent when none applies (then everything not denied is allowed). */
  readonly allow?: HttpRbac;
  /**
   * What could not be translated exactly. The translation is still safe: such a condition makes
   * an ALLOW rule match nothing and a DENY rule match more.
   */
  readonly problems: readonly string[];
}

/** The HTTP filter names (gRPC refuses two filters with one name). */
export const RBAC_AUDIT_FILTER = "envoy.filters.http.rbac.audit";
export const RBAC_DENY_FILTER = "envoy.filters.http.rbac.deny";
export const RBAC_ALLOW_FILTER = "envoy.filters.http.rbac.allow";
const RBAC_MESSAGE = "envoy.extensions.filters.http.rbac.v3.RBAC" as const;

/**
 * The RBAC configs for the policies that apply to one workload (see policiesForWorkload).
 * Pure: the same policies give the same configs, whatever their order.
 */
export function rbacFilterConfig(policies: readonly AuthorizationPolicy[], traffic: Traffic = "http", peer: RbacPeer = "envoy"): RbacFilterConfigs {
  const problems: string[] = [];
  const sorted = [...policies].sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const audit = sorted.filter((p) => p.spec.action === "AUDIT");
  const deny = sorted.filter((p) => p.spec.action === "DENY");
  const allow = sorted.filter((p) => (p.spec.action ?? "ALLOW") === "ALLOW");
  const ctx = { traffic, peer, problems };
  if (audit.length > 0 && peer === "grpc") problems.push(`AUDIT policies ${audit.map((p) => `${p.namespace}/${p.name}`).join(", ")} are left out: gRPC's xDS server refuses the RBAC action LOG`);
  return {
    ...(audit.length > 0 && peer === "envoy" ? { audit: { rules: rulesOf("LOG", audit, ctx) } } : {}),
    ...(deny.length > 0 ? { deny: { rules: rulesOf("DENY", deny, ctx) } } : {}),
    ...(allow.length > 0 ? { allow: { rules: rulesOf("ALLOW", allow, ctx) } } : {}),
    problems,
  };
}

/**
 * The configs with every header matcher rewritten by `f` (a proxyless gRPC server takes them in
 * the older fields every gRPC version reads: grpc-headers.ts).
 */
export function withHeaderMatchers(configs: RbacFilterConfigs, f: (h: HeaderMatcher) => HeaderMatcher): RbacFilterConfigs {
  const permission = (p: Permission): Permission => {
    if (p.header !== undefined && p.header !== null) return { ...p, header: f(p.header) };
    if (p.and_rules?.rules !== undefined) return { ...p, and_rules: { rules: p.and_rules.rules.map(permission) } };
    if (p.or_rules?.rules !== undefined) return { ...p, or_rules: { rules: p.or_rules.rules.map(permission) } };
    if (p.not_rule !== undefined && p.not_rule !== null) return { ...p, not_rule: permission(p.not_rule) };
    return p;
  };
  const principal = (p: Principal): Principal => {
    if (p.header !== undefined && p.header !== null) return { ...p, header: f(p.header) };
    if (p.and_ids?.ids !== undefined) return { ...p, and_ids: { ids: p.and_ids.ids.map(principal) } };
    if (p.or_ids?.ids !== undefined) return { ...p, or_ids: { ids: p.or_ids.ids.map(principal) } };
    if (p.not_id !== undefined && p.not_id !== null) return { ...p, not_id: principal(p.not_id) };
    return p;
  };
  const rewrite = (config: HttpRbac | undefined): HttpRbac | undefined => {
    if (config?.rules === undefined || config.rules === null) return config;
    const policies = Object.entries(config.rules.policies ?? {}).map(([name, p]) => [
      name,
      { ...p, permissions: (p.permissions ?? []).map(permission), principals: (p.principals ?? []).map(principal) },
    ]);
    return { ...config, rules: { ...config.rules, policies: Object.fromEntries(policies) as Record<string, Policy> } };
  };
  const audit = rewrite(configs.audit);
  const deny = rewrite(configs.deny);
  const allow = rewrite(configs.allow);
  return { ...(audit === undefined ? {} : { audit }), ...(deny === undefined ? {} : { deny }), ...(allow === undefined ? {} : { allow }), problems: configs.problems };
}

/** The configs as HTTP filters, AUDIT, then DENY, then ALLOW; the router goes after them. */
export function rbacHttpFilters(configs: RbacFilterConfigs): HttpFilter[] {
  const filters: HttpFilter[] = [];
  // Never is_optional: a server that cannot enforce a policy must refuse the listener, not serve
  // without it.
  // Its own stats (rbac.audit.*), apart from the DENY and ALLOW filters', per rule: what was audited.
  if (configs.audit !== undefined) filters.push({ name: RBAC_AUDIT_FILTER, typed_config: packRbac({ ...configs.audit, rules_stat_prefix: "audit.", track_per_rule_stats: true }) });
  if (configs.deny !== undefined) filters.push({ name: RBAC_DENY_FILTER, typed_config: packRbac(configs.deny) });
  if (configs.allow !== undefined) filters.push({ name: RBAC_ALLOW_FILTER, typed_config: packRbac(configs.allow) });
  return filters;
}

/** The configs as network filters for a TCP port, AUDIT and DENY first; tcp_proxy goes after them. */
export function rbacNetworkFilters(configs: RbacFilterConfigs, statPrefix: string): { name: string; typed_config: Any }[] {
  const filters: { name: string; typed_config: Any }[] = [];
  const packed = (rules: NonNullable<HttpRbac["rules"]>) => pack("envoy.extensions.filters.network.rbac.v3.RBAC", { rules, stat_prefix: statPrefix });
  if (configs.audit?.rules !== undefined && configs.audit.rules !== null) filters.push({ name: "envoy.filters.network.rbac.audit", typed_config: packed(configs.audit.rules) });
  if (configs.deny?.rules !== undefined && configs.deny.rules !== null) filters.push({ name: "envoy.filters.network.rbac.deny", typed_config: packed(configs.deny.rules) });
  if (configs.allow?.rules !== undefined && configs.allow.rules !== null) filters.push({ name: "envoy.filters.network.rbac.allow", typed_config: packed(configs.allow.rules) });
  return filters;
}

function packRbac(config: HttpRbac): NonNullable<HttpFilter["typed_config"]> {
  return pack(RBAC_MESSAGE, config);
}

/**
 * Istio's selection: a policy in the root namespace applies mesh-wide, any other only in its own
 * namespace; a policy without a selector applies to every workload in its scope, one with a
 * selector to the workloads whose labels include all of matchLabels.
 */
export function policiesForWorkload<P extends { readonly namespace: string; readonly spec: { readonly selector?: { readonly matchLabels?: Labels } } }>(
  policies: readonly P[],
  workload: { readonly namespace: string; readonly labels: Labels },
  rootNamespace = "istio-system",
): P[] {
  return policies.filter((p) => {
    if (p.namespace !== rootNamespace && p.namespace !== workload.namespace) return false;
    const wanted = p.spec.selector?.matchLabels ?? {};
    return Object.entries(wanted).every(([k, v]) => workload.labels[k] === v);
  });
}

/**
 * The traffic a filter sees: a TCP port's network filter sees no requests, so the HTTP-only
 * fields (hosts, methods, paths, request headers) cannot be checked there. Istio's rule for them
 * applies: an ALLOW rule that has one matches nothing, a DENY rule is kept without them (it
 * denies more rather than less).
 */
export type Traffic = "http" | "tcp";

/** Who enforces the rules: an Envoy proxy, or a proxyless gRPC server (see the file's comment). */
export type RbacPeer = "envoy" | "grpc";

interface RulesContext {
  readonly traffic: Traffic;
  readonly peer: RbacPeer;
  readonly problems: string[];
}

function rulesOf(action: "ALLOW" | "DENY" | "LOG", policies: readonly AuthorizationPolicy[], ctx: RulesContext): RbacRules {
  const out: Record<string, Policy> = {};
  // An AUDIT rule that cannot be checked is left out (it changes no decision, only what is logged).
  const strict = action !== "DENY";
  const fate = strict ? "the rule matches nothing" : "the condition is ignored (the rule denies more)";
  for (const p of policies) {
    (p.spec.rules ?? []).forEach((original, i) => {
      const where = `AuthorizationPolicy ${p.namespace}/${p.name} rule ${i}`;
      const rule = ctx.traffic === "tcp" ? withoutHttpFields(original) : { rule: original, dropped: [] };
      if (rule.dropped.length > 0) {
        ctx.problems.push(`${where}: ${rule.dropped.join(", ")} cannot be checked on a TCP port; ${strict ? "the rule matches nothing there" : "they are ignored there (the rule denies more)"}`);
        if (strict) return;
      }
      const unsupported: string[] = [];
      const conditions: Principal[] = [];
      const operations: Permission[] = [];
      for (const c of rule.rule.when ?? []) {
        const condition = conditionMatch(c);
        if (condition === undefined) unsupported.push(`when key ${JSON.stringify(c.key)} is not supported`);
        else if (ctx.peer === "grpc" && !condition.grpc) unsupported.push(`when key ${JSON.stringify(c.key)} cannot be checked by a proxyless gRPC server`);
        else if (condition.t === "principal") conditions.push(condition.principal);
        else operations.push(condition.permission);
      }
      const froms = (rule.rule.from ?? []).map((f) => {
        const jwt = JWT_SOURCE_FIELDS.filter((k) => f.source[k] !== undefined);
        if (ctx.peer === "grpc" && jwt.length > 0) {
          unsupported.push(`${jwt.join(", ")} cannot be checked by a proxyless gRPC server (it has no JWT authentication)`);
          const kept: Record<string, unknown> = { ...f.source };
          for (const k of jwt) delete kept[k];
          return sourcePrincipal(kept as AuthorizationSource);
        }
        return sourcePrincipal(f.source);
      });
      if (unsupported.length > 0) {
        // Fail safe, as Istio does: an ALLOW rule that cannot be checked allows nothing; for DENY
        // the condition is left out, so the rule denies more rather than less.
        ctx.problems.push(...unsupported.map((u) => `${where}: ${u}; ${fate}`));
        if (strict) return;
      }
      const tos = (rule.rule.to ?? []).map((t) => operationPermission(t.operation));
      const principals = (froms.length > 0 ? froms : [ANY_ID]).map((s) => andIds([s, ...conditions]));
      out[`ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = {
        permissions: (tos.length > 0 ? tos : [ANY_RULE]).map((t) => andRules([t, ...operations])),
        principals,
      };
    });
  }
  return { action, policies: out };
}

const HTTP_OPERATION_FIELDS = ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"] as const;
/** Source fields that name the end user of a verified JWT (only HTTP requests carry one). */
const JWT_SOURCE_FIELDS = ["requestPrincipals", "notRequestPrincipals"] as const;

/** A rule without the fields only HTTP traffic has, and the names of those it had. */
function withoutHttpFields(rule: AuthorizationRule): { rule: AuthorizationRule; dropped: string[] } {
  const dropped = new Set<string>();
  /** `o` without `fields`, noting those it had. */
  const strip = <T extends object>(o: T, fields: readonly (keyof T & string)[]): T => {
    const kept: Partial<T> = { ...o };
    for (const f of fields.filter((f) => o[f] !== undefined)) {
      dropped.add(f);
      delete kept[f];
    }
    return kept as T;
  };
  const to = (rule.to ?? []).map(({ operation }) => ({ operation: strip(operation, HTTP_OPERATION_FIELDS) }));
  const from = (rule.from ?? []).map(({ source }) => ({ source: strip(source, JWT_SOURCE_FIELDS) }));
  const when = (rule.when ?? []).filter((c) => {
    if (!HTTP_ONLY_KEY.test(c.key)) return true;
    dropped.add(c.key);
    return false;
  });
  const out: AuthorizationRule = {
    ...rule,
    ...(rule.to === undefined ? {} : { to }),
    ...(rule.from === undefined ? {} : { from }),
    ...(rule.when === undefined ? {} : { when }),
  };
  return { rule: out, dropped: [...dropped] };
}

const ANY_RULE: Permission = { any: true };
const ANY_ID: Principal = { any: true };

function andRules(rules: Permission[]): Permission {
  const real = rules.filter((r) => r !== ANY_RULE);
  return real.length === 0 ? ANY_RULE : real.length === 1 ? real[0]! : { and_rules: { rules: real } };
}

function orRules(rules: Permission[]): Permission {
  return rules.length === 1 ? rules[0]! : { or_rules: { rules } };
}

function andIds(ids: Principal[]): Principal {
  const real = ids.filter((r) => r !== ANY_ID);
  return real.length === 0 ? ANY_ID : real.length === 1 ? real[0]! : { and_ids: { ids: real } };
}

function orIds(ids: Principal[]): Principal {
  return ids.length === 1 ? ids[0]! : { or_ids: { ids } };
}

/** AND of: field matches one of values (when given), and matches none of notValues (when given). */
function fieldRules(values: readonly string[] | undefined, notValues: readonly string[] | undefined, one: (v: string) => Permission): Permission[] {
  const out: Permission[] = [];
  if (values !== undefined && values.length > 0) out.push(orRules(values.map(one)));
  if (notValues !== undefined && notValues.length > 0) out.push({ not_rule: orRules(notValues.map(one)) });
  return out;
}

function fieldIds(values: readonly string[] | undefined, notValues: readonly string[] | undefined, one: (v: string) => Principal): Principal[] {
  const out: Principal[] = [];
  if (values !== undefined && values.length > 0) out.push(orIds(values.map(one)));
  if (notValues !== undefined && notValues.length > 0) out.push({ not_id: orIds(notValues.map(one)) });
  return out;
}

function operationPermission(op: AuthorizationOperation): Permission {
  return andRules([
    ...fieldRules(op.hosts, op.notHosts, (h) => ({ header: { name: ":authority", string_match: hostMatcher(h) } })),
    ...fieldRules(op.ports, op.notPorts, (p) => ({ destination_port: Number(p) })),
    // An RPC is always a POST (gRPC's server sets :method to POST for RBAC).
    ...fieldRules(op.methods, op.notMethods, (m) => ({ header: { name: ":method", string_match: { exact: m } } })),
    ...fieldRules(op.paths, op.notPaths, (p) => ({ url_path: { path: wildcardMatcher(p) } })),
  ]);
}

function sourcePrincipal(src: AuthorizationSource): Principal {
  // principals, namespaces and serviceAccounts name mTLS peer identities: the SPIFFE URI SAN of the
  // peer's certificate, which the mesh CA issues and the inbound TLS chains require (mtls.ts). Over
  // plaintext (PERMISSIVE's plaintext chain, DISABLE) there is no peer certificate and they never
  // match: an ALLOW on a principal denies, a DENY on one does not deny. That is Istio's behaviour.
  return andIds([
    ...fieldIds(src.principals, src.notPrincipals, peerPrincipal),
    ...fieldIds(src.requestPrincipals, src.notRequestPrincipals, requestPrincipal),
    ...fieldIds(src.namespaces, src.notNamespaces, peerNamespace),
    ...fieldIds(src.serviceAccounts, src.notServiceAccounts, peerServiceAccount),
    ...fieldIds(src.ipBlocks, src.notIpBlocks, ipPrincipal),
    ...fieldIds(src.remoteIpBlocks, src.notRemoteIpBlocks, remoteIpPrincipal),
  ]);
}

function peerPrincipal(p: string): Principal {
  return { authenticated: { principal_name: principalMatcher(p) } };
}

function peerNamespace(n: string): Principal {
  return { authenticated: { principal_name: { safe_regex: { regex: namespaceRegex(n) } } } };
}

/**
 * "ns/sa": the peer's SPIFFE identity is spiffe://<trust domain>/ns/<ns>/sa/<sa>. Any trust
 * domain: the inbound chains accept only certificates of the mesh CA, which writes its own.
 */
function peerServiceAccount(v: string): Principal {
  const [ns, sa] = v.split("/") as [string, string];
  return { authenticated: { principal_name: { safe_regex: { regex: `spiffe://[^/]+/ns/${escapeRegex(ns)}/sa/${escapeRegex(sa)}` } } } };
}

/** Request headers and the JWT's fields exist only on HTTP requests. */
const HTTP_ONLY_KEY = /^request\./;
const HEADER_KEY = /^request\.headers\[([^[\]]+)\]$/;
const CLAIM_KEY = /^request\.auth\.claims((\[[^[\]]+\])+)$/;

/** A `when` condition: on who sends (a principal) or on where it goes (a permission). */
type ConditionMatch = ({ readonly t: "principal"; readonly principal: Principal } | { readonly t: "permission"; readonly permission: Permission }) & {
  /** Whether gRPC's xDS server evaluates it as Envoy does. */
  readonly grpc: boolean;
};

/** A `when` condition, or undefined when its key is not one Envoy can check. */
function conditionMatch(c: AuthorizationCondition): ConditionMatch | undefined {
  const principal = (one: (v: string) => Principal, grpc = true): ConditionMatch => ({ t: "principal", principal: andIds(fieldIds(c.values, c.notValues, one)), grpc });
  const permission = (one: (v: string) => Permission, grpc = true): ConditionMatch => ({ t: "permission", permission: andRules(fieldRules(c.values, c.notValues, one)), grpc });
  switch (c.key) {
    case "source.ip":
      return principal(ipPrincipal);
    case "remote.ip":
      return principal(remoteIpPrincipal);
    case "source.principal":
      return principal(peerPrincipal);
    case "source.namespace":
      return principal(peerNamespace);
    case "source.serviceAccount":
      return principal(peerServiceAccount);
    case "destination.ip":
      return permission((v) => ({ destination_ip: cidr(v) }));
    case "destination.port":
      return permission((v) => ({ destination_port: Number(v) }));
    case "connection.sni":
      return permission((v) => ({ requested_server_name: wildcardMatcher(v) }), false);
    case "request.auth.principal":
      return principal(requestPrincipal, false);
    case "request.auth.audiences":
      return principal((v) => claimPrincipal(["aud"], v), false);
    case "request.auth.presenter":
      return principal((v) => claimPrincipal(["azp"], v), false);
  }
  const header = HEADER_KEY.exec(c.key)?.[1];
  if (header !== undefined) return principal((v) => ({ header: headerMatcher(header.toLowerCase(), v) }));
  const claims = CLAIM_KEY.exec(c.key)?.[1];
  if (claims !== undefined) {
    const path = claims.slice(1, -1).split("][");
    return principal((v) => claimPrincipal(path, v), false);
  }
  return undefined;
}

/** The verified JWT's payload at `path` (jwt.ts puts it in the jwt_authn filter's metadata). */
function payloadMatcher(path: readonly string[], value: NonNullable<MetadataMatcher["value"]>): Principal {
  // sourced_metadata (dynamic metadata by default): Envoy 1.40 deprecates Principal.metadata.
  return { sourced_metadata: { metadata_matcher: { filter: JWT_AUTHN_FILTER, path: [JWT_PAYLOAD_KEY, ...path].map((key) => ({ key })), value } } };
}

/**
 * A claim matches a value as Istio's does: a string claim equal to it (with Istio's "*", prefix
 * and suffix forms), or a list claim (aud, groups, ...) holding such a string.
 */
function claimPrincipal(path: readonly string[], v: string): Principal {
  const m = wildcardMatcher(v);
  return orIds([payloadMatcher(path, { string_match: m }), payloadMatcher(path, { list_match: { one_of: { string_match: m } } })]);
}

const present = (field: "iss" | "sub"): Principal => payloadMatcher([field], { present_match: true });
const iss = (m: StringMatcher): Principal => payloadMatcher(["iss"], { string_match: m });
const sub = (m: StringMatcher): Principal => payloadMatcher(["sub"], { string_match: m });
const NOTHING: Principal = { not_id: { any: true } };

/**
 * Istio's request principal is "<iss>/<sub>" of the verified token. Envoy keeps iss and sub apart,
 * and either may hold "/", so the value is matched at every "/" it could be split at: "a/b/c" is
 * iss "a" and sub "b/c", or iss "a/b" and sub "c". "*" is any verified token; "x*" and "*x" are
 * prefix and suffix forms, split the same way.
 */
export function requestPrincipal(v: string): Principal {
  if (v === "*") return present("iss");
  const slashes = [...v].flatMap((ch, i) => (ch === "/" ? [i] : []));
  const ways: Principal[] = [];
  if (v.endsWith("*")) {
    const p = v.slice(0, -1);
    ways.push(iss({ prefix: p }));
    for (const i of slashes.filter((i) => i < p.length)) {
      const rest = p.slice(i + 1);
      ways.push(andIds([iss({ exact: p.slice(0, i) }), rest === "" ? present("sub") : sub({ prefix: rest })]));
    }
  } else if (v.startsWith("*")) {
    const x = v.slice(1);
    ways.push(sub({ suffix: x }));
    for (const i of slashes.filter((i) => i > 0).map((i) => i - 1)) {
      const head = x.slice(0, i);
      ways.push(andIds([head === "" ? present("iss") : iss({ suffix: head }), sub({ exact: x.slice(i + 1) })]));
    }
  } else {
    for (const i of slashes) ways.push(andIds([iss({ exact: v.slice(0, i) }), sub({ exact: v.slice(i + 1) })]));
  }
  return ways.length === 0 ? NOTHING : orIds(ways);
}

/** Istio's value syntax: "*" any (present), "x*" prefix, "*x" suffix, else exact. */
function headerMatcher(name: string, v: string): HeaderMatcher {
  if (v === "*") return { name, present_match: true };
  return { name, string_match: wildcardMatcher(v) };
}

function wildcardMatcher(v: string, ignoreCase = false): StringMatcher {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === "*") return { safe_regex: { regex: ".+" } };
  if (v.startsWith("*")) return { suffix: v.slice(1), ...ic };
  if (v.endsWith("*")) return { prefix: v.slice(0, -1), ...ic };
  return { exact: v, ...ic };
}

/**
 * hosts match the :authority header case-insensitively, with or without a port (a gRPC client
 * sends "host:port"): "h" matches "h" and "h:PORT", "*.x" any subdomain of x, "h*" any suffix.
 */
function hostMatcher(h: string): StringMatcher {
  if (h === "*") return { safe_regex: { regex: ".+" } };
  const port = "(:[0-9]+)?";
  if (h.startsWith("*")) return { safe_regex: { regex: `(?i).*${escapeRegex(h.slice(1))}${port}` } };
  if (h.endsWith("*")) return { safe_regex: { regex: `(?i)${escapeRegex(h.slice(0, -1))}.*` } };
  return { safe_regex: { regex: `(?i)${escapeRegex(h)}${port}` } };
}

/** Istio's principal forms: "cluster.local/ns/a/sa/b" is the SPIFFE URI spiffe://cluster.local/ns/a/sa/b. */
function principalMatcher(p: string): StringMatcher {
  if (p === "*") return { safe_regex: { regex: ".+" } };
  if (p.startsWith("*")) return { suffix: p.slice(1) };
  if (p.endsWith("*")) return { prefix: `spiffe://${p.slice(0, -1)}` };
  return { exact: `spiffe://${p}` };
}

/** A namespace as the /ns/NAME/ segment of a SPIFFE URI. */
function namespaceRegex(n: string): string {
  const segment =
    n === "*" ? "[^/]+" : n.startsWith("*") ? `[^/]*${escapeRegex(n.slice(1))}` : n.endsWith("*") ? `${escapeRegex(n.slice(0, -1))}[^/]*` : escapeRegex(n);
  return `.*/ns/${segment}/.*`;
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

/**
 * The peer address in a CIDR block: "10.0.0.0/8", or a bare address (a /32 or /128).
 *
 * gRPC's XdsServer (grpc-js-xds 1.14.1) listens on a dual-stack socket, so an IPv4 peer's address
 * is "::ffff:a.b.c.d". Its RBAC engine compares only addresses of one family, so an IPv4 block
 * never matches such a peer (an ALLOW on it denies, a DENY on it does not deny); and its IPv6
 * parser cannot read the dotted tail, so an IPv6 block fails the check. Envoy is not affected.
 */
function ipPrincipal(block: string): Principal {
  return { direct_remote_ip: cidr(block) };
}

/**
 * remoteIpBlocks and remote.ip: the original client, which Envoy takes from x-forwarded-for (the
 * address the caller's own proxy appended), as Istio documents; the peer's address without it.
 */
function remoteIpPrincipal(block: string): Principal {
  return { remote_ip: cidr(block) };
}

function cidr(block: string): { address_prefix: string; prefix_len: { value: number } } {
  const [address, len] = block.split("/") as [string, string | undefined];
  const prefixLen = len !== undefined ? Number(len) : address.includes(":") ? 128 : 32;
  return { address_prefix: address, prefix_len: { value: prefixLen } };
}
