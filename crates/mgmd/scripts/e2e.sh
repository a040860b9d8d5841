#!/usr/bin/env bash
# End-to-end test of mgmd on the Linux kernel's multicast forwarding plane, compared with
# smcroute. Topology (network namespaces with a per-run prefix, veth pairs):
#
#   snd: snd0 198.51.100.2/24 ── rsnd 198.51.100.1/24    (rtr)
#                                rrcv1 203.0.113.1/25   ── rcv1 203.0.113.2/25    (rcv1)
#                                rrcv2 203.0.113.129/25 ── rcv2 203.0.113.130/25  (rcv2)
#
# Scenario, once with mgmd and once with smcrouted as the router in rtr:
#   1. receivers in rcv1 and rcv2 join 239.1.2.3 with ordinary sockets (the kernel sends real
#      IGMP); the sender sends N datagrams (TTL 8): the first ones go through the NOCACHE path.
#   2. rcv1 leaves while the sender keeps sending 5 s: traffic on rcv1's link must stop within
#      the last-member query time (2 x 1 s) while rcv2 loses nothing.
#   3. traffic of (198.51.100.2, 239.1.2.3) arrives on rrcv2 (wrong interface): it is reported.
#   4. the router is stopped (SIGTERM): no VIF and no MFC may remain in the kernel.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), N (datagrams, default 50), ROUTERS (default
# "mgmd smcroute"). Exit status 0 when every mgmd check passes; smcroute is the reference and
# is reported, not judged.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
N=${N:-50}
ROUTERS=${ROUTERS:-mgmd smcroute}
G=239.1.2.3

e2e_unshare N ROUTERS -- "$@"
NSS=(snd rtr rcv1 rcv2)
e2e_setup e2e mgme2e mgm-e2e "${NSS[@]}"

topology() {
    e2e_netns_add "${NSS[@]}"
    ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
    ip link add rcv1 netns "${P}rcv1" type veth peer name rrcv1 netns "${P}rtr"
    ip link add rcv2 netns "${P}rcv2" type veth peer name rrcv2 netns "${P}rtr"
    nx snd ip addr add 198.51.100.2/24 dev snd0
    nx snd ip link set snd0 up
    nx rtr ip addr add 198.51.100.1/24 dev rsnd
    nx rtr ip addr add 203.0.113.1/25 dev rrcv1
    nx rtr ip addr add 203.0.113.129/25 dev rrcv2
    for i in rsnd rrcv1 rrcv2; do nx rtr ip link set "$i" up; done
    nx rcv1 ip addr add 203.0.113.2/25 dev rcv1
    nx rcv1 ip link set rcv1 up
    nx rcv2 ip addr add 203.0.113.130/25 dev rcv2
    nx rcv2 ip link set rcv2 up
}
teardown() {
    local n
    for n in "${NSS[@]}"; do ip netns del "$P$n"; done
}

kernel_state() { # prints "VIFS MFCS" in rtr
    local v c
    v=$(nx rtr tail -n +2 /proc/net/ip_mr_vif | wc -l)
    c=$(nx rtr tail -n +2 /proc/net/ip_mr_cache | wc -l)
    echo "$v $c"
}

start_mgmd() {
    cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
# [igmp] defaults: robustness 2, query interval 125 s, response 10 s, last member query 1 s x 2.
[[interface]]
name = "rsnd"
[[interface]]
name = "rrcv1"
[[interface]]
name = "rrcv2"
[[route]]
prefix = "198.51.100.0/24"
interface = "rsnd"
EOF
    e2e_start_mgmd debug
}

start_smcroute() {
    cat >"$RUN/smcroute.conf" <<EOF
phyint rsnd enable
phyint rrcv1 enable
phyint rrcv2 enable
mroute from rsnd group $G to rrcv1 rrcv2
EOF
    ip netns exec "${P}rtr" smcrouted -n -N -f "$RUN/smcroute.conf" -u "$RUN/smcroute.sock" \
        -P "$RUN/smcroute.pid" -i "mgme2e$$" -l debug >"$RUN/smcroute.log" 2>&1 &
    RPID=$!
    PIDS+=("$RPID")
    wait_for 5 test -S "$RUN/smcroute.sock" || { cat "$RUN/smcroute.log"; echo "smcrouted did not start" >&2; return 1; }
}

