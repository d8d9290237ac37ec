import type { Headers } from "../types.js";
import { each, type Check, type CheckContext, type Path } from "./context.js";

/**
 * GM0333: a header value Envoy's header parser refuses. Envoy reads request and response header
 * values as format strings: %COMMAND% or %COMMAND(ARG)% is replaced by a value, %% is a literal %,
 * and any other % makes Envoy refuse the whole route configuration.
 */
export const headerValueChecks: readonly Check[] = [
  each("VirtualService", (ctx, vs) => {
    (vs.spec.http ?? []).forEach((route, i) => {
      checkHeaders(ctx, vs, route.headers, ["spec", "http", i, "headers"]);
      (route.route ?? []).forEach((d, j) => checkHeaders(ctx, vs, d.headers, ["spec", "http", i, "route", j, "headers"]));
    });
  }),
];

function checkHeaders(ctx: CheckContext, vs: Parameters<CheckContext["report"]>[0], headers: Headers | undefined, path: Path): void {
  for (const side of ["request", "response"] as const) {
    for (const op of ["set", "add"] as const) {
      for (const [name, value] of Object.entries(headers?.[side]?.[op] ?? {})) {
        const problem = headerValueProblem(value);
        if (problem !== undefined) ctx.report(vs, [...path, side, op, name], "GM0333", "error", `header value for ${name}: ${problem}`);
      }
    }
  }
}

/** A command operator: %NAME%, %NAME(ARGS)%, %NAME(ARGS):LENGTH%. */
const COMMAND = /^%[A-Z][A-Z0-9_]*(\([^)]*\))?(:\d+)?%/;

/** Why Envoy's header parser refuses a value, or undefined when it takes it. */
export function headerValueProblem(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== "%") continue;
    if (value[i + 1] === "%") {
      i++;
      continue;
    }
    const command = COMMAND.exec(value.slice(i));
    if (command === null) return `the % at character ${i + 1} is neither %% (a literal %) nor a command such as %DOWNSTREAM_REMOTE_ADDRESS%, and Envoy refuses the routes; write %% for a literal %`;
    i += command[0].length - 1;
  }
  return undefined;
}
