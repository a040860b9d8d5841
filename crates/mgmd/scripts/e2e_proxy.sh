#!/usr/bin/env bash
# End-to-end test of mgmd in proxy mode (RFC 4605), IPv4 and IPv6 at once: an upstream mgmd
# router, an mgmd proxy behind it, receivers behind the proxy on two downstream links. Topology
# (network namespaces with a per-run prefix, veth pairs, no duplicate address detection):
#
#   snd:  snd0 198.51.100.2/24, 2001:db8:1::2/64 ── usnd  (upr: mgmd router, fast leave)
#                                                    udown 203.0.113.1/26, 2001:db8:2::1/64
#                                                      │
#   prx:  pup 203.0.113.2/26, 2001:db8:2::2/64 (upstream = true)  (mgmd proxy)
#         pd1 203.0.113.65/26, 2001:db8:3::1/64 ── rcv1: r1 203.0.113.66/26, 2001:db8:3::2/64
#         pd2 203.0.113.129/26, 2001:db8:4::1/64 ── rcv2: r2 203.0.113.130/26, 2001:db8:4::2/64
#
# The receivers join with their kernel's IGMPv3 and MLDv2. Each check runs for both families.
# Run 1, the proxy with the default last member query (2 x 1 s), the upstream router with fast
# leave (the proxy is the one host on its upstream link):
#   1. the upstream link carries the proxy's report of the group within 10 ms of rcv1's join
#      report on its link (the kernel's timestamps of both);
#   2. a flow to the group: rcv1 gets it; rcv2 joins during the flow (the late joiner) and
#      gets no datagram sent before its join;
#   3. rcv1 leaves during the flow: rcv2, on the other downstream link, keeps every datagram
#      from its first to its own leave, and rcv1's link carries the group no more within 2.1 s;
#   4. rcv2 leaves (the last downstream member): the upstream link carries the group no more
#      within 2.1 s of rcv2's leave report;
#   5. mgmctl status shows the proxy's upstream (live, IGMPv3 / MLDv2, the upstream router's
#      queries heard: it queries every 4 s);
#   6. SIGTERM: no VIF, MFC, MIF or MF6C left in the proxy.
# Run 2, fast leave on both:
#   7. rcv1's leave stops the group on the upstream link within 20 ms of its leave report;
#   8. while rcv2 is a member of another group, SIGTERM to the proxy: the upstream router
#      drops that group within 1 s (the proxy leaves every group as it stops).
# Run 3, where igmpproxy is installed: run 1 again for IPv4 with igmpproxy (quickleave) as the
# proxy; a table prints both proxies' figures side by side (igmpproxy's are not checked).
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
S4=198.51.100.2
S6=2001:db8:1::2
G4=239.1.2.3
G6=ff0e::1:3
# Run 2's second group, held by rcv2 until the proxy stops.
H4=239.1.2.4
H6=ff0e::1:4
# The flow: COUNT datagrams per group, one every INTERVAL s; rcv2 joins at datagram LATE, rcv1
# leaves at LEAVE, rcv2 at LAST.
COUNT=3500
INTERVAL=0.002
LATE=400
LEAVE=900
LAST=1800
REPORT_WITHIN=0.010
PRUNE_WITHIN=2.1
FAST_WITHIN=0.020

e2e_unshare -- "$@"
NAMESPACES=(snd upr prx rcv1 rcv2)
e2e_setup e2e_proxy mgmpx mgm-e2e-proxy "${NAMESPACES[@]}"

# addrs NS IFNAME IPV4/LEN IPV6/LEN: the link's addresses in both families.
addrs() {
    nx "$1" ip addr add "$3" dev "$2"
    nx "$1" ip addr add "$4" dev "$2" nodad
}

