"""The gRPC C-core peer of the interop suite (test/interop), through Python's grpcio: one
long-lived process per xDS bootstrap (GRPC_XDS_BOOTSTRAP) that takes commands as JSON lines on
stdin and answers each with one JSON line on stdout (test/interop/protocol.md). Runs on Debian
12's python3-grpcio 1.51 and on the current grpcio alike: only APIs both have."""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc.experimental

_out = threading.Lock()
_channels = {}
_servers = []


def reply(value):
    with _out:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()


def encode(value):
    return json.dumps(value).encode()


def decode(data):
    return json.loads(data.decode() or "{}")


def channel(target, secure):
    key = (target, secure)
    if key not in _channels:
        if secure:
            creds = grpc.xds_channel_credentials(grpc.experimental.insecure_channel_credentials())
            _channels[key] = grpc.secure_channel(target, creds)
        else:
            _channels[key] = grpc.insecure_channel(target)
    return _channels[key]


def one_call(stub, cmd):
    timeout = (cmd.get("timeoutMs") or 10000) / 1000
    metadata = tuple((k, v) for k, v in (cmd.get("headers") or {}).items())
    start = time.monotonic()
    try:
        resp = stub(cmd.get("request") or {}, timeout=timeout, metadata=metadata)
        return {"code": 0, "backend": resp.get("backend", ""), "ms": (time.monotonic() - start) * 1000}
    except grpc.RpcError as e:
        return {"code": e.code().value[0], "ms": (time.monotonic() - start) * 1000, "message": e.details() or ""}


def calls(cmd):
    ch = channel(cmd["target"], bool(cmd.get("secure")))
    stub = ch.unary_unary(cmd["method"], request_serializer=encode, response_deserializer=decode)
    count = cmd.get("count") or 1
    spacing = (cmd.get("spacingMs") or 0) / 1000
    with ThreadPoolExecutor(max_workers=cmd.get("concurrency") or 1) as pool:
        futures = []
        for i in range(count):
            if i > 0 and spacing > 0:
                time.sleep(spacing)
            futures.append(pool.submit(one_call, stub, cmd))
        results = [f.result() for f in futures]
    return {"id": cmd["id"], "results": results}


class Identity(grpc.GenericRpcHandler):
    """Answers every method with {"backend": NAME}, after the request's sleepMs, or fails with its code."""

    def __init__(self, name):
        self.name = name

    def service(self, handler_call_details):
        def answer(request, context):
            if request.get("sleepMs"):
                time.sleep(request["sleepMs"] / 1000)
            if request.get("fail"):
                code = next(c for c in grpc.StatusCode if c.value[0] == request["fail"])
                context.abort(code, f"{self.name} fails on request")
            return {"backend": self.name}

        return grpc.unary_unary_rpc_method_handler(answer, request_deserializer=decode, response_serializer=encode)


def serve(cmd):
    address = f"0.0.0.0:{cmd['port']}"
    server = grpc.server(ThreadPoolExecutor(max_workers=16), xds=bool(cmd.get("xds")))
    server.add_generic_rpc_handlers((Identity(cmd.get("name", "python")),))
    if cmd.get("secure"):
        server.add_secure_port(address, grpc.xds_server_credentials(grpc.insecure_server_credentials()))
    else:
        server.add_insecure_port(address)
    server.start()
    _servers.append(server)
    # C-core has no serving-state callback in Python: the caller polls until calls are served.
    return {"id": cmd["id"], "serving": True}


def handle(cmd):
    try:
        if cmd["op"] == "calls":
            reply(calls(cmd))
        elif cmd["op"] == "serve":
            reply(serve(cmd))
        else:
            reply({"id": cmd.get("id"), "error": f"unknown op {cmd['op']}"})
    except Exception as e:  # a peer reports its own failures, it never dies of them
        reply({"id": cmd.get("id"), "error": f"{type(e).__name__}: {e}"})


def main():
    reply({"ready": True, "client": "grpc-python", "version": grpc.__version__})
    threads = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        t = threading.Thread(target=handle, args=(json.loads(line),), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for s in _servers:
        s.stop(0)
    for c in _channels.values():
        c.close()


if __name__ == "__main__":
    main()
