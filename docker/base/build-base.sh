#!/usr/bin/env bash
# Makes sure the base image `debian:bookworm-slim` exists locally.
#
# 1. Already present: nothing to do.
# 2. `docker pull` (bounded by BASE_PULL_TIMEOUT seconds, default 20): works where a
#    registry is reachable.
# 3. Otherwise: `debootstrap --variant=minbase bookworm` into a temporary directory,
#    trimmed like the official slim image, then `docker import`ed under the same tag,
#    so Dockerfiles that say `FROM debian:bookworm-slim` work unchanged.
#
# Idempotent. Needs root (or fakeroot-free debootstrap rights) and the `debootstrap`
# package for step 3. Env: BASE_TAG (default debian:bookworm-slim), DEBIAN_MIRROR
# (default http://deb.debian.org/debian), BASE_PULL_TIMEOUT.
set -euo pipefail

TAG="${BASE_TAG:-debian:bookworm-slim}"
SUITE="bookworm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PULL_TIMEOUT="${BASE_PULL_TIMEOUT:-20}"

log() { echo "build-base: $*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
    log "base image $TAG is present"
    exit 0
fi

log "trying: docker pull $TAG (at most ${PULL_TIMEOUT}s)"
if timeout "$PULL_TIMEOUT" docker pull "$TAG" >/dev/null 2>&1; then
    log "pulled $TAG"
    exit 0
fi
log "docker pull failed (no registry?); building $TAG with debootstrap from $MIRROR"

if ! command -v debootstrap >/dev/null 2>&1; then
    log "ERROR: debootstrap is not installed; run: apt-get install -y debootstrap"
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    log "ERROR: debootstrap needs root; run this script as root"
    exit 1
fi

tmp="$(mktemp -d /tmp/actix-cluster-base.XXXXXX)"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

rootfs="$tmp/rootfs"
log "debootstrap --variant=minbase $SUITE into $rootfs (takes a minute or two)"
debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
    log "ERROR: debootstrap failed; last lines of its log:"
    tail -n 20 "$tmp/debootstrap.log" >&2
    exit 1
}

# Trim like the slim image: no apt lists, docs, man pages or caches.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
SLIM
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log

log "docker import as $TAG"
tar --numeric-owner -C "$rootfs" -c . |
    docker import -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$TAG" >/dev/null
log "built $TAG ($(docker image inspect --format '{{.Size}}' "$TAG") bytes)"
