// Reading and parsing config files: everything odd a real repository holds becomes a clear
// diagnostic, never a crash.
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadMesh } from "../../src/config/load.js";
import { readDirectory } from "../../src/config/source.js";
import { removeTempDirs, tempDir } from "../support/git-repo.js";

after(removeTempDirs);

const sidecar = (name: string) => `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  egress: [{ hosts: ["./*"] }]\n`;

const cases: { name: string; text: string | Buffer; expect: string[] }[] = [
  { name: "an alias to an anchor that does not exist", text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: a}\nspec: *nope\n", expect: ["GM0001 1:1"] },
  { name: "one syntax error is reported once", text: "a: [1,\nb: 2\nc: [\nd: 4\n", expect: ["GM0001 2:1"] },
  { name: "a key twice", text: sidecar("a").replace("kind: Sidecar", "kind: Sidecar\nkind: Sidecar"), expect: ["GM0002 3:1"] },
  { name: "UTF-16", text: Buffer.from("\ufeff" + sidecar("a"), "utf16le"), expect: ["GM0004 1:1"] },
  { name: "Latin-1", text: Buffer.from("a: caf\xe9\n", "latin1"), expect: ["GM0004 1:1"] },
  {
    name: "merge keys (<<) are YAML, not an unknown field",
    text: "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  <<: { name: a, namespace: shop }\nspec:\n  egress: [{ hosts: ['./*'] }]\n",
    expect: [],
  },
];

for (const c of cases) {
  test(`source: ${c.name}`, async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "x.yaml"), c.text);
    const { diagnostics } = loadMesh(await readDirectory(dir));
    assert.deepEqual(
      diagnostics.map((d) => `${d.code} ${d.line}:${d.col}`),
      c.expect,
      diagnostics.map((d) => `${d.code} ${d.line}:${d.col} ${d.message}`).join("\n"),
    );
  });
}

test("an empty directory, or YAML without documents, is an error (GM0003), not an empty mesh", async () => {
  const empty = await tempDir();
  assert.deepEqual(loadMesh(await readDirectory(empty)).diagnostics.map((d) => d.code), ["GM0003"]);
  await writeFile(join(empty, "blank.yaml"), "# nothing yet\n---\n");
  const r = loadMesh(await readDirectory(empty));
  assert.equal(r.ok, false);
  assert.match(r.diagnostics[0]?.message ?? "", /1 YAML file\(s\) without a single document/);
});

test("symbolic links inside the directory are followed (a cycle once); links leading outside are errors, followed only when asked", async () => {
  const dir = await tempDir();
  const shared = await tempDir();
  await writeFile(join(shared, "a.yaml"), sidecar("a"));
  await mkdir(join(shared, "more"));
  await writeFile(join(shared, "more", "b.yaml"), sidecar("b"));
  await mkdir(join(dir, "own"));
  await writeFile(join(dir, "own", "c.yaml"), sidecar("c"));
  await symlink(join(shared, "a.yaml"), join(dir, "a.yaml"));
  await symlink(join(shared, "more"), join(dir, "more"));
  await symlink(join(dir, "own", "c.yaml"), join(dir, "c-link.yaml"));
  await symlink(dir, join(dir, "loop"));
  const files = await readDirectory(dir);
  assert.deepEqual(
    files.map((f) => [f.path, f.refused?.code ?? "read"]),
    [
      ["a.yaml", "GM0006"],
      ["c-link.yaml", "read"],
      ["more", "GM0006"],
      ["own/c.yaml", "read"],
    ],
  );
  assert.equal(files[0]?.text, "", "the file behind a link leading out is not read");
  const { diagnostics, ok } = loadMesh(files);
  assert.equal(ok, false, "a link leading out is an error: the resources behind it would be missing");
  assert.match(diagnostics[0]?.message ?? "", new RegExp(`^a symbolic link to "${shared}/a.yaml", outside the config directory: not followed; copy the file into the directory, or .*--follow-external-links`));
  const followed = await readDirectory(dir, { followExternalLinks: true });
  assert.deepEqual(followed.map((f) => [f.path, f.refused?.code ?? "read"]), [
    ["a.yaml", "read"],
    ["c-link.yaml", "read"],
    ["more/b.yaml", "read"],
    ["own/c.yaml", "read"],
  ]);
});
