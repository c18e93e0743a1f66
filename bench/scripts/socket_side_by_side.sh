#!/usr/bin/env bash
# Raw-socket ingestion, Metricstor beside VictoriaMetrics 1.79 (Debian's `victoria-metrics`):
# the same Graphite plaintext lines (SERIES series, default 200,000, x 5 samples 10 s apart),
# InfluxDB lines (SERIES/10 lines of 10 fields x 5 timestamps: the same number of samples)
# and OpenTSDB `put` lines (SERIES series x 5) are sent over one TCP connection each to
# `server.graphite_listen_addr` / `server.influx_listen_addr` / `server.opentsdb_listen_addr`
# and to `-graphiteListenAddr` / `-influxListenAddr` / `-opentsdbListenAddr`. TCP has no
# answer, so a load ends when the server's CPU time has not moved for 0.5 s: wall time and
# server CPU seconds run from the first byte until its last move. Then an export counts the
# samples stored (VictoriaMetrics flushed first). Also prints peak RSS.
# Usage: [SERIES=N] bash bench/scripts/socket_side_by_side.sh [METRICSTOR_BINARY]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/metricstor}"
series=${SERIES:-200000}
work=$(mktemp -d /tmp/socket-side-by-side.XXXXXX)
mpid= vpid=
trap 'kill $mpid $vpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$work" "$series" <<'PY'
import random, sys, time
random.seed(5)
work, n = sys.argv[1], int(sys.argv[2])
base = int(time.time()) - 600
names = ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "nice", "guest_nice")
with open(f"{work}/graphite.txt", "w") as f:
    for k in range(5):
        for i in range(n):
            f.write(f"gbench.host-{i % 1000}.cpu{i // 1000 % 20}.m{i // 20000} {random.random() * 100:.3f} {base + k * 10}\n")
with open(f"{work}/opentsdb.txt", "w") as f:
    for k in range(5):
        for i in range(n):
            f.write(f"put obench.cpu {base + k * 10} {random.random() * 100:.3f} host=host-{i % 1000} cpu=cpu{i // 1000 % 20} m=m{i // 20000}\n")
with open(f"{work}/influx.txt", "w") as f:
    for k in range(5):
        for i in range(n // 10):
            fields = ",".join(f"usage_{x}={random.random() * 100:.3f}" for x in names)
            f.write(f"ibench,host=host-{i % 1000},cpu=cpu{i // 1000} {fields} {(base + k * 10) * 10**9}\n")
PY
mport=$(free_port); mgrpc=$(free_port); mgraphite=$(free_port); minflux=$(free_port); mopentsdb=$(free_port)
vport=$(free_port); vgraphite=$(free_port); vinflux=$(free_port); vopentsdb=$(free_port)
printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\n  graphite_listen_addr: 127.0.0.1:%s\n  influx_listen_addr: 127.0.0.1:%s\n  opentsdb_listen_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\n' \
  "$mport" "$mgrpc" "$mgraphite" "$minflux" "$mopentsdb" "$work" > "$work/cfg.yaml"
"$bin" --config "$work/cfg.yaml" > "$work/ms.log" 2>&1 & mpid=$!
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$vport -graphiteListenAddr=127.0.0.1:$vgraphite \
  -influxListenAddr=127.0.0.1:$vinflux -opentsdbListenAddr=127.0.0.1:$vopentsdb -retentionPeriod=100y > "$work/vm.log" 2>&1 & vpid=$!
for _ in $(seq 300); do
  curl -s "127.0.0.1:$mport/-/ready" >/dev/null && curl -s "127.0.0.1:$vport/health" >/dev/null && break
  sleep 0.1
done
total=$((series * 5))
for who in "metricstor:$mport:$mpid:$mgraphite:$minflux:$mopentsdb" "victoriametrics:$vport:$vpid:$vgraphite:$vinflux:$vopentsdb"; do
  IFS=: read -r name port pid graphite influx opentsdb <<< "$who"
  for protocol in graphite influx opentsdb; do
    sock=$graphite; metric='gbench\\..*'
    [ $protocol = influx ] && sock=$influx && metric='ibench_.*'
    [ $protocol = opentsdb ] && sock=$opentsdb && metric='obench\\..*'
    t0=$(awk '{print $14+$15}' /proc/$pid/stat); s0=$(date +%s.%N)
    python3 - "$work/$protocol.txt" "$sock" <<'PY'
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
s.sendall(data)
s.close()
PY
    # Done when the server's CPU time stops moving for 0.5 s; then an export counts.
    last=$(awk '{print $14+$15}' /proc/$pid/stat); s1=$(date +%s.%N)
    for _ in $(seq 1200); do
      sleep 0.5
      now=$(awk '{print $14+$15}' /proc/$pid/stat)
      [ "$now" = "$last" ] && break
      last=$now; s1=$(date +%s.%N)
    done
    t1=$last
    [ $name = victoriametrics ] && curl -s "127.0.0.1:$port/internal/force_flush" >/dev/null && sleep 1
    counted=$(curl -gs "http://127.0.0.1:$port/api/v1/export" --data-urlencode "match[]={__name__=~\"$metric\"}" --data-urlencode "start=-1h" \
      | python3 -c 'import json,sys; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))')
    printf '%-16s %-8s wall %6.2f s  server CPU %6.2f s  peak RSS %4d MiB  samples counted %s of %s\n' "$name" "$protocol" \
      "$(python3 -c "print($s1 - $s0)")" "$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))")" \
      "$(( $(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024 ))" "$counted" "$total"
  done
done
