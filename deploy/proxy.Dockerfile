# feedrank's edge proxy: Debian bookworm's HAProxy (2.6) with deploy/haproxy.cfg, the same
# package and file `make stack` runs. deploy/compose.yaml builds it with deploy/ as the context.
#
# The base is the service's own (Dockerfile): Debian bookworm, pinned by digest, the one image
# every part of the topology builds from. Its Python goes unused here; what matters is that the
# proxy's HAProxy is Debian's, configured by the same file everywhere, and that no second base
# image has to be pulled or pinned. PYTHON_IMAGE=python:3.11-slim-bookworm builds it from a
# mirror that serves plain tags only.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM ${PYTHON_IMAGE}

RUN apt-get update \
    && apt-get install --yes --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/*

COPY haproxy.cfg /etc/haproxy/feedrank/haproxy.cfg
COPY errors/ /etc/haproxy/feedrank/errors/

# The addresses deploy/haproxy.cfg expands; compose.yaml gives the replicas'
ENV FEEDRANK_PROXY_BIND=:8080 \
    FEEDRANK_PROXY_MONITOR=:8404

# Debian's package creates the haproxy user; the ports are above 1024 and nothing is written
USER haproxy
EXPOSE 8080 8404

HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8404/stats', timeout=2).status != 200)"]

# SIGUSR1 is HAProxy's soft stop: it stops accepting and lets requests in flight finish
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-db", "-f", "/etc/haproxy/feedrank/haproxy.cfg"]
