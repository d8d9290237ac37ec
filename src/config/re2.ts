// Regular expressions as Envoy compiles them: with RE2 itself (Google's RE2 built to WebAssembly,
// the package the pinned gRPC xDS client matches with), so what RE2 accepts ((?i), [[:alpha:]],
// (?P<name>...)) is accepted and what it refuses (lookaround, backreferences, a repeat over 1000)
// is refused, with RE2's own words.
import { RE2 } from "re2-wasm";

/** Why RE2 refuses a pattern, or undefined when it compiles. */
export function re2Problem(pattern: string): string | undefined {
  try {
    new RE2(pattern, "u");
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, "");
  }
}
