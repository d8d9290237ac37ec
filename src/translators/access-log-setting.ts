// serve --access-log's value, parsed without loading the translators (the CLI parses it first).

/** Where Envoys write their access log: their stdout, or a file path on their own host. */
export type AccessLogSetting = { readonly t: "stdout" } | { readonly t: "file"; readonly path: string };

/** --access-log's value: "stdout", or an absolute path. A string is the error. */
export function parseAccessLog(text: string): AccessLogSetting | string {
  if (text === "stdout") return { t: "stdout" };
  if (text.startsWith("/")) return { t: "file", path: text };
  return `--access-log takes stdout or an absolute file path (on each proxy's host); got "${text}"`;
}
