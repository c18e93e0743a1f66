#!/usr/bin/env python3
"""Storage benchmark: Metricstor vs Prometheus 2.42 vs VictoriaMetrics 1.79 (issue 3's figures).

Two phases, each system in turn on loopback with an empty data directory:

1. History on disk: `--history-series` series x `--history-hours` of samples every
   `--history-interval-s`, written in time order (paced for Prometheus, whose head refuses
   samples over an hour older than its newest). Then the data each system has made
   immutable is measured: for Metricstor and Prometheus the blocks (every `*/meta.json`
   found under the data directory: its `stats.numSamples`, and the bytes of its block
   directory), after waiting for their compactions to settle; for VictoriaMetrics, which has
   no WAL, the whole data directory after `/internal/force_flush` and `/internal/force_merge`
   over every sample written. Result: bytes per sample.

2. Active series in memory and restart: `--head-series` series x `--head-samples` recent
   samples. Head bytes per active series = (RSS after the write, settled) - (RSS of the
   empty server), divided by the series. Then SIGKILL and a restart on the same directory:
   seconds until `/-/ready` (VictoriaMetrics: `/health`) answers and a count of the series
   returns all of them, i.e. the WAL replayed.

Usage: python3 bench/compare/storage.py [--history-series 10000] [--history-hours 12]
       [--history-interval-s 30] [--head-series 1000000] [--head-samples 4]
       [--systems metricstor,prometheus,victoriametrics] [--markdown]
Needs cargo and the Debian packages `prometheus` and `victoria-metrics`. Only the processes
it started are signalled.
"""
import argparse, glob, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RELEASE, ROOT, cpu_seconds, current_rss_mib, dir_bytes, flush, get, start, wait_ready  # noqa: E402

