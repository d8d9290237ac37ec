// Files of Istio's samples and tasks (test/fixtures/istio-corpus) that unit tests read, from the repository root.

/** Istio's egress task: httpbin.org declared with resolution DNS and no endpoints, with a 3 s timeout. */
export const EGRESS_HTTP = "test/fixtures/istio-corpus/external/scenarios/task-egress-http-timeout.yaml";
