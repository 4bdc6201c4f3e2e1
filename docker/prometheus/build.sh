#!/usr/bin/env bash
# Builds the image `actix-cluster/prometheus:latest` (prometheus from Debian
# bookworm, with docker/prometheus/prometheus.yml) for the compose demo.
#
# Makes sure the base image exists first (docker/base/build-base.sh). If the
# Debian mirror cannot be reached from inside `docker build`, falls back to an
# image that copies the host's /usr/bin/prometheus (install it with
# `apt-get install prometheus`). Idempotent: an existing image is kept unless
# FORCE=1. Env: PROMETHEUS_IMAGE (default actix-cluster/prometheus:latest),
# PROMETHEUS_IMAGE_FROM_HOST=1 (skip apt, use the host's binary at once).
set -euo pipefail

IMAGE="${PROMETHEUS_IMAGE:-actix-cluster/prometheus:latest}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "prometheus-image: $*" >&2; }

if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE is present"
    exit 0
fi

"$here/../base/build-base.sh"

buildlog="$(mktemp /tmp/prometheus-image-build.XXXXXX)"
trap 'rm -f "$buildlog"' EXIT
if [ "${PROMETHEUS_IMAGE_FROM_HOST:-0}" = "1" ]; then
    log "PROMETHEUS_IMAGE_FROM_HOST=1: not trying apt in docker build"
else
    log "building $IMAGE from $here/Dockerfile (prometheus from Debian)"
    if docker build -q -t "$IMAGE" "$here" >"$buildlog" 2>&1; then
        log "built $IMAGE"
        exit 0
    fi
    log "docker build with apt failed (Debian mirror unreachable from builds?); last lines:"
    tail -n 5 "$buildlog" >&2 || true
fi

if [ ! -x /usr/bin/prometheus ]; then
    log "ERROR: fallback needs the host's /usr/bin/prometheus: apt-get install -y prometheus"
    exit 1
fi
log "fallback: copying the host's /usr/bin/prometheus into the image"
ctx="$(mktemp -d /tmp/actix-cluster-prometheus-ctx.XXXXXX)"
trap 'rm -rf "$ctx" "$buildlog"' EXIT
cp /usr/bin/prometheus "$ctx/prometheus"
cp "$here/prometheus.yml" "$ctx/prometheus.yml"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
COPY prometheus /usr/bin/prometheus
COPY prometheus.yml /etc/prometheus/prometheus.yml
RUN mkdir -p /var/lib/prometheus/metrics2 && chown -R nobody /var/lib/prometheus
EXPOSE 9090
USER nobody
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/var/lib/prometheus/metrics2", "--storage.tsdb.retention.time=1d", "--web.listen-address=0.0.0.0:9090"]
DOCKERFILE
if ! docker build -q -t "$IMAGE" "$ctx" >"$buildlog" 2>&1; then
    log "ERROR: docker build of the fallback image failed:"
    cat "$buildlog" >&2
    exit 1
fi
log "built $IMAGE (host binary fallback)"
