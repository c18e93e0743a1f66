"""Thread-per-core scaling of ingestion (issue 7): samples per wall-second with
`server.cores: 1` against `server.cores: 2` (and more, if the machine has them), same load.

Each run starts a release server on a fresh data dir with `server.cores: N` (and so N shards),
then `metricstor-bench write` (pre-encoded batches). What shows whether the generator was
the bottleneck, both printed per run: the server's CPU use while the generator sends
(CPU-seconds / sending seconds) against the CPUs it has, and the generator's own CPU while
sending (`sending_cpu_seconds`: its encoding before the clock starts is not counted). On a
machine with no more CPUs than the server uses, the generator takes its share of them.

The default 50 connections are one per request of a sample round (100k series / 2000 series
per request), so every connection carries the same load: with 32, eighteen connections carry
two requests a round and the rest one, and the last part of a run has fewer in flight.
The generator runs at normal priority by default (`--nice` to change): at nice 19 it is
starved while the server's executors are busy, its connections stall, and the server idles
in between (measured: 2-core rate 3.16-3.26M at nice 19 against 3.35-3.49M at nice 0).
Runs alternate between the core counts, ROUNDS times.

Usage: cargo build --release -p metricstor -p metricstor-bench; then
  python3 bench/scripts/core_scaling.py [--cores 1,2] [--series 100000] [--samples 60]
      [--connections 50] [--rounds 2] [--nice 0]
Only the servers this script started are signalled."""
import argparse, json, os, resource, shutil, signal, socket, subprocess, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(cores, args):
    work = tempfile.mkdtemp()
    port = free_port()
    with open(os.path.join(work, "config.yaml"), "w") as f:
        f.write(f"server:\n  http_addr: 127.0.0.1:{port}\n  grpc_addr: 127.0.0.1:{free_port()}\n  cores: {cores}\n"
                f"storage:\n  data_dir: {work}/data\n")
    server = subprocess.Popen([os.path.join(BIN, "metricstor"), "--config", os.path.join(work, "config.yaml")],
                              stderr=open(os.path.join(work, "server.log"), "w"))
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).read()
                break
            except Exception:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit(f"server with cores={cores} did not become ready")
                time.sleep(0.05)
        before_server = cpu_seconds(server.pid)
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        out = subprocess.run(["nice", "-n", str(args.nice), os.path.join(BIN, "metricstor-bench"), "write",
                              "--url", f"http://127.0.0.1:{port}/api/v1/write", "--series", str(args.series),
                              "--samples", str(args.samples), "--connections", str(args.connections), "--json"],
                             capture_output=True, text=True, check=True)
        wall = time.time() - started
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = cpu_seconds(server.pid) - before_server
        generator_cpu = (after_children.ru_utime + after_children.ru_stime) - (before_children.ru_utime + before_children.ru_stime)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        return result["samples_per_second"], result["samples_acked"], wall, server_cpu, result.get("sending_cpu_seconds") or generator_cpu
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", default="1,2")
    parser.add_argument("--series", type=int, default=100000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    counts = [int(c) for c in args.cores.split(",")]
    print(f"machine: {os.cpu_count()} CPUs; load: {args.series} series x {args.samples} samples, {args.connections} connections, generator at nice {args.nice}")
    rates = {c: [] for c in counts}
    for round_ in range(1, args.rounds + 1):
        for cores in counts:
            rate, acked, wall, server_cpu, generator_cpu = run(cores, args)
            rates[cores].append(rate)
            # The generator encodes its batches before sending: busy CPUs are counted over the
            # sending time (acked / rate), which its rate is measured over; its own CPU is
            # what it reports for that time (all its CPU, encoding included, if it does not).
            sending = acked / rate
            print(f"round {round_} cores={cores}: {rate:,.0f} samples/s ({acked:,} acked; {sending:.1f} s sending, {wall:.1f} s in all); "
                  f"server CPU {server_cpu:.1f} s = {server_cpu / sending:.2f} CPUs busy while sending, "
                  f"{server_cpu / acked * 1e6:.3f} µs per sample; generator CPU while sending {generator_cpu:.2f} s = {generator_cpu / sending:.2f} CPUs", flush=True)
    for cores in counts[1:]:
        ratios = [r / b for r, b in zip(rates[cores], rates[counts[0]])]
        print(f"cores={cores} / cores={counts[0]}, round by round: " + ", ".join(f"{x:.2f}x" for x in ratios))


if __name__ == "__main__":
    main()
