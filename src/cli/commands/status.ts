// `gitmesh status [PROXY]`: every connected proxy and whether it accepted its config (like
// istioctl proxy-status), from the admin server's /debug/sync.
import { parseCommand, UsageError, type Command } from "../usage.js";

const synopsis = "gitmesh status [PROXY] [--admin HOST:PORT] [--json]";

export const statusCommand: Command = {
  name: "status",
  summary: "every connected proxy: the commit it accepted per type, SYNCED, STALE, NACKED or NOT SENT",
  synopsis,
  help: `usage: ${synopsis}

Asks a running gitmesh serve which proxies are connected and, per type (CDS, EDS, LDS, RDS, SDS),
which commit's config each has accepted:

  SYNCED    the proxy accepted (ACKed) the latest response of the type
  STALE     a response was sent and the proxy has not answered yet
  NACKED    the proxy rejected the latest response; the error it gave is shown
  NOT SENT  nothing of the type was sent to it (it did not ask, or there is nothing)

With PROXY (a node id, a proxy key such as mesh/NS/SA/NODE, or a stream number), that proxy in
detail: its versions, when they were sent, and the last NACK's full text.
Exit code: 0 when every proxy shown is SYNCED (or has nothing sent), 1 otherwise or when gitmesh
cannot be reached.

  --admin HOST:PORT   gitmesh's admin server (serve --admin-address; default 127.0.0.1:15014)
  --json              the admin server's answer as JSON`,
  async run(args, io) {
    const { values, positionals } = parseCommand(args, { admin: { type: "string", default: "127.0.0.1:15014" }, json: { type: "boolean" } });
    if (positionals.length > 1) throw new UsageError(`status takes at most one PROXY; got ${positionals.length}`);
    const { status } = await import("../status.js");
    return status({ admin: values.admin, json: values.json === true, out: io.out, err: io.err, ...(positionals[0] === undefined ? {} : { proxy: positionals[0] }) });
  },
};
