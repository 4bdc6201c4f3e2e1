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
# (default: the host's own Debian mirror from its apt configuration, else
# http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR (written into the image's
# sources.list; default: the host's, else http://deb.debian.org/debian-security),
# BASE_PULL_TIMEOUT, APT_DIR (default /etc/apt: where the host's apt configuration
# is read).
#
# `build-base.sh --print-mirror` prints the mirrors it would use and exits.
set -euo pipefail

TAG="${BASE_TAG:-debian:bookworm-slim}"
SUITE="bookworm"
DEFAULT_MIRROR="http://deb.debian.org/debian"
DEFAULT_SECURITY="http://deb.debian.org/debian-security"
PULL_TIMEOUT="${BASE_PULL_TIMEOUT:-20}"

log() { echo "build-base: $*" >&2; }

# Prints "URI SUITE" for every enabled deb entry of the host's apt configuration:
# one-line entries (sources.list, *.list) and deb822 stanzas (*.sources).
apt_entries() {
    local dir="${APT_DIR:-/etc/apt}" f
    for f in "$dir/sources.list" "$dir"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI suite components...; options may be bracketed.
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
    done
    for f in "$dir"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush(  i, j, nu, ns, u, s) {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    nu = split(uris, u, " "); ns = split(suites, s, " ")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = "" ; val = $0; sub(/^ +/, "", val) }
            key == "types" { types = val } key == "uris" { uris = val }
            key == "suites" { suites = val } key == "enabled" { enabled = tolower(val) }
            END { flush() }' "$f"
    done
}

# The host's mirror for SUITE (the first entry serving it), else one serving any
# suite from a path ending in /debian, else the default. Printed without a
# trailing slash.
host_mirror() {
    local entries uri
    entries="$(apt_entries)"
    uri="$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$entries")"
    [ -n "$uri" ] || uri="$(awk '$1 ~ /\/debian\/?$/ { print $1; exit }' <<<"$entries")"
    echo "${uri:-$DEFAULT_MIRROR}" | sed 's:/*$::'
}

# The host's security mirror for SUITE, else the default.
host_security_mirror() {
    local uri
    uri="$(apt_entries | awk -v s="$SUITE-security" '$2 == s { print $1; exit }')"
    echo "${uri:-$DEFAULT_SECURITY}" | sed 's:/*$::'
}

MIRROR="${DEBIAN_MIRROR:-$(host_mirror)}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(host_security_mirror)}"

if [ "${1:-}" = "--print-mirror" ]; then
    echo "$MIRROR"
    echo "$SECURITY_MIRROR"
    exit 0
fi

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
deb $SECURITY_MIRROR $SUITE-security main
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
