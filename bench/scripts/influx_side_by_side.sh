#!/usr/bin/env bash
# InfluxDB line protocol ingestion, Metricstor beside VictoriaMetrics 1.79 (Debian's
# `victoria-metrics`): the same 5 bodies (20,000 Telegraf-like `cpu` lines of 10 fields each,
# 500 hosts x 40 cpus: 200,000 series, 1,000,000 samples in all, 10 s apart) are POSTed to
# `/write` of each, one after the other, LINES lines per request (default 1000, Telegraf's
# default metric_batch_size); prints each server's CPU ticks (1/100 s) and wall time for the
# posts, RSS after, and the series and samples each then exports.
# Usage: [LINES=N] bash bench/scripts/influx_side_by_side.sh [METRICSTOR_BINARY]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/metricstor}"
work=$(mktemp -d /tmp/influx-side-by-side.XXXXXX)
trap 'kill $mpid $vpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import random, sys, time
random.seed(3)
base = (int(time.time()) - 3600) * 10**9
names = ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "nice", "guest_nice")
for b in range(5):
    with open(f"{sys.argv[1]}/body{b}.txt", "w") as f:
        for i in range(20000):
            fields = ",".join(f"usage_{k}={random.random() * 100:.3f}" for k in names)
            f.write(f"cpu,host=host-{i % 500},cpu=cpu{i // 500},dc=eu-west-1 {fields} {base + b * 10 * 10**9}\n")
PY
mport=$(free_port); gport=$(free_port); vport=$(free_port)
printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\n  max_body_bytes: 67108864\nstorage:\n  data_dir: %s/ms\n' "$mport" "$gport" "$work" > "$work/cfg.yaml"
"$bin" --config "$work/cfg.yaml" > "$work/ms.log" 2>&1 & mpid=$!
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$vport -retentionPeriod=100y > "$work/vm.log" 2>&1 & vpid=$!
for _ in $(seq 300); do
  curl -s "127.0.0.1:$mport/-/ready" >/dev/null && curl -s "127.0.0.1:$vport/health" >/dev/null && break
  sleep 0.1
done
for who in "metricstor:$mport:$mpid" "victoriametrics:$vport:$vpid"; do
  IFS=: read -r name port pid <<< "$who"
  t0=$(awk '{print $14+$15}' /proc/$pid/stat); s0=$(date +%s.%N)
  python3 - "$work" "$port" "${LINES:-1000}" <<'PY'
import http.client, sys
work, port, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
for b in range(5):
    lines = open(f"{work}/body{b}.txt", "rb").read().splitlines(keepends=True)
    for i in range(0, len(lines), per):
        conn.request("POST", "/write", b"".join(lines[i:i + per]))
        reply = conn.getresponse()
        reply.read()
        if reply.status != 204:
            sys.exit(f"port {port}: {reply.status}")
PY
  t1=$(awk '{print $14+$15}' /proc/$pid/stat); s1=$(date +%s.%N)
  echo "$name: server cpu ticks $((t1 - t0)), wall $(python3 -c "print(round($s1 - $s0, 2))") s, rss after $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB"
done
curl -s "127.0.0.1:$vport/internal/force_flush" >/dev/null; sleep 2
for who in "metricstor:$mport" "victoriametrics:$vport"; do
  IFS=: read -r name port <<< "$who"
  curl -gs "http://127.0.0.1:$port/api/v1/export?match[]={__name__=~\"cpu_usage_.*\"}" | python3 -c "
import json, sys
series = samples = 0
for line in sys.stdin:
    if line.strip():
        series += 1
        samples += len(json.loads(line)['values'])
print('$name: exported', series, 'series,', samples, 'samples')"
done
