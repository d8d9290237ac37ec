// A raw HTTP/2 xDS client whose reading the test controls: it can stop reading its responses
// (as a proxy that is stuck, or an attacker, does) and look at the final status when it resumes.
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { connect as connectTls } from "node:tls";
import { decodeMessage, messageType } from "../../src/envoy/index.js";
import type { Target } from "./endpoints.js";

export interface RawStream {
  readonly session: ClientHttp2Session;
  readonly stream: ClientHttp2Stream;
  /** Sends one request (a DiscoveryRequest or DeltaDiscoveryRequest as an object). */
  send(request: object): void;
  /** The gRPC status in the trailers (the stream must be reading to get them). */
  readonly trailers: Promise<{ code: number; message: string }>;
  /** Responses received so far, decoded (only while the stream reads). */
  readonly responses: Record<string, unknown>[];
}

/** Opens a stream on its own connection; it does not read until stream.resume(). */
export function rawStream(target: Pick<Target, "port" | "ca">, path: string, messageName: string, responseName = messageName.replace("Request", "Response")): RawStream {
  const authority = `${target.ca === undefined ? "http" : "https"}://localhost:${target.port}`;
  const session =
    target.ca === undefined
      ? connect(authority)
      : connect(authority, { createConnection: () => connectTls({ host: "127.0.0.1", port: target.port, servername: "localhost", ca: target.ca, ALPNProtocols: ["h2"] }) });
  session.on("error", () => {});
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => {});
  stream.pause();
  const type = messageType(messageName);
  // The status comes in trailers, or in the response headers when nothing was sent before it.
  const trailers = new Promise<{ code: number; message: string }>((resolve) => {
    const take = (h: Record<string, string | string[] | undefined>) => {
      const code = h["grpc-status"];
      if (code !== undefined) resolve({ code: Number(code), message: decodeURIComponent(String(h["grpc-message"] ?? "")) });
    };
    stream.on("response", take);
    stream.on("trailers", take);
  });
  trailers.catch(() => {});
  const responses: Record<string, unknown>[] = [];
  let pending = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      responses.push(decodeMessage(responseName, pending.subarray(5, 5 + length), { defaults: true }));
      pending = pending.subarray(5 + length);
    }
  });
  return {
    session,
    stream,
    trailers,
    responses,
    send(request) {
      const body = Buffer.from(type.encode(type.fromObject(request)).finish());
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.write(frame);
    },
  };
}

export const DELTA_REQUEST = "envoy.service.discovery.v3.DeltaDiscoveryRequest";
export const SOTW_REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
