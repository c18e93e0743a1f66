# Sourced by the side-by-side scripts here: a free loopback port, readiness polled with a
# deadline, and the end of the processes a script started (by PID, listed in `pids`).

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# GETs URL until it answers 2xx; gives up after 60 s, naming it.
wait_ready() {
  for _ in $(seq 1 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "not ready: $1" >&2
  exit 1
}

# Ends each process in `pids` (TERM, then waits for it) and removes `work`; for `trap … EXIT`.
pids=()
stop_started() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "${work:-}"
}