topology() {
    local n
    e2e_netns_add "${NAMESPACES[@]}"
    for n in "${NAMESPACES[@]}"; do
        # Addresses usable at once (link-local ones too); the hosts' IGMPv3 and MLDv2, their
        # state changes' retransmissions 10 ms apart instead of up to 1 s.
        nx "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        nx "$n" sysctl -qw net.ipv6.conf.all.force_mld_version=2 net.ipv6.conf.default.force_mld_version=2
        nx "$n" sysctl -qw net.ipv6.conf.default.mldv2_unsolicited_report_interval=10
        nx "$n" sysctl -qw net.ipv4.conf.default.igmpv3_unsolicited_report_interval=10
    done
    ip link add snd0 netns "${P}snd" type veth peer name usnd netns "${P}upr"
    ip link add udown netns "${P}upr" type veth peer name pup netns "${P}prx"
    ip link add r1 netns "${P}rcv1" type veth peer name pd1 netns "${P}prx"
    ip link add r2 netns "${P}rcv2" type veth peer name pd2 netns "${P}prx"
    addrs snd snd0 $S4/24 $S6/64
    addrs upr usnd 198.51.100.1/24 2001:db8:1::1/64
    addrs upr udown 203.0.113.1/26 2001:db8:2::1/64
    addrs prx pup 203.0.113.2/26 2001:db8:2::2/64
    addrs prx pd1 203.0.113.65/26 2001:db8:3::1/64
    addrs prx pd2 203.0.113.129/26 2001:db8:4::1/64
    addrs rcv1 r1 203.0.113.66/26 2001:db8:3::2/64
    addrs rcv2 r2 203.0.113.130/26 2001:db8:4::2/64
    nx snd ip link set snd0 up
    for i in usnd udown; do nx upr ip link set "$i" up; done
    for i in pup pd1 pd2; do nx prx ip link set "$i" up; done
    nx rcv1 ip link set r1 up
    nx rcv2 ip link set r2 up
    # The proxy's unicast routes point upstream, as a home gateway's do.
    nx prx ip route add default via 203.0.113.1
    nx prx ip -6 route add default via 2001:db8:2::1
}

# Kernel state in NS: "VIFS MFCS MIFS MF6CS".
kernel_state() {
    local v f m c
    v=$(nx "$1" tail -n +2 /proc/net/ip_mr_vif | wc -l)
    f=$(nx "$1" tail -n +2 /proc/net/ip_mr_cache | wc -l)
    m=$(nx "$1" tail -n +2 /proc/net/ip6_mr_vif | wc -l)
    c=$(nx "$1" tail -n +2 /proc/net/ip6_mr_cache | wc -l)
    echo "$v $f $m $c"
}

# vifs_in NS N: NS's kernel has at least N VIFs.
vifs_in() { [ "$(nx "$1" tail -n +2 /proc/net/ip_mr_vif | wc -l)" -ge "$2" ]; }

config_upstream() {
    cat >"$RUN/upr.toml" <<EOF
control_socket = "$RUN/upr.sock"
[igmp]
fast_leave = true
query_interval = 4.0
query_response_interval = 1.0
[mld]
fast_leave = true
query_interval = 4.0
query_response_interval = 1.0
[[interface]]
name = "usnd"
igmp = false
mld = false
[[interface]]
name = "udown"
mld = true
[[route]]
prefix = "198.51.100.0/24"
interface = "usnd"
[[route]]
prefix = "2001:db8:1::/48"
interface = "usnd"
EOF
}

# config_proxy FAST_LEAVE
config_proxy() {
    cat >"$RUN/prx.toml" <<EOF
control_socket = "$RUN/prx.sock"
[igmp]
fast_leave = $1
[mld]
fast_leave = $1
[[interface]]
name = "pup"
upstream = true
mld = true
[[interface]]
name = "pd1"
[[interface]]
name = "pd2"
EOF
}

uctl() { nx upr "$MGMCTL" --socket "$RUN/upr.sock" "$@"; }
pctl() { nx prx "$MGMCTL" --socket "$RUN/prx.sock" "$@"; }
# The upstream router holds (*,GROUP) on udown: it heard the proxy's report.
upstream_has() { uctl --json memberships | grep -q "\"(\*,$1)\""; }
upstream_lacks() { ! upstream_has "$1"; }

