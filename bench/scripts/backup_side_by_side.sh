#!/usr/bin/env bash
# Backing up and restoring with VictoriaMetrics' own tools, side by side: SERIES series x
# SAMPLES samples 15 s apart (default 10,000 x 2,000, about 8 h ending an hour ago; even series
# counters, odd ones gauges), imported as VictoriaMetrics JSON lines into a fresh Metricstor
# (admin API on) and a fresh VictoriaMetrics 1.79. Then for each: `vmbackup
# -snapshot.createURL=…/snapshot/create -dst=fs://…` (wall time, backup size), a second
# vmbackup into the same destination after one more minute of samples (wall time, bytes it
# uploaded), the server stopped, `vmrestore` into an empty directory (wall time), and a server
# started on the restored directory: the samples it exports against those written.
# usage: bash bench/scripts/backup_side_by_side.sh [METRICSTOR_BIN]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${1:-target/release/metricstor}
series=${SERIES:-10000} samples=${SAMPLES:-2000}
work=$(mktemp -d)
trap stop_started EXIT
# The samples of job="bench" $1 answers (count_over_time over all of them, uncached).
exported() {
  curl -gs "$1/api/v1/query?nocache=1&time=$(( end_s + 120 ))" --data-urlencode 'query=sum(count_over_time({job="bench"}[12h]))' \
    | python3 -c 'import sys,json; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
end_s=$(( $(date +%s) - 3600 ))
seconds_since() { echo "$(date +%s.%N) - $1" | bc; }

# $1: series, $2: samples per series, $3: end (Unix seconds) of the last sample.
history() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, random, sys
n_series, n_samples, end_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(79)
start = end_s * 1000 - (n_samples - 1) * 15000
for i in range(n_series):
    ts = [start + k * 15000 for k in range(n_samples)]
    vals, v = [], 0 if i % 2 == 0 else 50.0
    for _ in range(n_samples):
        v = v + random.randint(0, 40) if i % 2 == 0 else round(v + random.uniform(-1, 1), 3)
        vals.append(v)
    name = "bench_metric_" + ("total" if i % 2 == 0 else "gauge")
    sys.stdout.write(json.dumps({"metric": {"__name__": name, "series": str(i), "job": "bench"}, "values": vals, "timestamps": ts}, separators=(",", ":")) + "\n")
PY
}
history "$series" "$samples" "$end_s" > "$work/history.jsonl"
# One more minute of every series, for the incremental backup.
history "$series" 4 "$(( end_s + 60 ))" > "$work/later.jsonl"
written=$(( series * samples + series * 4 ))

# Starts $1 (metricstor or victoriametrics) on data dir $2 at a free port; sets `pid` and
# `base` (not in a subshell, so that `pids` keeps it for the exit trap).
start() {
  local port; port=$(free_port)
  if [ "$1" = metricstor ]; then
    printf 'server:\n  http_addr: 127.0.0.1:%s\n  grpc_addr: 127.0.0.1:0\n  enable_admin_api: true\nstorage:\n  data_dir: %s\n' "$port" "$2" > "$2.yaml"
    "$bin" --config "$2.yaml" > "$2.log" 2>&1 &
    pid=$!; pids+=("$pid"); base=http://127.0.0.1:$port; wait_ready "$base/-/ready"
  else
    victoria-metrics -storageDataPath="$2" -httpListenAddr="127.0.0.1:$port" -retentionPeriod=100y > "$2.log" 2>&1 &
    pid=$!; pids+=("$pid"); base=http://127.0.0.1:$port; wait_ready "$base/health"
  fi
}
settle() {  # VictoriaMetrics makes imported rows searchable (and snapshots them) after a flush.
  [ "$1" = victoriametrics ] && curl -sf "$2/internal/force_flush" || true
  for _ in $(seq 1 100); do [ "$(exported "$2")" = "$3" ] && return 0; sleep 0.2; done
  echo "$1 holds $(exported "$2") samples, not $3" >&2; exit 1
}
backup() {  # $1: system, $2: data dir, $3: base URL, $4: destination; prints "seconds uploaded-bytes"
  local t0 log
  t0=$(date +%s.%N); log=$(mktemp)
  vmbackup -storageDataPath="$2" -snapshot.createURL="$3/snapshot/create" -dst="fs://$4" -httpListenAddr="127.0.0.1:$(free_port)" > "$log" 2>&1 \
    || { cat "$log" >&2; exit 1; }
  echo "$(seconds_since "$t0") $(sed -n 's/.*; uploaded \([0-9]*\) bytes.*/\1/p' "$log" | tail -1)"
}

printf '%-16s %12s %10s %14s %16s %12s %10s %s\n' system data_MiB backup_s backup_MiB incremental_s uploaded_KiB restore_s "exported/written"
for system in metricstor victoriametrics; do
  mkdir -p "$work/data" "$work/backups"
  start $system "$work/data/$system"
  curl -sf -T "$work/history.jsonl" "$base/api/v1/import"
  settle $system "$base" $(( series * samples ))
  read -r full_s _ <<< "$(backup $system "$work/data/$system" "$base" "$work/backups/$system")"
  [ -n "$full_s" ] || exit 1
  backup_mib=$(( $(du -sk "$work/backups/$system" | cut -f1) / 1024 ))
  curl -sf -T "$work/later.jsonl" "$base/api/v1/import"
  settle $system "$base" "$written"
  read -r incremental_s uploaded <<< "$(backup $system "$work/data/$system" "$base" "$work/backups/$system")"
  data_mib=$(( $(du -sk --exclude=snapshots "$work/data/$system" | cut -f1) / 1024 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
  t0=$(date +%s.%N)
  vmrestore -src="fs://$work/backups/$system" -storageDataPath="$work/data/$system-restored" -httpListenAddr="127.0.0.1:$(free_port)" > "$work/$system-restore.log" 2>&1 \
    || { cat "$work/$system-restore.log" >&2; exit 1; }
  restore_s=$(seconds_since "$t0")
  start $system "$work/data/$system-restored"
  printf '%-16s %12d %10.2f %14d %16.2f %12d %10.2f %s/%s\n' $system "$data_mib" "$full_s" "$backup_mib" "$incremental_s" $(( ${uploaded:-0} / 1024 )) "$restore_s" "$(exported "$base")" "$written"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
