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

IMAGE="${ETCD_IMAGE:-actix-cluster/etcd:3.4}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "etcd-image: $*" >&2; }

if [ "${FORCE:-0}" != "1" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE is present"
    exit 0
fi

"$here/../base/build-base.sh"

buildlog="$(mktemp /tmp/etcd-image-build.XXXXXX)"
trap 'rm -f "$buildlog"' EXIT
if [ "${ETCD_IMAGE_FROM_HOST:-0}" = "1" ]; then
    log "ETCD_IMAGE_FROM_HOST=1: not trying apt in docker build"
else
    log "building $IMAGE from $here/Dockerfile (etcd-server from Debian)"
    if docker build -q -t "$IMAGE" "$here" >"$buildlog" 2>&1; then
        log "built $IMAGE"
        exit 0
    fi
    log "docker build with apt failed (Debian mirror unreachable from builds?); last lines:"
    tail -n 5 "$buildlog" >&2 || true
fi

if [ ! -x /usr/bin/etcd ]; then
    log "ERROR: fallback needs the host's /usr/bin/etcd: apt-get install -y etcd-server etcd-client"
    exit 1
fi
log "fallback: copying the host's /usr/bin/etcd into the image"
ctx="$(mktemp -d /tmp/actix-cluster-etcd-ctx.XXXXXX)"
trap 'rm -rf "$ctx" "$buildlog"' EXIT
cp /usr/bin/etcd "$ctx/etcd"
if [ -x /usr/bin/etcdctl ]; then cp /usr/bin/etcdctl "$ctx/etcdctl"; else touch "$ctx/etcdctl"; fi
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
COPY etcd etcdctl /usr/bin/
EXPOSE 2379 2380
ENTRYPOINT ["/usr/bin/etcd"]
CMD ["--name=etcd0", "--data-dir=/var/lib/etcd/data", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://0.0.0.0:2380"]
DOCKERFILE
if ! docker build -q -t "$IMAGE" "$ctx" >"$buildlog" 2>&1; then
    log "ERROR: docker build of the fallback image failed:"
    cat "$buildlog" >&2
    exit 1
fi
log "built $IMAGE (host binary fallback)"
