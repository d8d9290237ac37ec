// `gitmesh ca`, `gitmesh token` and `gitmesh cert`: their handlers (src/cli/ca-commands.ts,
// token-commands.ts) parse their own subcommands; these load them only when run (node-forge).
import { CA_HELP, CA_SYNOPSIS, CERT_HELP, CERT_SYNOPSIS, TOKEN_HELP, TOKEN_SYNOPSIS } from "../ca-usage.js";
import type { Command } from "../usage.js";

export const caCommand: Command = {
  name: "ca",
  summary: "the mesh certificate authority: init, show, bundle, rotate",
  synopsis: CA_SYNOPSIS,
  help: CA_HELP,
  run: async (args, io) => (await import("../ca-commands.js")).runCa(args, io),
};

export const tokenCommand: Command = {
  name: "token",
  summary: "proxy credentials: issue, inspect, revoke, list-revoked",
  synopsis: TOKEN_SYNOPSIS,
  help: TOKEN_HELP,
  run: async (args, io) => (await import("../token-commands.js")).runToken(args, io),
};

export const certCommand: Command = {
  name: "cert",
  summary: "certificate files for a proxyless gRPC application (from the CA's keys)",
  synopsis: CERT_SYNOPSIS,
  help: CERT_HELP,
  run: async (args, io) => (await import("../ca-commands.js")).runCert(args, io),
};
