#!/usr/bin/env bash
# mgmd under hostile local clients, a miss storm, and 32 IGMP interfaces, in network
# namespaces with a per-run prefix. Topology for (a) and (b), as in e2e.sh:
#
#   snd: snd0 198.51.100.2/24 (+ .10-.59) ── rsnd 198.51.100.1/24  (rtr)
#                                            rrcv1 203.0.113.1/25 ── rcv1 203.0.113.2/25 (rcv)
#
# (a) 100 misbehaving control clients (a byte every 0.5 s, idle, never reading, one sending
#     a 64 MiB line without a newline) while a sender starts 200 new flows (one NOCACHE
#     upcall each) toward a receiver: 99 % of upcalls are handled within 1 ms (mgmd's own
#     measure, `upcall_delay_buckets` in status: from the last moment the main loop knew the
#     mroute socket empty to the upcall handled; the maximum is printed, and how long the
#     socket went unwatched); every flow's first packet arrives;
#     `mgmctl status` answers within 1 s; mgmd's RSS does not grow by the huge line; the huge
#     line gets an error that does not echo it.
# (b) a miss storm of 2000 (S,G) with limits.max_mfes = 200: at most 200 entries in the engine
#     and the kernel, the refused misses in `status`, a small log with "left out" lines; with
#     limits.control_clients = 2, a third client is refused with an error; a second mgmd on
#     the live socket, and a control_socket path that is a regular file, are refused.
# (c) 32 interfaces with IGMP (veth pairs inside rtr32): all 32 join 224.0.0.22 and
#     224.0.0.2 (ip maddr) and run the querier (mgmctl igmp).
#
# Root, or unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL, PYTHON, and
# BUDGET_US (default 1000), the bound on the upcall delay and on one control reply's time on
# the main loop: 1 ms is for an optimised mgmd; an unoptimised (debug) build is some ten times
# slower at everything, and its caller gives it ten times the budget. MGMD_SCHED: `fifo` (the
# default where `chrt` may set it) runs mgmd in (a) under SCHED_FIFO priority 10, as a router
# whose packet path must not wait for other work on the machine; the control clients' threads
# inside mgmd then share that priority with the main loop, so the clients are no weaker for
# it. `normal` leaves it to the default scheduler: on a machine busy with other work, mgmd
# is then preempted for milliseconds (the debug log's "slow main-loop work" lines show the
# time off the CPU), and the budget measures the machine, not mgmd. KEEP=1 keeps the logs of a
# run that passed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUDGET_US=${BUDGET_US:-1000}
if [ -z "${MGMD_SCHED:-}" ]; then
    if chrt -f 10 true 2>/dev/null; then MGMD_SCHED=fifo; else MGMD_SCHED=normal; fi
fi

e2e_unshare BUDGET_US MGMD_SCHED KEEP -- "$@"
e2e_setup e2e_overload mgmov mgm-overload snd rtr rcv rtr32

