#!/usr/bin/env python3
"""Differential PromQL compliance: the upstream compliance tester's query list, run as range
queries against Metricstor and real Prometheus (and VictoriaMetrics, for comparison) holding
the same data, every answer compared point by point.

The query list (`promql-test-queries.yml` from github.com/prometheus/compliance) carries no data
and no expected values: it assumes each system has scraped three instances of the PromLabs
demo service for a few hours. This script writes a simulation of that data instead (the same
metric names, label sets and value shapes: memory gauges per type, CPU counters per mode with
one counter reset, a growing disk, batch job timestamps, a metric present only in even minutes
that goes stale in odd ones, request-duration classic histograms per method/path/status whose
error series appear mid-way), scraped every 5 s with per-instance phases and jitter, as
remote_write 1.0 to every system in time order. Samples never fall on whole seconds, so the
query steps never meet a sample at a range boundary.

Each query template is expanded with the compliance tester's variant tables, run as
`/api/v1/query_range` over one hour at a 10 s step (or with `--instant`, which the tester
does not do, as `/api/v1/query` at seven times across that hour), and compared as the tester does: the same
series, the same timestamps, values equal within a relative 1e-5 (NaN equals NaN), an error
where the list says `should_fail`, and only a successful answer where it says
`skip_comparison`.

The reference is Prometheus 2.42 (Debian's package). Where 2.x and 3.x differ, 3.x is the
target: a 3.x subquery excludes an inner step that falls exactly on its range's left edge,
2.42 includes it. The subquery steps are aligned to the step, so they do fall there. The
reference is therefore asked each subquery with its range 1 ms shorter, which is exactly
3.x's left-open range; `--no-3x-rewrite` asks it the query as written.

VictoriaMetrics' MetricsQL differs from PromQL on purpose in places; its figures are given for
comparison, with no tweaks.

Usage: python3 bench/compare/promql_compliance.py QUERIES_YML [--systems metricstor,victoriametrics]
       [--verbose] [--json FILE] [--hours H]
  e.g. python3 bench/compare/promql_compliance.py ../shared/conformance/compliance/promql-test-queries.yml
Exit status 1 when Metricstor answers any query differently from the reference, other than
the queries listed in THREE_X_DIFFERENCES answered as 3.x answers them.
Needs: cargo (builds the release server), the Debian package `prometheus` (and
`victoria-metrics` for its column), Python 3 with PyYAML.
"""
import argparse, itertools, json, math, os, random, re, shutil, struct, subprocess, sys, tempfile, time
import urllib.error, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import ROOT, flush, start  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("needs PyYAML (apt-get install -y python3-yaml, or pip install pyyaml)")

# The compliance tester's variant tables (they live in its source, not in the query list).
VARIANTS = {
    "range": ["1s", "15s", "1m", "5m", "15m", "1h"],
    "offset": ["1m", "5m", "10m"],
    "simpleAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
    "simpleTimeAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last"],
    "topBottomOp": ["topk", "bottomk"],
    "quantile": ["-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5"],
    "arithBinOp": ["+", "-", "*", "/", "%", "^"],
    "compBinOp": ["==", "!=", "<", ">", "<=", ">="],
    "binOp": ["+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">="],
    "simpleMathFunc": ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round"],
    "extrapolatedRateFunc": ["delta", "rate", "increase"],
    "clampFunc": ["clamp_min", "clamp_max"],
    "instantRateFunc": ["idelta", "irate"],
    "dateFunc": ["day_of_month", "day_of_week", "days_in_month", "hour", "minute", "month", "year"],
    "smoothingFactor": ["0.1", "0.5", "0.8"],
    "trendFactor": ["0.1", "0.5", "0.8"],
}

# Queries whose 3.x answer differs from 2.42's, with the reason. 3.x is the target: a system
# answering these as 3.x does is counted apart, neither as a match nor as a failure.
THREE_X_DIFFERENCES = {
    'label_replace(demo_num_cpus, "~invalid", "", "src", "(.*)")':
        "3.x accepts any UTF-8 label name (its functions.test fails only on invalid UTF-8); 2.42 refuses `~invalid`",
    'label_join(demo_num_cpus, "~invalid", "-", "instance")':
        "3.x accepts any UTF-8 label name; 2.42 refuses `~invalid`",
}

