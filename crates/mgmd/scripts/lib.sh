# Shared by the end-to-end scripts beside it, sourced after they set HERE (their own folder):
#
#   HERE=$(cd "$(dirname "$0")" && pwd)
#   . "$HERE/lib.sh"
#
# Sourcing sets the binaries' paths (MGMD, MGMCTL, PY: from the environment, else target/debug
# and python3) and defines the functions below; it runs nothing else. The scripts keep
# `set -euo pipefail`, under which these functions run too.

ROOT=$(dirname "$HERE")
MGMD=${MGMD:-$ROOT/target/debug/mgmd}
MGMCTL=${MGMCTL:-$ROOT/target/debug/mgmctl}
PY=${PYTHON:-$(command -v python3)}

# e2e_unshare [VAR...] -- [ARG...]: unless root, runs the script again (with ARGs, its own
# arguments) in a private user, network and mount namespace through `unshare -Urnm`, passing
# PYTHON, MGMD, MGMCTL and each VAR named on; there, and only there, mounts a private tmpfs on
# /run/netns so that `ip netns` works without touching the host's. Returns as root.
e2e_unshare() {
    local pass=(PYTHON="$PY" MGMD="$MGMD" MGMCTL="$MGMCTL")
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
        pass+=("$1=${!1-}")
        shift
    done
    if [ "${1-}" = -- ]; then shift; fi
    if [ "$(id -u)" != 0 ] && [ -z "${MGM_E2E_INNER:-}" ]; then
        exec unshare -Urnm env MGM_E2E_INNER=1 "${pass[@]}" bash "$0" "$@"
    fi
    if [ -n "${MGM_E2E_INNER:-}" ]; then
        mount --make-rprivate / 2>/dev/null || true
        if [ -d /run/netns ]; then
            mount -t tmpfs tmpfs /run/netns
        else
            mount -t tmpfs tmpfs /run && mkdir -p /run/netns
        fi
    fi
}

# e2e_setup NAME PREFIX RUNDIR [NS...]: the run's state. NAME is the script's name in messages;
# P becomes PREFIX and this shell's PID (the prefix of the run's namespaces); RUN a new folder
# $TMPDIR/RUNDIR.XXXXXX for configurations and logs; the NSs are the namespaces cleanup deletes.
# Empties PIDS (processes cleanup stops), FAILS and CHECKS (for check), sets KEEP_LOGS=1 (a
# script sets it to 0 when it passed) and makes e2e_cleanup the EXIT trap.
e2e_setup() {
    E2E_NAME=$1
    P="$2$$"
    RUN=$(mktemp -d "${TMPDIR:-/tmp}/$3.XXXXXX")
    shift 3
    E2E_NAMESPACES=("$@")
    PIDS=()
    KEEP_LOGS=1
    FAILS=()
    CHECKS=0
    trap e2e_cleanup EXIT
}

# e2e_cleanup: the EXIT trap. Stops every process in PIDS (SIGTERM, then waits for each),
# deletes the namespaces named to e2e_setup, and removes RUN unless KEEP_LOGS is 1 (then it
# says where the logs are).
e2e_cleanup() {
    local pid n
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for n in "${E2E_NAMESPACES[@]}"; do
        ip netns del "$P$n" 2>/dev/null || true
    done
    if [ "$KEEP_LOGS" = 1 ]; then
        echo "$E2E_NAME: logs kept in $RUN" >&2
    else
        rm -rf "$RUN"
    fi
}

# e2e_netns_add NS...: creates the namespaces $P$NS, each with its loopback up.
e2e_netns_add() {
    local n
    for n in "$@"; do
        ip netns add "$P$n"
        nx "$n" ip link set lo up
    done
}

# nx NS COMMAND...: runs COMMAND in the namespace $P$NS.
# Background processes are started with `ip netns exec` directly (not through nx, a function,
# which would run in a subshell): `ip netns exec` execs the command, so $! is its PID.
nx() {
    local ns=$1
    shift
    ip netns exec "$P$ns" "$@"
}

# ctl ARG...: mgmctl in namespace rtr, on the control socket $RUN/mgmd.sock.
ctl() { nx rtr "$MGMCTL" --socket "$RUN/mgmd.sock" "$@"; }

# wait_for SECONDS COMMAND...: runs COMMAND (quiet) every 0.1 s until it succeeds; fails when
# SECONDS pass first.
wait_for() {
    local until=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.1
    done
}

# check DESCRIPTION COMMAND...: runs COMMAND and prints "ok:" or "FAIL:" with DESCRIPTION;
# counts it in CHECKS, and adds a failed one to FAILS.
check() {
    local what=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then
        echo "ok:   $what"
    else
        echo "FAIL: $what"
        FAILS+=("$what")
    fi
}

# links_settled [NS]: every link of NS (default rtr) that is administratively up has its
# operational state up (or unknown, as loopback's): the kernel reports a carrier through its
# link watch, up to a second after the link is set up, and mgmd attaches an interface when it
# is up and running.
links_settled() {
    local t
    t=$(nx "${1:-rtr}" ip -o link show up) || return 1
    ! grep -qE "NO-CARRIER|state (DOWN|LOWERLAYERDOWN|DORMANT)" <<<"$t"
}

# e2e_start_mgmd LEVEL [NS NAME]: starts mgmd in namespace NS (default rtr) with
# $RUN/NAME.toml (NAME default mgmd), logging at LEVEL to $RUN/NAME.log, once NS's links have
# settled (at most 5 s: a script may keep one without carrier on purpose); sets RPID and adds
# it to PIDS. Fails, with the log shown, when the control socket $RUN/NAME.sock (the
# configuration names it) does not appear within 5 s.
e2e_start_mgmd() {
    local ns=${2:-rtr} name=${3:-mgmd}
    wait_for 5 links_settled "$ns" || true
    ip netns exec "${P}$ns" "$MGMD" --config "$RUN/$name.toml" --log "$1" >"$RUN/$name.log" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    wait_for 5 test -S "$RUN/$name.sock" || { cat "$RUN/$name.log"; echo "$name did not start" >&2; return 1; }
}

# e2e_stop PID WHAT: sends SIGTERM to PID, and SIGKILL when it still runs 10 s later (then
# saying "WHAT did not stop in 10 s" on stderr, unless WHAT is empty); sets STOP_STATUS to
# PID's exit status. A failed kill fails, as any command (call it plainly, not in `if` or `||`).
e2e_stop() {
    kill -TERM "$1"
    wait_for 10 bash -c "! kill -0 $1" || { [ -z "$2" ] || echo "$2 did not stop in 10 s" >&2; kill -KILL "$1"; }
    STOP_STATUS=0
    wait "$1" || STOP_STATUS=$?
}

# e2e_finish STATUS LINES: ends the script with STATUS; on success the logs go (KEEP_LOGS=0),
# on failure the last LINES of $RUN/mgmd.log are shown first.
e2e_finish() {
    if [ "$1" = 0 ]; then KEEP_LOGS=0; else tail -n "$2" "$RUN/mgmd.log" 2>/dev/null; fi
    exit "$1"
}
