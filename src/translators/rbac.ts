// Istio AuthorizationPolicy -> Envoy's RBAC HTTP filter (envoy.extensions.filters.http.rbac.v3.RBAC),
// as Istio builds it: one filter with the DENY policies, checked first, then one filter with the
// ALLOW policies (present only when an ALLOW policy applies, so that "no ALLOW policy" allows
// everything and "an ALLOW policy that matches nothing" denies everything).
//
// One Istio rule becomes one Envoy policy, named as Istio names it: ns[NS]-policy[NAME]-rule[I].
// An Envoy policy matches when any of its permissions and any of its principals match, so a rule
// maps to: permissions = one per `to` entry (each the AND of its fields), principals = one per
// `from` entry (each the AND of its fields and of every `when` condition, which are all about the
// request's source or headers here). Within a field the values are ORed; a not-field is
// NOT(OR(values)).
//
// Everything emitted is something gRPC's xDS server (@grpc/grpc-js-xds 1.14.1, rbac.js) evaluates:
// permissions and_rules, or_rules, not_rule, any, header, url_path, destination_port; principals
// and_ids, or_ids, not_id, any, authenticated, direct_remote_ip, header; string matchers exact,
// prefix, suffix, safe_regex (gRPC anchors a regex at both ends, as RE2 full match does in Envoy).
// Never emitted, because gRPC does not evaluate them as Envoy does: metadata (always false in
// gRPC), requested_server_name (gRPC matches it against ""), destination_port_range, matcher,
// uri_template, filter_state (never match in gRPC), action LOG (gRPC rejects the filter).
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
import { pack, type Any } from "../envoy/index.js";

export type { HttpRbac };

type AuthorizationPolicy = MeshResource<"AuthorizationPolicy">;

