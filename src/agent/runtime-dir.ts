// The agent's runtime directory (0700): what it writes for what it runs, and a pid file that
// keeps two agents from sharing it (they would stop each other's Envoy and fight for its ports).
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";
import { alive, commandLine } from "./supervisor.js";

export const AGENT_PID_FILE = "agent.pid";

/** Makes the directory this agent's; refuses one a live agent holds. Returns the release. */
export async function claimRuntimeDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, AGENT_PID_FILE);
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && (await alive(pid)) && (await commandLine(pid)).includes("agent")) {
    throw new Error(`another gitmesh agent (pid ${pid}) uses ${dir}: give each agent its own --runtime-dir`);
  }
  await writeFileAtomic(file, `${process.pid}\n`);
  return () => rm(file, { force: true });
}
