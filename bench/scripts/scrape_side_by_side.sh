#!/usr/bin/env bash
# Scraping, Metricstor (`scrape.config_file`) beside VictoriaMetrics 1.79 (`-promscrape.config`)
# and Prometheus 2.42 (Debian's `victoria-metrics` and `prometheus`), one after the other on
# the same targets with the same Prometheus configuration file: TARGETS targets (default
# 100) of SERIES series each (default 1,000) every INTERVAL (default 1s), served by one
# Python exporter from pre-rendered bodies (5 variants per target, so values change). Each
# server starts on an empty data directory, scrapes for WARMUP seconds (default 10), then
# its CPU time is measured over RUN seconds (default 60). Printed per server: server CPU
# seconds in the run, samples per server CPU-second, peak RSS (before the counting queries),
# and the scrapes and samples
# it stored (from its own query API: `count_over_time(up[...])` and the target series').
# Usage: [TARGETS=N] [SERIES=N] [RUN=S] bash bench/scripts/scrape_side_by_side.sh [METRICSTOR_BINARY]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/metricstor}"
targets=${TARGETS:-100} series=${SERIES:-1000} interval=${INTERVAL:-1s} warmup=${WARMUP:-10} run=${RUN:-60}
work=$(mktemp -d /tmp/scrape-side-by-side.XXXXXX)
epid= spid=
trap 'kill $epid $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
eport=$(free_port)
python3 - "$eport" "$targets" "$series" > "$work/exporter.log" 2>&1 <<'PY' & epid=$!
import http.server, random, sys, threading
port, targets, series = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
bodies = []
for t in range(targets):
    variants = []
    for v in range(5):
        lines = ["# HELP sbench_requests_total Requests.", "# TYPE sbench_requests_total counter"]
        for s in range(series):
            lines.append(f'sbench_requests_total{{path="/p{s % 50}",code="{200 + s // 50 % 5}",method="m{s // 250}"}} {1000 * v + s + random.random():.3f}')
        variants.append(("\n".join(lines) + "\n").encode())
    bodies.append(variants)
hits = [0] * targets
lock = threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        t = int(self.path.split("/")[2])
        with lock:
            hits[t] += 1
            body = bodies[t][hits[t] % 5]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    # Python's default listen backlog is 5: scrapers starting several targets at once
    # (Metricstor's slots) would see connects time out, which real exporters never cause.
    request_queue_size = 1024
Server(("127.0.0.1", port), Handler).serve_forever()
PY
{
  printf 'global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n- job_name: sbench\n  static_configs:\n' "$interval" "$interval"
  for t in $(seq 0 $((targets - 1))); do
    printf '  - targets: [127.0.0.1:%s]\n    labels: {__metrics_path__: /m/%s, target: t%s}\n' "$eport" "$t" "$t"
  done
} > "$work/prometheus.yml"
for _ in $(seq 100); do curl -s "127.0.0.1:$eport/m/0" >/dev/null && break; sleep 0.1; done
printf '%s targets x %s series every %s; CPU over %s s after %s s of warm-up (%s cores here)\n' "$targets" "$series" "$interval" "$run" "$warmup" "$(nproc)"
for name in metricstor victoriametrics prometheus; do
  port=$(free_port)
  case $name in
    metricstor)
      printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\nscrape:\n  config_file: %s/prometheus.yml\n' "$port" "$(free_port)" "$work" "$work" > "$work/ms.yaml"
      "$bin" --config "$work/ms.yaml" > "$work/ms.log" 2>&1 & spid=$! ;;
    victoriametrics)
      victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$port -promscrape.config="$work/prometheus.yml" -retentionPeriod=100y > "$work/vm.log" 2>&1 & spid=$! ;;
    prometheus)
      prometheus --config.file="$work/prometheus.yml" --web.listen-address=127.0.0.1:$port --storage.tsdb.path="$work/prom" > "$work/prom.log" 2>&1 & spid=$! ;;
  esac
  for _ in $(seq 300); do curl -sf "127.0.0.1:$port/api/v1/query?query=1" >/dev/null && break; sleep 0.1; done
  started=$(date +%s)
  sleep "$warmup"
  t0=$(awk '{print $14+$15}' /proc/$spid/stat)
  sleep "$run"
  t1=$(awk '{print $14+$15}' /proc/$spid/stat)
  # Peak RSS of the scraping itself, read before the queries below load every sample.
  peak=$(( $(awk '/VmHWM/ {print $2}' /proc/$spid/status) / 1024 ))
  window=$(( $(date +%s) - started + 5 ))
  q() { curl -gs "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" --data-urlencode "nocache=1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
  [ $name = victoriametrics ] && curl -s "127.0.0.1:$port/internal/force_flush" >/dev/null && sleep 2
  scrapes=$(q "sum(count_over_time(up{job=\"sbench\"}[${window}s]))")
  failed=$(q "sum(count_over_time((up{job=\"sbench\"} == 0)[${window}s:]))")
  samples=$(q "sum(count_over_time(sbench_requests_total[${window}s]))")
  cpu=$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))")
  rate=$(python3 -c "print(round($targets * $series / float('${interval%s}') * $run / max($cpu, 0.001)))")
  printf '%-16s server CPU %6.2f s in %s s (%s samples per CPU-second)  peak RSS %4d MiB  scrapes stored %s (down %s)  samples stored %s\n' \
    "$name" "$cpu" "$run" "$rate" "$peak" "$scrapes" "$failed" "$samples"
  kill $spid; wait $spid 2>/dev/null || true; spid=
done
