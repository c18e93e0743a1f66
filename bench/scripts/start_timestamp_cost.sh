#!/usr/bin/env bash
# What storing start times costs at ingestion: the same remote_write 2.0 load (counters and
# histograms carrying `start_timestamp`, `metricstor-bench write --start-timestamps`) into a
# fresh release server three ways, in one run: no starts sent; starts sent but
# `storage.start_timestamp_storage` off (ignored); starts sent and stored. Prints the
# server's CPU seconds, samples per CPU-second, peak RSS and data dir bytes (WAL) for each.
# Usage: bench/scripts/start_timestamp_cost.sh [SERIES] [SAMPLES] [CONNECTIONS]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "$0")/../.."
series=${1:-100000}; samples=${2:-10}; connections=${3:-2}
cargo build --release -q -p metricstor -p metricstor-bench
bin=${CARGO_TARGET_DIR:-target}/release
pid=
work=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$work" ] && rm -rf "$work"' EXIT
printf '%-26s %10s %14s %10s %12s\n' case "cpu s" "samples/cpu-s" "rss MiB" "data bytes"
run_case() { # name, storage option, extra bench flags
  work=$(mktemp -d)
  local port grpc
  port=$(free_port); grpc=$(free_port)
  cat > "$work/config.yaml" <<YAML
server:
  http_addr: 127.0.0.1:$port
  grpc_addr: 127.0.0.1:$grpc
storage:
  data_dir: $work/data
  start_timestamp_storage: $2
YAML
  "$bin/metricstor" --config "$work/config.yaml" 2>"$work/server.log" &
  pid=$!
  local ready=
  for _ in $(seq 1 400); do
    curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && { ready=1; break; }
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "server not ready" >&2; cat "$work/server.log" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$bin/metricstor-bench" write --url "http://127.0.0.1:$port/api/v1/write" --protocol v2 \
    --series "$series" --samples "$samples" --connections "$connections" $3 --json > "$work/report.json"
  local acked ticks utime stime cpu rss bytes
  acked=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['samples_acked'] + r.get('histograms_acked', 0))" "$work/report.json")
  ticks=$(getconf CLK_TCK)
  read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
  cpu=$(python3 -c "print(round(($utime+$stime)/$ticks, 2))")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  bytes=$(du -sb "$work/data" | cut -f1)
  printf '%-26s %10s %14s %10s %12s\n' "$1" "$cpu" "$(python3 -c "print(round($acked/max($cpu,0.01)))")" "$((rss / 1024))" "$bytes"
  kill -TERM $pid; wait $pid || true
  pid=
  rm -rf "$work"; work=
}
run_case "no starts" false ""
run_case "starts sent, not stored" false "--start-timestamps"
run_case "starts sent and stored" true "--start-timestamps"