SCRAPE_MS = 5000
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
INSTANCES = ["demo.promlabs.com:10000", "demo.promlabs.com:10001", "demo.promlabs.com:10002"]
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
# (path, method) -> (base latency s, error ratio, requests per second)
ENDPOINTS = {("/api/foo", "GET"): (0.010, 0.005, 8.0), ("/api/foo", "POST"): (0.020, 0.02, 3.0),
             ("/api/bar", "GET"): (0.015, 0.0025, 5.0), ("/api/bar", "POST"): (0.050, 0.01, 1.5)}


# --- remote_write 1.0 encoding (protobuf by hand, snappy as literal-only blocks) ---

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def encode_series(labels, samples):
    body = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in sorted(labels.items()))
    for ts, value in samples:
        body += field(2, b"\x09" + struct.pack("<d", value) + b"\x10" + varint(ts))
    return field(1, body)


def snappy_literal(data):
    """A valid snappy block holding `data` as literals only (every decoder accepts it)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def remote_write(port, series):
    body = snappy_literal(b"".join(encode_series(labels, samples) for labels, samples in series))
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/write", data=body, method="POST", headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=60) as r:
        if r.status // 100 != 2:
            raise RuntimeError(f"remote_write answered {r.status}")


# --- the demo service, simulated ---

class Instance:
    """One demo service instance: its state advances one scrape at a time."""

    def __init__(self, index, rng):
        self.rng = rng
        self.name = INSTANCES[index]
        self.phase_ms = 1137 + index * 1709  # never a whole second
        self.cpus = [4, 8, 6][index]
        self.mem_total = [8, 16, 12][index] * 2**30
        self.mem_base = {"used": 0.4, "cached": 0.2, "buffers": 0.05}
        self.mem = {k: v * self.mem_total for k, v in self.mem_base.items()}
        self.cpu = {"user": 0.0, "system": 0.0, "idle": 0.0}
        self.disk_total = 100 * 2**30
        self.disk = 0.1 * self.disk_total
        self.batch = {"success": None, "run": None, "duration": 0.0, "bytes": 0.0}
        self.next_batch_s = None
        self.hist = {}  # (path, method, status) -> [bucket counts..., count, sum]
        self.restart_at = None
        self.was_intermittent = False

    def scrape(self, t_ms):
        s = t_ms / 1000.0
        out = []
        job = {"job": "demo", "instance": self.name}

        def put(name, value, **extra):
            out.append(({"__name__": name, **job, **extra}, value))

        if self.restart_at is not None and t_ms >= self.restart_at:
            self.cpu = {k: 0.0 for k in self.cpu}  # a process restart resets its counters
            self.hist = {}
            self.restart_at = None
        put("demo_num_cpus", float(self.cpus))
        for kind, base in self.mem_base.items():
            v = self.mem[kind] + (self.rng.random() - 0.5) * 60 * 2**20
            if abs(v - base * self.mem_total) > 0.1 * base * self.mem_total:
                v = base * self.mem_total
            self.mem[kind] = float(int(v))
            put("demo_memory_usage_bytes", self.mem[kind], type=kind)
        put("demo_memory_usage_bytes", self.mem_total - sum(self.mem.values()), type="free")
        secs = self.cpus * SCRAPE_MS / 1000.0
        user = (0.3 + (self.rng.random() - 0.5) / 5) * secs
        system = (0.1 + (self.rng.random() - 0.5) / 5) * secs
        for mode, inc in (("user", user), ("system", system), ("idle", secs - user - system)):
            self.cpu[mode] += inc
            put("demo_cpu_usage_seconds_total", self.cpu[mode], mode=mode)
        self.disk += 2**20 * 5 * (1 - (self.rng.random() - 0.5))
        if self.disk > 0.9 * self.disk_total:
            self.disk = 0.1 * self.disk_total
        put("demo_disk_usage_bytes", float(int(self.disk)))
        put("demo_disk_total_bytes", float(self.disk_total))
        if self.next_batch_s is None:
            self.next_batch_s = s + self.rng.uniform(0, 60)
        if s >= self.next_batch_s:  # a batch run every minute, one in ten fails
            finished = self.next_batch_s + 5 + self.rng.random() * 2
            if self.rng.random() > 0.1:
                self.batch["success"] = finished
                self.batch["bytes"] = float(1_000_000 + self.rng.randrange(100_000))
            self.batch["duration"] = finished - (self.batch["run"] or finished - 60)
            self.batch["run"] = finished
            self.next_batch_s += 60
        if self.batch["success"] is not None:
            put("demo_batch_last_success_timestamp_seconds", self.batch["success"])
            put("demo_batch_last_run_processed_bytes", self.batch["bytes"])
        if self.batch["run"] is not None:
            put("demo_batch_last_run_timestamp_seconds", self.batch["run"])
            put("demo_batch_last_run_duration_seconds", self.batch["duration"])
        put("demo_api_http_requests_in_progress", float(self.rng.randrange(0, 4)))
        # Present only in even minutes; the first scrape without it ends the series with a
        # staleness marker, as Prometheus' scrape loop writes.
        present = int(s // 60) % 2 == 0
        if present:
            put("demo_intermittent_metric", 1.0)
        elif self.was_intermittent:
            put("demo_intermittent_metric", STALE_NAN)
        self.was_intermittent = present
        in_outage = int(s) % 600 < 45
        for (path, method), (latency, errors, rps) in ENDPOINTS.items():
            for _ in range(int(rps * SCRAPE_MS / 1000 + self.rng.random())):
                factor = 3 if in_outage else 1
                observed = max(0.0001, self.rng.lognormvariate(math.log(latency * factor), 0.6))
                status = "500" if self.rng.random() < errors * (10 if in_outage else 1) else "200"
                h = self.hist.setdefault((path, method, status), [0] * len(BUCKETS) + [0, 0.0])
                for i, le in enumerate(BUCKETS):
                    if observed <= float(le):
                        h[i] += 1
                h[-2] += 1
                h[-1] += observed
        for (path, method, status), h in sorted(self.hist.items()):
            labels = {"method": method, "path": path, "status": status}
            for i, le in enumerate(BUCKETS):
                put("demo_api_request_duration_seconds_bucket", float(h[i]), le=le, **labels)
            put("demo_api_request_duration_seconds_count", float(h[-2]), **labels)
            put("demo_api_request_duration_seconds_sum", h[-1], **labels)
        return out


def write_history(ports, start_ms, end_ms, seed):
    rng = random.Random(seed)
    instances = [Instance(i, rng) for i in range(len(INSTANCES))]
    instances[1].restart_at = start_ms + (end_ms - start_ms) * 2 // 3
    batch, batch_rounds, written = {}, 0, 0
    t = start_ms - start_ms % SCRAPE_MS
    while t < end_ms:
        for inst in instances:
            ts = t + inst.phase_ms + rng.randrange(-3, 4)
            for labels, value in inst.scrape(ts):
                key = tuple(sorted(labels.items()))
                batch.setdefault(key, []).append((ts, value))
                written += 1
        batch_rounds += 1
        t += SCRAPE_MS
        if batch_rounds == 60 or t >= end_ms:
            series = [(dict(k), v) for k, v in batch.items()]
            for port in ports:
                remote_write(port, series)
            batch, batch_rounds = {}, 0
    return written


# --- queries and comparison ---

def expand(cases):
    for case in cases:
        names = case.get("variant_args") or []
        for combo in itertools.product(*(VARIANTS[n] for n in names)):
            q = case["query"]
            for n, v in zip(names, combo):
                q = q.replace("{{." + n + "}}", v)
            yield {"query": q, "should_fail": bool(case.get("should_fail")),
                   "skip_comparison": bool(case.get("skip_comparison"))}


DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}


def duration_ms(text):
    return sum(int(n) * UNIT_MS[u] for n, u in DURATION.findall(text))


def left_open_subqueries(q):
    """3.x's left-open subquery range, said in 2.x's PromQL: the range 1 ms shorter."""
    return re.sub(r"\[(\w+):(\w*)\]", lambda m: f"[{duration_ms(m.group(1)) - 1}ms:{m.group(2)}]", q)


def api_data(port, endpoint, params):
    """`data` of a query API answer, or {"error": ...} for an error answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}", timeout=120) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read())
        except ValueError:
            return {"error": f"HTTP {e.code}"}
    if body.get("status") != "success":
        return {"error": f"{body.get('errorType')}: {body.get('error')}"}
    return body["data"]


