// The mesh CA's public face. Knows nothing of routes: nothing here imports config, translators or xds.
export { createRootAuthority, issuingChain, ROOT_LIFETIME_MS, type Authority, type RootOptions } from "./authority.js";
export { inspect, type CertificateFacts } from "./inspect.js";
export { generateKey, KEY_TYPES, type KeyType } from "./keys.js";
export { initCa, issuer, openCa, openOrCreateCa, rotate, trustBundlePem, writeTrustBundle, type MeshCa, type OpenResult, type RotationResult, type RotationStep } from "./mesh-ca.js";
export { renewalTime, DEFAULT_RENEWAL_WINDOW, type RenewalWindow } from "./renewal.js";
export { trustedIds, issuingId, type RotationState } from "./rotation.js";
export { DEFAULT_TRUST_DOMAIN, identityProblems, spiffeId, type WorkloadIdentity } from "./spiffe.js";
export { caDir, loadCaFiles, setAsideCa, trustBundleFile } from "./store.js";
export {
  bindingProblem,
  bindingRefusal,
  DEFAULT_TOKEN_TTL_MS,
  describeBinding,
  issueToken,
  readToken,
  TOKEN_ID,
  tokens,
  UNBOUND,
  verifyBearer,
  verifyToken,
  type BoundNode,
  type TokenBinding,
  type TokenRefusal,
  type Tokens,
  type TokenVerdict,
} from "./token.js";
export { listRevocations, openRevocations, pruneRevocations, recordRevocation, revocationsDir, type RevocationEntry, type Revocations } from "./revocations.js";
export { loadOrCreateTokenKey, openTokenKey, type TokenKeyResult } from "./token-key.js";
export { formatProblem, validateCaFiles, type CaFileProblem, type CaFiles, type CaLoadResult } from "./validate.js";
export { issueServingCertificate, SERVING_LIFETIME_MS, type ServingCertificate } from "./serving.js";
export { issueWorkloadCertificate, signWorkloadCertificate, WORKLOAD_LIFETIME_MS, type IssuedCertificate, type WorkloadOptions } from "./workload.js";
export { recordedTrustDomain, settleTrustDomain, type SettleResult } from "./trust-domain.js";
