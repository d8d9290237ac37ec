// The running control plane: config reloads -> translation -> per-proxy snapshots -> the xDS
// cache; workload secrets; the authenticated endpoint; the followers of the CA state and the
// credentials directory. src/cli parses arguments and prints; this is what `gitmesh serve` runs.
export { serve, type ServeOptions, type Serving } from "./serve.js";
export { MeshPusher, type ApplyResult, type PusherOptions } from "./push.js";
export { openSecure, authenticate, writeTrustBundle, DEFAULT_SERVER_NAMES, type Secure, type SecureOptions, type TokenAuthDecision, type TokenIdentity } from "./secure.js";
export { WorkloadSecrets, WORKLOAD_SECRET, ROOT_SECRET, type SecretSource, type WorkloadSecretsOptions } from "./workload-secrets.js";
export { IssuanceQueue, type IssuanceJob } from "./issuance-queue.js";
