# feedrank ranking service: `docker build -t feedrank .` then `docker run -p 8000:8000 feedrank`.
#
# Stage "train" installs the train set (requirements/train.txt), regenerates the canonical dataset
# and refits the configuration the pipeline selected, as recorded in reports/metrics/training.json
# (data/ and models/ are gitignored, so a fresh clone has neither); the build fails unless the
# model's version is the recorded one. Stage "serve" keeps only the serve set
# (requirements/serve.txt), the code serving imports and the trained bundle: it scores with the
# bundle's scoring.json (NumPy only), so it carries no scikit-learn, SciPy or LightGBM, and no
# Feast: /rank/ids reads posts from the feature server, a separate image
# (deploy/feature-server.Dockerfile).
#
# The base image is pinned by digest (the tag's manifest list: amd64 and arm64). A mirror or
# registry stand-in that serves plain tags only can still build it:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm -t feedrank .
# To move to a newer base: docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---------------------------------------------------------------------------------- train --
FROM ${PYTHON_IMAGE} AS train

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# LightGBM's wheel links the system OpenMP runtime.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY requirements/train.txt requirements/
RUN python -m pip install uv==0.13.8 \
    && python -m uv pip install --system --no-cache -r requirements/train.txt

COPY generate_dataset.py ./
COPY features/ features/
COPY bundle/ bundle/
COPY training/ training/
COPY scripts/check_dataset.py scripts/container_train.py scripts/
COPY reports/metrics/training.json reports/metrics/
# generate, validate (schema, row count: a truncated CSV stops the build here), refit the
# recorded configuration
RUN mkdir -p data \
    && python generate_dataset.py \
    && python -m scripts.check_dataset data/posts.csv \
    && python -m scripts.container_train --model-dir models

# ---------------------------------------------------------------------------------- serve --
FROM ${PYTHON_IMAGE} AS serve

# One OpenBLAS thread: a request multiplies a 20-row matrix, and a thread pool only adds memory.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEEDRANK_MODEL_DIR=/app/models \
    OPENBLAS_NUM_THREADS=1

# no apt packages: nothing in requirements/serve.txt links a system library
RUN groupadd --system --gid 10001 feedrank \
    && useradd --system --uid 10001 --gid feedrank --no-create-home --shell /usr/sbin/nologin feedrank

WORKDIR /app
COPY requirements/serve.txt /tmp/
RUN python -m pip install --no-compile -r /tmp/serve.txt && rm /tmp/serve.txt

# Only what `serving` imports: the feature code, the model bundle package, the service. The
# bundle keeps its pickle, whose checksum start-up verifies, but the service reads scoring.json.
COPY features/ features/
COPY bundle/ bundle/
COPY serving/ serving/
COPY --from=train /build/models/ models/

# Non-root, and nothing is written at run time: the image runs with
# `docker run --read-only --cap-drop ALL` (make docker-smoke checks it).
USER feedrank
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]

# One uvicorn process per container: scale with containers (SERVING.md, "Horizontal scaling").
# On SIGTERM it stops accepting and gives requests in flight FEEDRANK_SHUTDOWN_TIMEOUT (8 s),
# inside `docker stop`'s default 10 s; then exit status 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "serving", "--host", "0.0.0.0", "--port", "8000"]
