#!/usr/bin/env bash
# Graphite's metrics API side by side: NAMES Graphite names (default 100,000:
# gbench.dc<0-3>.host<0-249>.m<0-99>, ten samples each, imported as JSON lines) in a fresh
# Metricstor and a fresh VictoriaMetrics 1.79; then each /metrics/find, /metrics/expand and
# /metrics/index.json request below asked RUNS times (default 20) of each, one after another:
# median and worst wall time per request (curl's total time), and the answers' sizes, which
# must agree (graphite-web's expand wrapper and branch ids aside).
# usage: bash bench/scripts/graphite_side_by_side.sh [METRICSTOR_BIN]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${1:-target/release/metricstor}
names=${NAMES:-100000} runs=${RUNS:-20}
vm_bin=${METRICSTOR_VICTORIAMETRICS_BIN:-/usr/bin/victoria-metrics}
work=$(mktemp -d)
trap stop_started EXIT

ms_port=$(free_port) vm_port=$(free_port)
cat > "$work/config.yaml" <<YAML
server:
  http_addr: 127.0.0.1:$ms_port
  grpc_addr: 127.0.0.1:$(free_port)
storage:
  data_dir: $work/ms-data
YAML
"$bin" --config "$work/config.yaml" > "$work/ms.log" 2>&1 &
pids+=($!)
"$vm_bin" -storageDataPath="$work/vm-data" -httpListenAddr=127.0.0.1:$vm_port -retentionPeriod=100y > "$work/vm.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$ms_port/-/ready"
wait_ready "http://127.0.0.1:$vm_port/health"

python3 - "$names" > "$work/names.jsonl" <<'PY'
import json, sys, time
n = int(sys.argv[1])
start = (int(time.time()) // 10 * 10 - 600) * 1000
ts = [start + k * 10_000 for k in range(10)]
for i in range(n):
    name = f"gbench.dc{i % 4}.host{(i // 4) % 250}.m{i // 1000}"
    sys.stdout.write(json.dumps({"metric": {"__name__": name}, "values": [float(i % 97 + k) for k in range(10)], "timestamps": ts}, separators=(",", ":")) + "\n")
PY
for port in $ms_port $vm_port; do
  curl -sf -XPOST --data-binary @"$work/names.jsonl" "http://127.0.0.1:$port/api/v1/import"
  curl -sf "http://127.0.0.1:$port/internal/force_flush" > /dev/null || true
done
# Both hold every name before timing starts (VictoriaMetrics indexes in the background).
for port in $ms_port $vm_port; do
  for _ in $(seq 1 600); do
    got=$(curl -s "http://127.0.0.1:$port/metrics/index.json" | python3 -c 'import sys,json; print(len(json.load(sys.stdin)))')
    [ "$got" = "$names" ] && break
    sleep 0.1
  done
  [ "$got" = "$names" ] || { echo "port $port holds $got of $names names" >&2; exit 1; }
done

requests=(
  "/metrics/find?query=gbench.*"
  "/metrics/find?query=gbench.dc1.*"
  "/metrics/find?query=gbench.dc1.host7.*"
  "/metrics/find?query=gbench.*.host7.m5"
  "/metrics/find?query=gbench.dc%7B1,2%7D.host1*.m*"
  "/metrics/expand?query=gbench.dc1.host*.m5"
  "/metrics/index.json"
)
printf '%-48s %14s %14s %14s %14s %10s %10s\n' request "ms median ms" "ms worst ms" "vm median ms" "vm worst ms" "ms bytes" "vm bytes"
for r in "${requests[@]}"; do
  line="$r"
  for port in $ms_port $vm_port; do
    times=$(for _ in $(seq 1 "$runs"); do curl -gs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$r"; done | sort -n)
    median=$(echo "$times" | awk -v n="$runs" 'NR==int((n+1)/2){printf "%.1f", $1*1000}')
    worst=$(echo "$times" | tail -1 | awk '{printf "%.1f", $1*1000}')
    line="$line $median $worst"
  done
  ms_bytes=$(curl -gs "http://127.0.0.1:$ms_port$r" | wc -c)
  vm_bytes=$(curl -gs "http://127.0.0.1:$vm_port$r" | wc -c)
  set -- $line
  printf '%-48s %14s %14s %14s %14s %10s %10s\n' "$1" "$2" "$3" "$4" "$5" "$ms_bytes" "$vm_bytes"
done
