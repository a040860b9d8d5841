#!/usr/bin/env bash
# mgmd as a service manager runs it, without systemd: in a network namespace with a per-run
# prefix (rtr: veth pair ra0 203.0.113.1/30 ── rb0 203.0.113.2/30), with a stand-in for the
# manager's notify socket (notify_listen below, a unix datagram socket named by NOTIFY_SOCKET).
#
# Checks:
#   1. READY=1 arrives, with a STATUS= line, and when it does both interfaces have their VIF
#      (/proc/net/ip_mr_vif read by the listener as the datagram arrives);
#   2. the --pid-file holds mgmd's pid;
#   3. a second mgmd with the same pid file is refused, naming the running one;
#   4. a second mgmd with a pid file and control socket of its own is refused because the
#      first holds the kernel's multicast routing socket (MRT_INIT: EADDRINUSE), and says so;
#   5. on SIGTERM: STOPPING=1, exit status 0, the pid file and the control socket removed;
#   6. a stale pid file (its process gone) is replaced, without a NOTIFY_SOCKET.
#
# Root, or unprivileged through `unshare -Urnm`. Environment: MGMD, PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

e2e_unshare -- "$@"
e2e_setup e2e_systemd mgmsd mgm-systemd rtr

e2e_netns_add rtr
nx rtr ip link add ra0 type veth peer name rb0
nx rtr ip addr add 203.0.113.1/30 dev ra0
nx rtr ip addr add 203.0.113.2/30 dev rb0
nx rtr ip link set ra0 up
nx rtr ip link set rb0 up
conf() { # conf NAME: a configuration with its own control socket
    printf 'control_socket = "%s"\n[[interface]]\nname = "ra0"\n[[interface]]\nname = "rb0"\n' \
        "$RUN/$1.sock" >"$RUN/$1.toml"
}
conf a
conf b

# The manager's side: each datagram on one line ("|" for its newlines); at READY=1, a copy of
# the VIF table of this namespace.
cat >"$RUN/listen.py" <<'EOF'
import socket, sys
path, log, vifs = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(log, "a") as out:
    while True:
        msg = s.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            with open("/proc/net/ip_mr_vif") as f, open(vifs, "w") as v:
                v.write(f.read())
        out.write(msg.replace("\n", "|") + "\n")
        out.flush()
        if "STOPPING=1" in msg.split("\n"):
            break
EOF
# Started without the nx function, so that $! is the process itself.
ip netns exec "${P}rtr" "$PY" "$RUN/listen.py" "$RUN/notify.sock" "$RUN/notify.log" \
    "$RUN/vifs_at_ready.txt" &
LISTENER=$!
PIDS+=("$LISTENER")
wait_for 5 test -S "$RUN/notify.sock" || { echo "the notify listener did not start" >&2; exit 1; }

ip netns exec "${P}rtr" env NOTIFY_SOCKET="$RUN/notify.sock" "$MGMD" --config "$RUN/a.toml" \
    --pid-file "$RUN/a.pid" >"$RUN/a.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
wait_for 10 grep -q "READY=1" "$RUN/notify.log" || { cat "$RUN/a.log"; echo "no READY=1 in 10 s" >&2; }
echo "notified: $(tr '\n' ' ' <"$RUN/notify.log" 2>/dev/null)"
check "1. READY=1 arrives with a STATUS= line" \
    grep -q "READY=1|STATUS=forwarding on 2 interfaces (ra0, rb0)" "$RUN/notify.log"
check "1. at READY=1 both interfaces have their VIF" \
    bash -c "grep -qw ra0 '$RUN/vifs_at_ready.txt' && grep -qw rb0 '$RUN/vifs_at_ready.txt'"
check "2. the pid file holds mgmd's pid" test "$(cat "$RUN/a.pid" 2>/dev/null)" = "$RPID"

refusal() { # refusal LOG PIDFILE: how a second mgmd (config b) ends, under `timeout`
    if nx rtr timeout 10 "$MGMD" --config "$RUN/b.toml" --pid-file "$2" >"$1" 2>&1; then
        echo started
    else
        echo "refused ($?)"
    fi
}
r=$(refusal "$RUN/b1.log" "$RUN/a.pid")
check "3. a second mgmd with the same pid file is refused: $r" \
    bash -c "[ '$r' = 'refused (1)' ] && grep -q 'another mgmd (pid $RPID)' '$RUN/b1.log'"
r=$(refusal "$RUN/b2.log" "$RUN/b.pid")
check "4. a second mgmd while the first holds the multicast routing socket is refused: $r" \
    bash -c "[ '$r' = 'refused (1)' ] && grep -q \"another process holds the kernel's multicast routing socket\" '$RUN/b2.log'"
check "4. the refused one leaves no pid file" test ! -e "$RUN/b.pid"
check "4. the first one still answers" test "$(cat "$RUN/a.pid")" = "$RPID" -a -S "$RUN/a.sock"

kill -TERM "$RPID"
rc=0
wait "$RPID" || rc=$?
wait "$LISTENER" || true
check "5. STOPPING=1 at shutdown" grep -q "^STOPPING=1$" "$RUN/notify.log"
check "5. exit status 0 on SIGTERM (got $rc)" test "$rc" = 0
check "5. the pid file and the control socket are removed" test ! -e "$RUN/a.pid" -a ! -e "$RUN/a.sock"

# A pid file whose process is gone.
sh -c 'echo $$' >"$RUN/a.pid"
ip netns exec "${P}rtr" "$MGMD" --config "$RUN/a.toml" --pid-file "$RUN/a.pid" >"$RUN/a2.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
wait_for 10 test -S "$RUN/a.sock" || cat "$RUN/a2.log"
check "6. a stale pid file is replaced (no NOTIFY_SOCKET)" test "$(cat "$RUN/a.pid")" = "$RPID"
kill -TERM "$RPID"
rc=0
wait "$RPID" || rc=$?
check "6. and removed at exit (status $rc)" test "$rc" = 0 -a ! -e "$RUN/a.pid"

echo "e2e_systemd: $((CHECKS - ${#FAILS[@]})) passed, ${#FAILS[@]} failed"
if [ "${#FAILS[@]}" = 0 ]; then KEEP_LOGS=0; else tail -n 20 "$RUN"/*.log; exit 1; fi
