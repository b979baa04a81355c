# feedrank feature server: Feast's own `feast serve` on feature_repo/, the store /rank/ids reads.
#   docker build -f deploy/feature-server.Dockerfile -t feedrank-feature-server .
#   docker run -p 6566:6566 feedrank-feature-server
#
# The build installs the feature-server set (requirements/feature-server.txt: Feast with Redis
# support, which brings pandas, NumPy and PyArrow), generates the canonical dataset with the
# verbatim generate_dataset.py, then registers the definitions and materializes every post into
# the embedded SQLite online store (python -m features.feature_store). The image therefore
# serves without a pipeline run, and holds the CSV that any online store is filled from.
#
# Redis instead of SQLite: the same image, given the Redis config and its address.
#   fill it once:  docker run --rm -e FEEDRANK_REDIS_ADDRESS=redis:6379 feedrank-feature-server \
#                    python -m features.feature_store --config feature_repo/feature_store.redis.yaml
#   serve from it: docker run -e FEEDRANK_REDIS_ADDRESS=redis:6379 feedrank-feature-server \
#                    feast -c feature_repo -f feature_repo/feature_store.redis.yaml serve \
#                    --host 0.0.0.0 --port 6566 --no-access-log
# The fill rewrites the offline source and the registry under /app/data (the container's own
# layer), so it runs without --read-only. The server only reads them, and runs read-only given a
# tmpfs /tmp (`docker run --read-only --tmpfs /tmp ...`): importing Feast creates a temporary
# directory for its metrics, and gunicorn's control socket goes there too.
#
# Base image: as in the Dockerfile (pinned by digest; PYTHON_IMAGE=python:3.11-slim-bookworm
# for a mirror that serves plain tags only).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM ${PYTHON_IMAGE}

# XDG_RUNTIME_DIR: where gunicorn, which `feast serve` runs, puts its control socket (else in
# $HOME, which the image's user has not)
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_RUNTIME_DIR=/tmp

RUN groupadd --system --gid 10001 feedrank \
    && useradd --system --uid 10001 --gid feedrank --no-create-home --shell /usr/sbin/nologin feedrank

WORKDIR /app
COPY requirements/feature-server.txt /tmp/
RUN python -m pip install -r /tmp/feature-server.txt && rm /tmp/feature-server.txt

# What features.feature_store imports, the generator and the repository's configs
COPY generate_dataset.py ./
COPY features/ features/
COPY feature_repo/ feature_repo/
RUN mkdir data && chown feedrank:feedrank data

USER feedrank
RUN python generate_dataset.py && python -m features.feature_store

EXPOSE 6566
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:6566/health', timeout=2).status != 200)"]
CMD ["feast", "-c", "feature_repo", "serve", "--host", "0.0.0.0", "--port", "6566", "--no-access-log"]
