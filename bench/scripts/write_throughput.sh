#!/usr/bin/env bash
# Measures Metricstor's ingestion: starts a release server on a fresh data dir, runs
# `metricstor-bench write`, then reports the server's CPU seconds and peak RSS (from /proc).
# Usage: bench/scripts/write_throughput.sh [SERIES] [SAMPLES] [CONNECTIONS] [CORES]
set -euo pipefail
cd "$(dirname "$0")/../.."
series=${1:-100000}; samples=${2:-10}; connections=${3:-4}; cores=${4:-0}
cargo build --release -q -p metricstor -p metricstor-bench
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.yaml" <<YAML
server:
  http_addr: 127.0.0.1:$port
  grpc_addr: 127.0.0.1:$grpc
  cores: $cores
storage:
  data_dir: $work/data
YAML
"${CARGO_TARGET_DIR:-target}"/release/metricstor --config "$work/config.yaml" 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break
  sleep 0.05
done
"${CARGO_TARGET_DIR:-target}"/release/metricstor-bench write --url "http://127.0.0.1:$port/api/v1/write" \
  --series "$series" --samples "$samples" --connections "$connections"
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
cpu=$(python3 -c "print(round(($utime+$stime)/$ticks, 2))")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "server CPU seconds: $cpu"
echo "server peak RSS: $((rss / 1024)) MiB"
echo "WAL bytes on disk: $(du -sb "$work/data" | cut -f1)"
kill -TERM $pid; wait $pid || true
