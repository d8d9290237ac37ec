import type { Steps } from "../../common/steps.js";
import type { Diagnostic } from "../diagnostics.js";
import type { AnyMeshResource, MeshNaming } from "../resources.js";
import { checkContext } from "./context.js";
import { checkDefinitions } from "./definitions.js";
import { checkDestinations } from "./destinations.js";
import { checkDuplicates } from "./duplicates.js";
import { checkGatewayServers } from "./gateway-servers.js";
import { checkHeaderValues } from "./header-values.js";
import { checkIstioRules } from "./istio-rules.js";
import { checkStrictBehindPlaintext } from "./mtls.js";
import { checkPrincipals } from "./principals.js";
import { checkReach } from "./reach.js";
import { checkRoutes } from "./routes.js";
import { checkSelectors } from "./selectors.js";
import { checkServing } from "./serving.js";

/** Every check that needs more than one resource to see the problem. */
const CHECKS = [
  checkDuplicates,
  checkDefinitions,
  checkDestinations,
  checkRoutes,
  checkSelectors,
  checkStrictBehindPlaintext,
  checkPrincipals,
  checkReach,
  checkServing,
  checkIstioRules,
  checkHeaderValues,
  checkGatewayServers,
];

/**
 * The cross-resource checks, as steps pausing between two checks (a reload of a large mesh keeps
 * the server answering). Resources that failed their schema (invalid) are not checked, but what
 * they declare still counts, so one mistake is reported once rather than at every reference to it.
 */
export function* checkMeshSteps(resources: readonly AnyMeshResource[], invalid: readonly AnyMeshResource[], naming: MeshNaming): Steps<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const ctx = checkContext(resources, invalid, naming, out);
  for (const check of CHECKS) {
    yield "tick";
    check(ctx);
  }
  return out;
}
