// The test's side of a host's agent (agent.ts): requests made from inside the host, the load
// generator, what the host's applications received, and the host's Envoy admin page.
import type { Behaviour, GrpcCall, GrpcResult, HttpCall, HttpResult, Received, Summary, TcpCall } from "./agent.js";

export const AGENT_PORT = 15999;

export class AgentClient {
  readonly base: string;

  constructor(
    readonly name: string,
    address: string,
  ) {
    this.base = `http://${address}:${AGENT_PORT}`;
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      signal: AbortSignal.timeout(170_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`agent ${this.name} ${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  health(): Promise<{ name: string }> {
    return this.call("GET", "/health");
  }

  /** Requests made from this host (through its sidecar when the URL names a mesh service). */
  http(call: HttpCall & { summary?: false }): Promise<HttpResult[]> {
    return this.call("POST", "/http", { ...call, summary: false });
  }

  /** As http, answered with counts. */
  httpSummary(call: HttpCall): Promise<Summary> {
    return this.call("POST", "/http", { ...call, summary: true });
  }

  /** One request; its result. */
  async get(url: string, headers: Readonly<Record<string, string>> = {}, method = "GET"): Promise<HttpResult> {
    const [r] = await this.http({ url, headers, method });
    if (r === undefined) throw new Error("bug: no result");
    return r;
  }

  grpc(call: GrpcCall): Promise<GrpcResult[]> {
    return this.call("POST", "/grpc", call);
  }

  tcp(call: TcpCall): Promise<{ reply?: string; error?: string }[]> {
    return this.call("POST", "/tcp", call);
  }

  received(): Promise<Received[]> {
    return this.call("GET", "/received");
  }

  /** Forgets what was received and answers normally again. */
  reset(): Promise<void> {
    return this.call("POST", "/reset");
  }

  behave(b: Behaviour): Promise<void> {
    return this.call("POST", "/behaviour", b);
  }

  startLoad(call: HttpCall): Promise<void> {
    return this.call("POST", "/load/start", call);
  }

  loadStats(): Promise<Summary> {
    return this.call("GET", "/load/stats");
  }

  stopLoad(): Promise<Summary> {
    return this.call("POST", "/load/stop");
  }

  /** The host's Envoy admin page (it listens on 127.0.0.1 inside the host). */
  async envoy(path: string, method: "GET" | "POST" = "GET"): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.base}/envoy${path}`, { method, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, text: await res.text() };
  }
}
