/** A line-per-event logger: `TIME LEVEL message key=value ...`, easy to grep and to ship. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;
export type LogLevel = "debug" | "info" | "warn" | "error";

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function formatValue(value: string | number | boolean): string {
  const s = String(value);
  // Only plain printable ASCII goes unquoted; JSON quoting escapes control characters, so a
  // proxy's error text cannot put terminal escapes or fake lines into the log.
  return /^[\x21-\x7e]+$/.test(s) && !/["=]/.test(s) ? s : JSON.stringify(s);
}

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = rank[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (rank[level] < min) return;
    const kv = Object.entries(fields)
      .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`);
    write([new Date().toISOString(), level.toUpperCase(), message, ...kv].join(" "));
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** Discards everything (tests that assert on behaviour, not on logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
