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

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../base/package-image.sh
. "$here/../base/package-image.sh"

# The fallback image's context: the host's binary and a Dockerfile.
fallback_context() {
    cp /usr/bin/prometheus "$1/prometheus"
    cp "$here/prometheus.yml" "$1/prometheus.yml"
    cat >"$1/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
COPY prometheus /usr/bin/prometheus
COPY prometheus.yml /etc/prometheus/prometheus.yml
RUN mkdir -p /var/lib/prometheus/metrics2 && chown -R nobody /var/lib/prometheus
EXPOSE 9090
USER nobody
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/var/lib/prometheus/metrics2", "--storage.tsdb.retention.time=1d", "--web.listen-address=0.0.0.0:9090"]
DOCKERFILE
}

package_image prometheus "${PROMETHEUS_IMAGE:-actix-cluster/prometheus:latest}" "$here" "${PROMETHEUS_IMAGE_FROM_HOST:-0}" \
    /usr/bin/prometheus "prometheus"
