#!/usr/bin/env bash
# Memory ceiling under overload (issue 9). Starts a release Metricstor on a fresh data dir
# (free ports, storage.wal_fsync: true), measures its sustainable write throughput X with a
# fixed load (median of three runs), restarts it fresh, then offers FACTOR·X samples/s for about SECONDS with
# `metricstor-bench write --rate --no-retry` while sampling the server's VmRSS every 200 ms;
# prints X, offered, accepted, rejected, peak RSS (VmHWM) and RSS at the end, and checks with
# `metricstor-bench verify --expect` that every acknowledged sample is stored.
# Only the server PID this script started is ever signalled.
#
# Every connection sends its own series groups in time order with one request in flight, so
# the number of requests in flight is at most OVERLOAD_CONNECTIONS; it must exceed the
# server's shard queues (server.shard_queue_depth, 256 per shard) for the server to be able
# to answer 429 at all. Phase 2 therefore splits the same series into OVERLOAD_CONNECTIONS
# groups (smaller requests than phase 1's 2000 series per request).
#
# The generator runs on the same CPUs as the server. In phase 2 its connections resend at
# once after each 429, and at the server's own priority it took about 60% of both CPUs
# (12.2 of 19.5 CPU-seconds in a 10 s window with 1000 connections), starving the server's
# threads, including the kernel workers that carry out its WAL writes and fdatasyncs: group
# commits then took seconds and accepted throughput collapsed. A server has its own machine
# in production, so phase 2's generator runs at nice GENERATOR_NICE (default 19: it gets the
# CPU the server leaves idle). GENERATOR_NICE=0 reproduces the co-located contest.
#
# Usage: bench/scripts/overload.sh [SERIES] [SAMPLES] [CONNECTIONS] [FACTOR] [SECONDS] [OVERLOAD_CONNECTIONS]
#        defaults: 20000 30 4 3 30 300; CARGO_TARGET_DIR and GENERATOR_NICE are honoured.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."
series=${1:-20000}; samples=${2:-30}; connections=${3:-4}; factor=${4:-3}; seconds=${5:-30}; overload_connections=${6:-300}
generator_nice=${GENERATOR_NICE:-19}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p metricstor -p metricstor-bench
server_bin=$target_dir/release/metricstor
bench_bin=$target_dir/release/metricstor-bench
work=$(mktemp -d)
pid=""
sampler=""
cleanup() {
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

json_field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }

# Starts a server on a fresh data dir; sets $pid and $port.
start_server() {
  rm -rf "$work/data"
  port=$(free_port)
  cat > "$work/config.yaml" <<YAML
server:
  http_addr: 127.0.0.1:$port
  grpc_addr: 127.0.0.1:$(free_port)
storage:
  data_dir: $work/data
  wal_fsync: true
YAML
  "$server_bin" --config "$work/config.yaml" 2>>"$work/server.log" &
  pid=$!
  local deadline=$((SECONDS + 30))
  until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "server did not become ready; log:" >&2; tail -20 "$work/server.log" >&2; exit 1
    fi
    sleep 0.05
  done
}

stop_server() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

echo "== phase 1: sustainable throughput X ($series series x $samples samples, $connections connections; median of 3 fresh servers)"
xs=()
for run in 1 2 3; do
  start_server
  "$bench_bin" write --url "http://127.0.0.1:$port/api/v1/write" --series "$series" --samples "$samples" \
    --connections "$connections" --json > "$work/x$run.json" 2>/dev/null
  xs+=("$(json_field "$work/x$run.json" samples_per_second)")
  stop_server
done
x=$(python3 -c "import statistics, sys; print(statistics.median(float(v) for v in sys.argv[1:]))" "${xs[@]}")
actual_series=$(json_field "$work/x1.json" series)
printf 'X = %.0f samples/s (runs: %s)\n' "$x" "$(printf '%.0f ' "${xs[@]}")"

