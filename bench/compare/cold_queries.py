#!/usr/bin/env python3
"""Cold dashboard queries, A/B of Metricstor builds on one kept data directory.

For each repeat and build (alternating): copies DATA to a scratch directory, starts the
build on it (loopback, a free port), runs the four range panels of `metricstor-bench query`
once each in turn (cold caches), then the same four with another rate window (so none is
cached) all at once, and prints each answer's latency, the wall time of the burst, peak RSS
(VmHWM) and a hash of each answer (builds must agree).

Usage: python3 bench/compare/cold_queries.py --builds old=PATH,new=PATH --data DIR --end-ms MS
       [--repeats 2] [--scratch /tmp/cold-queries]
DATA is a Metricstor data directory (e.g. one written by `metricstor-bench write --series
100000 --metrics 5 --samples 289 --interval-ms 300000`); END_MS is the end of its history.
"""
import argparse, hashlib, http.client, shutil, signal, socket, subprocess, threading, time, urllib.parse

PANELS = [
    ("sum by (job) (rate(http_requests_total[20m]))", 3600),
    ("topk(5, sum by (instance) (rate(node_cpu_seconds_total[20m])))", 6 * 3600),
    ("avg by (namespace) (node_memory_MemAvailable_bytes)", 24 * 3600),
    ("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[20m])))", 6 * 3600),
]


def range_path(query, window_s, end_s):
    # As Grafana asks: about 250 points, start and end aligned to the step.
    step = max(window_s // 250, 15)
    params = {"query": query, "start": (end_s - window_s) // step * step, "end": end_s // step * step, "step": step}
    return "/api/v1/query_range?" + urllib.parse.urlencode(params)


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", path)
    reply = conn.getresponse()
    body = reply.read()
    if reply.status != 200:
        raise SystemExit(f"{path}: HTTP {reply.status}: {body[:200]!r}")
    return (time.perf_counter() - started) * 1000, body


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_build(name, binary, args, end_s):
    work = f"{args.scratch}/{name}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(args.data, f"{work}/data")
    port, grpc_port = free_port(), free_port()
    with open(f"{work}/metricstor.yaml", "w") as cfg:
        cfg.write(f"server:\n  http_addr: 127.0.0.1:{port}\n  grpc_addr: 127.0.0.1:{grpc_port}\nstorage:\n  data_dir: {work}/data\n")
    proc = subprocess.Popen([binary, "--config", f"{work}/metricstor.yaml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                get(port, "/-/ready")
                break
            except (OSError, SystemExit):
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{name} did not become ready")
                time.sleep(0.1)
        one_by_one, digests = [], []
        for query, window in PANELS:
            ms, body = get(port, range_path(query, window, end_s))
            one_by_one.append(ms)
            digests.append(hashlib.sha256(body).hexdigest()[:12])
        peak_one_by_one = peak_rss_mib(proc.pid)
        with open(f"/proc/{proc.pid}/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM
        burst = [0.0] * len(PANELS)

        def one(i):
            query, window = PANELS[i]
            burst[i] = get(port, range_path(query.replace("[20m]", "[21m]"), window, end_s))[0]

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(PANELS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = (time.perf_counter() - started) * 1000
        print(f"{name}: one by one {' / '.join(f'{v:.0f}' for v in one_by_one)} ms, peak RSS {peak_one_by_one} MiB; "
              f"all at once {' / '.join(f'{v:.0f}' for v in burst)} ms (wall {wall:.0f}), peak RSS {peak_rss_mib(proc.pid)} MiB; "
              f"answers {' '.join(digests)}", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builds", required=True, help="name=path,name=path")
    p.add_argument("--data", required=True)
    p.add_argument("--end-ms", type=int, required=True)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--scratch", default="/tmp/cold-queries")
    args = p.parse_args()
    builds = [b.split("=", 1) for b in args.builds.split(",")]
    for repeat in range(args.repeats):
        for name, binary in builds if repeat % 2 == 0 else list(reversed(builds)):
            run_build(name, binary, args, args.end_ms // 1000)


if __name__ == "__main__":
    main()
