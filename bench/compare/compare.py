#!/usr/bin/env python3
"""Side-by-side benchmark: Metricstor vs Prometheus 2.42 vs VictoriaMetrics 1.79.

Starts each system on loopback with an empty data directory, runs the same
`metricstor-bench write` load against it, then the same dashboard-style range query
repeatedly, and prints one table: samples/s, samples per server CPU-second, peak RSS
while writing (read as the write ends) and over the whole run (write, flush, queries, verify),
data-dir bytes after the run, query p50/p99, and a verify count of stored samples.

Usage: python3 bench/compare/compare.py [--series N] [--samples T] [--connections C]
       [--systems metricstor,prometheus,victoriametrics] [--markdown] [--native-histograms]
       [--write-args "--metrics 24 --churn-ratio 0.1 --churn-interval 5 ..."]
--write-args passes generator options through to `metricstor-bench write` (series mix,
histogram buckets, churn, --protocol, --http2); leave --series/--samples/--interval-ms/
--start-ms to compare.py, which needs them for the query window.
--native-histograms writes every histogram family as one series of native histograms
(`write --histograms native`; add `--native-schema S` to --write-args) and runs only the
systems that take native histograms over remote_write: Metricstor and Prometheus (started
with --enable-feature=native-histograms); VictoriaMetrics 1.79 does not, and is listed as
skipped. samples/s, samples_sent and samples_stored then count floats and histograms alike;
the histogram columns give the histogram part.
Needs: cargo (builds release binaries), and the Debian packages `prometheus` and
`victoria-metrics` for the peers (apt-get install -y prometheus victoria-metrics).
"""
import argparse, json, os, shlex, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS = os.sysconf("SC_CLK_TCK")
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_ready(url, proc, deadline_s=600):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            get(url, timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {deadline_s}s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


# The binary run for each system (promql_compliance.py points these elsewhere).
BINARIES = {"metricstor": os.path.join(RELEASE, "metricstor"), "prometheus": "prometheus", "victoriametrics": "victoria-metrics"}

# Systems that cannot ingest native histograms from remote_write, with the reason shown.
NO_NATIVE_HISTOGRAMS = {"victoriametrics": "VictoriaMetrics 1.79 does not accept native histograms over remote_write"}


def start(system, work, data=None, native_histograms=False):
    """Starts `system` with a fresh data directory under `work`, or on `data` if given."""
    port = free_port()
    data = data or os.path.join(work, system)
    os.makedirs(data, exist_ok=True)
    log = open(os.path.join(work, system + ".log"), "w")
    if system == "metricstor":
        cfg = os.path.join(work, "metricstor.yaml")
        with open(cfg, "w") as f:
            f.write(f"server:\n  http_addr: 127.0.0.1:{port}\n  grpc_addr: 127.0.0.1:{free_port()}\nstorage:\n  data_dir: {data}\n")
        cmd = [BINARIES["metricstor"], "--config", cfg]
        ready = f"http://127.0.0.1:{port}/-/ready"
    elif system == "prometheus":
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        cmd = [BINARIES["prometheus"], f"--config.file={cfg}", f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
               "--web.enable-remote-write-receiver"] + (["--enable-feature=native-histograms"] if native_histograms else [])
        ready = f"http://127.0.0.1:{port}/-/ready"
    else:
        cmd = [BINARIES["victoriametrics"], f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y"]
        ready = f"http://127.0.0.1:{port}/health"
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    wait_ready(ready, proc)
    return proc, port, data


def flush(system, port):
    if system == "victoriametrics":
        get(f"http://127.0.0.1:{port}/internal/force_flush")
        time.sleep(1.5)  # VM makes flushed data searchable on its next cache refresh


def query(port, q, start_s, end_s, step):
    params = urllib.parse.urlencode({"query": q, "start": start_s, "end": end_s, "step": step})
    return json.loads(get(f"http://127.0.0.1:{port}/api/v1/query_range?{params}"))


def current_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_system(system, args, work, start_ms):
    proc, port, data = start(system, work, native_histograms=args.native_histograms)
    timeline = {"rss": [], "rate": []}  # (seconds since start, value)
    try:
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.time()
        sampling = threading.Event()

        def sample_rss():
            while not sampling.is_set():
                try:
                    timeline["rss"].append((time.time() - t0, current_rss_mib(proc.pid)))
                except OSError:
                    return
                time.sleep(0.25)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        bench = subprocess.Popen(
            [os.path.join(RELEASE, "metricstor-bench"), "write", "--url", f"http://127.0.0.1:{port}/api/v1/write",
             "--series", str(args.series), "--samples", str(args.samples), "--connections", str(args.connections),
             "--start-ms", str(start_ms), "--json"] + (["--histograms", "native"] if args.native_histograms else [])
            + shlex.split(args.write_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr_lines = []
        for line in bench.stderr:  # progress: "  N samples/s, ..." or "  N samples/s (F floats + H histograms), ..."
            stderr_lines.append(line)
            parts = line.split()
            if len(parts) > 1 and parts[1] in ("samples/s,", "samples/s"):
                timeline["rate"].append((time.time() - t0, float(parts[0])))
        stdout = bench.stdout.read()
        bench.wait()
        sampling.set()
        if bench.returncode != 0:
            raise RuntimeError(f"bench failed against {system}: {stdout} {''.join(stderr_lines)[-2000:]}")
        write = json.loads(stdout.strip().splitlines()[-1])
        cpu_write = cpu_seconds(proc.pid) - cpu0
        # The memory target is the peak during ingestion: the high-water mark now,
        # before the flush, the queries and the verification add their own.
        peak_rss_write = peak_rss_mib(proc.pid)
        flush(system, port)
        end_s = (start_ms + args.samples * 15000) / 1000
        start_s = start_ms / 1000
        latencies = []
        for _ in range(args.queries):
            t = time.time()
            result = query(port, "sum by (job) (rate(http_requests_total[5m]))", start_s, end_s, 15)
            latencies.append((time.time() - t) * 1000)
            if result.get("status") != "success":
                raise RuntimeError(f"query failed on {system}: {result}")
        latencies.sort()
        # Per metric name (a single count_over_time over every name would drop __name__ and
        # collide, e.g. a histogram's _count and _sum: Prometheus answers 422).
        write_json = os.path.join(work, system + "-write.json")
        with open(write_json, "w") as f:
            f.write(stdout)
        verify = subprocess.run([os.path.join(RELEASE, "metricstor-bench"), "verify", "--url", f"http://127.0.0.1:{port}",
                                 "--expect", write_json], capture_output=True, text=True)
        found = [l for l in verify.stdout.splitlines() if l.startswith("verify:") and " found," in l]
        stored = float(found[-1].split(" found,")[0].rsplit(" ", 1)[1]) if found else 0.0
        # Floats and histograms together (the same as samples alone without native histograms).
        sent = write.get("total_acked", write["samples_sent"])
        return {
            "system": system,
            "samples_per_s": write.get("total_per_second", write["samples_per_second"]),
            "histograms_per_s": write.get("histograms_per_second", 0.0),
            "samples_per_cpu_s": sent / cpu_write if cpu_write > 0 else float("inf"),
            "server_cpu_s": cpu_write,
            "peak_rss_write_mib": peak_rss_write,
            "peak_rss_mib": peak_rss_mib(proc.pid),
            "disk_mib": dir_bytes(data) / (1 << 20),
            "query_p50_ms": latencies[len(latencies) // 2],
            "query_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "samples_sent": sent,
            "histograms_sent": write.get("histograms_sent", 0),
            "samples_stored": stored,
            "errors": write["errors"],
            "timeline": timeline,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def write_svg(rows, path):
    """Two panels (ingestion samples/s and server RSS over time), one line per system."""
    colors = {"metricstor": "#d62728", "prometheus": "#1f77b4", "victoriametrics": "#2ca02c"}
    width, height, pad = 900, 300, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{2 * height}" font-family="sans-serif" font-size="12">']
    for panel, (key, title) in enumerate([("rate", "samples/s (load generator, per second)"), ("rss", "server RSS (MiB)")]):
        top = panel * height
        series = [(r["system"], r["timeline"][key]) for r in rows if r["timeline"][key]]
        tmax = max([p[0] for _, pts in series for p in pts] + [1])
        vmax = max([p[1] for _, pts in series for p in pts] + [1])
        parts.append(f'<text x="{pad}" y="{top + 20}">{title}; x: seconds since start, max {vmax:.0f}</text>')
        parts.append(f'<rect x="{pad}" y="{top + 30}" width="{width - 2 * pad}" height="{height - 60}" fill="none" stroke="#999"/>')
        for i, (system, pts) in enumerate(series):
            coords = " ".join(f"{pad + (t / tmax) * (width - 2 * pad):.1f},{top + height - 30 - (v / vmax) * (height - 60):.1f}" for t, v in pts)
            color = colors.get(system, "#000")
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
            parts.append(f'<text x="{width - pad - 140}" y="{top + 50 + 16 * i}" fill="{color}">{system}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--write-args", default="", help="extra `metricstor-bench write` options (generator mix, churn, protocol)")
    p.add_argument("--systems", default="metricstor,prometheus,victoriametrics")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--native-histograms", action="store_true",
                   help="write native histograms (write --histograms native); skips systems without them over remote_write")
    p.add_argument("--svg", default=os.path.join(ROOT, "bench", "compare", "timeline.svg"), help="where to write the throughput/RSS plot")
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "metricstor", "-p", "metricstor-bench"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="metricstor-compare-")
    start_ms = int(time.time() * 1000) - args.samples * 15000 - 60_000
    rows = []
    skipped = []
    try:
        for system in args.systems.split(","):
            if args.native_histograms and system in NO_NATIVE_HISTOGRAMS:
                print(f"skipping {system}: {NO_NATIVE_HISTOGRAMS[system]}", file=sys.stderr)
                skipped.append(system)
                continue
            print(f"running {system} ...", file=sys.stderr)
            rows.append(run_system(system, args, work, start_ms))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_svg(rows, args.svg)
    print(f"plot: {args.svg}", file=sys.stderr)
    cols = [("system", "{}"), ("samples_per_s", "{:.0f}"), ("samples_per_cpu_s", "{:.0f}"), ("server_cpu_s", "{:.2f}"),
            ("peak_rss_write_mib", "{:.0f}"), ("peak_rss_mib", "{:.0f}"), ("disk_mib", "{:.1f}"), ("query_p50_ms", "{:.1f}"), ("query_p99_ms", "{:.1f}"),
            ("samples_sent", "{}"), ("samples_stored", "{:.0f}"), ("errors", "{}")]
    if args.native_histograms:
        cols.insert(2, ("histograms_per_s", "{:.0f}"))
        cols.insert(-2, ("histograms_sent", "{}"))

    def cells(r):
        return [r["system"] if c == "system" else "skipped" if r.get("skipped") else f.format(r[c]) for c, f in cols]

    table = rows + [{"system": system, "skipped": True} for system in skipped]
    if args.markdown:
        print("| " + " | ".join(c for c, _ in cols) + " |")
        print("|" + "---|" * len(cols))
        for r in table:
            print("| " + " | ".join(cells(r)) + " |")
    else:
        print("  ".join(f"{c:>17}" for c, _ in cols))
        for r in table:
            print("  ".join(f"{v:>17}" for v in cells(r)))
    for system in skipped:
        print(f"{system}: skipped, {NO_NATIVE_HISTOGRAMS[system]}")


if __name__ == "__main__":
    main()
