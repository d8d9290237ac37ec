// `gitmesh hosts DIR`: the /etc/hosts lines that let applications dial mesh services by name.
import { oneDirectory, parseCommand, UsageError, type Command } from "../usage.js";
import { NAMING_HELP, NAMING_OPTIONS, namingFrom } from "./naming.js";

const synopsis = "gitmesh hosts DIR [--namespace NS] [--format hosts|compose] [options]";

export const hostsCommand: Command = {
  name: "hosts",
  summary: "the names applications dial, at each service's loopback address (/etc/hosts lines)",
  synopsis,
  help: `usage: ${synopsis}

Prints each service's names at the loopback address its sidecar listens on (docs/proxies.md, "How
traffic reaches the sidecar"). gitmesh agent --hosts-file keeps the same lines current on a host.

  --namespace NS             also the short names ("reviews") of this namespace's services
  --format hosts|compose     /etc/hosts lines, or compose extra_hosts entries (default hosts)
${NAMING_HELP}`,
  async run(args, io) {
    const { values, positionals } = parseCommand(args, { namespace: { type: "string" }, format: { type: "string", default: "hosts" }, ...NAMING_OPTIONS });
    const dir = oneDirectory(positionals, "hosts");
    if (values.format !== "hosts" && values.format !== "compose") throw new UsageError("--format must be hosts or compose");
    const { hosts } = await import("../hosts.js");
    return hosts({ dir, format: values.format, naming: namingFrom(values), ...(values.namespace === undefined ? {} : { namespace: values.namespace }), out: io.out });
  },
};