# sniffer NS IFNAME GROUP FILE: the link's datagrams and reports of GROUP, until $RUN/stop.
sniffer() {
    ip netns exec "${P}$1" "$PY" "$HERE/mcast.py" sniff6 --ifname "$2" --group "$3" \
        --ready-file "$4.ready" --stop-file "$RUN/stop" --duration 90 >"$4" &
    PIDS+=("$!")
    SNIFFERS+=("$!")
}

# receiver NS IFNAME GROUP FILE [recv6 options]: a receiver of GROUP, until $RUN/stop.
receiver() {
    local ns=$1 ifname=$2 group=$3 out=$4
    shift 4
    ip netns exec "${P}$ns" "$PY" "$HERE/mcast.py" recv6 --group "$group" --ifname "$ifname" \
        --stop-file "$RUN/stop" --duration 90 "$@" >"$out" &
    PIDS+=("$!")
    RECEIVERS+=("$!")
}

# sender GROUP SOURCE FILE [send6 options]: the flow from snd.
sender() {
    local group=$1 source=$2 out=$3
    shift 3
    ip netns exec "${P}snd" "$PY" "$HERE/mcast.py" send6 --src "$source" --ifname snd0 \
        --group "$group" --interval $INTERVAL "$@" >"$out" &
    PIDS+=("$!")
    SENDERS+=("$!")
}

sniffers_ready() {
    local f
    for f in "$@"; do test -e "$f.ready" || return 1; done
}

# start_run NAME "NS IFNAME PREFIX"...: OUT becomes $RUN/NAME; a sniffer of each family's group
# (G4, G6: those of FAMS) on each link named, writing $OUT/PREFIX4.json and $OUT/PREFIX6.json; returns once they
# all read.
start_run() {
    local fam g ns ifname prefix link files=()
    OUT=$RUN/$1
    shift
    mkdir -p "$OUT"
    SNIFFERS=() RECEIVERS=() SENDERS=()
    for fam in $FAMS; do
        g=G$fam
        for link in "$@"; do
            read -r ns ifname prefix <<<"$link"
            sniffer "$ns" "$ifname" "${!g}" "$OUT/$prefix$fam.json"
            files+=("$OUT/$prefix$fam.json")
        done
    done
    wait_for 20 sniffers_ready "${files[@]}" || { echo "e2e_proxy: the sniffers did not start" >&2; return 1; }
}

[ -x "$MGMD" ] || { echo "e2e_proxy: $MGMD missing (cargo build)" >&2; exit 1; }
topology
config_upstream
e2e_start_mgmd debug upr upr || exit 1
UPID=$RPID

# chain NAME "NS IFNAME PREFIX"...: run 1's sequence, for each family of FAMS, into $RUN/NAME:
# the sniffers, rcv1 joining, rcv2 joining during the flow, rcv1 and then rcv2 leaving.
chain() {
    local fam g s
    start_run "$@" || return 1
    # The proxy's start-up general queries are answered (nothing joined yet) before rcv1 joins.
    sleep 0.5
    for fam in $FAMS; do
        g=G$fam
        receiver rcv1 r1 "${!g}" "$OUT/rcv1_$fam.json" --leave-file "$RUN/leave$fam"
    done
    for fam in $FAMS; do
        g=G$fam
        wait_for 10 upstream_has "${!g}" || echo "e2e_proxy: the upstream router did not hear of ${!g} in 10 s" >&2
    done
    for fam in $FAMS; do
        g=G$fam
        receiver rcv2 r2 "${!g}" "$OUT/rcv2_$fam.json" --join-file "$RUN/late$fam" --leave-file "$RUN/last$fam"
    done
    # A first burst sets the entries up (the first datagram of each takes the upcall path).
    for fam in $FAMS; do
        g=G$fam s=S$fam
        nx snd "$PY" "$HERE/mcast.py" send6 --src "${!s}" --ifname snd0 --group "${!g}" --count 20 --tag W >"$OUT/send_w$fam.json"
    done
    sleep 0.3
    for fam in $FAMS; do
        g=G$fam s=S$fam
        sender "${!g}" "${!s}" "$OUT/send$fam.json" --count $COUNT --tag F \
            --mark "$LATE:$RUN/late$fam" --mark "$LEAVE:$RUN/leave$fam" --mark "$LAST:$RUN/last$fam"
    done
    wait "${SENDERS[@]}"
    sleep 0.2
}

