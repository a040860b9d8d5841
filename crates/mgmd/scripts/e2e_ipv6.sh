#!/usr/bin/env bash
# End-to-end test of mgmd as an IPv6 router (MLD, MIFs, the kernel's MF6C), and of both
# families at once. Topology (network namespaces with a per-run prefix, veth pairs, no
# duplicate address detection):
#
#   snd:  snd0 2001:db8:1::2, 2001:db8:1::3/64 ── rsnd 2001:db8:1::1/64  (rtr, mgmd)
#         (and 198.51.100.2/24)                       (198.51.100.1/24)
#   rcv:  rcv0 2001:db8:2::2/64 ─────────────── rrcv 2001:db8:2::1/64
#         (and 203.0.113.2/25)                        (203.0.113.1/25)
#   late: late0 2001:db8:3::2/64 ────────────── rlate 2001:db8:3::1/64
#
# The receivers join with their kernel's own MLD (MLDv2), any-source and source-specific.
# Run 1, IPv4 and IPv6 together in one mgmd (last listener query interval 1 s, count 2):
#   1. an IPv4 receiver on rcv gets 239.1.2.3 while IPv6 runs beside it;
#   2. rcv joins ff0e::1:3 (any source) and (2001:db8:1::2, ff3e::1:3) (SSM); a flow to both
#      groups, from 2001:db8:1::2 and, to the SSM group, from 2001:db8:1::3 too: rcv gets
#      both groups, and its link carries no datagram of the source it did not ask for;
#   3. a late joiner on rlate joins ff0e::1:3 during the flow: it gets the flow, and no
#      datagram sent before its join;
#   4. rcv leaves ff0e::1:3 during the flow: its link carries the group no more once the last
#      listener queries are over (2 x 1 s; measured from the kernel's timestamps of the leave
#      report and of the last datagram on the link, at most 2.1 s);
#   5. (2001:db8:1::2, ff0e::1:3) arriving on rrcv (the wrong MIF) is reported;
#   6. mgmctl shows both families (status, mfes, memberships, interfaces, mld);
#   7. SIGTERM: no MIF, MF6C, VIF or MFC left.
# Run 2, IPv6 alone with [mld] fast_leave = true:
#   8. IPv4 stays off (no VIF while mgmd runs); rcv's leave stops the group on its link within
#      20 ms of the leave report; SIGTERM leaves no MIF or MF6C.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
S1=2001:db8:1::2
S2=2001:db8:1::3
G=ff0e::1:3
GS=ff3e::1:3
G4=239.1.2.3
# The flow: COUNT datagrams per group, one every INTERVAL s; the late joiner joins at datagram
# LATE, rcv leaves at LEAVE.
COUNT=2500
INTERVAL=0.002
LATE=400
LEAVE=750
PRUNE_WITHIN=2.1
FAST_WITHIN=0.020

e2e_unshare -- "$@"
NAMESPACES=(snd rtr rcv late)
e2e_setup e2e_ipv6 mgm6e mgm-e2e-ipv6 "${NAMESPACES[@]}"

topology() {
    local n
    e2e_netns_add "${NAMESPACES[@]}"
    for n in "${NAMESPACES[@]}"; do
        # Addresses usable at once (link-local ones too), and the hosts' MLD as RFC 3810's.
        nx "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        nx "$n" sysctl -qw net.ipv6.conf.all.force_mld_version=2 net.ipv6.conf.default.force_mld_version=2
        # A state change's retransmissions 10 ms apart instead of up to 1 s.
        nx "$n" sysctl -qw net.ipv6.conf.default.mldv2_unsolicited_report_interval=10
    done
    ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
    ip link add rcv0 netns "${P}rcv" type veth peer name rrcv netns "${P}rtr"
    ip link add late0 netns "${P}late" type veth peer name rlate netns "${P}rtr"
    nx snd ip addr add $S1/64 dev snd0 nodad
    nx snd ip addr add $S2/64 dev snd0 nodad
    nx snd ip addr add 198.51.100.2/24 dev snd0
    nx rtr ip addr add 2001:db8:1::1/64 dev rsnd nodad
    nx rtr ip addr add 198.51.100.1/24 dev rsnd
    nx rtr ip addr add 2001:db8:2::1/64 dev rrcv nodad
    nx rtr ip addr add 203.0.113.1/25 dev rrcv
    nx rtr ip addr add 2001:db8:3::1/64 dev rlate nodad
    nx rcv ip addr add 2001:db8:2::2/64 dev rcv0 nodad
    nx rcv ip addr add 203.0.113.2/25 dev rcv0
    nx late ip addr add 2001:db8:3::2/64 dev late0 nodad
    nx snd ip link set snd0 up
    nx rcv ip link set rcv0 up
    nx late ip link set late0 up
    for i in rsnd rrcv rlate; do nx rtr ip link set "$i" up; done
    nx snd ip route add 203.0.113.0/25 via 198.51.100.1
}

