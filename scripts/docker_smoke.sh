#!/usr/bin/env bash
# Builds the Dockerfile with ../shared/tools/container_smoke.sh, runs the image, calls /rank
# with valid and invalid payloads (scripts/container_checks.py) and runs a short benchmark
# against the container. container_smoke.sh exits 2 when the container engine itself cannot
# be set up on this machine: that is a loud warning, not a failure; anything else non-zero is.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE_SCRIPT:-$ROOT/../shared/tools/container_smoke.sh}
PY=${PY:-$ROOT/.venv/bin/python}

if [[ ! -f $SMOKE ]]; then
  echo "docker-smoke: $SMOKE not found" >&2
  exit 1
fi

checks="python3 '$ROOT/scripts/container_checks.py'"
if [[ -x $PY ]]; then
  checks+=" && '$PY' '$ROOT/benchmark.py' --url \"\$SMOKE_BASE_URL\" --requests 300 --concurrency 8 --no-progress --data '$ROOT/data/posts.csv'"
fi

# a free host port, so a local server on 8000 does not collide with the container
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

start=$(date +%s)
bash "$SMOKE" --tag feedrank:smoke --host-port "$port" "$ROOT" -- bash -c "$checks"
rc=$?
echo "docker-smoke: container_smoke.sh exited $rc after $(( $(date +%s) - start )) s"

if [[ $rc -eq 2 ]]; then
  cat >&2 <<'WARN'
################################################################################
# WARNING: docker-smoke SKIPPED - the container engine could not be set up on   #
# this machine (container_smoke.sh exit 2). The image was NOT built or tested.  #
################################################################################
WARN
  exit 0
fi
exit "$rc"
