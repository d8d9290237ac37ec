// `gitmesh bootstrap`: what a workload's proxy starts with.
import type { BootstrapOptions } from "../bootstrap.js";
import type { ProxyKind } from "../../translators/proxy.js";
import { hostPort, parseCommand, parseLabels, portOf, UsageError, type Command } from "../usage.js";

const synopsis = "gitmesh bootstrap --namespace NS --service-account SA [--proxy sidecar|gateway|grpc] [options]";
const KINDS: readonly ProxyKind[] = ["sidecar", "gateway", "grpc"];

export const bootstrapCommand: Command = {
  name: "bootstrap",
  summary: "write what a workload's proxy starts with: an Envoy bootstrap or a gRPC xDS bootstrap",
  synopsis,
  help: `usage: ${synopsis}

Writes an Envoy bootstrap (sidecar, gateway) or a gRPC xDS bootstrap (grpc) carrying the node
contract of docs/proxies.md. gitmesh agent writes and keeps one for you on a workload's host.

  --proxy sidecar|gateway|grpc   (default sidecar)
  --labels k=v,...               the workload's labels
  --workload-name NAME           the WorkloadEntry this proxy is
  --workload-group NAME          a WorkloadGroup it registers in while connected
  --instance-ip IP               the address it serves on (where its inbound listeners bind)
  --node-id ID                   its node id (default KIND~WORKLOAD.NAMESPACE)
  --xds-address HOST:PORT        gitmesh's xDS address (default gitmesh:15012 with --xds-ca-file,
                                 else gitmesh:15010)
  --xds-ca-file FILE             the mesh trust bundle (gitmesh ca bundle): the proxy verifies
                                 gitmesh's TLS port against it and against the name it dials
  --token TOKEN                  (needs --xds-ca-file) a gitmesh token, so the proxy gets its
                                 certificates over SDS; the file is then written 0600
  --admin-port PORT              Envoy's admin port on 127.0.0.1 (default 15000)
  --cert-dir DIR                 grpc: gitmesh cert issue's files, for mutual TLS
  --out FILE                     write the file (atomically) instead of printing it`,
  async run(args, io) {
    const { values } = parseCommand(args, {
      namespace: { type: "string" },
      "service-account": { type: "string" },
      proxy: { type: "string", default: "sidecar" },
      labels: { type: "string", default: "" },
      "workload-name": { type: "string" },
      "workload-group": { type: "string" },
      "instance-ip": { type: "string" },
      "node-id": { type: "string" },
      "xds-address": { type: "string" },
      "admin-port": { type: "string", default: "15000" },
      token: { type: "string" },
      "xds-ca-file": { type: "string" },
      "cert-dir": { type: "string" },
      out: { type: "string" },
    });
    const namespace = values.namespace;
    const serviceAccount = values["service-account"];
    if (namespace === undefined || serviceAccount === undefined) throw new UsageError("bootstrap needs --namespace and --service-account");
    const kind = values.proxy as ProxyKind;
    if (!KINDS.includes(kind)) throw new UsageError("--proxy must be sidecar, gateway or grpc");
    // The TLS port when the proxy can verify gitmesh (and so may be sent secrets), else plaintext.
    const xdsAddress = hostPort("xds-address", values["xds-address"] ?? (values["xds-ca-file"] === undefined ? "gitmesh:15010" : "gitmesh:15012"));
    if (values.token !== undefined && kind === "grpc") throw new UsageError("--token is for Envoy bootstraps: a gRPC xDS bootstrap has no place for it (proxyless gRPC gets certificates from gitmesh cert issue's files, --cert-dir)");
    if (values.token !== undefined && values["xds-ca-file"] === undefined) {
      throw new UsageError("--token needs --xds-ca-file: a credential must not travel over a plaintext connection");
    }
    const adminPort = portOf("admin-port", values["admin-port"]);
    if (values["workload-name"] !== undefined && values["workload-group"] !== undefined) throw new UsageError("give --workload-name (a WorkloadEntry) or --workload-group (self-registration), not both");
    const workload = values["workload-name"] ?? values["workload-group"] ?? serviceAccount;
    const { bootstrapText, writeBootstrap } = await import("../bootstrap.js");
    const options: BootstrapOptions = {
      kind,
      // Replicas started from one file set their own id (Envoy: --service-node "$(hostname)").
      nodeId: values["node-id"] ?? `${kind}~${workload}.${namespace}`,
      namespace,
      serviceAccount,
      labels: parseLabels(values.labels),
      ...(values["workload-name"] === undefined ? {} : { workloadName: values["workload-name"] }),
      ...(values["workload-group"] === undefined ? {} : { workloadGroup: values["workload-group"] }),
      ...(values["instance-ip"] === undefined ? {} : { instanceIps: [values["instance-ip"]] }),
      xdsAddress,
      adminPort,
      ...(values["xds-ca-file"] === undefined ? {} : { xdsCaFile: values["xds-ca-file"] }),
      ...(values["cert-dir"] === undefined ? {} : { certDir: values["cert-dir"] }),
      ...(values.token === undefined ? {} : { token: values.token }),
    };
    if (values.out === undefined) io.out(bootstrapText(options).trimEnd());
    else await writeBootstrap(values.out, options);
    return 0;
  },
};

