#!/usr/bin/env node
// `gitmesh`: finds the command and runs it. Each command (src/cli/commands) owns its help and its
// options; this prints the command list, the version, and usage errors as one line and where the
// help is.
import { gitmeshVersion } from "../common/version.js";
import { agentCommand } from "./commands/agent.js";
import { bootstrapCommand } from "./commands/bootstrap.js";
import { caCommand, certCommand, tokenCommand } from "./commands/ca.js";
import { configDumpCommand } from "./commands/config-dump.js";
import { hostsCommand } from "./commands/hosts.js";
import { renderCommand } from "./commands/render.js";
import { serveCommand } from "./commands/serve.js";
import { statusCommand } from "./commands/status.js";
import { validateCommand } from "./commands/validate.js";
import { asksForHelp, consoleIo, isUsageError, type Command, type CommandIo } from "./usage.js";

const COMMANDS: readonly Command[] = [serveCommand, validateCommand, renderCommand, bootstrapCommand, hostsCommand, statusCommand, configDumpCommand, agentCommand, caCommand, tokenCommand, certCommand];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 3;
  return [
    "usage: gitmesh COMMAND [options]",
    "",
    "An Envoy control plane: mesh config (Istio YAML) in git, served over xDS.",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "gitmesh COMMAND --help shows a command's options; gitmesh --version prints the version.",
  ].join("\n");
}

/** Exit codes: 0 done, 1 failed (or config errors), 2 usage error. */
async function main(argv: readonly string[], io: CommandIo = consoleIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(overview());
    return 2;
  }
  if (name === "--version" || name === "-V") {
    io.out(`gitmesh ${gitmeshVersion()}`);
    return 0;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && topic === undefined) return usageError(io, `no command "${rest[0]}"`, "gitmesh --help lists the commands");
    io.out(topic?.help ?? overview());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) return usageError(io, `unknown command "${name}"`, "gitmesh --help lists the commands");
  if (asksForHelp(rest)) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isUsageError(e)) return usageError(io, e.message, `usage: ${command.synopsis} (gitmesh ${command.name} --help shows every option)`);
    throw e;
  }
}

function usageError(io: CommandIo, message: string, hint: string): number {
  io.err(`gitmesh: ${message}`);
  io.err(hint.startsWith("usage:") ? hint : `usage: gitmesh COMMAND [options] (${hint})`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error("gitmesh: bug:", e);
    process.exit(1);
  },
);
