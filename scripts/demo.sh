#!/usr/bin/env bash
# The cluster-monitor demo in one command: builds what it cannot pull (the
# debian:bookworm-slim base, the etcd image, the cluster-monitor image), starts
# etcd, one frontend and three backends with docker compose, waits until the
# frontend shows 4 members Up and prints the page's URL.
#
#   scripts/demo.sh            # up (BACKENDS=3 by default)
#   scripts/demo.sh scale 5    # 5 backends
#   scripts/demo.sh status     # the members as the frontend sees them
#   scripts/demo.sh logs       # follow the logs
#   scripts/demo.sh down       # stop and remove everything
#   scripts/demo.sh token      # the admin token the page asks for (Leave)
#   scripts/demo.sh kubernetes-secret  # kubectl apply -f - of the Secret the
#                                      # manifests in docker/kubernetes/ need
#
# Without Docker (or with `local` first: `scripts/demo.sh local`, `scripts/demo.sh
# local scale 5`, `scripts/demo.sh local down`, ...) the same cluster runs as local
# processes: Debian's etcd on loopback (installed when missing, as root) and the
# cluster-monitor binary (`cargo build --release -p cluster-monitor`), one frontend
# and BACKENDS backends, without Prometheus. Their pid files and logs are in
# target/demo-local/ (DEMO_LOCAL_DIR); they are stopped by pid, never by name.
#
# The nodes run keyed: a cluster key (CLUSTER_SECRET_KEYS) and an admin token
# (HTTP_ADMIN_TOKEN) are made on the first run and kept, readable only by you,
# in docker/demo-secrets.env (DEMO_SECRETS; not committed; delete it for new ones).
#
# Env: BACKENDS (3), FRONTEND_PORT (8080), PROMETHEUS_PORT (9090), COMPOSE_PROJECT_NAME (cluster-monitor),
# DEMO_TIMEOUT seconds to wait for the members (120). Local processes only:
# DEMO_LOCAL_DIR (target/demo-local), DEMO_ETCD_PORT (2379), DEMO_ETCD_PEER_PORT (2380),
# CLUSTER_MONITOR_BIN (a cluster-monitor binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS="${BACKENDS:-3}"
export FRONTEND_PORT="${FRONTEND_PORT:-8080}"
export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
PROJECT="${COMPOSE_PROJECT_NAME:-cluster-monitor}"
TIMEOUT="${DEMO_TIMEOUT:-120}"
URL="http://localhost:$FRONTEND_PORT/"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

mode=compose
if [ "${1:-}" = local ]; then
    mode=local
    shift
elif ! command -v docker >/dev/null 2>&1; then
    mode=local
    say "docker is not installed: running the demo as local processes (scripts/demo.sh local)"
elif ! docker info >/dev/null 2>&1; then
    mode=local
    say "cannot reach the docker daemon: running the demo as local processes (scripts/demo.sh local)"
fi

if [ "$mode" = compose ]; then
    if docker compose version >/dev/null 2>&1; then
        compose() { docker compose -f docker/compose.yaml -p "$PROJECT" "$@"; }
    elif command -v docker-compose >/dev/null 2>&1; then
        compose() { docker-compose -f docker/compose.yaml -p "$PROJECT" "$@"; }
    else
        die "neither 'docker compose' nor 'docker-compose' is available: install the compose plugin (apt-get install docker-compose-plugin) or docker-compose"
    fi
else
    # shellcheck source=demo-local.sh
    . scripts/demo-local.sh
    compose() { local_compose "$@"; }
fi