def run_query(port, q, start_s, end_s, step_s):
    return api_data(port, "query_range", {"query": q, "start": start_s, "end": end_s, "step": step_s})


def run_instant_queries(port, q, times):
    """The query asked as an instant query at each of `times`, gathered into one range-like
    answer (each vector element or scalar a point at its time) so that it compares as one."""
    gathered, types = {}, []
    for t in times:
        data = api_data(port, "query", {"query": q, "time": t})
        if "error" in data:
            return data
        types.append(data["resultType"])
        if data["resultType"] == "vector":
            for s in data["result"]:
                gathered.setdefault(series_key(s["metric"]), []).append(s["value"])
        elif data["resultType"] in ("scalar", "string"):
            gathered.setdefault((("<" + data["resultType"] + ">", ""),), []).append(data["result"])
        else:  # a matrix (a range selector asked as an instant query)
            for s in data["result"]:
                gathered.setdefault(series_key(s["metric"]) + (("<at>", str(t)),), []).extend(s["values"])
    return {"resultType": "matrix", "instant_types": sorted(set(types)),
            "result": [{"metric": dict(k), "values": v} for k, v in gathered.items()]}


def as_float(text):
    return float(text)  # Python reads "NaN", "+Inf", "-Inf"


def close(a, b):
    """go-cmp's EquateApprox(1e-5, 0) with EquateNaNs, as the compliance tester compares."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= 1e-5 * min(abs(a), abs(b))


def series_key(metric):
    return tuple(sorted(metric.items()))


def difference(expected, got):
    """None when the two answers agree, else a short account of the first difference."""
    if expected.get("instant_types") != got.get("instant_types"):
        return f"result types {got.get('instant_types')} where the reference has {expected.get('instant_types')}"
    if expected.get("resultType") != got.get("resultType"):
        return f"result type {got.get('resultType')} where the reference has {expected.get('resultType')}"
    if expected["resultType"] != "matrix":
        a, b = expected["result"], got["result"]
        if expected["resultType"] == "scalar":
            return None if a[0] == b[0] and close(as_float(a[1]), as_float(b[1])) else f"{b} where the reference has {a}"
        return None if a == b else f"{b} where the reference has {a}"
    want = {series_key(s["metric"]): s["values"] for s in expected["result"]}
    have = {series_key(s["metric"]): s["values"] for s in got["result"]}
    missing, extra = want.keys() - have.keys(), have.keys() - want.keys()
    if missing or extra:
        show = lambda keys: ", ".join("{" + ",".join(f'{k}="{v}"' for k, v in key) + "}" for key in sorted(keys)[:2])
        return (f"{len(want)} series in the reference, {len(have)} here; missing {len(missing)} (e.g. {show(missing)}), "
                f"extra {len(extra)} (e.g. {show(extra)})")
    for key in sorted(want):
        w, h = want[key], have[key]
        wt, ht = [p[0] for p in w], [p[0] for p in h]
        label = "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}"
        if wt != ht:
            only_w, only_h = sorted(set(wt) - set(ht)), sorted(set(ht) - set(wt))
            return (f"{label}: {len(w)} points in the reference, {len(h)} here; only in the reference at "
                    f"{only_w[:3]}, only here at {only_h[:3]}")
        for (t, a), (_, b) in zip(w, h):
            if not close(as_float(a), as_float(b)):
                return f"{label} at {t}: {b} where the reference has {a}"
    return None


def judge(case, ref, got):
    """(outcome, reason) for one system's answer against the reference's: outcome is "match",
    "3.x" (answered as 3.x does where 2.42 differs) or "fail"."""
    passed, why = compare_answers(case, ref, got)
    if passed:
        return "match", ""
    if case["query"] in THREE_X_DIFFERENCES and "error" not in got:
        return "3.x", THREE_X_DIFFERENCES[case["query"]]
    return "fail", why


def compare_answers(case, ref, got):
    if case["should_fail"]:
        return ("error" in got, "answered where an error is expected" if "error" not in got else "")
    if "error" in got:
        return (False, got["error"])
    if case["skip_comparison"]:
        return (True, "")
    if "error" in ref:
        return (False, f"the reference refused it ({ref['error']}) and this system answered")
    diff = difference(ref, got)
    return (diff is None, diff or "")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("queries", help="promql-test-queries.yml from github.com/prometheus/compliance")
    p.add_argument("--systems", default="metricstor,victoriametrics",
                   help="systems compared with the reference Prometheus (metricstor, victoriametrics)")
    p.add_argument("--hours", type=float, default=2.75, help="hours of demo history written")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-3x-rewrite", action="store_true", help="ask the reference subqueries as written (2.x ranges)")
    p.add_argument("--instant", action="store_true",
                   help="ask each query as instant queries at 7 times across the window instead of one range query")
    p.add_argument("--metricstor-bin", help="server binary to run (default: build and run target/release/metricstor)")
    p.add_argument("--prometheus-bin", default="prometheus", help="the reference Prometheus binary")
    p.add_argument("--verbose", action="store_true", help="print every failing query with its first difference")
    p.add_argument("--json", help="write every query's outcome per system to this file")
    args = p.parse_args()
    with open(args.queries) as f:
        cases = list(expand(yaml.safe_load(f)["test_cases"]))
    systems = [s for s in args.systems.split(",") if s]
    if args.metricstor_bin:
        compare.BINARIES["metricstor"] = args.metricstor_bin
    elif "metricstor" in systems:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "metricstor"], cwd=ROOT, check=True)
    compare.BINARIES["prometheus"] = args.prometheus_bin
    work = tempfile.mkdtemp(prefix="metricstor-compliance-")
    procs, results = [], {}
    try:
        servers = {}
        for system in ["prometheus"] + systems:
            proc, port, _ = start(system, work)
            procs.append(proc)
            servers[system] = port
        now_ms = int(time.time() * 1000)
        end_ms = now_ms - 60_000
        start_ms = end_ms - int(args.hours * 3_600_000)
        t0 = time.time()
        written = write_history(list(servers.values()), start_ms, end_ms, args.seed)
        print(f"wrote {written} samples of demo history to {len(servers)} systems in {time.time() - t0:.1f} s",
              file=sys.stderr)
        for system, port in servers.items():
            flush(system, port)
        q_end = (end_ms // 1000 - 12 * 60) // 60 * 60  # room for `offset -10m`
        q_start = q_end - 3600
        results = {s: [] for s in systems}
        for case in cases:
            ref_query = case["query"] if args.no_3x_rewrite else left_open_subqueries(case["query"])
            if args.instant:
                ask = lambda port, q: run_instant_queries(port, q, [q_start + k * 600 + 7 for k in range(7)])
            else:
                ask = lambda port, q: run_query(port, q, q_start, q_end, 10)
            ref = ask(servers["prometheus"], ref_query)
            for system in systems:
                got = ask(servers[system], case["query"])
                outcome, why = judge(case, ref, got)
                results[system].append({"query": case["query"], "reference_query": ref_query, "outcome": outcome,
                                        "reason": why})
        asked = (f"instant at {q_start + 7}, +600 s, ... {q_start + 3607}" if args.instant
                 else f"range {q_start}..{q_end} step 10s")
        print(f"{len(cases)} queries (from {args.queries}), {asked}, "
              f"reference Prometheus 2.42{' (3.x subquery ranges)' if not args.no_3x_rewrite else ''}")
        for system in systems:
            count = lambda outcome: sum(r["outcome"] == outcome for r in results[system])
            print(f"{system:>16}: {count('match')} of {len(cases)} match ({100.0 * count('match') / len(cases):.1f}%), "
                  f"{count('3.x')} answered as 3.x where 2.42 differs, {count('fail')} differ")
            for r in results[system]:
                if r["outcome"] == "3.x":
                    print(f"    3.x  {r['query']}\n         {r['reason']}")
                elif r["outcome"] == "fail" and args.verbose:
                    print(f"    FAIL {r['query']}\n         {r['reason']}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    if any(r["outcome"] == "fail" for r in results.get("metricstor", [])):
        sys.exit(1)


if __name__ == "__main__":
    main()