both_joined() {
    local m
    m=$(ctl memberships)
    grep -q "rrcv1.*(\*,$G)" <<<"$m" && grep -q "rrcv2.*(\*,$G)" <<<"$m"
}

scenario() { # scenario ROUTER
    local r=$1 out="$RUN/$1"
    mkdir -p "$out"
    topology
    "start_$r"
    rm -f "$RUN/leave1" "$RUN/stop"
    ip netns exec "${P}rcv1" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.2 \
        --leave-file "$RUN/leave1" --duration 60 >"$out/recv1.json" &
    local p1=$!
    ip netns exec "${P}rcv2" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.130 \
        --stop-file "$RUN/stop" --duration 60 >"$out/recv2.json" &
    local p2=$!
    ip netns exec "${P}rcv1" "$PY" "$HERE/mcast.py" sniff --ifname rcv1 --group $G \
        --stop-file "$RUN/stop" --duration 60 >"$out/sniff1.json" &
    local p3=$!
    PIDS+=("$p1" "$p2" "$p3")
    if [ "$r" = mgmd ]; then
        wait_for 5 both_joined || echo "e2e: mgmd did not hear both joins in 5 s" >&2
    else
        sleep 1
    fi
    # 1. first burst (NOCACHE path for the first packet).
    nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G --count "$N" --tag A >"$out/sendA.json"
    sleep 0.5
    # 2. rcv1 leaves; traffic continues 5 s.
    touch "$RUN/leave1"
    nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G --count 250 --interval 0.02 --tag B >"$out/sendB.json"
    sleep 0.5
    # 3. the same (S,G) arriving on rrcv2, the wrong interface.
    nx rcv2 ip addr add 198.51.100.2/32 dev rcv2
    nx rcv2 "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G --count 5 --interval 0.2 --tag W >"$out/sendW.json"
    sleep 0.5
    touch "$RUN/stop"
    wait "$p1" "$p2" "$p3" || true
    local wrong_events=0
    if [ "$r" = mgmd ]; then
        ctl events >"$out/events.txt" || true
        ctl mfes >"$out/mfes.txt" || true
        ctl interfaces >"$out/interfaces.txt" || true
        ctl mfes --json >"$out/mfes.json" || true
        wrong_events=$(grep -c "wrong interface" "$out/events.txt" || true)
    fi
    nx rtr cat /proc/net/ip_mr_cache >"$out/ip_mr_cache.txt"
    local wrong_kernel
    wrong_kernel=$(awk '$1=="030201EF" && $2=="026433C6" {print $6}' "$out/ip_mr_cache.txt" | head -1)
    read -r vifs_before mfcs_before < <(kernel_state)
    # 4. stop.
    local t0=$SECONDS rc
    e2e_stop "$RPID" "e2e: $r"
    rc=$STOP_STATUS
    read -r vifs mfcs < <(kernel_state)
    cat >"$out/result.env" <<EOF
wrong_events=$wrong_events
wrong_kernel=${wrong_kernel:-0}
vifs_before=$vifs_before
mfcs_before=$mfcs_before
vifs_after=$vifs
mfcs_after=$mfcs
exit_code=$rc
stop_seconds=$((SECONDS - t0))
EOF
    teardown
}

# IPv6: MRT6_INIT, MIFs, one MFC6 through the engine (forwarding of IPv6 traffic is not tested).
topology
nx rtr "$MGMD" --probe rsnd rrcv1 rrcv2 || { echo "FAIL: mgmd --probe" >&2; exit 1; }
teardown

ran=()
for r in $ROUTERS; do
    if [ "$r" = smcroute ] && ! command -v smcrouted >/dev/null; then
        echo "e2e: smcrouted not installed: smcroute column skipped (apt-get install smcroute)" >&2
        continue
    fi
    [ "$r" = mgmd ] && [ ! -x "$MGMD" ] && { echo "e2e: $MGMD missing (cargo build)" >&2; exit 1; }
    echo "e2e: running the scenario with $r" >&2
    scenario "$r"
    ran+=("$r")
done

if [ -f "$RUN/mgmd/events.txt" ]; then
    echo "---- mgmctl mfes (before stop) ----"
    cat "$RUN/mgmd/mfes.txt"
    echo "---- mgmctl events (upcalls, IGMP, wrong interface) ----"
    grep -E "upcall|leave|join|wrong" "$RUN/mgmd/events.txt" | head -30 || true
