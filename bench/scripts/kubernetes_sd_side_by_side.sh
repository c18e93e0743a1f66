#!/usr/bin/env bash
# Kubernetes service discovery, Metricstor beside VictoriaMetrics 1.79 (Debian's Prometheus
# 2.42 is built without kubernetes_sd_configs, so it cannot take part), one after the other
# against one fake API server (Python, on loopback): PODS pods (default
# 10,000; two containers each, one with a port, so two targets per pod) listed in pages of
# 500, then a watch that sends RATE `MODIFIED` events per second (default 20) for as long
# as it is open (with FLIP=1 each event also flips the pod's Ready condition, so its targets'
# labels change, as container restarts and readiness probes change them in a real cluster;
# without, only the resource version changes). The job's relabeling drops every target, so what is measured is discovery
# and target relabeling alone, not scraping. Each server starts on an empty data directory,
# gets WARMUP seconds (default 20) to list, then its CPU time is measured over RUN seconds
# (default 60) of watch events. Printed per server: server CPU seconds in the run, peak
# RSS and RSS at the end, and the dropped targets its /api/v1/targets lists (VictoriaMetrics lists at most
# 1,000 by default).
# With KEEP=1 every target is kept instead (each its own instance, scraped hourly at a closed
# loopback port): discovery with 20,000 active targets.
# Usage: [PODS=N] [RATE=N] [RUN=S] [FLIP=1] [KEEP=1] bash bench/scripts/kubernetes_sd_side_by_side.sh [METRICSTOR_BINARY]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin="${1:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/metricstor}"
pods=${PODS:-10000} rate=${RATE:-20} warmup=${WARMUP:-20} run=${RUN:-60} flip=${FLIP:-0} keep=${KEEP:-0}
work=$(mktemp -d /tmp/kubernetes-sd-side-by-side.XXXXXX)
apid= spid=
trap 'kill $apid $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
aport=$(free_port)
python3 - "$aport" "$pods" "$rate" "$flip" > "$work/api.log" 2>&1 <<'PY' & apid=$!
import json, random, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
port, pods, rate, flip = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
version = [pods]
def pod(i, v):
    ready = "False" if flip and v % 2 else "True"
    return {"metadata": {"name": f"pod-{i}", "namespace": f"ns-{i % 20}", "uid": f"u{i}", "resourceVersion": str(v),
                         "labels": {"app": f"app-{i % 50}", "pod-template-hash": "abc"},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9100"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"rs-{i % 50}", "controller": True}]},
            "spec": {"nodeName": f"node-{i % 100}", "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]}, {"name": "sidecar", "image": "s:1"}]},
            "status": {"podIP": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "hostIP": "10.0.0.1", "phase": "Running",
                       "conditions": [{"type": "Ready", "status": ready}], "containerStatuses": [{"name": "app", "containerID": f"containerd://{i:064x}"}]}}
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        if "watch" in query:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                time.sleep(1.0 / rate)
                version[0] += 1
                line = json.dumps({"type": "MODIFIED", "object": pod(random.randrange(pods), version[0])}) + "\n"
                try:
                    self.wfile.write(f"{len(line):x}\r\n{line}\r\n".encode())
                    self.wfile.flush()
                except OSError:
                    return
        limit = int(query.get("limit", [str(pods)])[0])
        offset = int(query.get("continue", ["0"])[0] or 0)
        items = [pod(i, i + 1) for i in range(offset, min(pods, offset + limit))]
        body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(pods), "continue": str(offset + limit) if offset + limit < pods else ""}, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
if [ "$keep" = 1 ]; then
  # Every target kept, each its own instance, all pointed at a closed loopback port and
  # scraped once an hour: 20,000 active targets whose scrapes fail at once.
  printf 'global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\nscrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs: [{role: pod, api_server: "http://127.0.0.1:%s"}]\n  relabel_configs:\n  - {source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_name], separator: /, target_label: instance}\n  - {target_label: __address__, replacement: "127.0.0.1:9"}\n' "$aport" > "$work/prometheus.yml"
else
  printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: k8s\n  kubernetes_sd_configs: [{role: pod, api_server: "http://127.0.0.1:%s"}]\n  relabel_configs:\n  - {source_labels: [__meta_kubernetes_pod_name], regex: ".+", action: drop}\n' "$aport" > "$work/prometheus.yml"
fi
for _ in $(seq 100); do curl -s "127.0.0.1:$aport/api/v1/pods?limit=1" >/dev/null && break; sleep 0.1; done
printf '%s pods (%s targets), %s watch events/s (Ready flipped: %s, targets kept: %s); CPU over %s s after %s s to list (%s cores here)\n' "$pods" "$((pods * 2))" "$rate" "$flip" "$keep" "$run" "$warmup" "$(nproc)"
for name in metricstor victoriametrics; do
  port=$(free_port)
  case $name in
    metricstor)
      printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:%s\nstorage:\n  data_dir: %s/ms\nscrape:\n  config_file: %s/prometheus.yml\n' "$port" "$(free_port)" "$work" "$work" > "$work/ms.yaml"
      "$bin" --config "$work/ms.yaml" > "$work/metricstor.log" 2>&1 & spid=$! ;;
    victoriametrics)
      victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$port -promscrape.config="$work/prometheus.yml" > "$work/victoriametrics.log" 2>&1 & spid=$! ;;
  esac
  for _ in $(seq 300); do curl -sf "127.0.0.1:$port/api/v1/query?query=1" >/dev/null && break; sleep 0.1; done
  sleep "$warmup"
  if ! kill -0 "$spid" 2>/dev/null; then
    printf '%-16s exited during the warm-up; its log ends:\n' "$name"; tail -n 5 "$work/$name.log"; spid=; continue
  fi
  t0=$(awk '{print $14+$15}' /proc/$spid/stat)
  sleep "$run"
  t1=$(awk '{print $14+$15}' /proc/$spid/stat)
  peak=$(( $(awk '/VmHWM/ {print $2}' /proc/$spid/status) / 1024 ))
  now=$(( $(awk '/VmRSS/ {print $2}' /proc/$spid/status) / 1024 ))
  listed=$(curl -s "127.0.0.1:$port/api/v1/targets" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d["activeTargets"]), len(d["droppedTargets"]))' 2>/dev/null || echo "? ?")
  active=${listed% *} dropped=${listed#* }
  cpu=$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))")
  printf '%-16s server CPU %6.2f s in %s s  peak RSS %4d MiB (at the end %4d)  targets listed: %s active, %s dropped\n' "$name" "$cpu" "$run" "$peak" "$now" "$active" "$dropped"
  kill $spid; wait $spid 2>/dev/null || true; spid=
done