# ---- run 1: the proxy's default leave, the upstream's fast leave ------------------------------
config_proxy false
e2e_start_mgmd debug prx prx || exit 1
FAMS="4 6"
chain run1 "upr udown up" "rcv1 r1 d1_" "rcv2 r2 d2_" || exit 1
pctl --json status >"$OUT/status.json" || true
pctl status >"$OUT/status.txt" || true
uctl --json memberships >"$OUT/upstream_memberships.json" || true
touch "$RUN/stop"
wait "${RECEIVERS[@]}" "${SNIFFERS[@]}" || true
read -r vifs_run mfcs_run mifs_run mf6cs_run < <(kernel_state prx)
e2e_stop "$RPID" "e2e_proxy: the proxy"
rc1=$STOP_STATUS
read -r vifs_after mfcs_after mifs_after mf6cs_after < <(kernel_state prx)
cat >"$OUT/result.env" <<EOF
rc=$rc1
running="$vifs_run $mfcs_run $mifs_run $mf6cs_run"
after="$vifs_after $mfcs_after $mifs_after $mf6cs_after"
EOF
cp "$RUN/prx.log" "$OUT/prx.log"

# ---- run 2: fast leave on both ------------------------------------------------------------------
rm -f "$RUN"/leave* "$RUN"/late* "$RUN"/last* "$RUN/stop" "$RUN/prx.sock"
config_proxy true
e2e_start_mgmd debug prx prx || exit 1
PPID2=$RPID
start_run run2 "upr udown up" "rcv1 r1 d1_" || exit 1
for fam in 4 6; do
    g=G$fam h=H$fam
    receiver rcv1 r1 "${!g}" "$OUT/rcv1_$fam.json" --leave-file "$RUN/leave$fam"
    # Its own stop file: it holds its group until the proxy has stopped.
    receiver rcv2 r2 "${!h}" "$OUT/rcv2_$fam.json" --stop-file "$RUN/stop_held"
done
for grp in $G4 $G6 $H4 $H6; do
    wait_for 10 upstream_has $grp || echo "e2e_proxy: the upstream router did not hear of $grp in 10 s" >&2
done
nx snd "$PY" "$HERE/mcast.py" send6 --src $S4 --ifname snd0 --group $G4 --count 20 --tag W >"$OUT/send_w4.json"
nx snd "$PY" "$HERE/mcast.py" send6 --src $S6 --ifname snd0 --group $G6 --count 20 --tag W >"$OUT/send_w6.json"
sleep 0.3
for fam in 4 6; do
    g=G$fam s=S$fam
    sender "${!g}" "${!s}" "$OUT/send$fam.json" --count 1000 --tag F --mark "$LEAVE:$RUN/leave$fam"
done
wait "${SENDERS[@]}"
sleep 0.2
touch "$RUN/stop"
wait "${SNIFFERS[@]}" || true
upstream_has $H4 && had4=1 || had4=0
upstream_has $H6 && had6=1 || had6=0
# How long after the SIGTERM the upstream router no longer holds each group (ms; -1: 3 s on).
t0=$(date +%s%N)
kill -TERM "$PPID2"
gone4=-1 gone6=-1
while [ $(($(date +%s%N) - t0)) -lt 3000000000 ] && { [ $gone4 = -1 ] || [ $gone6 = -1 ]; }; do
    [ $gone4 = -1 ] && upstream_lacks $H4 && gone4=$((($(date +%s%N) - t0) / 1000000))
    [ $gone6 = -1 ] && upstream_lacks $H6 && gone6=$((($(date +%s%N) - t0) / 1000000))
    sleep 0.01