# Kernel state in rtr: "MIFS MF6CS VIFS MFCS".
kernel_state() {
    local m c v f
    m=$(nx rtr tail -n +2 /proc/net/ip6_mr_vif | wc -l)
    c=$(nx rtr tail -n +2 /proc/net/ip6_mr_cache | wc -l)
    v=$(nx rtr tail -n +2 /proc/net/ip_mr_vif | wc -l)
    f=$(nx rtr tail -n +2 /proc/net/ip_mr_cache | wc -l)
    echo "$m $c $v $f"
}

config_dual() {
    cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
[[interface]]
name = "rsnd"
mld = true
[[interface]]
name = "rrcv"
[[interface]]
name = "rlate"
igmp = false
[[route]]
prefix = "198.51.100.0/24"
interface = "rsnd"
[[route]]
prefix = "2001:db8:1::/48"
interface = "rsnd"
EOF
}

config_v6_fast() {
    cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
[mld]
fast_leave = true
[[interface]]
name = "rsnd"
igmp = false
[[interface]]
name = "rrcv"
igmp = false
[[interface]]
name = "rlate"
igmp = false
[[route]]
prefix = "2001:db8:1::/48"
interface = "rsnd"
EOF
}

mld_joined() { ctl --json memberships | grep -q "\"(\*,$G)\""; }
ssm_joined() { ctl --json memberships | grep -q "($S1,$GS)"; }
v4_joined() { ctl --json memberships | grep -q "(\*,$G4)"; }
# The receiver's kernel has joined (and reported) once the group is in /proc/net/igmp6.
kernel_joined() { nx "$1" grep -q "$2" /proc/net/igmp6; }

# The leaver: rcv's receiver of $G (it leaves when $RUN/leave appears) and the sniffer of
# $G on rcv's link, their results in $OUT; sets PG and PN. Returns once rcv's kernel has
# joined, mgmd has heard it and the sniffer reads.
start_leaver() {
    ip netns exec "${P}rcv" "$PY" "$HERE/mcast.py" recv6 --group $G --ifname rcv0 \
        --leave-file "$RUN/leave" --duration 60 >"$OUT/recv_g.json" &
    PG=$!
    ip netns exec "${P}rcv" "$PY" "$HERE/mcast.py" sniff6 --ifname rcv0 --group $G \
        --ready-file "$RUN/sniffing" --stop-file "$RUN/stop" --duration 60 >"$OUT/sniff_g.json" &
    PN=$!
    PIDS+=("$PG" "$PN")
    wait_for 20 kernel_joined rcv ff0e0000000000000000000000010003 ||
        { echo "e2e_ipv6: rcv did not join $G in 20 s" >&2; return 1; }
    wait_for 10 mld_joined || { echo "e2e_ipv6: mgmd did not hear the MLD join of $G" >&2; return 1; }
    wait_for 20 test -e "$RUN/sniffing" || { echo "e2e_ipv6: the sniffer did not start" >&2; return 1; }
}

[ -x "$MGMD" ] || { echo "e2e_ipv6: $MGMD missing (cargo build)" >&2; exit 1; }
topology

# ---- run 1: IPv4 and IPv6 together -------------------------------------------------------
config_dual
e2e_start_mgmd debug || exit 1
OUT=$RUN/dual
mkdir -p "$OUT"

# 1. IPv4 beside IPv6.
ip netns exec "${P}rcv" "$PY" "$HERE/mcast.py" recv --group $G4 --iface-addr 203.0.113.2 \
    --stop-file "$RUN/stop4" --duration 30 >"$OUT/recv4.json" &
P4=$!
PIDS+=("$P4")
wait_for 10 v4_joined || echo "e2e_ipv6: mgmd did not hear the IGMP join in 10 s" >&2
# A first burst sets the entry up (its first datagram takes the upcall path), then the count.
nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G4 --count 10 --tag U >"$OUT/send4u.json"
sleep 0.3
nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G4 --count 50 --tag V >"$OUT/send4.json"
sleep 0.3
touch "$RUN/stop4"
wait "$P4" || true