json_field() { # json_field FILE KEY
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# How long the helpers (python, started by the hundred) may take to get going: generous, for
# a machine busy with other work; a wait that runs out fails the test with its reason.
SETUP_WAIT=30
setup_failed() {
    echo "FAIL: setup: $1 within $SETUP_WAIT s"
    echo "e2e_overload: failed"
    exit 1
}

topology() {
    local i
    e2e_netns_add snd rtr rcv
    ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
    ip link add rcv1 netns "${P}rcv" type veth peer name rrcv1 netns "${P}rtr"
    nx snd ip addr add 198.51.100.2/24 dev snd0
    for i in $(seq 10 59); do nx snd ip addr add "198.51.100.$i/24" dev snd0; done
    nx snd ip link set snd0 up
    nx rtr ip addr add 198.51.100.1/24 dev rsnd
    nx rtr ip addr add 203.0.113.1/25 dev rrcv1
    nx rtr ip link set rsnd up
    nx rtr ip link set rrcv1 up
    nx rcv ip addr add 203.0.113.2/25 dev rcv1
    nx rcv ip link set rcv1 up
}

start_mgmd() { # start_mgmd NAME NAMESPACE [SCHED]; sets RPID
    local name=$1 ns=$2 sched=()
    [ "${3:-}" = fifo ] && sched=(chrt -f 10)
    "$MGMD" --config "$RUN/$name.toml" --check >/dev/null
    ip netns exec "$P$ns" "${sched[@]}" "$MGMD" --config "$RUN/$name.toml" --log ${MGMD_LOG:-info} >"$RUN/$name.log" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    wait_for 10 test -S "$RUN/$name.sock" || { cat "$RUN/$name.log"; echo "mgmd $name did not start" >&2; return 1; }
}
stop_mgmd() { e2e_stop "$RPID" ""; }
router_conf() { # router_conf NAME [LIMITS...]
    local name=$1
    shift
    {
        echo "control_socket = \"$RUN/$name.sock\""
        echo "[limits]"
        local l
        for l in "$@"; do echo "$l"; done
        echo "[[interface]]"
        echo 'name = "rsnd"'
        echo "[[interface]]"
        echo 'name = "rrcv1"'
        echo "[[route]]"
        echo 'prefix = "198.51.100.0/24"'
        echo 'interface = "rsnd"'
    } >"$RUN/$name.toml"
}

topology

# ---- (a) misbehaving clients while new flows cause upcalls ----
router_conf a
start_mgmd a rtr "$MGMD_SCHED"
echo "(a) mgmd scheduling: $MGMD_SCHED"
A=$RUN/a.sock
ip netns exec "${P}rcv" "$PY" "$HERE/overload.py" recv --iface-addr 203.0.113.2 --sources 20 \
    --groups 10 --ready-file "$RUN/recv.ready" --stop-file "$RUN/a.stop" >"$RUN/recv.json" &
PIDS+=($!)
RECV=$!
wait_for "$SETUP_WAIT" test -e "$RUN/recv.ready" || setup_failed "the receiver did not start"
# The receiver's joins reach mgmd (IGMP), so new flows have somewhere to go.
wait_for "$SETUP_WAIT" bash -c "ip netns exec ${P}rtr $MGMCTL --socket $A memberships | grep -c 239.2.0 | grep -qx 10" ||
    setup_failed "the receiver's 10 joins did not reach mgmd"
rss_before=$(rss_kb "$RPID")
ip netns exec "${P}rtr" "$PY" "$HERE/overload.py" clients --socket "$A" --slow 40 --idle 40 \
    --noread 19 --huge-mb 64 --duration 30 --ready-file "$RUN/clients.ready" \
    --stop-file "$RUN/a.stop" >"$RUN/clients.json" &
CLIENTS=$!
PIDS+=("$CLIENTS")
wait_for "$SETUP_WAIT" test -e "$RUN/clients.ready" || setup_failed "the 100 clients did not start"
sleep 1
ip netns exec "${P}snd" "$PY" "$HERE/overload.py" flows --sources 20 --groups 10 \
    --interval 0.02 >"$RUN/flows.json" &
FLOWS=$!
PIDS+=("$FLOWS")
worst_ms=0
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    nx rtr "$MGMCTL" --socket "$A" status >>"$RUN/a.status.txt"
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -gt "$worst_ms" ] && worst_ms=$ms
    sleep 0.5
done
wait "$FLOWS" || true
sleep 1
nx rtr "$MGMCTL" --socket "$A" --json status >"$RUN/a.status.json"
rss_after=$(rss_kb "$RPID")
touch "$RUN/a.stop"
wait "$CLIENTS" "$RECV" || true
delay=$(json_field "$RUN/a.status.json" upcall_delay_max_us)
reply=$(json_field "$RUN/a.status.json" control_reply_max_us)
timed=$(json_field "$RUN/a.status.json" upcalls_timed)
flows_seen=$(json_field "$RUN/recv.json" flows)
echo "(a) upcalls: $timed handled, longest delay ${delay} us, longest control reply ${reply} us;" \
    "first packets: $(cat "$RUN/recv.json"); mgmctl status worst ${worst_ms} ms;" \
    "RSS ${rss_before} -> ${rss_after} kB; clients: $(head -c 600 "$RUN/clients.json")"
