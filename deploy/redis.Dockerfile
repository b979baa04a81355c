# The topology's online store: Debian bookworm's redis-server (7.0), the package `make stack`
# runs. The materialize service of deploy/compose.yaml fills it; its snapshot in /data (a volume,
# written when Redis stops) brings the posts back when it starts again. Same base as
# deploy/proxy.Dockerfile, for the same reason.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM ${PYTHON_IMAGE}

RUN apt-get update \
    && apt-get install --yes --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data

# Debian's package creates the redis user. Reachable from the compose network only (the port is
# not published), so protected mode, which refuses any non-loopback client, is off.
USER redis
EXPOSE 6379
HEALTHCHECK --interval=2s --timeout=2s --retries=15 CMD ["redis-cli", "ping"]
VOLUME /data
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
