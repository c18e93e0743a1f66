#!/usr/bin/env bash
# What stream aggregation costs the write path: the same remote_write load (SERIES series x
# SAMPLES samples, 4 connections) on a fresh release server per mode, alternating, ROUNDS
# times:
#   off        no stream_aggregation;
#   by_job     every series aggregated by job over 1m (outputs total, count_samples, max), the
#              input stored as well (it matches everything: keep_input);
#   by_job_drop the same, input not stored (what a user aggregating away cardinality runs);
#   unmatched  one aggregation whose match no series has (the cost of looking).
# Prints samples/s, server CPU seconds, samples per server CPU-second and peak RSS. Only the
# PIDs this script started are signalled.
# Usage: bench/scripts/stream_aggr_overhead.sh [ROUNDS] [SERIES] [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}; series=${2:-50000}; samples=${3:-10}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p metricstor -p metricstor-bench
bin=$target_dir/release/metricstor; bench=$target_dir/release/metricstor-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$rounds"); do
for mode in off by_job by_job_drop unmatched; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf $work/data
  case $mode in
    off) aggr="";;
    by_job) aggr=$'stream_aggregation:\n  keep_input: true\n  configs:\n    - interval: 1m\n      by: [job]\n      outputs: [total, count_samples, max]\n';;
    by_job_drop) aggr=$'stream_aggregation:\n  configs:\n    - interval: 1m\n      by: [job]\n      outputs: [total, count_samples, max]\n';;
    unmatched) aggr=$'stream_aggregation:\n  configs:\n    - match: \'{__name__="no_such_metric"}\'\n      interval: 1m\n      outputs: [total]\n';;
  esac
  printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/data\n%s' $port $grpc $work "$aggr" > $work/c.yaml
  $bin --config $work/c.yaml 2>$work/log & pid=$!
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.05; done
  $bench write --url http://127.0.0.1:$port/api/v1/write --series "$series" --samples "$samples" --connections 4 --json > $work/o.json 2>/dev/null
  ticks=$(getconf CLK_TCK); read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); cpu=(int(sys.argv[3])+int(sys.argv[4]))/int(sys.argv[5]); print(f'round {sys.argv[6]} {sys.argv[2]:12} samples/s {d[\"samples_per_second\"]:9.0f}  server cpu {cpu:5.2f}s  samples/cpu-s {d[\"samples_acked\"]/cpu:9.0f}  peak RSS {int(sys.argv[7])//1024} MiB  errors {d[\"errors\"]}')" $work/o.json $mode $ut $st $ticks $round $rss
  kill -TERM $pid; wait $pid
done; done
