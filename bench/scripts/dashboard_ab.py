#!/usr/bin/env python3
"""A/B of Metricstor builds on one kept data set under the dashboard query mix (issue 5).

For each start: copies DATA to a scratch dir, starts the build on it, waits until it is
idle, runs two rounds of `metricstor-bench query --concurrency 4` (round 2 is kept: warm
caches) and records p50/p90/p99 per query kind and the server's peak RSS. Builds alternate
(A B, then B A, ...) so the machine's drift meets them alike. Prints a markdown table of
p50 / p99 ms per kind, one entry per start.

Usage: python3 bench/scripts/dashboard_ab.py --data DIR --end-ms MS [--runs 2] [--seconds 30]
       name=/path/to/metricstor name2=/path/to/other ...
DATA is a data dir written by `bench/compare/dashboard.py` (100k series x 24 h, 2 shards);
END_MS the last sample time written. Only the servers it started are signalled.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compare"))
from compare import RELEASE, cpu_seconds, free_port, peak_rss_mib, wait_ready  # noqa: E402


def one_start(binary, data, end_ms, seconds):
    work = tempfile.mkdtemp(prefix="metricstor-ab-")
    try:
        shutil.copytree(data, os.path.join(work, "data"))
        port, grpc = free_port(), free_port()
        config = os.path.join(work, "config.yaml")
        with open(config, "w") as f:
            f.write(f"server:\n  http_addr: 127.0.0.1:{port}\n  grpc_addr: 127.0.0.1:{grpc}\nstorage:\n  data_dir: {work}/data\n")
        server = subprocess.Popen([binary, "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/-/ready", server, deadline_s=120)
            for _ in range(60):  # startup compactions settle
                before = cpu_seconds(server.pid)
                time.sleep(2)
                if cpu_seconds(server.pid) - before < 0.1:
                    break
            for _ in range(2):
                out = subprocess.run([os.path.join(RELEASE, "metricstor-bench"), "query", "--url", f"http://127.0.0.1:{port}",
                                      "--seconds", str(seconds), "--concurrency", "4", "--end-ms", str(end_ms),
                                      "--rate-window", "20m", "--refresh-shift-s", "60", "--json"],
                                     capture_output=True, text=True, check=True)
            return {"kinds": json.loads(out.stdout), "peak_rss_mib": peak_rss_mib(server.pid)}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--end-ms", type=int, required=True)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("builds", nargs="+", help="name=path of a metricstor binary")
    args = p.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    results = {name: [] for name, _ in builds}
    for run in range(args.runs):
        for name, binary in (builds if run % 2 == 0 else builds[::-1]):
            results[name].append(one_start(binary, args.data, args.end_ms, args.seconds))
            print(f"{name} start {run + 1} done", file=sys.stderr)
    names = [name for name, _ in builds]
    kinds = [k["kind"] for k in results[names[0]][0]["kinds"]]
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind in kinds:
        cells = []
        for name in names:
            runs = [next(k for k in r["kinds"] if k["kind"] == kind) for r in results[name]]
            cells.append(", ".join(f"{k['latency_ms_p50']:.2f} / {k['latency_ms_p99']:.1f}" for k in runs))
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("| requests (all kinds) | " + " | ".join(", ".join(str(sum(k["requests"] for k in r["kinds"])) for r in results[n]) for n in names) + " |")
    print("| peak RSS MiB | " + " | ".join(", ".join(f"{r['peak_rss_mib']:.0f}" for r in results[n]) for n in names) + " |")


if __name__ == "__main__":
    main()
