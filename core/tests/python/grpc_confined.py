"""gRPC over mutual TLS with Python grpcio: `tls.read_filters` confine a listed identity's
reads over gRPC as over HTTP. Usage: grpc_confined.py STUBS_DIR HOST:PORT PKI_DIR, where
PKI_DIR (from `metricstor certs`) has clients `agent` (may write), `team-a` (confined to
{team="a"}) and `ops` (unconfined). Exits non-zero on the first mismatch."""
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from metricstor.v1 import query_pb2, query_pb2_grpc  # noqa: E402
from prometheus import remote_pb2  # noqa: E402

target, pki = sys.argv[2], sys.argv[3]


def check(condition, what):
    if not condition:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def stub_as(client):
    read = lambda name: open(f"{pki}/{name}", "rb").read()  # noqa: E731
    credentials = grpc.ssl_channel_credentials(root_certificates=read("ca.crt"), private_key=read(f"{client}.key"), certificate_chain=read(f"{client}.crt"))
    channel = grpc.secure_channel(target, credentials)
    grpc.channel_ready_future(channel).result(timeout=30)
    return query_pb2_grpc.QueryStub(channel)


def write():
    for i, team in [(1, "a"), (2, "b"), (3, None)]:
        labels = [remote_pb2.Label(name="__name__", value="py_conf"), remote_pb2.Label(name="i", value=str(i))]
        if team:
            labels.append(remote_pb2.Label(name="team", value=team))
        yield remote_pb2.WriteRequest(timeseries=[remote_pb2.TimeSeries(labels=labels, samples=[remote_pb2.Sample(value=float(i), timestamp=1_000_000)])])


written = stub_as("agent").Write(write(), timeout=30)
check(written.samples_written == 3, f"the agent wrote 3 samples (said {written.samples_written})")


def i_values(series):
    return sorted(next(label.value for label in s.labels if label.name == "i") for s in series)


for client, expected in [("team-a", ["1"]), ("ops", ["1", "2", "3"])]:
    stub = stub_as(client)
    instant = stub.InstantQuery(query_pb2.InstantQueryRequest(query="py_conf", time_ms=1_000_000), timeout=30)
    check(i_values(instant.series) == expected, f"{client}: InstantQuery sees {i_values(instant.series)}")
    total = stub.InstantQuery(query_pb2.InstantQueryRequest(query="sum(py_conf)", time_ms=1_000_000), timeout=30)
    check(total.series[0].points[0].value == sum(float(i) for i in expected), f"{client}: sum over what it may see")
    ranged = stub.RangeQuery(query_pb2.RangeQueryRequest(query="py_conf", start_ms=1_000_000, end_ms=1_000_000, step_ms=15_000), timeout=30)
    check(i_values(ranged.series) == expected, f"{client}: RangeQuery sees {i_values(ranged.series)}")
    series = stub.Series(query_pb2.SeriesRequest(matchers=["py_conf"], start_ms=0, end_ms=2_000_000), timeout=30)
    check(i_values(series.series) == expected, f"{client}: Series lists {i_values(series.series)}")
    values = stub.LabelValues(query_pb2.LabelValuesRequest(name="i", start_ms=0, end_ms=2_000_000), timeout=30)
    check(list(values.values) == expected, f"{client}: LabelValues without matchers {list(values.values)}")
print("confinement holds over gRPC")
