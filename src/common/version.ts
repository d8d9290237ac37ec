// The installed package's version, from the package.json beside dist/: the same file in a clone,
// in a global install and in a project's node_modules.
import { readFileSync } from "node:fs";

export function gitmeshVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}
