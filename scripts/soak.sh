#!/usr/bin/env bash
# Soak one local server process: `python -m serving` (the image's entry point) on a free port
# of 127.0.0.1 serving models/, then `benchmark.py --duration SOAK_SECONDS --concurrency
# SOAK_CONCURRENCY` (defaults 60 s and 32): it fails on any error or if the server's RSS grows
# by more than 32 MiB between warm-up and end. Then SIGTERM, and the server must exit 0.
# SOAK_JSON=path also writes the benchmark's JSON report.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-32}

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$PY" -m serving --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$log"' EXIT

for _ in $(seq 1 120); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "soak: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  "$PY" -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/ready', timeout=1)" \
    2>/dev/null && break
  sleep 0.5
done

"$PY" benchmark.py --url "http://127.0.0.1:$port" --duration "$SOAK_SECONDS" \
  --concurrency "$SOAK_CONCURRENCY" --warmup 200 --no-progress ${SOAK_JSON:+--json "$SOAK_JSON"}
soak=$?

kill -TERM "$server"
wait "$server"
stopped=$?
echo "soak: server exit status after SIGTERM: $stopped"
[[ $soak -eq 0 && $stopped -eq 0 ]]