# 2.-4. The IPv6 receivers, the sniffer on rcv's link, the flow.
ip netns exec "${P}rcv" "$PY" "$HERE/mcast.py" recv6 --group $GS --source $S1 --ifname rcv0 \
    --stop-file "$RUN/stop" --duration 60 >"$OUT/recv_ssm.json" &
PS=$!
ip netns exec "${P}late" "$PY" "$HERE/mcast.py" recv6 --group $G --ifname late0 \
    --join-file "$RUN/late" --stop-file "$RUN/stop" --duration 60 >"$OUT/recv_late.json" &
PL=$!
ip netns exec "${P}rcv" "$PY" "$HERE/mcast.py" sniff6 --ifname rcv0 --group $GS \
    --ready-file "$RUN/sniffing_ssm" --stop-file "$RUN/stop" --duration 60 >"$OUT/sniff_ssm.json" &
PN2=$!
PIDS+=("$PS" "$PL" "$PN2")
start_leaver || exit 1
wait_for 10 ssm_joined || { echo "e2e_ipv6: mgmd did not hear the MLD join of ($S1, $GS)" >&2; exit 1; }
wait_for 20 test -e "$RUN/sniffing_ssm" || { echo "e2e_ipv6: the sniffers did not start" >&2; exit 1; }
# A first burst sets the entries up (their first datagram takes the upcall path).
nx snd "$PY" "$HERE/mcast.py" send6 --src $S1 --ifname snd0 --group $G --group $GS --count 20 --tag W >"$OUT/send_w.json"
sleep 0.3
ip netns exec "${P}snd" "$PY" "$HERE/mcast.py" send6 --src $S2 --ifname snd0 --group $GS \
    --count $((COUNT / 10)) --interval 0.02 --tag X >"$OUT/send_x.json" &
PX=$!
ip netns exec "${P}snd" "$PY" "$HERE/mcast.py" send6 --src $S1 --ifname snd0 --group $G --group $GS \
    --count $COUNT --interval $INTERVAL --tag F --mark "$LATE:$RUN/late" --mark "$LEAVE:$RUN/leave" >"$OUT/send_f.json" &
PF=$!
PIDS+=("$PX" "$PF")
wait "$PF"
wait "$PX" || true
ctl memberships >"$OUT/memberships.txt" || true

# 5. The wrong MIF: the same (S,G) sent from rcv's link, an outgoing interface of its entry.
nx rcv ip addr add $S1/128 dev rcv0 nodad
nx rcv "$PY" "$HERE/mcast.py" send6 --src $S1 --ifname rcv0 --group $GS --count 5 --interval 0.1 --tag Z >"$OUT/send_z.json"
sleep 0.5
touch "$RUN/stop"
wait "$PG" "$PS" "$PL" "$PN" "$PN2" || true

# 6. What mgmctl shows.
ctl events >"$OUT/events.txt" || true
ctl --json status >"$OUT/status.json" || true
ctl status >"$OUT/status.txt" || true
ctl --json mfes >"$OUT/mfes.json" || true
ctl mfes >"$OUT/mfes.txt" || true
ctl --json memberships >"$OUT/memberships.json" || true
ctl --json interfaces >"$OUT/interfaces.json" || true
ctl --json igmp >"$OUT/igmp.json" || true
ctl igmp >"$OUT/igmp.txt" || true
nx rtr cat /proc/net/ip6_mr_cache >"$OUT/ip6_mr_cache.txt"
read -r mifs_before mf6cs_before vifs_before mfcs_before < <(kernel_state)
# 7. Stop.
e2e_stop "$RPID" "e2e_ipv6: mgmd"
rc1=$STOP_STATUS
read -r mifs_after mf6cs_after vifs_after mfcs_after < <(kernel_state)
cat >"$OUT/result.env" <<EOF
rc=$rc1
before="$mifs_before $mf6cs_before $vifs_before $mfcs_before"
after="$mifs_after $mf6cs_after $vifs_after $mfcs_after"
EOF
cp "$RUN/mgmd.log" "$OUT/mgmd.log"

