#!/usr/bin/env bash
# Rule evaluation side by side: Metricstor and Prometheus 2.42 (Debian package; remote-write
# receiver on) hold the same data (SERIES series of http_requests_total, one sample every
# 15 s over the last hour) and evaluate the same rule file (one group every 5 s: RULES
# recording rules over rate(...[5m]) with different groupings, and one alerting rule per
# series group). Nothing else runs while they evaluate: over SECONDS, each server's CPU
# time (/proc/PID/stat) is divided by the group evaluations it made, and its last group
# duration is read from its own /metrics (both write prometheus_rule_group_*). Checks that
# both recorded the same series. Prints one line per system.
# Usage: bench/scripts/rules_vs_prometheus.sh [SERIES] [RULES] [SECONDS] [CONCURRENT]
# (CONCURRENT: Metricstor's rules.concurrent_evals, 0 by default as Prometheus' default);
# only the PIDs this script started are signalled.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."
series=${1:-10000}; rules=${2:-50}; seconds=${3:-60}; concurrent=${4:-0}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p metricstor -p metricstor-bench
work=$(mktemp -d)
trap stop_started EXIT

# The rule file: recording rules cycling through groupings and aggregations, and one alert.
python3 - "$rules" > "$work/rules.yml" <<'PY'
import sys
n = int(sys.argv[1])
shapes = ["sum by (job) (rate(http_requests_total[5m]))", "sum by (instance) (rate(http_requests_total[5m]))",
          "avg by (job) (rate(http_requests_total[5m]))", "max by (job) (rate(http_requests_total[5m]))",
          "count by (job) (http_requests_total)", "sum(rate(http_requests_total[5m]))"]
print("groups:\n- name: bench\n  interval: 5s\n  rules:")
for i in range(n):
    print(f"  - record: bench:rule_{i}\n    expr: {shapes[i % len(shapes)]} * {i + 1}")
print("  - alert: BenchBusy\n    expr: sum by (job) (rate(http_requests_total[5m])) > 0\n    for: 1m\n    annotations: {summary: '{{ $labels.job }} at {{ $value | humanize }}'}")
PY
printf 'global:\n  scrape_interval: 1h\n  evaluation_interval: 5s\nrule_files: [%s/rules.yml]\n' "$work" > "$work/prom.yml"

ms_port=$(free_port); ms_grpc=$(free_port); prom_port=$(free_port)
printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\nscrape:\n  config_file: %s/prom.yml\nrules:\n  concurrent_evals: %s\n' "$ms_port" "$ms_grpc" "$work" "$work" "$concurrent" > "$work/ms.yaml"
"$target_dir/release/metricstor" --config "$work/ms.yaml" 2>"$work/ms.log" & pids+=($!); ms_pid=$!
prometheus --config.file="$work/prom.yml" --web.listen-address="127.0.0.1:$prom_port" \
  --storage.tsdb.path="$work/prom" --web.enable-remote-write-receiver 2>"$work/prom.log" & pids+=($!); prom_pid=$!
ms="http://127.0.0.1:$ms_port"; prom="http://127.0.0.1:$prom_port"
wait_ready "$ms/-/ready"; wait_ready "$prom/-/ready"

now_s=$(date +%s); start_ms=$(( (now_s - 3600) * 1000 ))
for url in "$ms" "$prom"; do
  "$target_dir/release/metricstor-bench" write --url "$url/api/v1/write" --metrics 1 --series "$series" \
    --samples 241 --interval-ms 15000 --start-ms "$start_ms" --connections 4 --json > "$work/write.json" 2>/dev/null
done

# The figure of a prometheus_rule_group_* family at `base` (the one group), or 0.
figure() { curl -sf "$1/metrics" | awk -v name="$2" '$1 ~ "^"name"[{]" && $1 ~ /bench/ {print $2; found=1} END {if (!found) print 0}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Both have evaluated the group with the data in place.
for base in "$ms" "$prom"; do
  for _ in $(seq 1 600); do
    [ "$(curl -sf "$base/api/v1/query" --data-urlencode 'query=count(bench:rule_0)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')" != 0 ] && break
    sleep 0.2
  done
done
ticks=$(getconf CLK_TCK)
declare -A cpu0 it0
for system in ms prom; do
  base=${!system}; pid_var=${system}_pid
  cpu0[$system]=$(cpu_ticks "${!pid_var}"); it0[$system]=$(figure "$base" prometheus_rule_group_iterations_total)
done
sleep "$seconds"
for system in ms prom; do
  base=${!system}; pid_var=${system}_pid
  cpu=$(( $(cpu_ticks "${!pid_var}") - ${cpu0[$system]} ))
  it=$(python3 -c "print(int(float('$(figure "$base" prometheus_rule_group_iterations_total)') - float('${it0[$system]}')))")
  last=$(figure "$base" prometheus_rule_group_last_duration_seconds)
  recorded=$(curl -sf "$base/api/v1/query" --data-urlencode "query=count({__name__=~\"bench:rule_.*\"})" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  name=$([ "$system" = ms ] && echo metricstor || echo "prometheus 2.42")
  python3 -c "
cpu = $cpu / $ticks; it = $it
per = cpu / it * 1000 if it else float('nan')
print(f'$name: {it} group evaluations in ${seconds} s, {cpu:.2f} CPU s ({per:.1f} CPU ms per evaluation of $((rules + 1)) rules), last evaluation {float(\"$last\") * 1000:.1f} ms, recorded series {\"$recorded\"}')
"
  echo "$recorded" > "$work/recorded.$system"
done
cmp -s "$work/recorded.ms" "$work/recorded.prom" || { echo "the two systems recorded different numbers of series" >&2; exit 1; }
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $series series, $rules recording rules + 1 alerting rule, group interval 5 s; metricstor rules.concurrent_evals $concurrent"
