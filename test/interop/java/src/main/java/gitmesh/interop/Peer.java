// The grpc-java peer of the interop suite (test/interop): one long-lived process per xDS bootstrap
// (GRPC_XDS_BOOTSTRAP) that takes commands as JSON lines on stdin and answers each with one JSON
// line on stdout (test/interop/protocol.md). Messages are raw JSON bytes, not protobuf, so every
// language's peer speaks the same service without generated code.
package gitmesh.interop;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.Grpc;
import io.grpc.HandlerRegistry;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.internal.JsonParser;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.xds.XdsChannelCredentials;
import io.grpc.xds.XdsServerBuilder;
import io.grpc.xds.XdsServerCredentials;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public final class Peer {
  private static final MethodDescriptor.Marshaller<byte[]> RAW =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  private static final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
  private static final List<Server> servers = new ArrayList<>();
  private static final ExecutorService commands = Executors.newCachedThreadPool();

  private static MethodDescriptor<byte[], byte[]> method(String fullName) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(fullName.startsWith("/") ? fullName.substring(1) : fullName)
        .setRequestMarshaller(RAW)
        .setResponseMarshaller(RAW)
        .build();
  }

  private static synchronized void reply(String json) {
    System.out.println(json);
    System.out.flush();
  }

  private static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  private static int num(Map<String, ?> cmd, String key, int otherwise) {
    Object v = cmd.get(key);
    return v instanceof Double ? ((Double) v).intValue() : otherwise;
  }

  @SuppressWarnings("unchecked")
  private static String calls(Map<String, ?> cmd, int id) throws Exception {
    String target = (String) cmd.get("target");
    boolean secure = Boolean.TRUE.equals(cmd.get("secure"));
    ManagedChannel channel =
        channels.computeIfAbsent(
            target + "|" + secure,
            k -> {
              ChannelCredentials creds = secure ? XdsChannelCredentials.create(InsecureChannelCredentials.create()) : InsecureChannelCredentials.create();
              return Grpc.newChannelBuilder(target, creds).build();
            });
    Metadata headers = new Metadata();
    Map<String, ?> given = (Map<String, ?>) cmd.get("headers");
    if (given != null) {
      for (Map.Entry<String, ?> e : given.entrySet()) headers.put(Metadata.Key.of(e.getKey(), Metadata.ASCII_STRING_MARSHALLER), (String) e.getValue());
    }
    Channel withHeaders = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    MethodDescriptor<byte[], byte[]> m = method((String) cmd.get("method"));
    Object request = cmd.get("request");
    byte[] body = (request == null ? "{}" : toJson(request)).getBytes(StandardCharsets.UTF_8);
    int count = Math.max(1, num(cmd, "count", 1));
    int timeoutMs = num(cmd, "timeoutMs", 10_000);
    ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, num(cmd, "concurrency", 1)));
    List<Future<String>> results = new ArrayList<>();
    int spacingMs = num(cmd, "spacingMs", 0);
    for (int i = 0; i < count; i++) {
      if (i > 0 && spacingMs > 0) Thread.sleep(spacingMs);
      results.add(
          pool.submit(
              () -> {
                long start = System.nanoTime();
                try {
                  byte[] resp = ClientCalls.blockingUnaryCall(withHeaders, m, CallOptions.DEFAULT.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS), body);
                  Map<String, ?> parsed = (Map<String, ?>) JsonParser.parse(new String(resp, StandardCharsets.UTF_8));
                  return String.format("{\"code\":0,\"backend\":%s,\"ms\":%.3f}", quote(String.valueOf(parsed.get("backend"))), (System.nanoTime() - start) / 1e6);
                } catch (StatusRuntimeException e) {
                  Status s = e.getStatus();
                  return String.format("{\"code\":%d,\"ms\":%.3f,\"message\":%s}", s.getCode().value(), (System.nanoTime() - start) / 1e6, quote(String.valueOf(s.getDescription())));
                }
              }));
    }
    List<String> out = new ArrayList<>();
    for (Future<String> f : results) out.add(f.get());
    pool.shutdown();
    return "{\"id\":" + id + ",\"results\":[" + String.join(",", out) + "]}";
  }

  private static String toJson(Object v) {
    if (v == null) return "null";
    if (v instanceof String) return quote((String) v);
    if (v instanceof Double) {
      double d = (Double) v;
      return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }
    if (v instanceof Boolean) return v.toString();
    if (v instanceof Map) {
      List<String> parts = new ArrayList<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) parts.add(quote((String) e.getKey()) + ":" + toJson(e.getValue()));
      return "{" + String.join(",", parts) + "}";
    }
    List<String> parts = new ArrayList<>();
    for (Object o : (List<?>) v) parts.add(toJson(o));
    return "[" + String.join(",", parts) + "]";
  }

  /** Answers every method with {"backend": NAME}, after the request's sleepMs, or fails with its code. */
  private static HandlerRegistry identity(String name) {
    return new HandlerRegistry() {
      @Override
      @SuppressWarnings("unchecked")
      public ServerMethodDefinition<?, ?> lookupMethod(String methodName, String authority) {
        return ServerMethodDefinition.create(
            method(methodName),
            ServerCalls.asyncUnaryCall(
                (byte[] request, io.grpc.stub.StreamObserver<byte[]> observer) -> {
                  try {
                    Map<String, ?> r = (Map<String, ?>) JsonParser.parse(new String(request, StandardCharsets.UTF_8));
                    int sleepMs = num(r, "sleepMs", 0);
                    if (sleepMs > 0) Thread.sleep(sleepMs);
                    int fail = num(r, "fail", 0);
                    if (fail != 0) {
                      observer.onError(Status.fromCodeValue(fail).withDescription(name + " fails on request").asRuntimeException());
                      return;
                    }
                  } catch (IOException | InterruptedException e) {
                    observer.onError(Status.INTERNAL.withDescription(e.toString()).asRuntimeException());
                    return;
                  }
                  observer.onNext(("{\"backend\":" + quote(name) + "}").getBytes(StandardCharsets.UTF_8));
                  observer.onCompleted();
                }));
      }
    };
  }

  private static String serve(Map<String, ?> cmd, int id) throws Exception {
    int port = num(cmd, "port", 0);
    String name = cmd.get("name") == null ? "java" : (String) cmd.get("name");
    boolean secure = Boolean.TRUE.equals(cmd.get("secure"));
    if (!Boolean.TRUE.equals(cmd.get("xds"))) {
      Server s = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).fallbackHandlerRegistry(identity(name)).build().start();
      synchronized (servers) {
        servers.add(s);
      }
      return "{\"id\":" + id + ",\"serving\":true}";
    }
    ServerCredentials creds = secure ? XdsServerCredentials.create(InsecureServerCredentials.create()) : InsecureServerCredentials.create();
    CountDownLatch serving = new CountDownLatch(1);
    Server s =
        XdsServerBuilder.forPort(port, creds)
            .fallbackHandlerRegistry(identity(name))
            .xdsServingStatusListener(
                new XdsServerBuilder.XdsServingStatusListener() {
                  @Override
                  public void onServing() {
                    serving.countDown();
                  }

                  @Override
                  public void onNotServing(Throwable t) {}
                })
            .build()
            .start();
    synchronized (servers) {
      servers.add(s);
    }
    if (!serving.await(20, TimeUnit.SECONDS)) return "{\"id\":" + id + ",\"error\":\"the xDS server did not start serving within 20 s\"}";
    return "{\"id\":" + id + ",\"serving\":true}";
  }

  @SuppressWarnings("unchecked")
  private static void handle(String line) {
    int id = -1;
    try {
      Map<String, ?> cmd = (Map<String, ?>) JsonParser.parse(line);
      id = num(cmd, "id", -1);
      String op = (String) cmd.get("op");
      if ("calls".equals(op)) reply(calls(cmd, id));
      else if ("serve".equals(op)) reply(serve(cmd, id));
      else reply("{\"id\":" + id + ",\"error\":" + quote("unknown op " + op) + "}");
    } catch (Exception e) {
      reply("{\"id\":" + id + ",\"error\":" + quote(e.toString()) + "}");
    }
  }

  public static void main(String[] args) throws Exception {
    reply("{\"ready\":true,\"client\":\"grpc-java\",\"version\":" + quote(io.grpc.internal.GrpcUtil.getGrpcBuildVersion().getImplementationVersion()) + "}");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String l = line.trim();
      if (!l.isEmpty()) commands.submit(() -> handle(l));
    }
    commands.shutdown();
    commands.awaitTermination(60, TimeUnit.SECONDS);
    for (ManagedChannel c : channels.values()) c.shutdownNow();
    synchronized (servers) {
      for (Server s : servers) s.shutdownNow();
    }
    System.exit(0);
  }
}
