#!/usr/bin/env bash
# Builds the Dockerfile with ../shared/tools/container_smoke.sh and runs the image the way it
# should run in production: read-only root filesystem, all capabilities dropped, no privilege
# escalation, no writable mount. Against that container, on the host:
#   1. scripts/container_checks.py   valid and invalid payloads to /rank, /ready, /model, /metrics
#   2. benchmark.py                  a short benchmark (300 requests per phase, concurrency 8)
#   3. benchmark.py --duration       a soak: SOAK_SECONDS (default 60) at concurrency 32, zero
#                                    errors and flat RSS
#   4. scripts/container_hardening.py  non-root, read-only, no build tools or data, HEALTHCHECK
#                                    healthy, graceful `docker stop` with exit code 0
# container_smoke.sh exits 2 when the container engine itself cannot be set up on this
# machine: that is a loud warning, not a failure; anything else non-zero is.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE_SCRIPT:-$ROOT/../shared/tools/container_smoke.sh}
PY=${PY:-$ROOT/.venv/bin/python}
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-32}

if [[ ! -f $SMOKE ]]; then
  echo "docker-smoke: $SMOKE not found" >&2
  exit 1
fi

checks="python3 '$ROOT/scripts/container_checks.py'"
if [[ -x $PY ]]; then
  data="--no-progress --data '$ROOT/data/posts.csv'"
  checks+=" && '$PY' '$ROOT/benchmark.py' --url \"\$SMOKE_BASE_URL\" --requests 300 --concurrency 8 $data"
  checks+=" && '$PY' '$ROOT/benchmark.py' --url \"\$SMOKE_BASE_URL\" --duration $SOAK_SECONDS --concurrency $SOAK_CONCURRENCY --warmup 200 $data"
else
  echo "docker-smoke: $PY not found: skipping the benchmark and the soak (run make install)" >&2
fi
checks+=" && python3 '$ROOT/scripts/container_hardening.py'"

# a free host port, so a local server on 8000 does not collide with the container
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

start=$(date +%s)
bash "$SMOKE" --tag feedrank:smoke --host-port "$port" \
  --run-arg --read-only --run-arg --cap-drop=ALL --run-arg --security-opt=no-new-privileges \
  "$ROOT" -- bash -c "$checks"
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
