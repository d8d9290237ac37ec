// The naming flags the commands that read a config directory share (Istio's defaults).
import { DEFAULT_NAMING, type MeshNaming } from "../../config/resources.js";

export const NAMING_OPTIONS = {
  "root-namespace": { type: "string", default: DEFAULT_NAMING.rootNamespace },
  "cluster-domain": { type: "string", default: DEFAULT_NAMING.clusterDomain },
  // No default here: serve takes the one its state directory recorded (src/ca/trust-domain.ts).
  "trust-domain": { type: "string" },
} as const;

export const NAMING_HELP = `  --root-namespace NS        namespace of mesh-wide policy (default ${DEFAULT_NAMING.rootNamespace})
  --cluster-domain DOMAIN    short hosts expand to NAME.NS.svc.DOMAIN (default ${DEFAULT_NAMING.clusterDomain})`;

export function namingFrom(values: { "root-namespace": string; "cluster-domain": string; "trust-domain"?: string | undefined }): MeshNaming {
  return { rootNamespace: values["root-namespace"], clusterDomain: values["cluster-domain"], trustDomain: values["trust-domain"] ?? DEFAULT_NAMING.trustDomain };
}
