"""Streamed import: server memory and throughput for one large JSON-lines body (one POST to
/api/v1/import, no body limit applies). Fresh release server (default config, 2 cores);
the body is SERIES series x SAMPLES samples at 10 s, written to a temporary file (about
200 MB with the defaults) and sent by curl, chunked (MODE=chunked) or with Content-Length
(MODE=length, the default); MODE=pieces sends it instead as ~1 MB line-aligned requests, a
baseline for the memory the stored data itself takes. Reports the server's VmRSS/VmHWM (/proc/<pid>/status) after
start-up, the peak VmRSS polled every 50 ms while importing, VmHWM after, and samples/s.
Usage: cargo build --release -p metricstor, then
  [SERIES=20000 SAMPLES=500 MODE=length] python3 bench/scripts/import_rss.py
Only the server it started is signalled."""
import os, shutil, signal, socket, subprocess, tempfile, threading, time, urllib.request
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
SERIES, SAMPLES = int(os.environ.get("SERIES", "20000")), int(os.environ.get("SAMPLES", "500"))
MODE = os.environ.get("MODE", "length")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def status(pid):
    fields = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}  # MiB
d = tempfile.mkdtemp(); p = free(); g = free()
open(d + "/c.yaml", "w").write(f"server:\n  http_addr: 127.0.0.1:{p}\n  grpc_addr: 127.0.0.1:{g}\n  cores: 2\nstorage:\n  data_dir: {d}/data\n")
now = int(time.time() * 1000) // 10_000 * 10_000
start = now - SAMPLES * 10_000
body = d + "/import.jsonl"
with open(body, "w") as f:
    ts = ",".join(str(start + k * 10_000) for k in range(SAMPLES))
    for i in range(SERIES):
        vals = ",".join(f"{i % 997 + k * 0.5}" for k in range(SAMPLES))
        f.write(f'{{"metric":{{"__name__":"import_rss","job":"bench","instance":"host-{i % 100}","i":"{i}"}},"values":[{vals}],"timestamps":[{ts}]}}\n')
size = os.path.getsize(body)
srv = subprocess.Popen([f"{BIN}/metricstor", "--config", d + "/c.yaml"], stderr=open(d + "/log", "w"))
base = f"http://127.0.0.1:{p}"
for _ in range(600):
    try: urllib.request.urlopen(base + "/-/ready").read(); break
    except Exception: time.sleep(0.05)
before = status(srv.pid)
peak = [before["VmRSS"]]; done = threading.Event()
def poll():
    while not done.is_set():
        peak[0] = max(peak[0], status(srv.pid)["VmRSS"]); time.sleep(0.05)
t = threading.Thread(target=poll); t.start()
extra = ["-H", "Transfer-Encoding: chunked"] if MODE == "chunked" else []
class Out: stdout = ""; stderr = ""
began = time.time()
if MODE == "pieces":
    out = Out(); codes = set()
    with open(body, "rb") as f:
        while True:
            piece = f.read(1 << 20) + f.readline()
            if not piece: break
            req = urllib.request.Request(base + "/api/v1/import", data=piece, headers={"Content-Type": "application/json"})
            codes.add(urllib.request.urlopen(req).status)
    out.stdout = ",".join(map(str, sorted(codes)))
else:
    out = subprocess.run(["curl", "-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "-H", "Content-Type: application/json", "-H", "Expect:",
                          *extra, "--data-binary", "@" + body, base + "/api/v1/import"], capture_output=True, text=True)
elapsed = time.time() - began
done.set(); t.join()
after = status(srv.pid)
samples = SERIES * SAMPLES
print(f"body {size / 1e6:.0f} MB ({MODE}), {SERIES} series x {SAMPLES} samples = {samples:,} samples; HTTP {out.stdout} {out.stderr.strip()[:200]}")
print(f"server RSS after start-up {before['VmRSS']} MiB (VmHWM {before['VmHWM']} MiB); peak RSS while importing {peak[0]} MiB; "
      f"VmHWM after {after['VmHWM']} MiB, RSS after {after['VmRSS']} MiB")
print(f"import took {elapsed:.1f} s: {samples / elapsed:,.0f} samples/s, {size / 1e6 / elapsed:.0f} MB/s")
srv.send_signal(signal.SIGTERM); srv.wait()
shutil.rmtree(d, ignore_errors=True)