/** The RBAC filter configs for one workload, in the order they run. */
export interface RbacFilterConfigs {
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
export const RBAC_DENY_FILTER = "envoy.filters.http.rbac.deny";
export const RBAC_ALLOW_FILTER = "envoy.filters.http.rbac.allow";
const RBAC_MESSAGE = "envoy.extensions.filters.http.rbac.v3.RBAC" as const;

/**
 * The RBAC configs for the policies that apply to one workload (see policiesForWorkload).
 * Pure: the same policies give the same configs, whatever their order.
 */
export function rbacFilterConfig(policies: readonly AuthorizationPolicy[], traffic: Traffic = "http"): RbacFilterConfigs {
  const problems: string[] = [];
  const sorted = [...policies].sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const deny = sorted.filter((p) => p.spec.action === "DENY");
  const allow = sorted.filter((p) => (p.spec.action ?? "ALLOW") === "ALLOW");
  return {
    ...(deny.length > 0 ? { deny: { rules: rulesOf("DENY", deny, traffic, problems) } } : {}),
    ...(allow.length > 0 ? { allow: { rules: rulesOf("ALLOW", allow, traffic, problems) } } : {}),
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
  const deny = rewrite(configs.deny);
  const allow = rewrite(configs.allow);
  return { ...(deny === undefined ? {} : { deny }), ...(allow === undefined ? {} : { allow }), problems: configs.problems };
}

/** The configs as HTTP filters, DENY first; the router goes after them. */
export function rbacHttpFilters(configs: RbacFilterConfigs): HttpFilter[] {
  const filters: HttpFilter[] = [];
  // Never is_optional: a server that cannot enforce a policy must refuse the listener, not serve
  // without it.
  if (configs.deny !== undefined) filters.push({ name: RBAC_DENY_FILTER, typed_config: packRbac(configs.deny) });
  if (configs.allow !== undefined) filters.push({ name: RBAC_ALLOW_FILTER, typed_config: packRbac(configs.allow) });
  return filters;
}

/** The configs as network filters for a TCP port, DENY first; tcp_proxy goes after them. */
export function rbacNetworkFilters(configs: RbacFilterConfigs, statPrefix: string): { name: string; typed_config: Any }[] {
  const filters: { name: string; typed_config: Any }[] = [];
  const packed = (rules: NonNullable<HttpRbac["rules"]>) => pack("envoy.extensions.filters.network.rbac.v3.RBAC", { rules, stat_prefix: statPrefix });
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
export function policiesForWorkload(
  policies: readonly AuthorizationPolicy[],
  workload: { readonly namespace: string; readonly labels: Labels },
  rootNamespace = "istio-system",
): AuthorizationPolicy[] {
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

function rulesOf(action: "ALLOW" | "DENY", policies: readonly AuthorizationPolicy[], traffic: Traffic, problems: string[]): RbacRules {
  const out: Record<string, Policy> = {};
  for (const p of policies) {
    (p.spec.rules ?? []).forEach((original, i) => {
      const where = `AuthorizationPolicy ${p.namespace}/${p.name} rule ${i}`;
      const rule = traffic === "tcp" ? withoutHttpFields(original) : { rule: original, dropped: [] };
      if (rule.dropped.length > 0) {
        problems.push(`${where}: ${rule.dropped.join(", ")} cannot be checked on a TCP port; ${action === "ALLOW" ? "the rule matches nothing there" : "they are ignored there (the rule denies more)"}`);
        if (action === "ALLOW") return;
      }
      const unsupported: string[] = [];
      const conditions: Principal[] = [];
      for (const c of rule.rule.when ?? []) {
        const principal = conditionPrincipal(c);
        if (principal === undefined) unsupported.push(`when key ${JSON.stringify(c.key)} is not supported`);
        else conditions.push(principal);
      }
      if (unsupported.length > 0) {
        // Fail safe, as Istio does: an ALLOW rule that cannot be checked allows nothing; for DENY
        // the condition is left out, so the rule denies more rather than less.
        problems.push(...unsupported.map((u) => `${where}: ${u}; ${action === "ALLOW" ? "the rule matches nothing" : "the condition is ignored (the rule denies more)"}`));
        if (action === "ALLOW") return;
      }
      const tos = (rule.rule.to ?? []).map((t) => operationPermission(t.operation));
      const froms = (rule.rule.from ?? []).map((f) => sourcePrincipal(f.source));
      const principals = (froms.length > 0 ? froms : [ANY_ID]).map((s) => andIds([s, ...conditions]));
      out[`ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = {
        permissions: tos.length > 0 ? tos : [ANY_RULE],
        principals,
      };
    });
  }
  return { action, policies: out };
}

const HTTP_OPERATION_FIELDS = ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"] as const;

/** A rule without the fields only HTTP traffic has, and the names of those it had. */
function withoutHttpFields(rule: AuthorizationRule): { rule: AuthorizationRule; dropped: string[] } {
  const dropped = new Set<string>();
  const to = (rule.to ?? []).map(({ operation }) => {
    const kept: Record<string, unknown> = { ...operation };
    for (const f of HTTP_OPERATION_FIELDS) {
      if (operation[f] === undefined) continue;
      dropped.add(f);
      delete kept[f];
    }
    return { operation: kept as AuthorizationOperation };
  });
  const when = (rule.when ?? []).filter((c) => {
    if (!HEADER_KEY.test(c.key)) return true;
    dropped.add(c.key);
    return false;
  });
  const out: AuthorizationRule = { ...rule, ...(rule.to === undefined ? {} : { to }), ...(rule.when === undefined ? {} : { when }) };
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
  // principals and namespaces name mTLS peer identities: the SPIFFE URI SAN of the peer's
  // certificate, which the mesh CA issues and the inbound TLS chains require (mtls.ts). Over
  // plaintext (PERMISSIVE's plaintext chain, DISABLE) there is no peer certificate and they never
  // match: an ALLOW on a principal denies, a DENY on one does not deny. That is Istio's behaviour.
  return andIds([
    ...fieldIds(src.principals, src.notPrincipals, (p) => ({ authenticated: { principal_name: principalMatcher(p) } })),
    ...fieldIds(src.namespaces, src.notNamespaces, (n) => ({ authenticated: { principal_name: { safe_regex: { regex: namespaceRegex(n) } } } })),
    ...fieldIds(src.ipBlocks, src.notIpBlocks, ipPrincipal),
  ]);
}

const HEADER_KEY = /^request\.headers\[([^[\]]+)\]$/;

/** A `when` condition as a principal, or undefined when its key is not supported. */
function conditionPrincipal(c: AuthorizationCondition): Principal | undefined {
  if (c.key === "source.ip") return andIds(fieldIds(c.values, c.notValues, ipPrincipal));
  const header = HEADER_KEY.exec(c.key)?.[1];
  if (header === undefined) return undefined;
  return andIds(fieldIds(c.values, c.notValues, (v) => ({ header: headerMatcher(header.toLowerCase(), v) })));
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
  const [address, len] = block.split("/") as [string, string | undefined];
  const prefixLen = len !== undefined ? Number(len) : address.includes(":") ? 128 : 32;
  return { direct_remote_ip: { address_prefix: address, prefix_len: { value: prefixLen } } };
}
