// `gitmesh render DIR`: what a proxy would receive. Without --proxy it renders an Envoy sidecar,
// what most workloads run, and says so on stderr (stdout stays YAML or JSON for tools).
import type { ProxyKind } from "../../translators/proxy.js";
import { oneDirectory, parseCommand, parseLabels, UsageError, type Command } from "../usage.js";
import { NAMING_HELP, NAMING_OPTIONS, namingFrom } from "./naming.js";

const synopsis = "gitmesh render DIR --namespace NS --service-account SA [--proxy sidecar|gateway|grpc] [options]";
const KINDS: readonly ProxyKind[] = ["sidecar", "gateway", "grpc"];

export const renderCommand: Command = {
  name: "render",
  summary: "show what a proxy would receive, grouped by type",
  synopsis,
  help: `usage: ${synopsis}

Prints the listeners, routes, clusters, endpoints and secrets a proxy of this identity would
receive from the config in DIR, decoded, with notes on what its translation left out. Private
keys are never printed.

  --proxy sidecar|gateway|grpc
                             the kind of proxy (default sidecar: an Envoy sidecar; grpc is a
                             proxyless gRPC application)
  --labels k=v,...           the workload's labels
  --workload-name NAME       the WorkloadEntry it is
  --instance-ip IP           the address its inbound listeners bind
  --credentials-dir DIR      gateway certificates (NAME/tls.crt, NAME/tls.key)
  --format yaml|json         (default yaml)
${NAMING_HELP}`,
  async run(args, io) {
    const { values, positionals } = parseCommand(args, {
      namespace: { type: "string" },
      "service-account": { type: "string" },
      labels: { type: "string", default: "" },
      "workload-name": { type: "string" },
      "instance-ip": { type: "string" },
      "credentials-dir": { type: "string" },
      proxy: { type: "string" },
      format: { type: "string", default: "yaml" },
      ...NAMING_OPTIONS,
    });
    const dir = oneDirectory(positionals, "render");
    if (values.namespace === undefined || values["service-account"] === undefined) throw new UsageError("render needs --namespace and --service-account");
    const kind = (values.proxy ?? "sidecar") as ProxyKind;
    if (!KINDS.includes(kind)) throw new UsageError("--proxy must be sidecar, gateway or grpc");
    if (values.format !== "yaml" && values.format !== "json") throw new UsageError("--format must be yaml or json");
    const labels = parseLabels(values.labels);
    if (values.proxy === undefined) io.err("gitmesh render: rendering for an Envoy sidecar (the default); --proxy gateway or --proxy grpc renders the other kinds");
    const { render } = await import("../render.js");
    return render({
      dir,
      format: values.format,
      naming: namingFrom(values),
      ...(values["credentials-dir"] === undefined ? {} : { credentialsDir: values["credentials-dir"] }),
      proxy: {
        nodeId: "render",
        kind,
        namespace: values.namespace,
        serviceAccount: values["service-account"],
        labels,
        ...(values["workload-name"] === undefined ? {} : { workloadName: values["workload-name"] }),
        instanceIps: values["instance-ip"] === undefined ? [] : [values["instance-ip"]],
      },
      out: io.out,
    });
  },
};
