"""Ingestion throughput with and without queries of death running (issue 9). Fresh release
server (wal_fsync on); 20k series x 30 samples of history; then alternating write runs of
20k series x 30 new samples (4 connections), alone and beside 2 threads looping heavy
queries (a 10y count_over_time over every series and a 1 s-step subquery cut by timeout=5s).
Usage: cargo build --release -p metricstor -p metricstor-bench, then
  [SRVX=$'  max_samples_per_query: 100000\n'] python3 bench/scripts/query_of_death.py
(SRVX adds lines to the server section of the config). Only the server it started is signalled."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
d = tempfile.mkdtemp(); p = free(); g = free()
open(d + "/c.yaml", "w").write(f"server:\n  http_addr: 127.0.0.1:{p}\n  grpc_addr: 127.0.0.1:{g}\n"+os.environ.get("SRVX","")+f"storage:\n  data_dir: {d}/data\n  wal_fsync: true\n")
srv = subprocess.Popen([f"{BIN}/metricstor", "--config", d + "/c.yaml"], stderr=open(d + "/log", "w"))
base = f"http://127.0.0.1:{p}"
for _ in range(300):
    try: urllib.request.urlopen(base + "/-/ready").read(); break
    except Exception: time.sleep(0.05)
now = int(time.time() * 1000)
def write(start_ms):
    out = subprocess.run([f"{BIN}/metricstor-bench", "write", "--url", base + "/api/v1/write", "--series", "20000", "--samples", "30",
                          "--interval-ms", "1000", "--start-ms", str(start_ms), "--connections", "4", "--json"], capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
write(now - 3_600_000)  # history
queries = ['count_over_time({__name__=~".+"}[10y])', 'max_over_time(rate({__name__=~".+"}[1m:1s])[30m:1s])']
stop = threading.Event(); codes = {}
def loop(q):
    while not stop.is_set():
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": now / 1000, "timeout": "5s"})
        try: code = urllib.request.urlopen(url, timeout=60).status
        except urllib.error.HTTPError as e: code = (e.code, json.loads(e.read()).get('error', '')[:60])
        except Exception as e: code = type(e).__name__
        codes[(q[:20], code)] = codes.get((q[:20], code), 0) + 1
results = []
start = now - 1_800_000
for rnd in range(2):
    for heavy in (False, True):
        threads = []
        if heavy:
            stop.clear(); threads = [threading.Thread(target=loop, args=(q,)) for q in queries]
            for t in threads: t.start()
            time.sleep(1)
        r = write(start); start += 30_000
        if heavy:
            stop.set()
            for t in threads: t.join()
        results.append((heavy, r["samples_per_second"], r.get("errors", 0)))
        print(f"round {rnd+1} {'with queries of death' if heavy else 'alone':>22}: {r['samples_per_second']:,.0f} samples/s, errors {r.get('errors')}", flush=True)
print("query outcomes:", codes)
srv.send_signal(signal.SIGTERM); srv.wait()
shutil.rmtree(d, ignore_errors=True)
