import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { caDir } from "./store.js";

export const TOKEN_KEY_BYTES = 32;

/**
 * The 256-bit token key in STATE_DIR/ca/token-key (mode 0600), made on first use. Created by
 * hard-linking a finished temporary file: when `serve` and `token issue` start together, one
 * key wins and both read it. Throws on I/O errors and on a file that is not a key.
 */
export async function loadOrCreateTokenKey(stateDir: string): Promise<Buffer> {
  const dir = caDir(stateDir);
  const path = join(dir, "token-key");
  const existing = await readKey(path);
  if (existing !== undefined) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, randomBytes(TOKEN_KEY_BYTES).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    await rm(tmp, { force: true });
  }
  const key = await readKey(path);
  if (key === undefined) throw new Error(`${path} vanished while being created`);
  return key;
}

async function readKey(path: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== TOKEN_KEY_BYTES) throw new Error(`${path} is not a ${TOKEN_KEY_BYTES}-byte key: restore it, or remove it to make a new one (every issued token stops working)`);
  return key;
}
