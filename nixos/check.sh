#!/usr/bin/env bash
# The Nix checks that run without NixOS, nixpkgs or network (nixos/README.md says what they
# cover and what only the VM test covers). Exits non-zero, naming the failure, when any fails.
#   1. every .nix file of the repository parses;
#   2. nixos/module.nix evaluates against the stub module system, and stub-eval.nix's checks
#      of the generated unit, YAML, assertions and firewall all hold;
#   3. smoke, when a built metricstor binary is around (CI's `cargo test` leaves
#      target/debug/metricstor, under $CARGO_TARGET_DIR when set; or set METRICSTOR_BIN): for plain HTTP, TLS and mTLS, the
#      rendered YAML starts the real server, and the rendered readiness script keeps polling
#      while nothing listens and succeeds once the server answers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "check.sh: installing nix-bin (Debian's Nix, for nix-instantiate)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nix-bin >/dev/null
fi
# dummy:// is a store that holds nothing: pure evaluation needs no daemon, no /nix/var
# permissions and no network, as root or not.
nix_instantiate() { nix-instantiate --store dummy:// "$@"; }
nix_eval_raw() { nix --extra-experimental-features nix-command --store dummy:// eval --raw "$@"; }

fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }

echo "== 1. parse every .nix file"
mapfile -t nix_files < <(git ls-files --cached --others --exclude-standard -- '*.nix')
[ "${#nix_files[@]}" -gt 0 ] || fail "no .nix files found"
for file in "${nix_files[@]}"; do
  nix_instantiate --parse "$file" >/dev/null || fail "$file does not parse"
  echo "ok: $file parses"
done

echo "== 2. evaluate nixos/module.nix against the stub module system"
if ! report=$(nix_instantiate --eval --strict --json nixos/stub-eval.nix 2>&1); then
  echo "$report" >&2
  fail "nixos/stub-eval.nix"
fi
# A JSON list of plain strings, one per passed check.
printf '%s\n' "$report" | sed -e 's/^\["//' -e 's/"\]$//' -e 's/","/\n/g' -e 's/\\"/"/g'

echo "== 3. smoke: rendered YAML and readiness script against the real binary"
bin=${METRICSTOR_BIN:-}
if [ -z "$bin" ]; then
  target_dir=${CARGO_TARGET_DIR:-target}
  for candidate in "$target_dir/debug/metricstor" "$target_dir/release/metricstor"; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
if [ -z "$bin" ] || ! command -v curl >/dev/null 2>&1; then
  echo "SKIP: no built metricstor binary (cargo build -p metricstor) or no curl"
  exit 0
fi
bin=$(realpath "$bin")
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The VM test's PKI script when openssl is here (it then gets exercised too), else the binary's.
if command -v openssl >/dev/null 2>&1; then
  bash nixos/tests/make-pki.sh "$work/pki"
else
  "$bin" certs --out "$work/pki" >/dev/null
fi

# Ports below the kernel's ephemeral range (32768 and up on Linux), so no outgoing connection
# of this machine can hold them, and checked free just before use. Another process can still
# take one between the check and the server's bind: that attempt is retried on new ports.
is_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
  while :; do
    http_port=$((20000 + RANDOM % 12000)) grpc_port=$((http_port + 1))
    if ! is_listening "$http_port" && ! is_listening "$grpc_port"; then return; fi
  done
}

# One smoke run of a mode on fresh ports; sets port_taken=1 when a port was taken under us.
# (Called as a plain command, not in a condition, so `set -e` stays in force inside.)
smoke_mode() {
  local mode=$1 dir=$work/$1
  port_taken=0
  pick_ports
  local args=(--file nixos/smoke.nix --argstr mode "$mode" --argstr httpPort "$http_port"
    --argstr grpcPort "$grpc_port" --argstr pki "$work/pki")
  rm -rf "$dir"
  mkdir -p "$dir/credentials" "$dir/data"
  # Stand in for systemd: copy the credentials, point the YAML at the copies and a temp data dir.
  while IFS=: read -r name path || [ -n "$name" ]; do
    if [ -n "$name" ]; then cp "$path" "$dir/credentials/$name"; fi
  done < <(nix_eval_raw "${args[@]}" credentials)
  local data_dir
  data_dir=$(nix_eval_raw "${args[@]}" dataDir)
  nix_eval_raw "${args[@]}" config \
    | sed -e "s#/run/credentials/metricstor.service#$dir/credentials#g" -e "s#\"$data_dir\"#\"$dir/data\"#g" \
    > "$dir/metricstor.yaml"
  nix_eval_raw "${args[@]}" readiness > "$dir/ready.sh"

  # Nothing listens yet: the probe must still be polling when we stop it.
  local rc=0
  timeout 3 bash "$dir/ready.sh" 2>/dev/null || rc=$?
  [ "$rc" -eq 124 ] || fail "$mode: the readiness script exited $rc with no server running (expected to keep polling)"
  echo "ok: $mode: readiness script keeps polling while nothing listens"

  RUST_LOG=warn "$bin" --config "$dir/metricstor.yaml" >"$dir/server.log" 2>&1 &
  server_pid=$!
  rc=0
  timeout 30 bash "$dir/ready.sh" || rc=$?
  if [ "$rc" -ne 0 ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if grep -q "Address already in use" "$dir/server.log"; then
      echo "note: $mode: port $http_port or $grpc_port was taken after the check; retrying on others"
      port_taken=1
      return 0
    fi
    cat "$dir/server.log" >&2
    fail "$mode: the readiness script exited $rc against a running server (config: $(cat "$dir/metricstor.yaml"))"
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; fail "$mode: the server exited"; }
  echo "ok: $mode: the server runs with the rendered YAML and the readiness script sees it ready"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

for mode in plain tls mtls; do
  for attempt in 1 2 3; do
    smoke_mode "$mode"
    [ "$port_taken" -eq 1 ] || break
    [ "$attempt" -lt 3 ] || fail "$mode: ports were taken under the server in 3 attempts"
  done
done
echo "check.sh: all checks passed"