# ---- run 2: IPv6 alone, fast leave ---------------------------------------------------------
config_v6_fast
rm -f "$RUN/leave" "$RUN/stop" "$RUN/sniffing" "$RUN/mgmd.sock"
nx rcv ip addr del $S1/128 dev rcv0
e2e_start_mgmd debug || exit 1
OUT=$RUN/fast
mkdir -p "$OUT"
read -r mifs_run mf6cs_run vifs_run mfcs_run < <(kernel_state)
v4_forwarding=$(nx rtr cat /proc/sys/net/ipv4/conf/all/mc_forwarding)
start_leaver || exit 1
nx snd "$PY" "$HERE/mcast.py" send6 --src $S1 --ifname snd0 --group $G --count 20 --tag W >"$OUT/send_w.json"
sleep 0.3
nx snd "$PY" "$HERE/mcast.py" send6 --src $S1 --ifname snd0 --group $G --count 1000 \
    --interval $INTERVAL --tag F --mark "$LEAVE:$RUN/leave" >"$OUT/send_f.json"
sleep 0.2
touch "$RUN/stop"
wait "$PG" "$PN" || true
ctl --json status >"$OUT/status.json" || true
e2e_stop "$RPID" "e2e_ipv6: mgmd (fast leave)"
rc2=$STOP_STATUS
read -r mifs_after2 mf6cs_after2 _ _ < <(kernel_state)
cat >"$OUT/result.env" <<EOF
rc=$rc2
running="$mifs_run $mf6cs_run $vifs_run $mfcs_run"
v4_forwarding=$v4_forwarding
after="$mifs_after2 $mf6cs_after2"
EOF

set +e
HERE=$HERE "$PY" - "$RUN" "$INTERVAL" "$PRUNE_WITHIN" "$FAST_WITHIN" "$G" "$GS" "$S1" "$S2" <<'EOF'
import os, sys
sys.path.insert(0, os.environ["HERE"])
from verdict import Verdict
run, interval, prune_within, fast_within = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
g, gs, s1, s2 = sys.argv[5:9]
v = Verdict(run)
ok, load, text, env = v.ok, v.load, v.text, v.env
def leave_latency(sniff, left_at):
    """(report time - socket leave, last datagram on the link - report time)."""
    wire = min((t for t in sniff.get("reports", []) if left_at and t >= left_at), default=None)
    last = sniff.get("last")
    if wire is None or last is None:
        return None, None
    return wire - left_at, last - wire

# Run 1.
r4 = load("dual", "recv4.json")
ok("IPv4 beside IPv6: the receiver got 239.1.2.3", r4.get("received", {}).get("V", 0) >= 45,
   f"{r4.get('received', {}).get('V', 0)} of 50")
rg, rs, rl = load("dual", "recv_g.json"), load("dual", "recv_ssm.json"), load("dual", "recv_late.json")
sent = load("dual", "send_f.json")
start = sent.get("start", 0)
got_g = rg.get("received", {}).get("F", 0)
ok(f"rcv got {g} (any source) until its leave", got_g >= 700 and not rg.get("missing", {}).get("F"),
   f"{got_g} datagrams, missing {rg.get('missing', {}).get('F')}")
got_s = rs.get("received", {}).get("F", 0)
ok(f"rcv got ({s1}, {gs}) (SSM)", got_s >= 2400 and not rs.get("missing", {}).get("F"),
   f"{got_s} of 2500, missing {rs.get('missing', {}).get('F')}")
ss = load("dual", "sniff_ssm.json").get("sources", {})
ok(f"rcv's link carried no datagram of {s2}, the source it did not ask for", ss.get(s2, 0) == 0 and ss.get(s1, 0) > 0,
   f"per source on the link: {ss}")
got_l = rl.get("received", {}).get("F", 0)
ok("the late joiner got the flow", got_l >= 1000, f"{got_l} datagrams, from #{rl.get('first', {}).get('F')}")
ok("the late joiner got no datagram sent before its join", rl.get("stale_count", 1) == 0 and "joined_at" in rl,
   f"{rl.get('stale_count')} stale: {rl.get('stale')}; joined {rl.get('joined_at', 0) - start:.3f} s into the flow")
rep, lat = leave_latency(load("dual", "sniff_g.json"), rg.get("left_at"))
if lat is None:
    ok("the leave report and the group's datagrams were seen on rcv's link", False)
else:
    print(f"rcv's leave report on the link {rep * 1000:.1f} ms after its socket left; the last datagram of {g} "
          f"there {lat:.3f} s after the report (last listener queries 2 x 1 s; limit {prune_within} s)")
    ok(f"pruned {lat:.3f} s after the leave, within {prune_within} s", 0 < lat <= prune_within)
    ok("not pruned before the last listener queries were over (>= 1.5 s)", lat >= 1.5, f"{lat:.3f} s")
    ok("the flow ran on after the pruning", sent.get("end", 0) - rg.get("left_at", 0) > lat + 0.3,
       f"{sent.get('end', 0) - rg.get('left_at', 0):.2f} s after the leave")
