import { each, type Check } from "./context.js";

/**
 * Config Istio's own validation refuses, which gitmesh would otherwise accept and serve as
 * something else (or nothing): GM0326 a VirtualService without routes, GM0327 "*" as a host for
 * sidecars (the mesh gateway), GM0328 an empty Sidecar, GM0329 a DENY policy without rules,
 * GM0330 portLevelMtls without a selector, GM0331 endpoint ports naming no service port, GM0332
 * two Gateway servers with one port name, GM0339 a second egress listener without a port.
 */
export const istioRuleChecks: readonly Check[] = [
  each("VirtualService", (ctx, vs) => {
    const spec = vs.spec as unknown as Record<string, unknown>;
    const routes = ["http", "tcp", "tls"].some((k) => Array.isArray(spec[k]) && (spec[k] as unknown[]).length > 0);
    if (!routes) ctx.report(vs, ["spec"], "GM0326", "error", "a VirtualService needs routes: http, tcp or tls (Istio refuses one without); add the routes, or delete it", "key");
    if ((vs.spec.gateways ?? ["mesh"]).includes("mesh")) {
      (vs.spec.hosts ?? []).forEach((h, i) => {
        if (h === "*") ctx.report(vs, ["spec", "hosts", i], "GM0327", "error", `host "*" is not allowed for sidecars (the mesh gateway), as in Istio: name the hosts, or bind the VirtualService to a Gateway with gateways: [...]`);
      });
    }
  }),
  each("Sidecar", (ctx, s) => {
    const spec = s.spec as unknown as Record<string, unknown>;
    const has = (k: string) => spec[k] !== undefined && !(Array.isArray(spec[k]) && (spec[k] as unknown[]).length === 0);
    if (!["egress", "ingress", "outboundTrafficPolicy", "inboundConnectionPool"].some(has)) {
      ctx.report(s, ["spec"], "GM0328", "error", "an empty Sidecar configures nothing (Istio refuses it); give it egress hosts, or delete it", "key");
    }
    // An egress listener without a port catches every port, and Istio takes one (the last); every
    // gitmesh egress listener has no port (egress port is not supported).
    (s.spec.egress ?? []).forEach((_, i) => {
      if (i > 0) ctx.report(s, ["spec", "egress", i], "GM0339", "error", "a Sidecar has one egress listener without a port (Istio refuses a second); put these hosts in the first listener's hosts", "key");
    });
  }),
  each("AuthorizationPolicy", (ctx, ap) => {
    if (ap.spec.action === "DENY" && (ap.spec.rules ?? []).length === 0) {
      ctx.report(ap, ["spec", "action"], "GM0329", "error", "a DENY policy without rules denies nothing (Istio refuses it); add the rules that say what to deny, or to deny everything use ALLOW with no rules");
    }
  }),
  each("PeerAuthentication", (ctx, pa) => {
    const selected = Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
    if (pa.spec.portLevelMtls !== undefined && !selected) {
      ctx.report(pa, ["spec", "portLevelMtls"], "GM0330", "error", "portLevelMtls needs a workload selector (Istio refuses it without, and ignores it at namespace or mesh level); add selector.matchLabels, or set the mode with mtls", "key");
    }
  }),
  each("ServiceEntry", (ctx, se) => {
    const names = new Set((se.spec.ports ?? []).map((p) => p.name));
    (se.spec.endpoints ?? []).forEach((e, i) => {
      for (const name of Object.keys(e.ports ?? {})) {
        if (!names.has(name)) ctx.report(se, ["spec", "endpoints", i, "ports", name], "GM0331", "error", `endpoint port ${JSON.stringify(name)} names no port of this ServiceEntry (its ports: ${[...names].join(", ") || "none"}); use a port's name`, "key");
      }
    });
  }),
  each("Gateway", (ctx, gw) => {
    const seen = new Map<string, number>();
    gw.spec.servers.forEach((s, i) => {
      const name = s.port.name;
      const first = seen.get(name);
      if (first !== undefined) ctx.report(gw, ["spec", "servers", i, "port", "name"], "GM0332", "error", `port name ${name} is already used by servers[${first}] (Istio refuses two servers with one port name); give each server's port its own name`);
      else seen.set(name, i);
    });
  }),
];
