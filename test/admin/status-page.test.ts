// The status page in headless Chromium: the commit served, the last reload's diagnostics, each
// proxy's sync state and NACK text; it refreshes itself (no reload), loads nothing from elsewhere,
// and shows hostile text as text.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createLogger } from "../../src/log.js";
import { serve } from "../../src/runtime/index.js";
import { CDS } from "../../src/xds/index.js";
import { needBrowser } from "../support/browser.js";
import { commitAll, initRepo, removeTempDirs, tempDir, writeFiles } from "../support/git-repo.js";
import { grpcNode, ScriptedClient } from "../support/xds-client.js";

after(removeTempDirs);

const SERVICE = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [${name}.shop.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: grpc, protocol: GRPC }], endpoints: [{ address: 10.0.0.1 }] }
`;

test("the status page shows commit, reload diagnostics, proxies and NACK text, refreshes itself and escapes what it shows", async (t) => {
  const browser = await needBrowser(t);
  if (browser === undefined) return;
  const repo = await initRepo();
  await writeFiles(repo, { "a.yaml": SERVICE("a") });
  const c1 = await commitAll(repo, "a");
  const running = await serve({ xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", configDir: repo, stateDir: await tempDir("gitmesh-page-"), logger: createLogger({ level: "error", write: () => {} }) });
  t.after(() => running.stop());
  const client = new ScriptedClient(`127.0.0.1:${running.xdsPort}`);
  t.after(() => client.close());
  const stream = client.sotw();
  stream.send({ node: grpcNode("app-1"), type_url: CDS.typeUrl, resource_names: [] });
  const first = await stream.next();
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: first.nonce, resource_names: [] });

  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (m) => void (m.type() === "error" && problems.push(m.text())));
  page.on("pageerror", (e) => problems.push(e.message));
  const requested: string[] = [];
  page.on("request", (r) => requested.push(r.url()));
  const base = `http://127.0.0.1:${running.adminPort}`;
  const res = await page.goto(`${base}/status`);
  assert.equal(res?.status(), 200);
  assert.match((await res?.allHeaders())?.["content-security-policy"] ?? "", /default-src 'none'/);
  const cell = (table: string, row: number, col: number) => page.locator(`#${table} tbody tr`).nth(row).locator("td").nth(col);

  assert.equal(await page.locator("#commit").textContent(), c1);
  // The page's CSP forbids evaluating strings: conditions are read through locators.
  const text = async (selector: string) => ((await page.locator(selector).count()) === 0 ? "" : ((await page.locator(selector).first().textContent()) ?? ""));
  const until = async (what: string, ok: () => Promise<boolean>) => {
    for (let deadline = Date.now() + 20_000; !(await ok()); ) if (Date.now() > deadline) throw new Error(`the page never showed ${what}`);
  };
  await until("the proxy SYNCED", async () => (await text("#proxies tbody tr td:nth-child(5)")) === "SYNCED");
  assert.equal(await cell("proxies", 0, 0).textContent(), "app-1");
  assert.equal(await cell("proxies", 0, 1).textContent(), "grpc");
  assert.equal(await cell("proxies", 0, 5).textContent(), c1);
  assert.match((await page.locator("#reload").textContent()) ?? "", new RegExp(`^ok at .* \\(commit ${c1}\\)$`));

  // A commit the proxy rejects with hostile text: the page updates by itself and shows it as text.
  await writeFiles(repo, { "b.yaml": SERVICE("b") });
  const c2 = await commitAll(repo, "b");
  const second = await stream.next();
  const hostile = `<img src=x onerror="window.pwned=1"> cluster b refused & "quoted"`;
  stream.send({ type_url: CDS.typeUrl, version_info: first.version_info, response_nonce: second.nonce, resource_names: [], error_detail: { code: 3, message: hostile } });
  await until("the new commit and the NACK", async () => (await text("#commit")) === c2 && (await text("#nacks tbody tr td:nth-child(3)")) !== "");
  assert.equal(await cell("nacks", 0, 0).textContent(), "app-1");
  assert.equal(await cell("nacks", 0, 1).textContent(), "CDS");
  assert.equal(await cell("nacks", 0, 2).textContent(), hostile);
  assert.equal(await cell("proxies", 0, 4).textContent(), "NACKED");
  assert.equal(await page.locator("img").count(), 0, "no element was made from the text");
  assert.equal(await page.evaluate("window.pwned"), undefined);

  // A commit with an error: the last reload's diagnostics, with file and line; the served commit stays.
  await writeFiles(repo, { "bad.yaml": "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: bad, namespace: shop }\nspec: { hosts: [], nope: 1 }\n" });
  const c3 = await commitAll(repo, "bad");
  await until("the invalid reload", async () => {
    const reload = await text("#reload");
    return reload.startsWith("invalid") && reload.includes(c3);
  });
  assert.equal(await page.locator("#commit").textContent(), c2, "still serving the last good commit");
  const diagnostics = await page.locator("#diagnostics tbody tr").count();
  assert.ok(diagnostics > 0);
  assert.equal(await cell("diagnostics", 0, 0).textContent(), "error");
  assert.match((await cell("diagnostics", 0, 1).textContent()) ?? "", /^bad\.yaml:\d+:\d+$/);

  // The server-rendered page escapes too (before the script runs).
  const raw = await (await fetch(`${base}/status`)).text();
  assert.ok(raw.includes("&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;"), "escaped in the HTML");
  assert.ok(!raw.includes("<img"), "no raw markup from data");
  assert.deepEqual(problems, [], "no script error and no CSP violation");
  assert.deepEqual([...new Set(requested.map((u) => new URL(u).origin))], [base], "nothing loaded from elsewhere");
  stream.cancel();
});
