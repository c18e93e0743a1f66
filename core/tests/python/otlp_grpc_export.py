"""Sends an OTLP ExportMetricsServiceRequest (its protobuf bytes read from a file) to
Metricstor's gRPC port with grpcio, gzip-compressed (grpc.Compression.Gzip), as a real gRPC
client library frames it; then the same uncompressed. Prints "exported twice" when both calls
returned OK.

Usage: otlp_grpc_export.py STUBS_DIR HOST:PORT REQUEST_FILE
(STUBS_DIR is unused: the call sends raw bytes with no generated stub.)
"""
import sys

import grpc

EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def main():
    _, _stubs, address, request_file = sys.argv
    with open(request_file, "rb") as f:
        request = f.read()
    # One channel per compression: grpcio compresses every message of a channel created with
    # a compression algorithm.
    for compression in (grpc.Compression.Gzip, grpc.Compression.NoCompression):
        with grpc.insecure_channel(address, compression=compression) as channel:
            export = channel.unary_unary(EXPORT)  # bytes in, bytes out
            answer = export(request, timeout=30)
            assert isinstance(answer, bytes), type(answer)
    print("exported twice")


if __name__ == "__main__":
    main()
