#!/usr/bin/env bash
# Builds the image `actix-cluster/cluster-monitor:latest`.
#
# 1. Makes sure the base image exists (docker/base/build-base.sh: pulled, or built
#    with debootstrap where no registry is reachable).
# 2. Builds the binary on the host: `cargo build --release -p cluster-monitor`
#    (needs protoc for etcd-client; installed with apt when missing and root).
# 3. `docker build` from a small context holding the Dockerfile and the binary.
#
# On a host whose glibc is newer than bookworm's (2.36), or with
# BUILD_IN_CONTAINER=1, step 2 runs inside a bookworm container instead (see below).
#
# Env: IMAGE (default actix-cluster/cluster-monitor:latest), CARGO (default cargo),
# SKIP_CARGO=1 to reuse an already built binary, BUILD_IN_CONTAINER=1.
set -euo pipefail

IMAGE="${IMAGE:-actix-cluster/cluster-monitor:latest}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log() { echo "cluster-monitor-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (https://docs.docker.com/engine/install/)"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon (is it running? are you in the docker group?)"

"$here/../base/build-base.sh"

# The image is bookworm (glibc 2.36). A binary built on a host with a newer glibc
# would not start in it, so on such hosts (or with BUILD_IN_CONTAINER=1) the
# binary is built inside a bookworm container, with the host's rustup toolchain
# mounted (rustup's toolchains run on any glibc >= 2.17).
host_glibc="$(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$' || true)"
newer_glibc() { [ -n "$1" ] && [ "$(printf '%s\n2.36\n' "$1" | sort -V | tail -n1)" != "2.36" ]; }
in_container="${BUILD_IN_CONTAINER:-0}"
if newer_glibc "$host_glibc"; then
    log "host glibc $host_glibc is newer than bookworm's 2.36: building inside a bookworm container"
    in_container=1
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
if [ "$in_container" = "1" ]; then
    target_dir="$root/target/bookworm"
fi
bin="$target_dir/release/cluster-monitor"

if [ "${SKIP_CARGO:-0}" != "1" ] && [ "$in_container" = "1" ]; then
    builder="actix-cluster/rust-builder:bookworm"
    rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
    cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    [ -x "$cargo_home/bin/cargo" ] && [ -d "$rustup_home/toolchains" ] ||
        die "building in a container needs a rustup toolchain ($cargo_home/bin/cargo, $rustup_home); install Rust from https://rustup.rs"
    if ! docker image inspect "$builder" >/dev/null 2>&1; then
        log "building $builder (gcc, protoc from Debian bookworm)"
        if ! docker build -q -t "$builder" - >/dev/null 2>/tmp/rust-builder-build.$$.log <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev protobuf-compiler libprotobuf-dev pkg-config ca-certificates \
    && rm -rf /var/lib/apt/lists/*
DOCKERFILE
        then
            cat /tmp/rust-builder-build.$$.log >&2
            rm -f /tmp/rust-builder-build.$$.log
            die "building $builder failed"
        fi
        rm -f /tmp/rust-builder-build.$$.log
    fi
    log "cargo build --release -p cluster-monitor (in $builder)"
    docker run --rm --user "$(id -u):$(id -g)" \
        -v "$root:/src" -v "$cargo_home:/cargo" -v "$rustup_home:/rustup:ro" \
        -e CARGO_HOME=/cargo -e RUSTUP_HOME=/rustup -e HOME=/tmp \
        -e CARGO_TARGET_DIR=/src/target/bookworm -w /src \
        "$builder" /cargo/bin/cargo build --release -q -p cluster-monitor
elif [ "${SKIP_CARGO:-0}" != "1" ]; then
    command -v "${CARGO:-cargo}" >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs"
    if ! command -v protoc >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            log "protoc (needed to build etcd-client) is missing: apt-get install protobuf-compiler libprotobuf-dev"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null
        else
            die "protoc (needed to build etcd-client) is missing: sudo apt-get install protobuf-compiler libprotobuf-dev"
        fi
    fi
    log "cargo build --release -p cluster-monitor"
    (cd "$root" && "${CARGO:-cargo}" build --release -q -p cluster-monitor)
fi

[ -x "$bin" ] || die "$bin is missing (run without SKIP_CARGO=1)"

# Belt and braces: the binary must not need a glibc newer than the image's.
need="$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n1 || true)"
if newer_glibc "${need#GLIBC_}"; then
    die "the binary needs $need but the image has glibc 2.36; rebuild with BUILD_IN_CONTAINER=1"
fi

ctx="$(mktemp -d /tmp/cluster-monitor-image.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$bin" "$ctx/cluster-monitor"
log "docker build -t $IMAGE"
if ! docker build -q -t "$IMAGE" "$ctx" >/dev/null 2>"$ctx/build.log"; then
    cat "$ctx/build.log" >&2
    die "docker build failed"
fi
log "built $IMAGE"
