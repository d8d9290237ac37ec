import type { MeshResource } from "../resources.js";
import { each, type Check, type CheckContext, type Path } from "./context.js";

interface Destination {
  readonly host: string;
  readonly subset?: string;
  readonly port?: { readonly number?: number };
}

/**
 * GM0302 host no ServiceEntry declares, GM0303 subset no DestinationRule defines, GM0305 port the
 * service does not have: for every VirtualService destination and mirror, and DestinationRule host.
 */
export const destinationChecks: readonly Check[] = [
  each("VirtualService", (ctx, vs) => {
    (vs.spec.http ?? []).forEach((route, i) => {
      (route.route ?? []).forEach((d, j) => checkDestination(ctx, vs, d.destination, ["spec", "http", i, "route", j, "destination"]));
      if (route.mirror !== undefined) checkDestination(ctx, vs, route.mirror, ["spec", "http", i, "mirror"]);
      (route.mirrors ?? []).forEach((m, j) => checkDestination(ctx, vs, m.destination, ["spec", "http", i, "mirrors", j, "destination"]));
    });
    (vs.spec.tcp ?? []).forEach((route, i) => {
      (route.route ?? []).forEach((d, j) => checkDestination(ctx, vs, d.destination, ["spec", "tcp", i, "route", j, "destination"]));
    });
    (vs.spec.tls ?? []).forEach((route, i) => {
      (route.route ?? []).forEach((d, j) => checkDestination(ctx, vs, d.destination, ["spec", "tls", i, "route", j, "destination"]));
    });
  }),
  each("DestinationRule", (ctx, dr) => {
    const host = ctx.qualify(dr.spec.host, dr.namespace);
    // A wildcard rule (*.local) sets policy for every service it covers; it need not match one.
    if (host.startsWith("*")) return;
    if (ctx.servicesFor(host).length === 0 && !ctx.declaredByInvalid(host)) {
      ctx.report(dr, ["spec", "host"], "GM0302", "error", `host ${host} is not declared by any ServiceEntry; declare it, or fix the host`);
    }
  }),
];

function checkDestination(ctx: CheckContext, vs: MeshResource<"VirtualService">, d: Destination, path: Path): void {
  const host = ctx.qualify(d.host, vs.namespace);
  const services = ctx.servicesFor(host);
  // A host whose ServiceEntry failed its schema: that error says it all; subsets still count.
  const serviceBroken = services.length === 0 && ctx.declaredByInvalid(host);
  if (services.length === 0 && !serviceBroken) {
    ctx.report(vs, [...path, "host"], "GM0302", "error", `destination host ${host} is not declared by any ServiceEntry; declare it, or fix the host`);
    return;
  }
  if (d.subset !== undefined) {
    const rules = ctx.rulesFor(host);
    const subsets = rules.flatMap((dr) => (dr.spec.subsets ?? []).map((s) => s.name));
    if (!subsets.includes(d.subset) && !rulesBroken(ctx, host)) {
      const known = subsets.length > 0 ? `it has ${subsets.join(", ")}` : "no DestinationRule for this host defines subsets";
      ctx.report(vs, [...path, "subset"], "GM0303", "error", `subset ${d.subset} of ${host} is not defined (${known}); add it to the host's DestinationRule or fix the name`);
    }
  }
  const port = d.port?.number;
  const servicePorts = services.flatMap((se) => (se.spec.ports ?? []).map((p) => p.number));
  if (port === undefined && !serviceBroken && new Set(servicePorts).size > 1) {
    // Without a port, traffic keeps the port it arrived on (as in Istio): fine unless the
    // destination lacks one of the ports the VirtualService's own hosts are reached on.
    const routedPorts = (vs.spec.hosts ?? []).flatMap((h) => ctx.servicesFor(ctx.qualify(h, vs.namespace))).flatMap((se) => (se.spec.ports ?? []).map((p) => p.number));
    const missing = [...new Set(routedPorts)].filter((p) => !servicePorts.includes(p));
    if (missing.length > 0) {
      ctx.report(vs, path, "GM0315", "error", `${host} has several ports (${servicePorts.join(", ")}) but not ${missing.join(", ")}, where this route's traffic arrives; say which with port: { number: N }`, "key");
    }
  }
  if (port !== undefined && !serviceBroken) {
    const ports = services.flatMap((se) => (se.spec.ports ?? []).map((p) => p.number));
    if (!ports.includes(port)) {
      ctx.report(vs, [...path, "port", "number"], "GM0305", "error", `${host} has no port ${port} (its ports: ${ports.join(", ") || "none"}); use one of them`);
    }
  }
}

/** A DestinationRule for the host failed its schema: its subsets are unknown, not missing. */
function rulesBroken(ctx: CheckContext, host: string): boolean {
  return ctx.declaredByInvalid(`rule:${host}`);
}
