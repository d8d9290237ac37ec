import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** protos/roots.json: which proto files we load, from which package, with which include dirs. */
interface ProtoRoots {
  readonly package: string;
  readonly includeDirs: readonly string[];
  /** Directories of protos/ whose files replace the package's (protos/README.md, "Overlay"). */
  readonly overlayDirs?: readonly string[];
  readonly files: readonly string[];
}

const rootsPath = new URL("../../../protos/roots.json", import.meta.url);

let loaded: protobuf.Root | undefined;

/**
 * The protobufjs root holding every Envoy message we build or read. Loaded once, lazily, from the
 * same roots the TypeScript types are generated from, so types and runtime can never disagree.
 */
export function envoyProtoRoot(): protobuf.Root {
  if (loaded !== undefined) return loaded;
  const roots = JSON.parse(readFileSync(rootsPath, "utf8")) as ProtoRoots;
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve(`${roots.package}/package.json`));
  // protobufjs ships google/protobuf/descriptor.proto (needed by validate.proto) beside its
  // bundled well-known types.
  const protobufDir = dirname(require.resolve("protobufjs/package.json"));
  const overlays = (roots.overlayDirs ?? []).map((d) => fileURLToPath(new URL(d, new URL(".", rootsPath))));
  const includeDirs = [...overlays, ...roots.includeDirs.map((d) => join(pkgDir, d)), protobufDir];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/* resolve to protobufjs's bundled copies
  };
  root.loadSync([...roots.files], { keepCase: true });
  root.resolveAll();
  loaded = root;
  return root;
}
