#!/usr/bin/env bash
# Builds the image `actix-cluster/etcd:3.4` (etcd-server from Debian bookworm).
#
# Makes sure the base image exists first (docker/base/build-base.sh). If the
# Debian mirror cannot be reached from inside `docker build`, falls back to an
# image that copies the host's /usr/bin/etcd and /usr/bin/etcdctl (install them
# with `apt-get install etcd-server etcd-client`). Idempotent: an existing image
# is kept unless FORCE=1. Env: ETCD_IMAGE (default actix-cluster/etcd:3.4),
# ETCD_IMAGE_FROM_HOST=1 (skip apt, use the host's binaries at once).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../base/package-image.sh
. "$here/../base/package-image.sh"

# The fallback image's context: the host's binary and a Dockerfile.
fallback_context() {
    cp /usr/bin/etcd "$1/etcd"
    if [ -x /usr/bin/etcdctl ]; then cp /usr/bin/etcdctl "$1/etcdctl"; else touch "$1/etcdctl"; fi
    cat >"$1/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
COPY etcd etcdctl /usr/bin/
EXPOSE 2379 2380
ENTRYPOINT ["/usr/bin/etcd"]
CMD ["--name=etcd0", "--data-dir=/var/lib/etcd/data", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://0.0.0.0:2380"]
DOCKERFILE
}

package_image etcd "${ETCD_IMAGE:-actix-cluster/etcd:3.4}" "$here" "${ETCD_IMAGE_FROM_HOST:-0}" \
    /usr/bin/etcd "etcd-server etcd-client"
