#!/usr/bin/env python3
"""Label-values and series lookups while Metricstor ingests.

Starts the release build (built first) on an empty data directory on loopback, runs
`metricstor-bench write` at a fixed rate, and meanwhile requests
`/api/v1/label/job/values` and `/api/v1/series?match[]=up{job="job-1"}` over the last hour in a
loop; prints p50/p90/p99 per kind. Only the processes it started are signalled.

Usage: python3 bench/compare/listings_under_load.py [--series 50000] [--rate 250000] [--seconds 25]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RELEASE, ROOT, start  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=50_000)
    p.add_argument("--rate", type=int, default=250_000, help="offered samples/s")
    p.add_argument("--seconds", type=int, default=25, help="how long lookups run")
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "metricstor", "-p", "metricstor-bench"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="listings-")
    proc, port, _ = start("metricstor", work)
    writer = None
    try:
        samples = 400
        start_ms = int(time.time() * 1000) - samples * 15_000
        writer = subprocess.Popen([os.path.join(RELEASE, "metricstor-bench"), "write", "--url", f"http://127.0.0.1:{port}/api/v1/write",
                                   "--series", str(args.series), "--samples", str(samples), "--connections", "4",
                                   "--rate", str(args.rate), "--start-ms", str(start_ms), "--json"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)
        end_s = int(time.time())
        urls = {"label_values": f"http://127.0.0.1:{port}/api/v1/label/job/values?start={end_s - 3600}&end={end_s}",
                "series": f"http://127.0.0.1:{port}/api/v1/series?match[]=up%7Bjob%3D%22job-1%22%7D&start={end_s - 3600}&end={end_s}"}
        latencies = {k: [] for k in urls}
        deadline = time.time() + args.seconds
        while time.time() < deadline and writer.poll() is None:
            for kind, url in urls.items():
                t = time.time()
                urllib.request.urlopen(url).read()
                latencies[kind].append((time.time() - t) * 1000)
            time.sleep(0.02)
        if writer.poll() is not None:
            print("the write load ended before the lookups did; raise --series or lower --rate", file=sys.stderr)
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    for kind, v in latencies.items():
        v.sort()
        pick = lambda q: v[min(len(v) - 1, int(len(v) * q))]
        print(f"{kind}: n {len(v)}, p50 {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms")


if __name__ == "__main__":
    main()
