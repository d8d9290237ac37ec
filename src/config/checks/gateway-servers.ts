import { SDS_ROOT_CA, SDS_WORKLOAD_CERT } from "../../common/sds-names.js";
import type { MeshResource } from "../resources.js";
import type { CheckContext } from "./context.js";

const PLAIN_HTTP = new Set(["HTTP", "HTTP2", "GRPC"]);
const HTTP_FAMILY = new Set([...PLAIN_HTTP, "HTTPS"]);

/**
 * Gateway servers serve would leave out, said where they are written: GM0334 an HTTPS or TLS server
 * without tls, GM0335 tls settings on a plain HTTP server (both refused by Istio: httpsRedirect
 * alone is allowed), GM0336 (warning) a TCP server on a port where an HTTP server of a Gateway
 * with the same selector is (one listener per port: the TCP server is left out). GM0337 a
 * credentialName that is the SDS name of the gateway workload's own mesh secrets.
 */
export function checkGatewayServers(ctx: CheckContext): void {
  const byPort = new Map<string, { gw: MeshResource<"Gateway">; index: number; protocol: string }[]>();
  for (const gw of ctx.ofKind("Gateway")) {
    gw.spec.servers.forEach((s, i) => {
      const protocol = s.port.protocol;
      const tls = s.tls as Readonly<Record<string, unknown>> | undefined;
      if ((protocol === "HTTPS" || protocol === "TLS") && tls === undefined) {
        ctx.report(gw, ["spec", "servers", i, "port", "protocol"], "GM0334", "error", `${protocol === "HTTPS" ? "an" : "a"} ${protocol} server needs tls settings (a mode and a credentialName; Istio refuses it without): add tls, or make it HTTP`);
      }
      if (PLAIN_HTTP.has(protocol) && tls !== undefined && Object.keys(tls).some((k) => k !== "httpsRedirect")) {
        ctx.report(gw, ["spec", "servers", i, "tls"], "GM0335", "error", `a plain ${protocol} server cannot have tls settings (Istio refuses them; only httpsRedirect is allowed): make it HTTPS, or remove tls`, "key");
      }
      const credential = tls?.["credentialName"];
      if (credential === SDS_WORKLOAD_CERT || credential === SDS_ROOT_CA) {
        const what = credential === SDS_WORKLOAD_CERT ? "the gateway workload's own mesh certificate" : "the mesh's trust bundle";
        ctx.report(gw, ["spec", "servers", i, "tls", "credentialName"], "GM0337", "error", `credentialName ${credential} is the name ${what} is sent under (SDS); the two would collide and the gateway would get neither: name the credential otherwise (and its directory in the credentials directory)`);
      }
      const key = `${JSON.stringify(Object.entries(gw.spec.selector ?? {}).sort())} ${s.port.number}`;
      byPort.set(key, [...(byPort.get(key) ?? []), { gw, index: i, protocol }]);
    });
  }
  for (const servers of byPort.values()) {
    const http = servers.find((s) => HTTP_FAMILY.has(s.protocol) && s.protocol !== "HTTPS");
    if (http === undefined) continue;
    for (const s of servers.filter((x) => x.protocol === "TCP")) {
      ctx.report(
        s.gw,
        ["spec", "servers", s.index, "port", "number"],
        "GM0336",
        "warning",
        `port ${http.gw.spec.servers[http.index]?.port.number ?? ""} already serves ${http.protocol} (${ctx.where(http.gw, ["spec", "servers", http.index, "port", "protocol"])}); a TCP server cannot share it, so serve leaves this one out: give it its own port`,
      );
    }
  }
}