check "(a) 200 new flows caused upcalls" test "$timed" -ge 200
over() { # over KEY: how many of status's KEY buckets lie above BUDGET_US (an edge)
    "$PY" -c 'import json,sys
s = json.load(open(sys.argv[1])); edges = s["delay_bucket_edges_us"]; b = int(sys.argv[3])
assert b in edges, "BUDGET_US must be a bucket edge"
print(sum(s[sys.argv[2]][edges.index(b) + 1:]))' "$RUN/a.status.json" "$1" "$BUDGET_US"
}
up_over=$(over upcall_delay_buckets)
step_over=$(over control_step_buckets)
unwatched_over=$(over unwatched_buckets)
echo "(a) over ${BUDGET_US} us: $up_over upcalls, $step_over control steps, $unwatched_over times the" \
    "mroute socket went unwatched (longest $(json_field "$RUN/a.status.json" unwatched_max_us) us);" \
    "buckets (edges $(json_field "$RUN/a.status.json" delay_bucket_edges_us) us):" \
    "upcalls $(json_field "$RUN/a.status.json" upcall_delay_buckets)," \
    "steps $(json_field "$RUN/a.status.json" control_step_buckets)," \
    "unwatched $(json_field "$RUN/a.status.json" unwatched_buckets)"
# The maximum is shown above; the check allows 1 % of the upcalls (2 of 200) over the budget,
# for a machine shared with other work, where the scheduler may stop mgmd for milliseconds.
# The control steps' times are shown, not judged: what they cost the packet path is in the
# upcall delays.
check "(a) 99 % of upcalls handled within ${BUDGET_US} us of the socket last known empty" test "$up_over" -le 2

check "(a) every flow's first packet delivered" test "$flows_seen" -eq 200
check "(a) mgmctl status answered within 1 s" test "$worst_ms" -lt 1000
# The 100 clients' threads take some memory of their own; a buffered 64 MiB line would take
# far more than half of that line.
check "(a) RSS did not grow by the huge line (< 24 MiB with 100 clients)" test $((rss_after - rss_before)) -lt 24576
check "(a) the huge line got an error that does not echo it" \
    bash -c "grep -q 'longer than 4096 bytes' '$RUN/clients.json' && ! grep -q xxxxxxxx '$RUN/clients.json'"
check "(a) slow and idle clients were cut off with an error" \
    grep -q "no complete request line within" "$RUN/clients.json"
stop_mgmd

# ---- (b) a miss storm against a small table; few control clients ----
router_conf b "max_mfes = 200" "control_clients = 2"
start_mgmd b rtr
B=$RUN/b.sock
ip netns exec "${P}snd" "$PY" "$HERE/overload.py" storm --sources 50 --groups 40 --rounds 3 \
    >"$RUN/storm.json"
sleep 1
nx rtr "$MGMCTL" --socket "$B" --json status >"$RUN/b.status.json"
mfes=$(json_field "$RUN/b.status.json" mfes)
refused=$(json_field "$RUN/b.status.json" refused_misses)
kernel_mfcs=$(nx rtr awk 'NR > 1 && $3 != "-1" && $3 != "65535"' /proc/net/ip_mr_cache | wc -l)
log_bytes=$(stat -c %s "$RUN/b.log")
nx rtr "$MGMCTL" --socket "$B" --page 64 mfes >"$RUN/b.mfes.txt"
nx rtr "$MGMCTL" --socket "$B" --page 64 --json mfes >"$RUN/b.mfes.json"
rows_text=$(($(wc -l <"$RUN/b.mfes.txt") - 1))
rows_json=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$RUN/b.mfes.json")
echo "(b) $(cat "$RUN/storm.json"): $mfes MFEs, $refused refused, $kernel_mfcs kernel MFCs, log $log_bytes bytes; paged dump: $rows_text text rows, $rows_json JSON rows"
check "(b) the engine table holds at its limit" test "$mfes" -le 200 -a "$mfes" -ge 150
check "(b) the refused misses are counted in status" test "$refused" -gt 0
check "(b) the kernel holds no more than the limit" test "$kernel_mfcs" -le 200
check "(b) the log stays small (< 64 KiB)" test "$log_bytes" -lt 65536
# The count of a second's left-out lines is logged once that second is over, at the main loop's
# next once-a-second turn: up to 2 s after the storm's last refused miss.
check "(b) the log says how many lines were left out" wait_for 3 grep -q "left out" "$RUN/b.log"
check "(b) the paged dump lists every entry once (text and JSON)" \
    test "$rows_text" -eq "$mfes" -a "$rows_json" -eq "$mfes"
