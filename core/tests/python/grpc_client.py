"""An independent gRPC client (Python grpcio, stubs generated from proto/proto at test time)
that calls every RPC of metricstor.v1.Query and grpc.health.v1.Health, and checks the
answers. Usage: grpc_client.py STUBS_DIR HOST:PORT. Exits non-zero on the first mismatch."""
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from metricstor.v1 import query_pb2, query_pb2_grpc  # noqa: E402
from prometheus import remote_pb2  # noqa: E402


def check(condition, what):
    if not condition:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


channel = grpc.insecure_channel(sys.argv[2])
grpc.channel_ready_future(channel).result(timeout=30)
health = health_pb2_grpc.HealthStub(channel)
check(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING, "Health/Check answers SERVING")

stub = query_pb2_grpc.QueryStub(channel)


def requests():
    for i in range(3):
        ts = remote_pb2.TimeSeries(
            labels=[remote_pb2.Label(name="__name__", value="py_grpc"), remote_pb2.Label(name="job", value=f"j{i}")],
            samples=[remote_pb2.Sample(value=float(i + k), timestamp=1_000_000 + k * 15_000) for k in range(4)],
        )
        yield remote_pb2.WriteRequest(timeseries=[ts])


written = stub.Write(requests(), timeout=30)
check(written.samples_written == 12, f"Write (client streaming) stored 12 samples (said {written.samples_written})")

instant = stub.InstantQuery(query_pb2.InstantQueryRequest(query="sum(py_grpc)", time_ms=1_045_000), timeout=30)
check(instant.result_type == "vector" and len(instant.series) == 1 and instant.series[0].points[0].value == 3 + 4 + 5, "InstantQuery sum")

ranged = stub.RangeQuery(query_pb2.RangeQueryRequest(query="py_grpc", start_ms=1_000_000, end_ms=1_045_000, step_ms=15_000), timeout=30)
check(ranged.result_type == "matrix" and len(ranged.series) == 3 and all(len(s.points) == 4 for s in ranged.series), "RangeQuery matrix")

series = stub.Series(query_pb2.SeriesRequest(matchers=["py_grpc"], start_ms=0, end_ms=2_000_000), timeout=30)
check(len(series.series) == 3, "Series lists 3 label sets")

names = stub.LabelNames(query_pb2.LabelNamesRequest(matchers=["py_grpc"], start_ms=0, end_ms=2_000_000), timeout=30)
check(list(names.names) == ["__name__", "job"], f"LabelNames {list(names.names)}")

values = stub.LabelValues(query_pb2.LabelValuesRequest(name="job", matchers=["py_grpc"], start_ms=0, end_ms=2_000_000), timeout=30)
check(list(values.values) == ["j0", "j1", "j2"], f"LabelValues {list(values.values)}")

try:
    stub.InstantQuery(query_pb2.InstantQueryRequest(query="sum(", time_ms=1), timeout=30)
    check(False, "a bad query is an error")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"a bad query is INVALID_ARGUMENT ({e.code()})")
print("all RPCs answered as expected")
