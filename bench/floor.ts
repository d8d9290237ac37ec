// The floor of the xDS benches: a bare grpc-js server (the same options as XdsServer) that writes
// given bytes to every stream and counts what comes back. No sessions, no decoding, no status:
// what writing the same responses to the same streams costs at least.
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from "@grpc/grpc-js";
import { within } from "./fleet.js";
import { ADS_PATH } from "./fleet-proto.js";

export interface Floor {
  readonly port: number;
  readonly calls: ServerDuplexStream<Buffer, Buffer>[];
  /** The calls of clients that say which they are (fanout-clients.ts's x-fleet-proxy header). */
  readonly byProxy: Map<string, ServerDuplexStream<Buffer, Buffer>>;
  /** Resolves once `count` more messages than now have arrived. */
  receive(count: number): Promise<void>;
  received(): number;
  shutdown(): void;
}

/**
 * @param path the streaming method served (ADS, state of the world unless told otherwise)
 * @param greeting written to every stream as it opens: a recorded sync, so clients come to hold
 *   what the server they stand in for would have sent them
 */
export async function startFloor(path = ADS_PATH, greeting: readonly Buffer[] = []): Promise<Floor> {
  const grpc = new Server({
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    "grpc.max_send_message_length": -1,
    "grpc.max_concurrent_streams": 100,
    "grpc.enable_channelz": 0,
  });
  const calls: ServerDuplexStream<Buffer, Buffer>[] = [];
  const byProxy = new Map<string, ServerDuplexStream<Buffer, Buffer>>();
  let received = 0;
  let onReceived = (): void => {};
  const pass = (b: Buffer): Buffer => b;
  const definition = {
    Stream: { path, requestStream: true, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
  } as ServiceDefinition;
  grpc.addService(definition, {
    Stream: (call: ServerDuplexStream<Buffer, Buffer>) => {
      calls.push(call);
      const proxy = call.metadata.get("x-fleet-proxy")[0];
      if (typeof proxy === "string") byProxy.set(proxy, call);
      call.on("data", () => {
        received++;
        onReceived();
      });
      call.on("error", () => {});
      for (const b of greeting) call.write(b);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const receive = (count: number): Promise<void> => {
    const target = received + count;
    return within(
      new Promise((resolve) => {
        onReceived = () => {
          if (received < target) return;
          onReceived = () => {};
          resolve();
        };
        onReceived();
      }),
      "floor ACKs",
      () => `(${received}/${target})`,
    );
  };
  return { port, calls, byProxy, receive, received: () => received, shutdown: () => grpc.forceShutdown() };
}
