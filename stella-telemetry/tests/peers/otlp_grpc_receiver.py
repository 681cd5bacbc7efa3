"""An OTLP/gRPC trace receiver on the reference gRPC implementation (grpcio, gRPC's C core)
and the official OpenTelemetry protobuf definitions (opentelemetry-proto), for the tests of
stella-telemetry's gRPC exporter against a peer it was not written with.

Usage: otlp_grpc_receiver.py [accept | unavailable-once]

Prints `PORT <n>` once listening on 127.0.0.1, then one JSON line per received call:
{"metadata": {...}, "resource": {...}, "spans": [{"name", "trace_id", "span_id",
"parent_span_id", "kind", "attributes"}]}. With `unavailable-once` the first call is answered
UNAVAILABLE. Stops when its standard input closes.
"""

import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, mode):
        self.mode = mode
        self.calls = 0
        self.lock = threading.Lock()

    def Export(self, request, context):
        with self.lock:
            self.calls += 1
            refuse = self.mode == "unavailable-once" and self.calls == 1
        if refuse:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        metadata = {k: v for k, v in context.invocation_metadata()}
        for rs in request.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            spans = []
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        {
                            "name": s.name,
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "kind": s.kind,
                            "attributes": {a.key: value(a.value) for a in s.attributes},
                        }
                    )
            line = {"metadata": metadata, "resource": resource, "spans": spans}
            with self.lock:
                print(json.dumps(line), flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "accept"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(mode), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