rate=$(python3 -c "print(round($factor * $x))")
batch=$(python3 -c "print(max(1, $actual_series // $overload_connections))")
per_series=$(python3 -c "import math; print(max(1, math.ceil($rate * $seconds / $actual_series)))")
start_ms=$(python3 -c "import time; print(int(time.time() * 1000) - $per_series * 1000 - 60000)")
echo "== phase 2: offering $rate samples/s (${factor}X) for ~${seconds} s: $actual_series series x $per_series samples, 1 s apart, $batch series per request, $overload_connections connections, --no-retry"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before phase 2; generator at nice $generator_nice"
start_server
rss_before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
server_ticks_before=$(cpu_ticks "$pid")
( while [ -r "/proc/$pid/status" ]; do
    awk -v t="$(date +%s.%N)" '/^VmRSS:/ {print t, $2}' "/proc/$pid/status" 2>/dev/null || true
    sleep 0.2
  done ) > "$work/rss.log" &
sampler=$!
set +e
nice -n "$generator_nice" "$bench_bin" write --url "http://127.0.0.1:$port/api/v1/write" --series "$series" --samples "$per_series" \
  --interval-ms 1000 --start-ms "$start_ms" --batch-series "$batch" --connections "$overload_connections" --rate "$rate" --no-retry \
  --json > "$work/overload.json" 2> >(tee "$work/progress.log" >&2)
write_status=$?
set -e
echo "load average after phase 2: $(cut -d' ' -f1-3 /proc/loadavg)"
server_cpu_s=$(python3 -c "import os; print(($(cpu_ticks "$pid") - $server_ticks_before) / os.sysconf('SC_CLK_TCK'))")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
rss_end=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=""
echo "== verify: every acknowledged sample is stored"
set +e
"$bench_bin" verify --url "http://127.0.0.1:$port" --expect "$work/overload.json"
verify_status=$?
set -e
rss_after_verify=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
stop_server

python3 - "$work/overload.json" "$work/rss.log" "$x" "$rate" "$rss_before" "$hwm" "$rss_end" "$rss_after_verify" "$server_cpu_s" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
rss = [(float(t), int(kb)) for t, kb in (l.split() for l in open(sys.argv[2]) if len(l.split()) == 2)]
x, rate = float(sys.argv[3]), float(sys.argv[4])
before, hwm, end, after_verify = (int(v) / 1024 for v in sys.argv[5:9])
sampled_peak = max((kb for _, kb in rss), default=0) / 1024
print(f"X (sustainable, phase 1):   {x:.0f} samples/s")
print(f"target offered rate:        {rate:.0f} samples/s")
print(f"offered (attempted):        {o['offered_samples_per_second']:.0f} samples/s over {o['seconds']:.1f} s "
      f"(latest request {o['schedule_lag_ms_max']:.0f} ms behind schedule)")
print(f"accepted:                   {o['samples_per_second']:.0f} samples/s ({o['samples_acked']} samples)")
print(f"rejected requests (429/503): {o['rejected_requests']} of {o['requests']} ({o['samples_rejected']} samples)")
print(f"errors:                     {o['errors']} {o['first_errors']}")
print(f"server CPU in phase 2:      {float(sys.argv[9]):.1f} s over {o['seconds']:.1f} s of load")
print(f"latency ms:                 p50 {o['latency_ms_p50']:.1f}  p99 {o['latency_ms_p99']:.1f}")
print(f"server RSS MiB:             {before:.0f} at start, peak {hwm:.0f} (VmHWM; sampled max {sampled_peak:.0f} "
      f"in {len(rss)} samples), {end:.0f} at the end of the load, {after_verify:.0f} after verify")
if rss:
    t0 = rss[0][0]
    marks = [rss[int(i * (len(rss) - 1) / 10)] for i in range(11)]
    print("RSS over time (s: MiB):     " + "  ".join(f"{t - t0:.0f}: {kb / 1024:.0f}" for t, kb in marks))
PY
echo "write exit status: $write_status, verify exit status: $verify_status"
[ "$write_status" -eq 0 ] && [ "$verify_status" -eq 0 ]
