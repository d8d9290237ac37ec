/** The workload an identity names. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export { DEFAULT_TRUST_DOMAIN } from "../common/mesh-identity.js";

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
// Kubernetes names: a namespace is a DNS label, a service account a DNS subdomain.
const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/** spiffe://TRUST_DOMAIN/ns/NS/sa/SA, Istio's form of a SPIFFE ID. */
export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** What is wrong with an identity's parts, one message each; empty when it is valid. */
export function identityProblems(id: WorkloadIdentity): string[] {
  const problems: string[] = [];
  if (!TRUST_DOMAIN.test(id.trustDomain)) problems.push(`trust domain "${id.trustDomain}" must be lower-case letters, digits, ".", "-" or "_"`);
  if (!NAMESPACE.test(id.namespace)) problems.push(`namespace "${id.namespace}" must be a DNS label (lower-case letters, digits and "-", at most 63)`);
  if (!SERVICE_ACCOUNT.test(id.serviceAccount)) problems.push(`service account "${id.serviceAccount}" must be a DNS name (lower-case letters, digits, "-" and ".")`);
  return problems;
}

export function isValidName(kind: "namespace" | "serviceAccount", name: string): boolean {
  return (kind === "namespace" ? NAMESPACE : SERVICE_ACCOUNT).test(name);
}
