# Sourced by the build scripts of images made from one Debian package
# (docker/etcd, docker/prometheus). `package_image LABEL IMAGE DIR FROM_HOST
# BINARY PACKAGES` builds IMAGE from DIR/Dockerfile (the package installed
# from Debian) on the local base; when the Debian mirror cannot be reached
# from inside `docker build` (or FROM_HOST is 1), it builds a fallback image
# instead, from a context the caller's `fallback_context CTX` function fills
# (copying the host's BINARY; install it with `apt-get install PACKAGES`).
# Idempotent: an existing image is kept unless FORCE=1.

package_image() {
    local label="$1" image="$2" here="$3" from_host="$4" binary="$5" packages="$6"
    log() { echo "$label-image: $*" >&2; }

    if [ "${FORCE:-0}" != "1" ] && docker image inspect "$image" >/dev/null 2>&1; then
        log "image $image is present"
        return 0
    fi

    "$here/../base/build-base.sh"

    local buildlog ctx
    buildlog="$(mktemp "/tmp/$label-image-build.XXXXXX")"
    if [ "$from_host" = "1" ]; then
        log "building from the host's binary at once (no apt in docker build)"
    else
        log "building $image from $here/Dockerfile ($packages from Debian)"
        if docker build -q -t "$image" "$here" >"$buildlog" 2>&1; then
            rm -f "$buildlog"
            log "built $image"
            return 0
        fi
        log "docker build with apt failed (Debian mirror unreachable from builds?); last lines:"
        tail -n 5 "$buildlog" >&2 || true
    fi

    if [ ! -x "$binary" ]; then
        rm -f "$buildlog"
        log "ERROR: fallback needs the host's $binary: apt-get install -y $packages"
        return 1
    fi
    log "fallback: copying the host's $binary into the image"
    ctx="$(mktemp -d "/tmp/actix-cluster-$label-ctx.XXXXXX")"
    fallback_context "$ctx"
    if ! docker build -q -t "$image" "$ctx" >"$buildlog" 2>&1; then
        log "ERROR: docker build of the fallback image failed:"
        cat "$buildlog" >&2
        rm -rf "$ctx" "$buildlog"
        return 1
    fi
    rm -rf "$ctx" "$buildlog"
    log "built $image (host binary fallback)"
}
