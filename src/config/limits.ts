/**
 * What gitmesh reads from a config directory, at most (docs/config.md, "Limits"). Files and
 * documents past these are errors naming the file and the limit, found before the work they
 * would cost: a file past maxFileBytes is never read whole, nesting past maxDepth stops the
 * parser where it happens. Each default is several times what real Istio config needs.
 */
export interface ConfigLimits {
  /** One file. Kubernetes refuses objects over 1.5 MB; an Istio resource is a few KB. */
  readonly maxFileBytes: number;
  /** All YAML under the directory (the 10,000 generated services of bench/ are 15 MB). */
  readonly maxTotalBytes: number;
  /** YAML files under the directory (those 10,000 services are 50,000 files). */
  readonly maxFiles: number;
  /** Values (scalars, lists and mappings) in one document. */
  readonly maxDocumentValues: number;
  /** Levels of nested lists and mappings (an Istio resource needs about 12). */
  readonly maxDepth: number;
}

export const DEFAULT_CONFIG_LIMITS: ConfigLimits = {
  maxFileBytes: 1024 * 1024,
  maxTotalBytes: 128 * 1024 * 1024,
  maxFiles: 200_000,
  maxDocumentValues: 100_000,
  maxDepth: 64,
};
