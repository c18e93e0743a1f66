#!/usr/bin/env python3
"""Grafana-like dashboard benchmark: Metricstor vs Prometheus 2.42 vs VictoriaMetrics 1.79.

Starts the three systems on loopback with empty data directories, writes the same
24 hours of history for the same series to each with `metricstor-bench write` (in time
order, paced for Prometheus so that its connections advance together and it accepts all of it), waits until every server is idle, then runs the
dashboard mix of `metricstor-bench query` (range queries over 1h/6h/24h windows incl. a
histogram quantile, an instant query, label-values and series lookups) against one system
at a time, alternating systems over several rounds so that drift of the machine hits all
three alike. Prints p50/p99 per query kind and system for each round (the first starts with
cold caches).

Usage: python3 bench/compare/dashboard.py [--series 100000] [--hours 24] [--interval-s 300]
       [--rounds 2] [--seconds 60] [--concurrency 4] [--rate-window 20m] [--refresh-shift-s 60] [--requests-per-s 0]
       [--systems metricstor,prometheus,victoriametrics] [--markdown]
Needs cargo (builds release binaries) and the Debian packages `prometheus` and
`victoria-metrics`. Only the processes it started are signalled.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RELEASE, ROOT, cpu_seconds, flush, peak_rss_mib, start  # noqa: E402


def ms(value):
    """A latency in ms: two decimals below 1 ms (where one would hide sub-ms differences), else one."""
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def wait_idle(procs, cpu_fraction=0.05, window_s=5.0, deadline_s=600):
    """Waits until every server used < cpu_fraction of a core over one window (background
    compaction or merges after the load would otherwise run during the query rounds)."""
    end = time.time() + deadline_s
    while time.time() < end:
        before = {s: cpu_seconds(p.pid) for s, p in procs.items()}
        time.sleep(window_s)
        busy = {s: (cpu_seconds(p.pid) - before[s]) / window_s for s, p in procs.items()}
        if all(v < cpu_fraction for v in busy.values()):
            return
        print(f"  waiting for idle servers: {', '.join(f'{s} {v:.2f} cores' for s, v in busy.items())}", file=sys.stderr)
    print("  servers still busy at the deadline; querying anyway", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--metrics", type=int, default=5, help="metric families per target (5: the ones the mix queries)")
    p.add_argument("--hours", type=int, default=24)
    p.add_argument("--interval-s", type=int, default=300, help="scrape interval of the written history")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=int, default=60, help="query time per system per round")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rate-window", default="20m", help="rate() window: four scrape intervals, as Grafana's $__rate_interval")
    p.add_argument("--refresh-shift-s", type=int, default=60)
    p.add_argument("--requests-per-s", type=float, default=0,
                   help="open loop: this many requests per second over all clients, on a timetable (0: closed loop, "
                        "each client sends when its last request is answered, so a faster system gets more requests)")
    p.add_argument("--prometheus-rate", type=int, default=60_000,
                   help="paced samples/s for Prometheus: its head refuses samples over an hour older than its newest, "
                        "so its connections must advance in time together, not as fast as each can")
    p.add_argument("--systems", default="metricstor,prometheus,victoriametrics")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "metricstor", "-p", "metricstor-bench"], cwd=ROOT, check=True)
    systems = args.systems.split(",")
    samples = args.hours * 3600 // args.interval_s + 1
    end_ms = (int(time.time()) // args.interval_s) * args.interval_s * 1000
    start_ms = end_ms - (samples - 1) * args.interval_s * 1000
    bench = os.path.join(RELEASE, "metricstor-bench")
    work = tempfile.mkdtemp(prefix="dashboard-")
    procs, ports, loads = {}, {}, {}
    try:
        for system in systems:
            proc, port, _ = start(system, work)
            procs[system], ports[system] = proc, port
            t = time.time()
            out = subprocess.run([bench, "write", "--url", f"http://127.0.0.1:{port}/api/v1/write", "--series", str(args.series),
                                  "--metrics", str(args.metrics), "--samples", str(samples), "--interval-ms", str(args.interval_s * 1000),
                                  "--start-ms", str(start_ms), "--connections", str(args.connections), "--json"]
                                 + (["--rate", str(args.prometheus_rate)] if system == "prometheus" else []),
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"write to {system} failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
            write = json.loads(out.stdout.strip().splitlines()[-1])
            flush(system, port)
            loads[system] = {"samples": write["samples_sent"], "seconds": time.time() - t}
            print(f"{system}: {write['samples_sent']} samples written in {loads[system]['seconds']:.0f} s", file=sys.stderr)
        wait_idle(procs)
        results = {s: {} for s in systems}  # system -> kind -> [latencies...] via JSON reports
        for r in range(args.rounds):
            for system in systems:
                out = subprocess.run([bench, "query", "--url", f"http://127.0.0.1:{ports[system]}", "--seconds", str(args.seconds),
                                      "--concurrency", str(args.concurrency), "--end-ms", str(end_ms), "--rate-window", args.rate_window,
                                      "--refresh-shift-s", str(args.refresh_shift_s), "--requests-per-s", str(args.requests_per_s), "--json"],
                                     capture_output=True, text=True)
                rows = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else []
                for row in rows:
                    results[system].setdefault(row["kind"], []).append(row)
                print(f"round {r + 1} {system}: {sum(x['requests'] for x in rows)} requests, "
                      f"{sum(x['errors'] for x in rows)} errors", file=sys.stderr)
        rss = {s: peak_rss_mib(procs[s].pid) for s in systems}
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    kinds = [k for k in next(iter(results.values()))]
    # One table per round: the first round starts with cold caches, later ones are warm.
    header = ["kind"] + [f"{s} p50 / p99 ms (n, errors)" for s in systems]
    for r in range(args.rounds):
        print(f"\nround {r + 1}{' (caches cold at its start)' if r == 0 else ''}:")
        lines = []
        for kind in kinds:
            cells = [kind]
            for s in systems:
                rows = results[s].get(kind, [])
                row = rows[r] if r < len(rows) else {"latency_ms_p50": 0, "latency_ms_p99": 0, "requests": 0, "errors": 0}
                cells.append(f"{ms(row['latency_ms_p50'])} / {ms(row['latency_ms_p99'])} ({row['requests']}, {row['errors']})")
            lines.append(cells)
        if args.markdown:
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
            for cells in lines:
                print("| " + " | ".join(cells) + " |")
        else:
            for cells in [header] + lines:
                print("  ".join(f"{c:<34}" for c in cells))
    print(f"\n{args.series} series (generator rounds up to whole targets), {samples} samples each over {args.hours} h "
          f"at {args.interval_s} s; {args.rounds} rounds x {args.seconds} s x {args.concurrency} clients per system; "
          f"rate window {args.rate_window}, refresh shift {args.refresh_shift_s} s; "
          + (f"open loop at {args.requests_per_s:g} requests/s" if args.requests_per_s > 0 else "closed loop"))
    for s in systems:
        print(f"  {s}: wrote {loads[s]['samples']} samples in {loads[s]['seconds']:.0f} s; peak RSS {rss[s]:.0f} MiB")
    print(f"machine: {os.cpu_count()} CPUs, load average {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
