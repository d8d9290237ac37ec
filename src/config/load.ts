import { createMeshChecker, type MeshChecker } from "./checks/index.js";
import { bounded, isError, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { canonicalIstioForms } from "./istio-forms.js";
import { DEFAULT_NAMING, toResource, type AnyMeshResource, type MeshNaming } from "./resources.js";
import { validateSchema } from "./schema.js";
import { isMeshKind } from "./types.js";
import { DEFAULT_CONFIG_LIMITS, type ConfigLimits } from "./limits.js";
import { runInSlices, runSteps, type Steps } from "../common/steps.js";
import { parseSteps, type SourceFile } from "./source.js";
import { createModelOrder, gather, type FileResult, type Gathered, type ModelOrder } from "./load-memo.js";

/** Where a model's config came from. */
export interface ModelSource {
  /** The config directory as given. */
  readonly dir: string;
  /** The git commit it was read at (HEAD for a working tree, the ref's commit for --git-ref). */
  readonly commit?: string;
  /** The working tree had uncommitted changes under dir. */
  readonly dirty?: boolean;
  /** The ref asked for with --git-ref. */
  readonly ref?: string;
}

/** The validated mesh: every resource that passed its schema, sorted by kind, namespace, name. */
export interface MeshModel {
  readonly resources: readonly AnyMeshResource[];
  readonly naming: MeshNaming;
  readonly files: number;
}

export interface LoadResult {
  readonly model: MeshModel;
  /** Every finding, sorted by file and position. */
  readonly diagnostics: readonly Diagnostic[];
  /** No errors (warnings allowed): the model may be served. */
  readonly ok: boolean;
}

/** One file's parse and schema checks, as steps (see parseSteps): it may pause at each "tick". */
function* loadFileSteps(file: SourceFile, limits: ConfigLimits): Generator<"tick", FileResult> {
  const diagnostics: Diagnostic[] = [];
  const resources: AnyMeshResource[] = [];
  const invalid: AnyMeshResource[] = [];
  const parsed = yield* parseSteps(file, limits);
  diagnostics.push(...parsed.diagnostics);
  // A document with a syntax error is lost, but what it declares still counts: the references
  // to it are not reported again as missing.
  for (const b of parsed.broken ?? []) if (hasEnvelope(b.value) && isMeshKind((b.value as { kind: unknown }).kind)) invalid.push(toResource(b));
  for (const doc of parsed.docs) {
    canonicalIstioForms(doc.value);
    const found = validateSchema(doc);
    diagnostics.push(...found);
    // A document skipped with a warning (a Kubernetes Service, say) is no mesh resource.
    if (!found.some(isError)) {
      if (isMeshKind((doc.value as { kind?: unknown }).kind)) resources.push(toResource(doc));
    }
    else if (hasEnvelope(doc.value)) invalid.push(toResource(doc));
    yield "tick";
  }
  return { text: file.text, refused: file.refused !== undefined, documents: parsed.docs.length, diagnostics, resources, invalid };
}

/** Loads config, reusing each file's parse and schema results while its text is unchanged. */
export interface MeshLoader {
  load(files: readonly SourceFile[], naming?: MeshNaming): LoadResult;
  /**
   * The same result as load, but the parsing and schema checks pause every few milliseconds to
   * let the event loop turn: a server loading a large config keeps answering /healthz and its
   * proxies meanwhile.
   */
  loadAsync(files: readonly SourceFile[], naming?: MeshNaming): Promise<LoadResult>;
}

/**
 * A loader that remembers each file's results and each cross-resource check's: a one-file change
 * re-parses one file and re-runs the checks that read the kinds of resource it holds.
 */
/** Files looked at between two places a reload may pause. */
const UNCHANGED_STEP = 512;

export function createMeshLoader(limits: ConfigLimits = DEFAULT_CONFIG_LIMITS): MeshLoader {
  // Each file's results by path, for the text they were made from.
  let cache = new Map<string, FileResult>();
  // Says again what a cross-resource check said when nothing it read changed.
  const checker = createMeshChecker();
  const memo: CombineMemo = { order: createModelOrder(), gathered: undefined };
  function* steps(files: readonly SourceFile[], naming: MeshNaming): Generator<"tick", LoadResult> {
    const results: FileResult[] = [];
    let known = 0;
    for (const f of files) {
      // Unchanged files cost a lookup and a text comparison each: tens of milliseconds at 50,000
      // files, so the loop may pause between them too.
      if (results.length % UNCHANGED_STEP === UNCHANGED_STEP - 1) yield "tick";
      const cached = cache.get(f.path);
      if (cached !== undefined) known++;
      // A refused file has no text: a refusal is not reused (the file may be fixed to empty).
      const result = cached !== undefined && cached.text === f.text && !cached.refused && f.refused === undefined ? cached : yield* loadFileSteps(f, limits);
      // The same paths as last time (the usual change): the changed files' results are updated in place.
      if (result !== cached && cached !== undefined) cache.set(f.path, result);
      results.push(result);
    }
    // Files were added or are gone: the cache is made again, so the gone ones are forgotten.
    if (known !== files.length || known !== cache.size) cache = new Map(files.map((f, i) => [f.path, results[i] as FileResult]));
    return yield* combine(results, files.length, naming, checker, memo);
  }
  return {
    load: (files, naming = DEFAULT_NAMING) => runSteps(steps(files, naming)),
    loadAsync: (files, naming = DEFAULT_NAMING) => runInSlices(steps(files, naming)),
  };
}

/**
 * Parses, validates and cross-checks a set of config files. Every file is checked whatever is
 * wrong with the others; a resource that fails its schema is left out of the model (and of the
 * cross-resource checks, which would only repeat its problem).
 */
export function loadMesh(files: readonly SourceFile[], naming: MeshNaming = DEFAULT_NAMING, limits: ConfigLimits = DEFAULT_CONFIG_LIMITS): LoadResult {
  return runSteps(
    combine(
      files.map((f) => runSteps(loadFileSteps(f, limits))),
      files.length,
      naming,
      createMeshChecker(),
      { order: createModelOrder(), gathered: undefined },
    ),
  );
}


/** What combine keeps from one load to the next (see load-memo.ts). */
interface CombineMemo {
  readonly order: ModelOrder;
  gathered: Gathered | undefined;
}

/** The files' results as one model, after the cross-resource checks (steps: see MeshChecker). */
function* combine(results: readonly FileResult[], fileCount: number, naming: MeshNaming, checker: MeshChecker, memo: CombineMemo): Steps<LoadResult> {
  const { gathered, replacement } = gather(results, memo.gathered);
  memo.gathered = gathered;
  const { resources, invalid, documents } = gathered;
  const diagnostics = [...gathered.diagnostics];
  yield "tick";
  if (documents === 0 && diagnostics.length === 0) {
    // Serving an empty mesh would strip every proxy of its config; it is far more often a wrong
    // path, a bad checkout or a commit that deleted everything.
    const where = fileCount === 0 ? "no *.yaml or *.yml files" : `${fileCount} YAML file(s) without a single document`;
    diagnostics.push({
      code: "GM0003",
      severity: "error",
      message: `the config has no mesh resources (${where}); check the directory, or commit the config`,
      file: ".",
      line: 1,
      col: 1,
    });
  }
  for (const d of yield* checker.steps(resources, invalid, naming, replacement)) diagnostics.push(d);
  yield "tick";
  const model = memo.order.sorted(resources, replacement);
  yield "tick";
  const sorted = sortDiagnostics(diagnostics.map(bounded));
  return { model: { resources: model, naming, files: fileCount }, diagnostics: sorted, ok: !sorted.some(isError) };
}

/** Kind and metadata.name are there, so the resource can be named even though its spec is bad. */
function hasEnvelope(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  return typeof v.kind === "string" && typeof v.metadata?.name === "string" && (v.metadata.namespace === undefined || typeof v.metadata.namespace === "string");
}
