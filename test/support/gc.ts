import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// The test runner starts files without --expose-gc; this gets the collector anyway, so memory
// measurements are taken after a full collection rather than at the GC's whim.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap in use after full collections. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
