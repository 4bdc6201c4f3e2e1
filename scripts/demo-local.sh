# The demo as local processes, sourced by scripts/demo.sh (its `local` mode, and
# its default where Docker is missing): Debian's etcd on loopback, one frontend
# and N backends from the cluster-monitor binary, keyed like the compose demo.
# Every process is tracked by a pid file in LOCAL_DIR and stopped by that pid,
# never by name; `local_down` leaves nothing behind.
#
# Uses say/die from scripts/demo.sh; the keys are exported there (secrets).

LOCAL_DIR="${DEMO_LOCAL_DIR:-target/demo-local}"
ETCD_PORT="${DEMO_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${DEMO_ETCD_PEER_PORT:-12380}"
# Long enough for a node's graceful leave (it announces it, then exits).
STOP_GRACE=20

# The command name (as `ps -o comm=` shows it) a pid file's process must have,
# so a recycled pid is never signalled.
pid_name() {
    case "$(basename "$1" .pid)" in
    etcd) echo etcd ;;
    *) echo cluster-monitor ;;
    esac
}

# The pid in pid file $1 when that process still runs, else nothing. A zombie
# (exited, not yet reaped by whoever inherited it) counts as stopped.
live_pid() {
    local pid state
    pid="$(cat "$1" 2>/dev/null)" || return 0
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 0
    case "$state" in Z*) return 0 ;; esac
    [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$(pid_name "$1")" ] && echo "$pid"
    return 0
}

need_etcd() {
    command -v etcd >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's etcd-server package (the local demo's etcd)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
    else
        die "the local demo needs etcd: sudo apt-get install etcd-server (or install Docker for the compose demo)"
    fi
}

# The cluster-monitor binary: CLUSTER_MONITOR_BIN, or a release build (cached).
monitor_bin() {
    if [ -n "${CLUSTER_MONITOR_BIN:-}" ]; then
        [ -x "$CLUSTER_MONITOR_BIN" ] || die "CLUSTER_MONITOR_BIN=$CLUSTER_MONITOR_BIN is not an executable"
        echo "$CLUSTER_MONITOR_BIN"
        return
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to build cluster-monitor: install Rust from https://rustup.rs"
    say "building cluster-monitor (cargo build --release -p cluster-monitor; cached after the first run)" >&2
    cargo build --release -q -p cluster-monitor >&2 || die "cargo build --release -p cluster-monitor failed"
    echo "${CARGO_TARGET_DIR:-target}/release/cluster-monitor"
}

etcd_healthy() {
    python3 - "http://127.0.0.1:$ETCD_PORT/health" <<'PY' 2>/dev/null
import json, sys, urllib.request
sys.exit(0 if json.load(urllib.request.urlopen(sys.argv[1], timeout=2)).get("health") == "true" else 1)
PY
}

start_etcd() {
    [ -n "$(live_pid "$LOCAL_DIR/etcd.pid")" ] && return 0
    need_etcd
    local client="http://127.0.0.1:$ETCD_PORT" peer="http://127.0.0.1:$ETCD_PEER_PORT"
    say "starting etcd on $client"
    etcd --name demo --data-dir "$LOCAL_DIR/etcd-data" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "demo=$peer" \
        </dev/null >"$LOCAL_DIR/etcd.log" 2>&1 &
    echo $! >"$LOCAL_DIR/etcd.pid"
    local deadline=$((SECONDS + 30))
    until etcd_healthy; do
        if [ -z "$(live_pid "$LOCAL_DIR/etcd.pid")" ] || [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$LOCAL_DIR/etcd.log" >&2
            die "etcd did not start on $client (port taken? set DEMO_ETCD_PORT and DEMO_ETCD_PEER_PORT); its log is above"
        fi
        sleep 0.2
    done
}

# start_node BIN ROLE NAME HTTP_PORT
start_node() {
    local bin=$1 role=$2 name=$3 port=$4
    [ -n "$(live_pid "$LOCAL_DIR/$name.pid")" ] && return 0
    CLUSTER_ROLE="$role" NODE_NAME="$name" CLUSTER_NAME="${CLUSTER_NAME:-cluster-monitor}" \
        CLUSTER_BIND=127.0.0.1:0 HTTP_BIND="127.0.0.1:$port" \
        ETCD_ENDPOINTS="http://127.0.0.1:$ETCD_PORT" RUST_LOG="${RUST_LOG:-info}" \
        "$bin" </dev/null >"$LOCAL_DIR/$name.log" 2>&1 &
    echo $! >"$LOCAL_DIR/$name.pid"
}

local_up() {
    local n=$1 bin i
    mkdir -p "$LOCAL_DIR"
    bin="$(monitor_bin)"
    start_etcd
    say "starting 1 frontend (http://localhost:$FRONTEND_PORT/) and $n backends"
    start_node "$bin" frontend frontend "$FRONTEND_PORT"
    for i in $(seq 1 "$n"); do start_node "$bin" backend "backend-$i" 0; done
}

# Stops the processes of the given pid files: SIGTERM, then SIGKILL after the grace.
stop_pids() {
    local f pid pids=() deadline=$((SECONDS + STOP_GRACE))
    for f in "$@"; do
        pid="$(live_pid "$f")"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && pids+=("$f")
    done
    for f in "${pids[@]}"; do
        while [ -n "$(live_pid "$f")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        pid="$(live_pid "$f")"
        if [ -n "$pid" ]; then
            echo "demo: $(basename "$f" .pid) (pid $pid) did not stop in ${STOP_GRACE}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$@"
}

local_scale() {
    local n=$1 bin i f extra=()
    mkdir -p "$LOCAL_DIR"
    for f in "$LOCAL_DIR"/backend-*.pid; do
        [ -e "$f" ] || continue
        i="${f##*/backend-}"
        i="${i%.pid}"
        [ "$i" -gt "$n" ] && extra+=("$f")
    done
    [ ${#extra[@]} -gt 0 ] && stop_pids "${extra[@]}"
    bin="$(monitor_bin)"
    start_etcd
    start_node "$bin" frontend frontend "$FRONTEND_PORT"
    for i in $(seq 1 "$n"); do start_node "$bin" backend "backend-$i" 0; done
}

local_down() {
    local nodes=()
    if [ -d "$LOCAL_DIR" ]; then
        for f in "$LOCAL_DIR"/*.pid; do
            [ -e "$f" ] && [ "${f##*/}" != etcd.pid ] && nodes+=("$f")
        done
    fi
    # The nodes first, so they leave while etcd still answers.
    [ ${#nodes[@]} -gt 0 ] && stop_pids "${nodes[@]}"
    [ -e "$LOCAL_DIR/etcd.pid" ] && stop_pids "$LOCAL_DIR/etcd.pid"
    rm -rf "$LOCAL_DIR/etcd-data"
}

# The compose subcommands scripts/demo.sh uses (ps, logs [-f|--tail=N]).
local_compose() {
    local f pid
    case "$1" in
    ps)
        for f in "$LOCAL_DIR"/*.pid; do
            [ -e "$f" ] || continue
            pid="$(live_pid "$f")"
            printf '%-12s %s\n' "$(basename "$f" .pid)" "${pid:+running (pid $pid)}${pid:-stopped}"
        done
        ;;
    logs)
        if [ "${2:-}" = -f ]; then
            exec tail -F "$LOCAL_DIR"/*.log
        fi
        tail -n "${2#--tail=}" "$LOCAL_DIR"/*.log
        ;;
    esac
}
