// What `gitmesh status` and `gitmesh config-dump` ask the admin server (src/admin), over HTTP.
// node:http rather than fetch: fetch refuses some ports outright ("bad port"), and an operator
// chooses the admin port.
import { get } from "node:http";

export type AdminReply = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly error: string };

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
    req.on("error", reject);
  });
}

/** GETs a JSON route of the admin server; an unreachable server or an error answer is a message. */
export async function adminGet(address: string, path: string, timeoutMs = 10_000): Promise<AdminReply> {
  const url = `http://${address}${path}`;
  let res: { status: number; text: string };
  try {
    res = await httpGet(url, timeoutMs);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { ok: false, error: `cannot reach gitmesh's admin server at ${address} (${why}): is gitmesh serve running, and is --admin its --admin-address?` };
  }
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return { ok: false, error: `${url} answered ${res.status} with something other than JSON: is ${address} gitmesh's admin server?` };
  }
  if (res.status !== 200) {
    const error = (body as { error?: unknown } | null)?.error;
    return { ok: false, error: typeof error === "string" ? error : `${url} answered ${res.status}` };
  }
  return { ok: true, body };
}
