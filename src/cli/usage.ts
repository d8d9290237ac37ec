// What every command shares: where output goes, the usage error, and argument parsing that turns
// node:util's parse errors into usage errors. A command module parses and prints; its handler
// (loaded when the command runs) does the work.
import { statSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake in how a command was called: exit code 2, one line, and where the help is. */
export class UsageError extends Error {}

/** Where output goes; console by default, captured in tests. */
export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}
export const consoleIo: CommandIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

/** One `gitmesh` command: its help text and its run. */
export interface Command {
  readonly name: string;
  /** One line for the command list (`gitmesh --help`). */
  readonly summary: string;
  /** How it is called, one line: shown with a usage error. */
  readonly synopsis: string;
  /** Everything `gitmesh NAME --help` prints. */
  readonly help: string;
  /** Exit code: 0 done, 1 failed, 2 usage error (thrown as UsageError). */
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

/** Whether `--help` or `-h` comes before any `--` (after it, arguments belong to another program). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** Whether an error is a usage mistake: ours, or node:util's parseArgs refusing an option. */
export function isUsageError(e: unknown): e is Error {
  return e instanceof UsageError || (e as { code?: string } | null)?.code?.startsWith("ERR_PARSE_ARGS") === true;
}

/** parseArgs, strict, with positionals allowed: a bad option is a UsageError like any other. */
export function parseCommand<T extends NonNullable<ParseArgsConfig["options"]>>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    if (isUsageError(e)) throw new UsageError((e as Error).message.split("\n")[0]);
    throw e;
  }
}

/** `--labels k=v,k=v` as a map. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").filter((p) => p !== "")) {
    const [k, v, ...more] = pair.split("=");
    if (k === undefined || k === "" || v === undefined || more.length > 0) throw new UsageError(`--labels takes k=v,k=v; got "${pair}"`);
    labels[k] = v;
  }
  return labels;
}

/** A HOST:PORT flag value, or a usage error naming the flag. */
export function hostPort(flag: string, value: string): string {
  if (!/^.+:\d+$/.test(value)) throw new UsageError(`--${flag} must be HOST:PORT, got "${value}"`);
  return value;
}

/** A TCP port flag (1-65535), or a usage error naming it. */
export function portOf(flag: string, text: string): number {
  const port = Number(text);
  if (!(Number.isInteger(port) && port > 0 && port < 65536)) throw new UsageError(`--${flag} takes a port number`);
  return port;
}

/** The one directory a command takes as its positional argument. */
export function oneDirectory(positionals: readonly string[], command: string): string {
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError(`${command} takes exactly one directory`);
  // A file given here used to end in a "bug:" stack trace (ENOTDIR from the directory walk).
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) throw new UsageError(`${command} takes a config directory: ${dir} is not one`);
  return dir;
}
