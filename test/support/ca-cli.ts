// Runs the CA command handlers directly, as `gitmesh ca|token|cert` does through main.ts, for
// tests that drive them as a process without the rest of the CLI:
//   node dist/test/support/ca-cli.js ca|token|cert SUBCOMMAND [options]
// Same exit codes as main.ts: 0 ok, 1 failed, 2 usage error.
import { runCa, runCert, runToken } from "../../src/cli/ca-commands.js";
import { UsageError } from "../../src/cli/usage.js";

const handlers: Record<string, (args: readonly string[]) => Promise<number>> = { ca: runCa, token: runToken, cert: runCert };
const [command = "", ...rest] = process.argv.slice(2);
let code: number;
try {
  const handler = handlers[command];
  if (handler === undefined) throw new UsageError(`unknown command "${command}"`);
  code = await handler(rest);
} catch (e) {
  if (!(e instanceof UsageError) && (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") !== true) throw e;
  console.error(`gitmesh: ${(e as Error).message}`);
  code = 2;
}
process.exit(code);
