#!/usr/bin/env python3
"""Compaction write amplification of a backfill (issue 3).

Starts a release server on an empty data dir (retention 60 days), backfills 20,000 series x
30 days at a 15-minute interval with `metricstor-bench write` over 4 connections (which
progress unevenly, so the slower ones' samples are cut behind the compacted history as late
blocks), waits until the server is idle (compactions done), stops it, and prints one JSON
line: head cuts and compactions (from the server's log), the chunk bytes every compaction
wrote (`chunk_bytes_out` of the "blocks compacted" lines) against the chunk bytes left in
the final blocks (their ratio is the rewrite factor), and the final blocks' levels.

Usage: cargo build --release -p metricstor -p metricstor-bench, then
  python3 bench/scripts/backfill_amplification.py [--binary PATH] [--series N] [--days D] [--keep]
(--keep leaves the data dir and the server log, and prints where).
Only the server it started is signalled.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compare"))
from compare import RELEASE, cpu_seconds, free_port, wait_ready  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(RELEASE, "metricstor"))
    p.add_argument("--series", type=int, default=20_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--keep", action="store_true", help="keep the data dir and log")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="metricstor-backfill-")
    port, grpc = free_port(), free_port()
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write(f"server:\n  http_addr: 127.0.0.1:{port}\n  grpc_addr: 127.0.0.1:{grpc}\n"
                f"storage:\n  data_dir: {work}/data\n  retention_days: {2 * args.days}\n")
    log_path = os.path.join(work, "log")
    server = subprocess.Popen([args.binary, "--config", config], stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                              env=dict(os.environ, RUST_LOG="info"))
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", server, deadline_s=60)
        started = time.time()
        subprocess.run([os.path.join(RELEASE, "metricstor-bench"), "write", "--url", f"http://127.0.0.1:{port}/api/v1/write",
                        "--series", str(args.series), "--metrics", "5", "--samples", str(args.days * 96),
                        "--interval-ms", "900000", "--connections", str(args.connections), "--json"],
                       check=True, capture_output=True, text=True)
        write_s = time.time() - started
        quiet_windows = 0
        while quiet_windows < 3 and time.time() - started < 3600:
            before = cpu_seconds(server.pid)
            time.sleep(5)
            quiet_windows = quiet_windows + 1 if cpu_seconds(server.pid) - before < 0.1 else 0
        settled_s = time.time() - started
        server_cpu_s = cpu_seconds(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    lines = open(log_path).read().splitlines()
    compacted = [l for l in lines if "blocks compacted" in l]
    bytes_out = sum(int(m.group(1)) for l in compacted if (m := re.search(r"chunk_bytes_out=(\d+)", l)))
    levels_written = [int(m.group(1)) for l in compacted if (m := re.search(r"level=(\d+)", l))]
    final_levels, final_chunk_bytes = [], 0
    data = os.path.join(work, "data")
    for shard in sorted(os.listdir(data)):
        shard_dir = os.path.join(data, shard)
        if not os.path.isdir(shard_dir):
            continue
        for block in os.listdir(shard_dir):
            meta = os.path.join(shard_dir, block, "meta.json")
            if os.path.exists(meta):
                final_levels.append(json.load(open(meta))["compaction"]["level"])
                chunks = os.path.join(shard_dir, block, "chunks")
                final_chunk_bytes += sum(os.path.getsize(os.path.join(chunks, c)) for c in os.listdir(chunks))
    print(json.dumps({
        "write_s": round(write_s, 1), "settled_s": round(settled_s, 1), "server_cpu_s": round(server_cpu_s, 1),
        "head_cuts": sum("head cut into a block" in l for l in lines), "compactions": len(compacted),
        "compaction_chunk_bytes_written": bytes_out, "final_chunk_bytes": final_chunk_bytes,
        "rewrite_factor": round(bytes_out / max(final_chunk_bytes, 1), 2),
        "highest_level_written": max(levels_written or [0]), "final_levels": sorted(final_levels),
    }))
    if args.keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
