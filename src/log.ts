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

/**
 * Most characters of one field value that reach the log. Values come from clients (node ids, NACK
 * text, type URLs) and from the config repo (file names, YAML values, git's messages): a longer
 * one is cut, and the line says how long it was. Envoy's NACK messages nearly always fit; the
 * full text (up to 4,096 characters) stays in /debug/xds.
 */
export const MAX_VALUE_CHARS = 512;
/** Most characters of a message (a config diagnostic logged by the reloader is a message). */
export const MAX_MESSAGE_CHARS = 1024;

// Control characters, DEL and the C1 set, and the format characters that reorder or hide text
// (bidi overrides, zero-width, line and paragraph separators, BOM): none may reach a log line raw.
const UNSAFE_CHARS = "\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff";
const UNSAFE = new RegExp(`[${UNSAFE_CHARS}]`, "g");
const HAS_UNSAFE = new RegExp(`[${UNSAFE_CHARS}]`);

/** True when text holds a control or format character (see escapeUnsafe). */
export function hasUnsafe(s: string): boolean {
  return HAS_UNSAFE.test(s);
}

/** Text with every control and format character written as an escape (\n, \u202e): one visible line. */
export function escapeUnsafe(s: string): string {
  return s.replace(UNSAFE, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  });
}

/** A value cut to max characters, saying how long it was. */
export function capText(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}...(${s.length} chars)`;
}

/**
 * A value as it appears in a line: plain printable ASCII goes unquoted, anything else is quoted
 * with every control and format character escaped, so no value can forge a line, hide text or
 * send terminal escapes. Values are capped first (MAX_VALUE_CHARS).
 */
export function formatValue(value: string | number | boolean, max = MAX_VALUE_CHARS): string {
  const s = capText(String(value), max);
  return /^[\x21-\x7e]+$/.test(s) && !/["=]/.test(s) ? s : `"${escapeUnsafe(s.replace(/\\/g, "\\\\").replace(/"/g, '\\"'))}"`;
}

/** A message as it appears in a line: capped and with control characters escaped, not quoted. */
export function formatMessage(message: string): string {
  return escapeUnsafe(capText(message, MAX_MESSAGE_CHARS));
}

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = rank[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (rank[level] < min) return;
    const kv = Object.entries(fields)
      .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`);
    write([new Date().toISOString(), level.toUpperCase(), formatMessage(message), ...kv].join(" "));
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** Discards everything (tests that assert on behaviour, not on logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ThrottleOptions {
  /** Lines of one kind for one key let through per interval. */
  readonly burst: number;
  readonly intervalMs: number;
  /** Keys tracked at once; occurrences for further keys are counted under "other". */
  readonly maxKeys: number;
}

const OTHER = "other";

export const DEFAULT_THROTTLE: ThrottleOptions = { burst: 5, intervalMs: 60_000, maxKeys: 10_000 };

interface Window {
  readonly kind: string;
  readonly key: string;
  passed: number;
  held: number;
  startedAt: number;
}

/**
 * Repeated lines of one kind for one key (NACKs of one proxy, bad requests from one address): the
 * first `burst` per interval are logged, the rest are counted, and one line per interval says how
 * many were held back. 3,000 NACKs from one proxy write five lines and a summary, not 3,000.
 * Owned by whoever logs (the xDS server); close() writes what is pending and stops its timer.
 */
export class LogThrottle {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly options: ThrottleOptions = DEFAULT_THROTTLE,
  ) {}

  /** True when this occurrence should be logged; false when it is only counted. */
  allow(kind: string, key: string): boolean {
    const id = `${kind}\0${key}`;
    let w = this.windows.get(id);
    if (w === undefined) {
      // A full table counts further keys together (one "other" per kind past the limit).
      if (this.windows.size >= this.options.maxKeys && key !== OTHER) return this.allow(kind, OTHER);
      w = { kind, key, passed: 0, held: 0, startedAt: Date.now() };
      this.windows.set(id, w);
      this.timer ??= setInterval(() => this.flush(), this.options.intervalMs).unref();
    }
    if (w.passed < this.options.burst) {
      w.passed++;
      return true;
    }
    w.held++;
    return false;
  }

  /** Says how many lines each key held back, and forgets keys that were quiet. */
  flush(): void {
    const now = Date.now();
    for (const [id, w] of this.windows) {
      if (w.held > 0) {
        this.logger.warn(`${w.kind}: ${w.held} more such lines held back`, { key: w.key, seconds: Math.round((now - w.startedAt) / 1000) });
      }
      this.windows.delete(id);
    }
    if (this.windows.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    this.flush();
  }
}