hold_clients() { # hold_clients READY STOP: two clients on B that stay until $RUN/STOP exists; sets HOLD
    ip netns exec "${P}rtr" "$PY" "$HERE/overload.py" hold --socket "$B" --count 2 \
        --ready-file "$RUN/$1" --stop-file "$RUN/$2" >/dev/null &
    HOLD=$!
    PIDS+=("$HOLD")
    wait_for "$SETUP_WAIT" test -e "$RUN/$1" || setup_failed "the held clients did not start"
    sleep 0.2
}
hold_clients hold.ready b.stop
busy=$(nx rtr "$MGMCTL" --socket "$B" status 2>&1 || true)
touch "$RUN/b.stop"
wait "$HOLD" || true
echo "(b) a third client got: $busy"
check "(b) a third client is refused with an error line" grep -q "serving 2 control clients" <<<"$busy"
check "(b) with the two gone, status answers" bash -c "ip netns exec ${P}rtr $MGMCTL --socket $B status | grep -q MFEs"
# Under `timeout`: a second mgmd wrongly started would otherwise run until the end of time.
if nx rtr timeout 10 "$MGMD" --config "$RUN/b.toml" >"$RUN/b2.log" 2>&1; then second=started; else second=refused; fi
check "(b) a second mgmd on the live socket is refused" \
    bash -c "[ $second = refused ] && grep -q 'answers on it' '$RUN/b2.log'"
# Shutdown with clients connected: their sockets are shut down and their threads joined, at
# once (not at their 2 s read deadline).
hold_clients hold2.ready b.stop2
t0=$(date +%s%N)
stop_mgmd
stop_ms=$((($(date +%s%N) - t0) / 1000000))
touch "$RUN/b.stop2"
wait "$HOLD" || true
echo "(b) with 2 clients connected, mgmd exited ${stop_ms} ms after SIGTERM: $(grep -o 'control threads joined.*' "$RUN/b.log" || true)"
check "(b) with 2 clients connected, mgmd exits within 1.5 s of SIGTERM" test "$stop_ms" -lt 1500
check "(b) the client threads were joined at shutdown" grep -Eq "control threads joined joined=[1-9]" "$RUN/b.log"
echo "keep me" >"$RUN/file.sock"
sed "s#$RUN/b.sock#$RUN/file.sock#" "$RUN/b.toml" >"$RUN/f.toml"
if nx rtr timeout 10 "$MGMD" --config "$RUN/f.toml" >"$RUN/f.log" 2>&1; then fstart=started; else fstart=refused; fi
check "(b) a control_socket path that is a regular file is refused and kept" \
    bash -c "[ $fstart = refused ] && grep -q 'regular file' '$RUN/f.log' && [ \"\$(cat '$RUN/file.sock')\" = 'keep me' ]"

# ---- (c) 32 interfaces with IGMP ----
e2e_netns_add rtr32
{
    echo "control_socket = \"$RUN/c.sock\""
} >"$RUN/c.toml"
for i in $(seq 0 31); do
    nx rtr32 ip link add "ra$i" type veth peer name "rb$i"
    nx rtr32 ip addr add "203.0.113.$((4 * i + 1))/30" dev "ra$i"
    nx rtr32 ip link set "ra$i" up
    nx rtr32 ip link set "rb$i" up
    printf '[[interface]]\nname = "ra%s"\n' "$i" >>"$RUN/c.toml"
done
start_mgmd c rtr32
joined=0
for i in $(seq 0 31); do
    m=$(nx rtr32 ip maddr show dev "ra$i")
    if grep -Eq "inet +224\.0\.0\.22( |$)" <<<"$m" && grep -Eq "inet +224\.0\.0\.2( |$)" <<<"$m"; then
        joined=$((joined + 1))
    fi
done
queriers=$(nx rtr32 "$MGMCTL" --socket "$RUN/c.sock" igmp | grep -c "address 203.0.113")
echo "(c) $joined of 32 interfaces joined both router groups; $queriers IGMP queriers"
check "(c) all 32 interfaces joined 224.0.0.22 and 224.0.0.2" test "$joined" -eq 32
check "(c) IGMP runs on all 32" test "$queriers" -eq 32
check "(c) the log says how the groups are joined" grep -q "one socket per interface" "$RUN/c.log"
stop_mgmd
left=$(nx rtr32 ip maddr show | grep -c "224.0.0.22" || true)
check "(c) the memberships are gone after SIGTERM" test "$left" -eq 0

echo "e2e_overload: ${#FAILS[@]} failed"
# KEEP=1 keeps the logs of a run that passed.
if [ "${#FAILS[@]}" = 0 ] && [ -z "${KEEP:-}" ]; then KEEP_LOGS=0; fi
[ "${#FAILS[@]}" = 0 ]
