export { createMetrics, type ConfigSourceInfo, type Metrics, type ReloadOutcome } from "./metrics.js";
export {
  DEFAULT_ADMIN_ADDRESS,
  parseAddress,
  startAdminServer,
  syncState,
  xdsView,
  type AdminServer,
  type AdminServerOptions,
  type NackView,
  type Readiness,
  type StreamView,
  type SyncState,
  type TypeView,
  type XdsView,
} from "./server.js";
