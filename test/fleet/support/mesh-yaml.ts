// Small builders for the fleet tests' mesh config: the YAML an operator would commit.

export interface ServicePortYaml {
  readonly number: number;
  readonly name: string;
  readonly protocol: string;
  readonly targetPort?: number;
}

/** A MESH_INTERNAL ServiceEntry selecting workloads by labels. */
export function serviceEntry(name: string, namespace: string, ports: readonly ServicePortYaml[], selector: Readonly<Record<string, string>>): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hosts: [${name}.${namespace}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [${ports.map((p) => `{ number: ${p.number}, name: ${p.name}, protocol: ${p.protocol}${p.targetPort === undefined ? "" : `, targetPort: ${p.targetPort}`} }`).join(", ")}]
  workloadSelector: { labels: ${flow(selector)} }
`;
}

/** A WorkloadEntry for a fleet host (named like it), at its address. */
export function workloadEntry(name: string, namespace: string, address: string, labels: Readonly<Record<string, string>>, serviceAccount: string): string {
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  address: ${address}
  labels: ${flow(labels)}
  serviceAccount: ${serviceAccount}
`;
}

export function flow(map: Readonly<Record<string, string>>): string {
  return `{ ${Object.entries(map).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ")} }`;
}

/** YAML documents joined into one file. */
export function docs(...parts: readonly string[]): string {
  return parts.map((p) => p.trimEnd()).join("\n---\n") + "\n";
}

/** A DestinationRule for a host; `spec` is the rest of its spec, indented as YAML under `spec:`. */
export function destinationRule(name: string, namespace: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  host: ${name}
${spec.replace(/^/gm, "  ").trimEnd()}
`;
}

/** A VirtualService for hosts; `spec` is the rest of its spec (http, tcp ...), indented as YAML under `spec:`. */
export function virtualService(name: string, namespace: string, hosts: readonly string[], spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  hosts: [${hosts.join(", ")}]
${spec.replace(/^/gm, "  ").trimEnd()}
`;
}