fi

set +e
"$PY" - "$RUN" "$N" "${ran[@]}" <<'EOF'
import json, sys, os
run, n, routers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
LMQT = 2.0
def load(r, f):
    try:
        with open(os.path.join(run, r, f)) as h:
            return json.load(h)
    except Exception:
        return {}
def env(r):
    d = {}
    try:
        for line in open(os.path.join(run, r, "result.env")):
            k, _, v = line.strip().partition("=")
            d[k] = v
    except Exception:
        pass
    return d
rows, fails = [], []
res = {}
for r in routers:
    rc1, rc2, sn, sb, e = load(r, "recv1.json"), load(r, "recv2.json"), load(r, "sniff1.json"), load(r, "sendB.json"), env(r)
    a1 = rc1.get("received", {}).get("A", 0)
    a2 = rc2.get("received", {}).get("A", 0)
    b2 = rc2.get("received", {}).get("B", 0)
    left = rc1.get("left_at")
    lastB = sn.get("B", {}).get("last")
    endB = sb.get("end")
    if left is None:
        lat = None
    elif lastB is None:
        lat = 0.0
    else:
        lat = lastB - left
    flowing = lastB is not None and endB is not None and lastB > endB - 0.5
    res[r] = dict(a1=a1, a2=a2, b2=b2, lat=lat, flowing=flowing, e=e)
def cell(r, k):
    x = res[r]
    e = x["e"]
    if k == "a1": return f"{x['a1']}/{n}"
    if k == "a2": return f"{x['a2']}/{n}"
    if k == "b2": return f"{x['b2']}/250"
    if k == "lat":
        if x["lat"] is None: return "no leave"
        if x["flowing"]: return "still forwarded"
        return f"stopped after {x['lat']:.2f} s"
    if k == "wrong":
        ev = int(e.get("wrong_events", 0) or 0)
        kc = e.get("wrong_kernel", "0")
        return (f"reported ({ev} event{'s' if ev != 1 else ''})" if ev else "not reported") + f", kernel wrong_if {kc}"
    if k == "state":
        return f"{e.get('vifs_before','?')} VIFs/{e.get('mfcs_before','?')} MFCs"
    if k == "clean":
        ok = e.get("vifs_after") == "0" and e.get("mfcs_after") == "0"
        return ("clean" if ok else f"LEFT {e.get('vifs_after')} VIFs {e.get('mfcs_after')} MFCs") + f", exit {e.get('exit_code')}"
labels = [("a1", "burst 1 (first via NOCACHE) at rcv1"), ("a2", "burst 1 at rcv2 (other link)"),
          ("b2", "after rcv1 leaves: at rcv2"), ("lat", "after rcv1 leaves: rcv1's link"),
          ("wrong", "(S,G) on the wrong interface"), ("state", "kernel state while running"),
          ("clean", "kernel state after SIGTERM")]
w = max(len(l) for _, l in labels)
print()
print(f"{'check':<{w}}  " + "  ".join(f"{r:<40}" for r in routers))
for k, l in labels:
    print(f"{l:<{w}}  " + "  ".join(f"{cell(r, k):<40}" for r in routers))
if "mgmd" in res:
    x = res["mgmd"]; e = x["e"]
    if x["a1"] != n: fails.append(f"rcv1 got {x['a1']}/{n} of burst 1")
    if x["a2"] != n: fails.append(f"rcv2 got {x['a2']}/{n} of burst 1")
    if x["b2"] != 250: fails.append(f"rcv2 got {x['b2']}/250 after rcv1 left")
    if x["lat"] is None or x["flowing"] or x["lat"] > LMQT + 0.6:
        fails.append(f"traffic to rcv1 did not stop within the last member query time ({cell('mgmd', 'lat')})")
    if int(e.get("wrong_events", 0) or 0) < 1: fails.append("wrong-interface arrival not reported")
    if e.get("vifs_after") != "0" or e.get("mfcs_after") != "0": fails.append("kernel state left after stop")
    if e.get("exit_code") != "0": fails.append(f"mgmd exit code {e.get('exit_code')}")
print()
for f in fails:
    print("FAIL:", f)
checks = 7 if "mgmd" in res else 0
print(f"e2e: {checks - len(fails)} passed, {len(fails)} failed")
sys.exit(1 if fails else 0)
EOF
e2e_finish "$?" 50
