#!/usr/bin/env bash
# Datadog agent series, Metricstor beside VictoriaMetrics 1.79 (Debian's `victoria-metrics`):
# REQUESTS (default 200) v1 JSON bodies of 5,000 series x 1 point (agent-like: host, device,
# five tags), deflate-compressed as the agent sends them, POSTed one after another over one
# keep-alive connection to `/datadog/api/v1/series` of each. Prints wall time, server CPU
# seconds (utime+stime of the process over the load), peak RSS and the samples an export
# counts afterwards (VictoriaMetrics flushed first).
# Usage: [REQUESTS=N] bash bench/scripts/datadog_side_by_side.sh [METRICSTOR_BINARY]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/metricstor}"
requests=${REQUESTS:-200}
work=$(mktemp -d /tmp/datadog-side-by-side.XXXXXX)
mpid= vpid=
trap 'kill $mpid $vpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mport=$(free_port); mgrpc=$(free_port); vport=$(free_port)
printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\n' "$mport" "$mgrpc" "$work" > "$work/cfg.yaml"
"$bin" --config "$work/cfg.yaml" > "$work/ms.log" 2>&1 & mpid=$!
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$vport -retentionPeriod=100y > "$work/vm.log" 2>&1 & vpid=$!
for _ in $(seq 300); do
  curl -s "127.0.0.1:$mport/-/ready" >/dev/null && curl -s "127.0.0.1:$vport/health" >/dev/null && break
  sleep 0.1
done
python3 - "$work" "$requests" <<'PY'
import json, random, sys, time, zlib
random.seed(7)
work, n = sys.argv[1], int(sys.argv[2])
base = int(time.time()) - 600
with open(f"{work}/bodies", "wb") as f:
    for r in range(n):
        series = [{"metric": f"ddbench.system.m{i % 50}", "host": f"host-{(r * 5000 + i) // 50 % 2000}", "device": f"sd{i % 4}", "type": "gauge",
                   "points": [[base + r, random.random() * 100]], "tags": [f"env:e{i % 3}", f"role:r{i % 7}", f"az:z{i % 5}", "team:core", f"svc:s{i % 11}"]}
                  for i in range(5000)]
        body = zlib.compress(json.dumps({"series": series}).encode())
        f.write(len(body).to_bytes(4, "little") + body)
PY
total=$((requests * 5000))
for who in "metricstor:$mport:$mpid" "victoriametrics:$vport:$vpid"; do
  IFS=: read -r name port pid <<< "$who"
  t0=$(awk '{print $14+$15}' /proc/$pid/stat); s0=$(date +%s.%N)
  python3 - "$work/bodies" "$port" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
at = 0
while at < len(data):
    size = int.from_bytes(data[at:at + 4], "little"); body = data[at + 4:at + 4 + size]; at += 4 + size
    conn.request("POST", "/datadog/api/v1/series", body, {"Content-Type": "application/json", "Content-Encoding": "deflate"})
    reply = conn.getresponse(); reply.read()
    if reply.status != 202:
        sys.exit(f"status {reply.status}")
PY
  s1=$(date +%s.%N); t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  [ $name = victoriametrics ] && curl -s "127.0.0.1:$port/internal/force_flush" >/dev/null && sleep 1
  counted=$(curl -gs "http://127.0.0.1:$port/api/v1/export" --data-urlencode 'match[]={__name__=~"ddbench.*"}' --data-urlencode "start=-1h" \
    | python3 -c 'import json,sys; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))')
  printf '%-16s wall %6.2f s  server CPU %6.2f s  peak RSS %4d MiB  samples counted %s of %s\n' "$name" \
    "$(python3 -c "print($s1 - $s0)")" "$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))")" \
    "$(( $(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024 ))" "$counted" "$total"
done
