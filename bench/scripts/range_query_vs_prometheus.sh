#!/usr/bin/env bash
# Issue 4's engine target, side by side: `sum by (job) (rate(http_requests_total[5m]))` as a
# range query over 10k series x 1 h at a 15 s step (241 steps), answered by Metricstor and by
# Prometheus 2.42 (Debian package; remote-write receiver on) holding the same data, in the
# same run. Queries alternate between the two; prints p50/min/max wall-clock milliseconds per
# system (measured by curl, HTTP included) and checks both return the same number of series.
# Usage: bench/scripts/range_query_vs_prometheus.sh [SERIES] [REPEATS]; only the PIDs this
# script started are signalled.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."
series=${1:-10000}; repeats=${2:-15}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p metricstor -p metricstor-bench
work=$(mktemp -d)
trap stop_started EXIT

ms_port=$(free_port); ms_grpc=$(free_port); prom_port=$(free_port)
printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\n' "$ms_port" "$ms_grpc" "$work" > "$work/ms.yaml"
"$target_dir/release/metricstor" --config "$work/ms.yaml" 2>"$work/ms.log" & pids+=($!)
printf 'global:\n  scrape_interval: 1h\n' > "$work/prom.yml"
prometheus --config.file="$work/prom.yml" --web.listen-address="127.0.0.1:$prom_port" \
  --storage.tsdb.path="$work/prom" --web.enable-remote-write-receiver 2>"$work/prom.log" & pids+=($!)
ms="http://127.0.0.1:$ms_port"; prom="http://127.0.0.1:$prom_port"
wait_ready "$ms/-/ready"; wait_ready "$prom/-/ready"

now_s=$(date +%s); start_ms=$(( (now_s - 3600) * 1000 ))
for url in "$ms" "$prom"; do
  "$target_dir/release/metricstor-bench" write --url "$url/api/v1/write" --metrics 1 --series "$series" \
    --samples 241 --interval-ms 15000 --start-ms "$start_ms" --connections 4 --json > "$work/write.json" 2>/dev/null
done
q='sum by (job) (rate(http_requests_total[5m]))'
# Off the sample grid by 7.5 s, so 2.x's closed and 3.x's left-open windows agree.
start=$(python3 -c "print($start_ms/1000 + 307.5)"); end=$(python3 -c "print($start_ms/1000 + 3600 - 7.5)")
args=(--data-urlencode "query=$q" --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode "step=15")
for system in ms prom; do
  base=${!system}
  curl -sf "$base/api/v1/query_range" "${args[@]}" > "$work/$system.json"
done
python3 - "$work/ms.json" "$work/prom.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["data"]["result"] for p in sys.argv[1:3])
print(f"series returned: metricstor {len(a)}, prometheus {len(b)}; points {sum(len(s['values']) for s in a)} / {sum(len(s['values']) for s in b)}")
if len(a) != len(b) or len(a) == 0:
    sys.exit("the two systems disagree or returned nothing")
PY
: > "$work/times"
for i in $(seq 1 "$repeats"); do
  for system in ms prom; do
    base=${!system}
    t=$(curl -s -o /dev/null -w '%{time_total}' "$base/api/v1/query_range" "${args[@]}")
    echo "$system $t" >> "$work/times"
  done
done
python3 - "$work/times" "$series" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"range query over {sys.argv[2]} series x 1 h, step 15 s (241 steps), {len(rows)//2} runs each, alternating:")
for system, name in (("ms", "metricstor"), ("prom", "prometheus 2.42")):
    t = sorted(float(v) * 1000 for s, v in rows if s == system)
    print(f"  {name:16} p50 {statistics.median(t):8.1f} ms   min {t[0]:8.1f}   max {t[-1]:8.1f}")
PY
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