BENCH = os.path.join(RELEASE, "metricstor-bench")


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write(system, port, series, samples, interval_s, start_ms, rate=0):
    cmd = [BENCH, "write", "--url", f"http://127.0.0.1:{port}/api/v1/write", "--series", str(series), "--metrics", "5",
           "--samples", str(samples), "--interval-ms", str(interval_s * 1000), "--start-ms", str(start_ms), "--connections", "4", "--json"]
    if rate:
        cmd += ["--rate", str(rate)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"write to {system} failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_settled(proc, cpu_fraction=0.05, window_s=5.0, deadline_s=900):
    """Until the server uses < cpu_fraction of a core over a window (compactions done)."""
    end = time.time() + deadline_s
    while time.time() < end:
        before = cpu_seconds(proc.pid)
        time.sleep(window_s)
        if (cpu_seconds(proc.pid) - before) / window_s < cpu_fraction:
            return True
    return False


def blocks(data):
    """(samples, bytes, count, max level) over the Prometheus-format blocks under `data`."""
    samples = size = count = level = 0
    for meta_path in glob.glob(os.path.join(data, "**", "meta.json"), recursive=True):
        block = os.path.dirname(meta_path)
        if block.endswith(".tmp"):
            continue
        with open(meta_path) as f:
            meta = json.load(f)
        samples += meta.get("stats", {}).get("numSamples", 0)
        size += dir_bytes(block)
        count += 1
        level = max(level, meta.get("compaction", {}).get("level", 1))
    return samples, size, count, level


def series_count(port, name, at_ms):
    q = urllib.parse.urlencode({"query": f"count({name})", "time": at_ms / 1000})
    body = json.loads(get(f"http://127.0.0.1:{port}/api/v1/query?{q}", timeout=120))
    result = body.get("data", {}).get("result", [])
    return int(float(result[0]["value"][1])) if result else 0


def history_phase(system, args, work):
    proc, port, data = start(system, os.path.join(work, "history"))
    try:
        samples = args.history_hours * 3600 // args.history_interval_s
        # Ends two block lengths in the past, so that Prometheus and Metricstor cut nearly all of it.
        end_ms = (int(time.time()) // 3600 - 4) * 3600 * 1000
        start_ms = end_ms - samples * args.history_interval_s * 1000
        t = time.time()
        w = write(system, port, args.history_series, samples, args.history_interval_s, start_ms,
                  args.prometheus_rate if system == "prometheus" else 0)
        seconds = time.time() - t
        if system == "victoriametrics":
            flush(system, port)
            get(f"http://127.0.0.1:{port}/internal/force_merge", timeout=600)
        settled = wait_settled(proc)
        if system == "victoriametrics":
            stored, size, count, level = w["samples_acked"], dir_bytes(data), 0, 0
        else:
            stored, size, count, level = blocks(data)
        return {"history_samples": w["samples_acked"], "history_write_s": seconds, "block_samples": stored, "block_bytes": size,
                "blocks": count, "max_level": level, "bytes_per_sample": size / stored if stored else float("nan"),
                "total_dir_bytes": dir_bytes(data), "settled": settled}
    finally:
        stop(proc)


def head_phase(system, args, work):
    base = os.path.join(work, "head")
    proc, port, data = start(system, base)
    try:
        time.sleep(2)
        empty_rss = current_rss_mib(proc.pid)
        start_ms = int(time.time() * 1000) - args.head_samples * 15_000
        t = time.time()
        w = write(system, port, args.head_series, args.head_samples, 15, start_ms)
        write_s = time.time() - t
        flush(system, port)
        wait_settled(proc, deadline_s=120)
        rss = current_rss_mib(proc.pid)
        series = w["series"]
        last_ms = start_ms + (args.head_samples - 1) * 15_000
        expected = w["acked_by_name"]["up"] // args.head_samples
        deadline = time.time() + 120
        while series_count(port, "up", last_ms) < expected and time.time() < deadline:
            time.sleep(0.5)  # VictoriaMetrics shows the newest samples after a delay
    finally:
        stop(proc, signal.SIGKILL)
    # Restart on the same directory: the WAL (VictoriaMetrics: its parts) must be read back.
    t = time.time()
    proc, port, data = start(system, base, data)
    try:
        ready_s = time.time() - t
        deadline = time.time() + 600
        while series_count(port, "up", last_ms) < expected and time.time() < deadline:
            time.sleep(0.2)
        queryable_s = time.time() - t
        recovered = series_count(port, "up", last_ms)
    finally:
        stop(proc)
    return {"head_series": series, "empty_rss_mib": empty_rss, "head_rss_mib": rss,
            "head_bytes_per_series": (rss - empty_rss) * (1 << 20) / series, "head_write_s": write_s,
            "restart_ready_s": ready_s, "restart_queryable_s": queryable_s, "up_series": expected, "up_series_after_restart": recovered}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--history-series", type=int, default=10_000)
    p.add_argument("--history-hours", type=int, default=12)
    p.add_argument("--history-interval-s", type=int, default=30)
    p.add_argument("--head-series", type=int, default=1_000_000)
    p.add_argument("--head-samples", type=int, default=4)
    p.add_argument("--prometheus-rate", type=int, default=60_000)
    p.add_argument("--phases", default="history,head")
    p.add_argument("--systems", default="metricstor,prometheus,victoriametrics")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "metricstor", "-p", "metricstor-bench"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="storage-")
    rows = []
    try:
        for system in args.systems.split(","):
            row = {"system": system}
            for phase in args.phases.split(","):
                sub = os.path.join(work, system)
                os.makedirs(sub, exist_ok=True)
                print(f"{system}: {phase} ...", file=sys.stderr)
                row.update(history_phase(system, args, sub) if phase == "history" else head_phase(system, args, sub))
                print(f"  {json.dumps(row)}", file=sys.stderr)
            rows.append(row)
            shutil.rmtree(os.path.join(work, system), ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = [k for k in rows[0] if k != "system"]
    if args.markdown:
        print("| measure | " + " | ".join(r["system"] for r in rows) + " |")
        print("|---|" + "---|" * len(rows))
        for k in keys:
            print(f"| {k} | " + " | ".join(fmt(r.get(k)) for r in rows) + " |")
    else:
        for k in keys:
            print(f"{k:<26}" + "".join(f"{fmt(r.get(k)):>18}" for r in rows))
    print(f"machine: {os.cpu_count()} CPUs, load average {open('/proc/loadavg').read().split()[:3]}")


def fmt(v):
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


if __name__ == "__main__":
    main()
