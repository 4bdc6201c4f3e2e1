#!/usr/bin/env bash
# Builds the image `actix-cluster/cluster-monitor:latest`.
#
# 1. Makes sure the base image exists (docker/base/build-base.sh: pulled, or built
#    with debootstrap where no registry is reachable).
# 2. Builds the binary on the host: `cargo build --release -p cluster-monitor`
#    (needs protoc for etcd-client; installed with apt when missing and root).
# 3. `docker build` from a small context holding the Dockerfile and the binary.
#
# Env: IMAGE (default actix-cluster/cluster-monitor:latest), CARGO (default cargo),
# SKIP_CARGO=1 to reuse an already built target/release/cluster-monitor.
set -euo pipefail

IMAGE="${IMAGE:-actix-cluster/cluster-monitor:latest}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log() { echo "cluster-monitor-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (https://docs.docker.com/engine/install/)"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon (is it running? are you in the docker group?)"

"$here/../base/build-base.sh"

if [ "${SKIP_CARGO:-0}" != "1" ]; then
    command -v "${CARGO:-cargo}" >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs"
    if ! command -v protoc >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            log "protoc (needed to build etcd-client) is missing: apt-get install protobuf-compiler"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
        else
            die "protoc (needed to build etcd-client) is missing: sudo apt-get install protobuf-compiler"
        fi
    fi
    log "cargo build --release -p cluster-monitor"
    (cd "$root" && "${CARGO:-cargo}" build --release -q -p cluster-monitor)
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/release/cluster-monitor"
[ -x "$bin" ] || die "$bin is missing (run without SKIP_CARGO=1)"

# The image is bookworm (glibc 2.36): a binary linked against a newer glibc would not start.
need="$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n1 || true)"
if [ -n "$need" ] && [ "$(printf '%s\nGLIBC_2.36\n' "$need" | sort -V | tail -n1)" != "GLIBC_2.36" ]; then
    die "the binary needs $need but the image has glibc 2.36: build on Debian 12 (bookworm) or older"
fi

ctx="$(mktemp -d /tmp/cluster-monitor-image.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$bin" "$ctx/cluster-monitor"
log "docker build -t $IMAGE"
docker build -q -t "$IMAGE" "$ctx" >/dev/null
log "built $IMAGE"
