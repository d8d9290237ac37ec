// A generated mesh for benchmarks: per service a ServiceEntry, a DestinationRule with subsets and
// outlier detection, a VirtualService with a header match, a 90/10 split and retries, and two
// WorkloadEntries, each in its own file, spread over 20 namespaces.

export const FILES_PER_SERVICE = 5;

export function service(i: number): Record<string, string> {
  const name = `svc-${i}`;
  const ns = `team-${i % 20}`;
  const host = `${name}.${ns}.svc.cluster.local`;
  const workload = (v: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}-v${v}, namespace: ${ns} }
spec:
  address: 10.${(i >> 8) & 255}.${i & 255}.${v}
  labels: { app: ${name}, version: v${v} }
  serviceAccount: ${name}
`;
  return {
    [`${ns}/${name}/service.yaml`]: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - { number: 8080, name: http, protocol: HTTP }
  workloadSelector:
    labels: { app: ${name} }
`,
    [`${ns}/${name}/destination-rule.yaml`]: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${ns} }
spec:
  host: ${name}
  trafficPolicy:
    loadBalancer: { simple: LEAST_REQUEST }
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`,
    [`${ns}/${name}/virtual-service.yaml`]: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${name}]
  http:
    - match:
        - headers: { x-canary: { exact: "1" } }
      route:
        - destination: { host: ${name}, subset: v2 }
    - route:
        - destination: { host: ${name}, subset: v1 }
          weight: 90
        - destination: { host: ${name}, subset: v2 }
          weight: 10
      timeout: 2s
      retries: { attempts: 3, perTryTimeout: 500ms, retryOn: 5xx }
`,
    [`${ns}/${name}/workload-v1.yaml`]: workload(1),
    [`${ns}/${name}/workload-v2.yaml`]: workload(2),
  };
}

/** The files of a mesh of n services, by path. */
export function meshFiles(n: number): { path: string; text: string }[] {
  return Array.from({ length: n }, (_, i) => Object.entries(service(i)).map(([path, text]) => ({ path, text }))).flat();
}
