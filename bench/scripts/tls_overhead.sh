#!/usr/bin/env bash
# Issue 6's transport benchmark: the same remote_write load (50k series x 10 samples, 4
# connections) over plaintext HTTP/1.1, plaintext HTTP/2 (h2c), mutual TLS HTTP/1.1 and
# mutual TLS HTTP/2 (ALPN), each on a fresh release server, alternating, ROUNDS times; prints
# samples/s, server CPU seconds and samples per server CPU-second. Certificates come from
# `metricstor certs`. Only the PIDs this script started are signalled.
# Usage: bench/scripts/tls_overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p metricstor -p metricstor-bench
bin=$target_dir/release/metricstor; bench=$target_dir/release/metricstor-bench
work=$(mktemp -d); $bin certs --out $work/pki --client bench >/dev/null
for round in $(seq 1 "$rounds"); do
for mode in plain plain-h2 mtls mtls-h2; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf $work/data
  tls=""; scheme=http; extra=()
  case $mode in mtls*) tls=$(printf 'tls:\n  cert_file: %s/pki/server.crt\n  key_file: %s/pki/server.key\n  ca_file: %s/pki/ca.crt\n  require_client_cert: true\n' $work $work $work); scheme=https; extra=(--ca-file $work/pki/ca.crt --cert-file $work/pki/bench.crt --key-file $work/pki/bench.key);; esac
  case $mode in *h2) extra+=(--http2);; esac
  printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/data\n%s\n' $port $grpc $work "$tls" > $work/c.yaml
  $bin --config $work/c.yaml 2>$work/log & pid=$!
  for i in $(seq 1 200); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  $bench write --url $scheme://127.0.0.1:$port/api/v1/write --series 50000 --samples 10 --connections 4 "${extra[@]}" --json > $work/o.json 2>/dev/null
  ticks=$(getconf CLK_TCK); read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
  python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); cpu=(int(sys.argv[3])+int(sys.argv[4]))/int(sys.argv[5]); print(f'round {sys.argv[6]} {sys.argv[2]:9} samples/s {d[\"samples_per_second\"]:9.0f}  server cpu {cpu:5.2f}s  samples/cpu-s {d[\"samples_acked\"]/cpu:9.0f} errors {d[\"errors\"]}')" $work/o.json $mode $ut $st $ticks $round
  kill -TERM $pid; wait $pid
done; done
rm -rf $work