done
# The SIGTERM is sent: the proxy's end is waited for as e2e_stop would.
wait_for 10 bash -c "! kill -0 $PPID2" || { echo "e2e_proxy: the proxy did not stop in 10 s" >&2; kill -KILL "$PPID2"; }
rc2=0
wait "$PPID2" || rc2=$?
touch "$RUN/stop_held"
wait "${RECEIVERS[@]}" || true
read -r vifs_after2 mfcs_after2 mifs_after2 mf6cs_after2 < <(kernel_state prx)
cat >"$OUT/result.env" <<EOF
rc=$rc2
held="$had4 $had6"
dropped_ms="$gone4 $gone6"
after="$vifs_after2 $mfcs_after2 $mifs_after2 $mf6cs_after2"
EOF
# ---- run 3, where igmpproxy is installed: run 1 again (IPv4) with igmpproxy as the proxy -------
if command -v igmpproxy >/dev/null; then
    rm -f "$RUN"/leave* "$RUN"/late* "$RUN"/last* "$RUN/stop" "$RUN/stop_held"
    cat >"$RUN/igmpproxy.conf" <<EOF
quickleave
phyint pup upstream ratelimit 0 threshold 1
    altnet 198.51.100.0/24
phyint pd1 downstream ratelimit 0 threshold 1
phyint pd2 downstream ratelimit 0 threshold 1
EOF
    ip netns exec "${P}prx" igmpproxy -d -v "$RUN/igmpproxy.conf" >"$RUN/igmpproxy.log" 2>&1 &
    IPID=$!
    PIDS+=("$IPID")
    wait_for 5 vifs_in prx 3 || echo "e2e_proxy: igmpproxy made no VIFs in 5 s" >&2
    FAMS=4
    chain run3 "upr udown up" "rcv1 r1 d1_" "rcv2 r2 d2_" || exit 1
    # igmpproxy's leave may take longer than the flow: the links are watched 2 s more.
    sleep 2
    touch "$RUN/stop"
    wait "${RECEIVERS[@]}" "${SNIFFERS[@]}" || true
    e2e_stop "$IPID" "e2e_proxy: igmpproxy"
fi
e2e_stop "$UPID" "e2e_proxy: the upstream router"

set +e
HERE=$HERE "$PY" - "$RUN" "$REPORT_WITHIN" "$PRUNE_WITHIN" "$FAST_WITHIN" "$LATE" "$LEAVE" "$LAST" <<'EOF'
import os, sys
sys.path.insert(0, os.environ["HERE"])
from verdict import Verdict
run = sys.argv[1]
report_within, prune_within, fast_within = map(float, sys.argv[2:5])
late, leave, last = map(int, sys.argv[5:8])
v = Verdict(run)
ok, load, env = v.ok, v.load, v.env
def after(ts, t):
    return min((x for x in ts if t is not None and x >= t), default=None)
def prune(sniff_leaver, left_at, sniff_link):
    """(leave report on the leaver's link - socket leave, last datagram on the link watched -
    that report)."""
    rep = after(sniff_leaver.get("group_reports", []), left_at)
    end = sniff_link.get("last")
    if rep is None or end is None:
        return None, None
    return rep - left_at, end - rep

