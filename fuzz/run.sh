#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on its committed seed corpus. Any crash
# fails the script; libFuzzer leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
for target in http1_parse remote_write_decode otlp_decode influx_parse graphite_parse opentsdb_parse datadog_parse newrelic_parse scrape_exposition dns_reply kubernetes_objects vm_native_parse csv_import_parse json_lines_parse promql_parse wal_record_decode xor_chunk_iterate start_time_chunks_iterate float_histogram_chunk_iterate block_index_read cloud_sd_answers more_sd_answers rules_and_templates graphite_render request_params zstd_stream; do
  # Work on a copy so the committed seed corpus stays small.
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$target/." "$work/"
  echo "fuzzing $target for ${seconds}s"
  log="$work.log"
  if ! cargo fuzz run -O "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    # Show the panic message, the input (base64) and the artifact path, not just "deadly signal".
    grep -E -A3 "panicked at|^Base64:|artifact_prefix|ERROR: libFuzzer|^error(\[|:)" "$log" | head -40
    echo "fuzz target $target failed; full log above was $log" >&2
    exit 1
  fi
  grep -E "^(Done|INFO: -max_total_time)" "$log" | tail -1
  rm -rf "$work" "$log"
  # Each instrumented binary is about 100 MB; CI disks are small (see .ci/run), so one
  # target's binary is let go before the next is linked (a later run links it again).
  built="${CARGO_TARGET_DIR:-fuzz/target}/x86_64-unknown-linux-gnu/release"
  rm -f "$built/$target" "$built/deps/$target"-*
done
