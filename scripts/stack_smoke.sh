#!/usr/bin/env bash
# `make stack-smoke`: the topology of deploy/compose.yaml, built and run from a clean clone of
# this repository's HEAD (the images train the model and generate the data themselves):
#   1. build every image and start the compose project (its own name, the front door on a free
#      port of 127.0.0.1)
#   2. wait until the materialize service has filled Redis and HAProxy has both replicas up
#   3. through the front door (scripts/stack_checks.py): /ready, then /rank/ids on the first 20
#      posts of the generated CSV must score each post within 1e-12 of /rank given its fields;
#      an unknown id is 422; a body over the limit is the proxy's 413 with the error body
#   4. take the project down (containers, network, volumes) on every exit path
# Runs with `docker compose` or Debian's `docker-compose`. Needs a running Docker engine.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
READY_WAIT_S=${READY_WAIT_S:-300}
PROJECT=feedrank-smoke-$$

CHECK_NAME=stack-smoke
source "$ROOT/scripts/smoke_common.sh"
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  fail "neither \`docker compose\` nor \`docker-compose\` is installed (Debian: apt-get install docker-compose)"
fi

work=$(mktemp -d)
project=()
cleanup() {
  local rc=$?
  if [[ ${#project[@]} -gt 0 ]]; then
    if [[ $rc -ne 0 ]]; then
      say "last log lines of each container:" >&2
      "${project[@]}" logs --tail 15 2>&1 | sed 's/^/    | /' >&2 || true
    fi
    "${project[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  if [[ $rc -eq 0 ]]; then say "RESULT: OK"; else say "RESULT: FAILED (exit $rc)" >&2; fi
}
trap cleanup EXIT

git clone --quiet "$ROOT" "$work/clone"
say "clean clone of $(git -C "$work/clone" rev-parse --short HEAD) (${compose[*]})"
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export STACK_PORT=${STACK_PORT:-$(free_port)} STACK_MONITOR_PORT=${STACK_MONITOR_PORT:-$(free_port)}
project=("${compose[@]}" -f "$work/clone/deploy/compose.yaml" -p "$PROJECT")

build_start=$(date +%s)
"${project[@]}" build
say "build time: $(($(date +%s) - build_start)) s"
"${project[@]}" up --detach
front=http://127.0.0.1:$STACK_PORT

# `up` returns once the store is filled (the feature server waits for the materialize service to
# exit 0); ready: HAProxy has both replicas up and the front door answers
deadline=$(($(date +%s) + READY_WAIT_S))
until [[ $(curl -fsS "http://127.0.0.1:$STACK_MONITOR_PORT/stats;csv" 2>/dev/null \
  | awk -F, '$1 == "replicas" && $2 ~ /^replica-/ && $18 == "UP"' | wc -l) -eq 2 ]] \
  && curl -fsS "$front/ready" >/dev/null 2>&1; do
  (($(date +%s) < deadline)) || fail "the front door not ready after $READY_WAIT_S s"
  sleep 2
done
say "ready: $front (HAProxy statistics: http://127.0.0.1:$STACK_MONITOR_PORT/stats)"

(cd "$work/clone" && mkdir -p data && "$PY" generate_dataset.py >/dev/null)
(cd "$ROOT" && "$PY" -m scripts.stack_checks --url "$front" --csv "$work/clone/data/posts.csv")