def chain(d, fam):
    """What a chain run (run 1, or run 3 with igmpproxy) measured of family fam."""
    up, d1, d2 = load(d, f"up{fam}.json"), load(d, f"d1_{fam}.json"), load(d, f"d2_{fam}.json")
    r1, r2 = load(d, f"rcv1_{fam}.json"), load(d, f"rcv2_{fam}.json")
    join = min(d1.get("group_reports", []), default=None)
    upr = after(up.get("group_reports", []), join)
    f = {"report": None if join is None or upr is None else upr - join,
         "got1": r1.get("received", {}).get("F", 0), "missing1": r1.get("missing", {}).get("F"),
         "got2": r2.get("received", {}).get("F", 0), "first2": r2.get("first", {}).get("F"),
         "missing2": r2.get("missing", {}).get("F"), "stale2": r2.get("stale_count"),
         "stale": r2.get("stale"), "joined2": "joined_at" in r2,
         "ran_on": load(d, f"send{fam}.json").get("end", 0) - (r2.get("left_at") or 0),
         "ran_on1": load(d, f"send{fam}.json").get("end", 0) - (r1.get("left_at") or 0)}
    f["prune1"] = prune(d1, r1.get("left_at"), d1)[1]
    f["leave_report"], f["prune_up"] = prune(d2, r2.get("left_at"), up)
    return f

for fam, name in (("4", "IPv4"), ("6", "IPv6")):
    # Run 1.
    f = chain("run1", fam)
    if f["report"] is None:
        ok(f"{name}: rcv1's join and the proxy's report were seen", False)
    else:
        ok(f"{name}: the proxy's report upstream {1000 * f['report']:.1f} ms after rcv1's join report (limit {1000 * report_within:.0f} ms)",
           0 <= f["report"] <= report_within)
    ok(f"{name}: rcv1 got the flow until its leave", f["got1"] >= leave - 100 and not f["missing1"],
       f"{f['got1']} datagrams, missing {f['missing1']}")
    ok(f"{name}: the late joiner rcv2 got no datagram sent before its join", f["stale2"] == 0 and f["joined2"],
       f"{f['stale2']} stale: {f['stale']}")
    first2, got2 = f["first2"], f["got2"]
    ok(f"{name}: rcv2 kept every datagram from its first (#{first2}) to its leave, through rcv1's leave at #{leave}",
       first2 is not None and first2 <= late + 100 and not f["missing2"] and got2 >= last - first2 - 5,
       f"{got2} datagrams, missing {f['missing2']}")
    lat = f["prune1"]
    ok(f"{name}: rcv1's link pruned by the proxy within {prune_within} s of its leave",
       lat is not None and 1.5 <= lat <= prune_within, "no measure" if lat is None else f"{lat:.3f} s")
    rep, lat = f["leave_report"], f["prune_up"]
    if lat is None:
        ok(f"{name}: the last leave and the upstream link's datagrams were seen", False)
    else:
        print(f"{name}: the last member's leave report {1000 * rep:.1f} ms after its socket left; the last datagram "
              f"on the upstream link {lat:.3f} s after that report (the proxy's last member queries 2 x 1 s, the "
              f"upstream router's fast leave; limit {prune_within} s)")
        ok(f"{name}: forwarding upstream stopped {lat:.3f} s after the last downstream leave, within {prune_within} s",
           0 < lat <= prune_within)
        ok(f"{name}: the flow ran on after it stopped", f["ran_on"] > lat + 0.3, f"{f['ran_on']:.2f} s after the leave")
    # Run 2.
    up, d1, r1 = load("run2", f"up{fam}.json"), load("run2", f"d1_{fam}.json"), load("run2", f"rcv1_{fam}.json")
    rep, lat = prune(d1, r1.get("left_at"), up)
    if lat is None:
        ok(f"{name} fast leave: the leave and the upstream link's datagrams were seen", False)
    else:
        print(f"{name} fast leave: the last datagram on the upstream link {1000 * lat:.1f} ms after the leave report "
              f"(limit {1000 * fast_within:.0f} ms; below 0: the sender's next datagram came after the pruning)")
        ok(f"{name} fast leave on both: forwarding upstream stopped within {1000 * fast_within:.0f} ms", lat <= fast_within,
           f"{1000 * lat:.1f} ms")

