#!/usr/bin/env node
// Generates TypeScript interfaces for every message reachable from protos/roots.json into
// src/envoy/generated (not committed). Field names stay snake_case (--keepCase) so they read like
// Envoy's own docs and YAML, and a misspelled field in an object literal fails to compile.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const roots = JSON.parse(readFileSync(join(here, "roots.json"), "utf8"));
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve(`${roots.package}/package.json`));
const genTypes = require.resolve("@grpc/proto-loader/build/bin/proto-loader-gen-types.js");
const outDir = join(here, "..", "src", "envoy", "generated");

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    genTypes,
    "--keepCase", "--longs", "String", "--enums", "String", "--defaults", "--oneofs",
    "--grpcLib", "@grpc/grpc-js",
    // Our overlay files (protos/overlay) come first, so they replace the package's copies.
    "--includeDirs", ...(roots.overlayDirs ?? []).map((d) => join(here, d)), ...roots.includeDirs.map((d) => join(pkgDir, d)),
    "-O", outDir,
    ...roots.files,
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);
// The per-package root files (ads.ts, listener.ts ...) describe gRPC service loaders we do not
// use; the message interfaces live in the package folders. Relative imports get the .js suffix
// that NodeNext ESM resolution requires.
for (const entry of readdirSync(outDir)) {
  const path = join(outDir, entry);
  if (statSync(path).isFile()) rmSync(path);
}
const addJsSuffix = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) addJsSuffix(path);
    else writeFileSync(path, readFileSync(path, "utf8").replace(/from '(\.{1,2}\/[^']+)'/g, "from '$1.js'"));
  }
};
addJsSuffix(outDir);
console.log(`generated Envoy message types for ${roots.files.length} proto roots into src/envoy/generated`);
