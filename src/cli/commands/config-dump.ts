// `gitmesh config-dump PROXY`: what the server sent a connected proxy, decoded, secrets redacted.
import { parseCommand, UsageError, type Command } from "../usage.js";

const TYPES = ["cluster", "listener", "route", "endpoint", "secret"];
const synopsis = "gitmesh config-dump PROXY [--type cluster|listener|route|endpoint|secret] [--admin HOST:PORT]";

export const configDumpCommand: Command = {
  name: "config-dump",
  summary: "what gitmesh sent a connected proxy, decoded to JSON (private keys and secrets redacted)",
  synopsis,
  help: `usage: ${synopsis}

Prints, as JSON, the resources gitmesh actually sent the connected proxy PROXY (a node id, a proxy
key or a stream number; gitmesh status lists them), by type, each with the version sent and its
sync state. With state-of-the-world xDS that is the latest response of each type; with delta xDS,
everything sent and not removed. Private keys and other secret fields read "(redacted)".
If the proxy has several streams (one per type, without ADS), each is dumped.

  --type T[,T]        only these: ${TYPES.join(", ")}
  --admin HOST:PORT   gitmesh's admin server (serve --admin-address; default 127.0.0.1:15014)`,
  async run(args, io) {
    const { values, positionals } = parseCommand(args, { admin: { type: "string", default: "127.0.0.1:15014" }, type: { type: "string" } });
    const [proxy, ...more] = positionals;
    if (proxy === undefined) throw new UsageError("config-dump needs a PROXY (gitmesh status lists the connected ones)");
    if (more.length > 0) throw new UsageError(`config-dump takes one PROXY; got ${positionals.length}`);
    for (const t of values.type?.split(",") ?? []) if (!TYPES.includes(t)) throw new UsageError(`--type ${t}: use ${TYPES.join(", ")}`);
    const { configDump } = await import("../status.js");
    return configDump({ admin: values.admin, proxy, out: io.out, err: io.err, ...(values.type === undefined ? {} : { type: values.type }) });
  },
};