if os.path.isdir(os.path.join(run, "run3")):
    # Side by side, IPv4: the same chain with igmpproxy as the proxy (printed, not checked).
    a, b = chain("run1", "4"), chain("run3", "4")
    def show(x, unit, flow_left=None):
        if x is None:
            return "not seen"
        if flow_left is not None and x >= flow_left - 0.05:
            return f"not in the {flow_left:.1f} s left"
        return f"{1000 * x:.1f} ms" if unit == "ms" else f"{x:.3f} s"
    rows = [("report upstream after the first join", show(a["report"], "ms"), show(b["report"], "ms")),
            ("late joiner: datagrams sent before its join", str(a["stale2"]), str(b["stale2"])),
            ("second member: datagrams missing", str(len(a["missing2"] or [])) + (" (first 20 listed)" if a["missing2"] else ""),
             str(len(b["missing2"] or [])) + (" (first 20 listed)" if b["missing2"] else "")),
            ("second member: datagrams received", str(a["got2"]), str(b["got2"])),
            ("first member's link pruned after its leave", show(a["prune1"], "s", a["ran_on1"]),
             show(b["prune1"], "s", b["ran_on1"])),
            ("upstream stopped after the last leave", show(a["prune_up"], "s", a["ran_on"]),
             show(b["prune_up"], "s", b["ran_on"]))]
    print("side by side, IPv4 proxy chain:")
    print(f"  {'':45} {'mgmd':>22} {'igmpproxy':>22}")
    for what, x, y in rows:
        print(f"  {what:45} {x:>22} {y:>22}")
else:
    print("side by side: igmpproxy is not installed; run 3 left out")

st = load("run1", "status.json")
p4, p6 = st.get("proxy") or {}, (st.get("ipv6") or {}).get("proxy") or {}
ok("mgmctl status: the IPv4 proxy upstream pup, live, an IGMPv3 host, the upstream querier heard",
   p4.get("upstream") == "pup" and p4.get("live") and p4.get("version") == 3 and p4.get("querier") == "203.0.113.1"
   and p4.get("sent", 0) >= 2, f"{p4}")
ok("mgmctl status: the IPv6 proxy upstream pup, live, an MLDv2 host from its link-local address, the querier heard",
   p6.get("upstream") == "pup" and p6.get("live") and p6.get("version") == 2
   and str(p6.get("address", "")).startswith("fe80:") and str(p6.get("querier", "")).startswith("fe80:")
   and p6.get("sent", 0) >= 2, f"{p6}")
e1, e2 = env("run1"), env("run2")
ok("while running: the proxy's VIFs, MFCs, MIFs and MF6Cs in the kernel",
   all(int(x) >= 1 for x in e1.get("running", "0 0 0 0").split()), e1.get("running"))
ok("after SIGTERM: no VIF, MFC, MIF or MF6C left in the proxy", e1.get("after") == "0 0 0 0" and e2.get("after") == "0 0 0 0",
   f"{e1.get('after')}; run 2: {e2.get('after')}")
dropped = [int(x) for x in e2.get("dropped_ms", "-1 -1").split()]
ok("the upstream router dropped the groups a member still held within 1 s of the proxy's SIGTERM",
   e2.get("held") == "1 1" and all(0 <= d <= 1000 for d in dropped), f"held {e2.get('held')}, dropped after {dropped} ms")
ok("the proxy's exit status 0, both runs", e1.get("rc") == "0" and e2.get("rc") == "0", f"{e1.get('rc')} {e2.get('rc')}")
sys.exit(v.finish("e2e_proxy"))
EOF
st=$?
[ "$st" = 0 ] || { tail -n 40 "$RUN/run1/prx.log" 2>/dev/null; tail -n 20 "$RUN/upr.log"; }
KEEP_LOGS=1
[ "$st" = 0 ] && KEEP_LOGS=0
exit "$st"
