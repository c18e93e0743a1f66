#!/usr/bin/env bash
# Importing history side by side: SERIES series x SAMPLES samples 15 s apart (default 1,000 x
# 10,000, about 41 h ending an hour ago; even series counters with a reset, odd ones gauges),
# as VictoriaMetrics JSON lines and as its native format (exported from a VictoriaMetrics
# loaded with the JSON), each imported in one request into a fresh Metricstor and a fresh
# VictoriaMetrics 1.79. Prints wall time of the request, server CPU (utime+stime, until 2 s
# after the answer, VictoriaMetrics after a force_flush), RSS then and at its peak, and the
# samples each exports.
# usage: bash bench/scripts/import_history_side_by_side.sh [METRICSTOR_BIN]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${1:-target/release/metricstor}
series=${SERIES:-1000} samples=${SAMPLES:-10000}
work=$(mktemp -d)
trap stop_started EXIT
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
exported() { curl -gs "$1/api/v1/export?match[]={job=\"bench\"}" | python3 -c 'import sys,json; print(sum(len(json.loads(l)["timestamps"]) for l in sys.stdin if l.strip()))'; }

python3 - "$series" "$samples" > "$work/history.jsonl" <<'PY'
import json, random, sys, time
n_series, n_samples = int(sys.argv[1]), int(sys.argv[2])
random.seed(79)
end = (int(time.time()) - 3600) * 1000
start = end - n_samples * 15000
for i in range(n_series):
    ts = [start + k * 15000 + random.randint(0, 250) for k in range(n_samples)]
    vals, v = [], 0 if i % 2 == 0 else 50.0
    for k in range(n_samples):
        if i % 2 == 0:
            v = random.randint(0, 9) if k == n_samples * 6 // 10 else v + random.randint(0, 40)
        else:
            v = round(v + random.uniform(-1, 1), 3)
        vals.append(v)
    name = "bench_metric_" + ("total" if i % 2 == 0 else "gauge")
    sys.stdout.write(json.dumps({"metric": {"__name__": name, "series": str(i), "job": "bench"}, "values": vals, "timestamps": ts}, separators=(",", ":")) + "\n")
PY

# Each sets `pid` (called directly, not in $(…), so that `pids` keeps it for the exit trap).
start_vm() {  # $1: data dir, $2: port
  victoria-metrics -storageDataPath="$1" -httpListenAddr="127.0.0.1:$2" -retentionPeriod=100y > "$1.log" 2>&1 &
  pid=$!; pids+=("$pid"); wait_ready "http://127.0.0.1:$2/health"
}
start_metricstor() {  # $1: data dir, $2: port
  printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s\n' "$2" "$(($2 + 1))" "$1" > "$1.yaml"
  "$bin" --config "$1.yaml" > "$1.log" 2>&1 &
  pid=$!; pids+=("$pid"); wait_ready "http://127.0.0.1:$2/-/ready"
}

# The native body: VictoriaMetrics' own export of the JSON.
start_vm "$work/source" 19528
curl -sf -T "$work/history.jsonl" http://127.0.0.1:19528/api/v1/import
curl -sf http://127.0.0.1:19528/internal/force_flush
for _ in $(seq 1 100); do [ "$(exported http://127.0.0.1:19528)" = "$((series * samples))" ] && break; sleep 0.2; done
curl -gsf 'http://127.0.0.1:19528/api/v1/export/native?match[]={job="bench"}' -o "$work/history.native"
kill "$pid"

port=19530
for system in metricstor victoriametrics; do
  for format in json native; do
    port=$((port + 2))
    if [ $system = metricstor ]; then start_metricstor "$work/$system-$format" $port; else start_vm "$work/$system-$format" $port; fi
    url=http://127.0.0.1:$port/api/v1/import; [ $format = native ] && url=$url/native
    body=$work/history.jsonl; [ $format = native ] && body=$work/history.native
    c0=$(cpu "$pid"); t0=$(date +%s.%N)
    code=$(curl -s -o /dev/null -w '%{http_code}' -T "$body" "$url")
    t1=$(date +%s.%N)
    [ $system = victoriametrics ] && curl -sf "http://127.0.0.1:$port/internal/force_flush"
    sleep 2
    c1=$(cpu "$pid")
    printf '%-16s %-6s HTTP %s  wall %6.2f s  server CPU %6.2f s  RSS %4d MiB (peak %4d)  exported %s of %s\n' "$system" "$format" "$code" \
      "$(echo "$t1 - $t0" | bc)" "$(echo "scale=2; ($c1 - $c0) / $tck" | bc)" "$(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 ))" \
      "$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))" \
      "$(exported "http://127.0.0.1:$port")" "$((series * samples))"
    kill "$pid"
  done
done