ev = text("dual", "events.txt")
ok("the wrong MIF was reported", "wrong interface" in ev and s1 in ev and "WRONGMIF" in ev)
mfes = load("dual", "mfes.json")
fam = {(m.get("family"), m.get("source"), m.get("group")) for m in mfes} if isinstance(mfes, list) else set()
ok("mgmctl mfes shows the IPv4 and the IPv6 entries", ("ipv4", "198.51.100.2", "239.1.2.3") in fam
   and ("ipv6", s1, gs) in fam, f"{sorted(fam)}")
st = load("dual", "status.json")
ok("mgmctl status shows both families", st.get("family") == "ipv4" and (st.get("ipv6") or {}).get("family") == "ipv6"
   and (st.get("ipv6") or {}).get("upcalls_wrongvif", 0) >= 1, f"ipv6 wrongvif {(st.get('ipv6') or {}).get('upcalls_wrongvif')}")
ifs = load("dual", "interfaces.json")
rows = {(i.get("family"), i.get("name")) for i in ifs} if isinstance(ifs, list) else set()
v6rrcv = [i for i in ifs if i.get("family") == "ipv6" and i.get("name") == "rrcv"] if isinstance(ifs, list) else []
ok("mgmctl interfaces: a row per family, the IPv6 one with its MIF and link-local address",
   ("ipv4", "rrcv") in rows and ("ipv6", "rlate") in rows and ("ipv4", "rlate") in rows and bool(v6rrcv)
   and v6rrcv[0].get("vif") is not None and str(v6rrcv[0].get("address", "")).startswith("fe80:"),
   f"{v6rrcv[:1]}")
mld = load("dual", "igmp.json")
mrows = [r for r in mld if r.get("family") == "ipv6" and r.get("interface") == "rrcv"] if isinstance(mld, list) else []
ok("mgmctl igmp: MLD on rrcv, querier self, at its link-local address",
   bool(mrows) and mrows[0].get("querier") == "self" and mrows[0].get("address", "").startswith("fe80:"),
   f"{[(r.get('address'), r.get('querier'), [x.get('group') for x in r.get('groups', [])]) for r in mrows]}")
e1 = env("dual")
before = e1.get("before", "0 0 0 0").split()
ok("while running: MIFs, an MF6C, VIFs and an MFC in the kernel", int(before[0]) == 3 and int(before[1]) >= 1
   and int(before[2]) == 3, f"MIFs, MF6Cs, VIFs, MFCs: {e1.get('before')}")
ok("after SIGTERM: no MIF, MF6C, VIF or MFC left", e1.get("after") == "0 0 0 0", e1.get("after", "?"))
ok("mgmd (both families) exit status 0", e1.get("rc") == "0", e1.get("rc"))

# Run 2.
e2 = env("fast")
running = e2.get("running", "0 0 1 1").split()
ok("IPv6 alone: MIFs and no VIF (no MRT_INIT) while running", int(running[0]) == 3 and running[2] == "0"
   and running[3] == "0" and e2.get("v4_forwarding") == "0", f"{e2.get('running')}, IPv4 mc_forwarding {e2.get('v4_forwarding')}")
rg2 = load("fast", "recv_g.json")
rep, lat = leave_latency(load("fast", "sniff_g.json"), rg2.get("left_at"))
if lat is None:
    ok("fast leave: the leave report and the datagrams were seen on the link", False)
else:
    print(f"fast leave: the report on the link {rep * 1000:.1f} ms after the socket left; the last datagram "
          f"{lat * 1000:.1f} ms after the report (limit {fast_within * 1000:.0f} ms; below 0: the sender's "
          f"next datagram came after the pruning)")
    ok(f"fast leave: pruned within {fast_within * 1000:.0f} ms", lat <= fast_within, f"{lat * 1000:.1f} ms")
st2 = load("fast", "status.json")
ok("IPv6 alone: status is IPv6's", st2.get("family") == "ipv6" and st2.get("ipv6") is None)
ok("after SIGTERM: no MIF or MF6C left", e2.get("after") == "0 0", e2.get("after", "?"))
ok("mgmd (IPv6 alone) exit status 0", e2.get("rc") == "0", e2.get("rc"))
sys.exit(v.finish("e2e_ipv6"))
EOF
st=$?
[ "$st" = 0 ] || { tail -n 30 "$RUN/dual/mgmd.log" 2>/dev/null; }
e2e_finish "$st" 40