SECRETS="${DEMO_SECRETS:-docker/demo-secrets.env}"
random_b64() { # N random bytes, base64 (no '/', '+' or '=' with "token")
    python3 -c 'import base64, os, sys; b = base64.b64encode(os.urandom(int(sys.argv[1]))).decode(); print(b.translate({ord(c): None for c in "/+="}) if sys.argv[2:] else b)' "$@"
}
secrets() { # makes the key and token once, then exports them
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to make the cluster key (apt-get install python3)"
    if [ ! -s "$SECRETS" ]; then
        (umask 077 && {
            echo "CLUSTER_SECRET_KEYS=$(random_b64 32)"
            echo "HTTP_ADMIN_TOKEN=$(random_b64 24 token)"
        } >"$SECRETS")
        say "made a cluster key and an admin token in $SECRETS"
    fi
    set -a
    # shellcheck disable=SC1090
    case "$SECRETS" in /*) . "$SECRETS" ;; *) . "./$SECRETS" ;; esac
    set +a
}

members() { # prints "<up> <total>" as the frontend sees them, or nothing
    python3 - "$URL" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + "api/members", timeout=2))
print(sum(m["status"] == "up" for m in d["members"]), len(d["members"]))
PY
}

wait_up() { # wanted number of Up members
    local want=$1 deadline=$((SECONDS + TIMEOUT)) got=""
    say "waiting for $want members Up at $URL (at most ${TIMEOUT}s)"
    while [ $SECONDS -lt $deadline ]; do
        got="$(members)"
        if [ -n "$got" ] && [ "${got%% *}" -eq "$want" ]; then
            return 0
        fi
        sleep 1
    done
    compose ps >&2 || true
    compose logs --tail=30 >&2 || true
    die "only '${got:-no answer}' (up total) after ${TIMEOUT}s; logs above"
}

case "${1:-up}" in
up | scale | logs | down) secrets ;;
esac

case "${1:-up}" in
up)
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to read the member list (apt-get install python3)"
    if [ "$mode" = local ]; then
        local_up "$BACKENDS"
        wait_up $((BACKENDS + 1))
        say "the cluster is up: open $URL"
        echo "   local processes; pid files and logs in $LOCAL_DIR"
        echo "   gossip is sealed with the key in $SECRETS; Leave asks for the admin token:"
        echo "   $HTTP_ADMIN_TOKEN"
        echo "   scale:  scripts/demo.sh local scale 5     stop: scripts/demo.sh local down"
        exit 0
    fi
    say "building the images (cached after the first run)"
    docker/base/build-base.sh
    docker/etcd/build.sh
    docker/prometheus/build.sh
    docker/cluster-monitor/build.sh
    say "starting etcd, Prometheus, 1 frontend and $BACKENDS backends"
    compose up -d --scale backend="$BACKENDS"
    wait_up $((BACKENDS + 1))
    say "the cluster is up: open $URL"
    echo "   Prometheus scrapes every node's /metrics: http://localhost:$PROMETHEUS_PORT/"
    echo "   gossip is sealed with the key in $SECRETS; Leave asks for the admin token:"
    echo "   $HTTP_ADMIN_TOKEN"
    echo "   scale:  scripts/demo.sh scale 5     stop: scripts/demo.sh down"
    ;;
scale)
    n="${2:?usage: scripts/demo.sh scale <backends>}"
    if [ "$mode" = local ]; then local_scale "$n"; else compose up -d --no-recreate --scale backend="$n"; fi
    wait_up $((n + 1))
    say "$((n + 1)) members Up: $URL"
    ;;
status)
    python3 - "$URL" <<'PY' || die "no answer from $URL (is the demo up?)"
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + "api/members", timeout=3))
for m in d["members"]:
    reach = "reachable" if m["reachable"] else "UNREACHABLE"
    leader = "leader" if m["id"] == d["leader"] else ""
    print(f'{m["status"]:8} {reach:11} {",".join(m["roles"]):9} {m["id"]} {leader}')
PY
    ;;
logs)
    compose logs -f
    ;;
down)
    say "stopping the demo"
    if [ "$mode" = local ]; then local_down; else compose down --remove-orphans --volumes; fi
    ;;
token)
    secrets
    echo "$HTTP_ADMIN_TOKEN"
    ;;
kubernetes-secret)
    secrets
    command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed"
    kubectl create secret generic cluster-monitor-secrets \
        --from-literal=cluster-keys="$CLUSTER_SECRET_KEYS" \
        --from-literal=admin-token="$HTTP_ADMIN_TOKEN" \
        --dry-run=client -o yaml | kubectl apply -f -
    ;;
*)
    die "unknown command '$1' (local, up, scale N, status, logs, down, token, kubernetes-secret)"
    ;;
esac
