#!/usr/bin/env bash
# End-to-end test of mgmd following its interfaces live (rtnetlink). Topology (network
# namespaces with a per-run prefix, veth pairs):
#
#   snd:  snd0 198.51.100.2/24  ── rsnd  198.51.100.1/24   (rtr, mgmd)
#   rcv1: rcv0 203.0.113.2/28   ── rrcv1 203.0.113.1/28
#   rcv2: rcv0 203.0.113.18/28  ── rrcv2 203.0.113.17/28
#   rcv3: rcv0 203.0.113.34/28  ── rrcv3 203.0.113.33/28   (configured, absent at start)
#
# The receivers in rcv1 and rcv2 join 239.5.6.7 with ordinary sockets (IGMP); a flow of one
# datagram every 2 ms runs through the whole test, while
#   1. rrcv1 is deleted and created again under the same name (a new ifindex): mgmctl shows
#      the new ifindex, and the flow is on the new link (seen by a sniffer in rcv1, whose host
#      never reports again: mgmd moved its IGMP state) within 1 s of the moment the link is
#      up again;
#   2. rrcv3, absent at start, appears (its address given after it is up): IGMP starts there,
#      and a receiver in rcv3 that joins then gets the flow;
#   3. rrcv1 is set down: its VIF leaves the entry's outgoing list in /proc/net/ip_mr_cache;
#      set up, it is back in it, and the flow on the link again within 1 s;
#   4. rrcv3's address changes (203.0.113.33/28 to 203.0.113.49/28): the IGMP querier's
#      address and subnets follow;
#   5. rcv2, whose link nothing touched, loses no datagram of the whole flow; mgmd stops on
#      SIGTERM with exit status 0.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
G=239.5.6.7
# 239.5.6.7 as /proc/net/ip_mr_cache prints it (the address's bytes read as a little-endian
# word).
G_HEX=070605EF
INTERVAL=0.002
# Most time from a link up to the flow on it.
RESUME_WITHIN=1.0

e2e_unshare -- "$@"
NAMESPACES=(snd rtr rcv1 rcv2 rcv3)
e2e_setup e2e_links mgmln mgm-e2e-links "${NAMESPACES[@]}"

e2e_netns_add "${NAMESPACES[@]}"
ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
nx snd ip addr add 198.51.100.2/24 dev snd0
nx snd ip link set snd0 up
nx rtr ip addr add 198.51.100.1/24 dev rsnd
nx rtr ip link set rsnd up
# receiver_link N HOST_ADDR [ROUTER_ADDR]: the veth pair rrcvN (rtr) / rcv0 (rcvN), addressed,
# both ends down.
receiver_link() {
    ip link add "rrcv$1" netns "${P}rtr" type veth peer name rcv0 netns "${P}rcv$1"
    nx "rcv$1" ip addr add "$2" dev rcv0
    [ -z "${3-}" ] || nx rtr ip addr add "$3" dev "rrcv$1"
}
receiver_link 1 203.0.113.2/28 203.0.113.1/28
receiver_link 2 203.0.113.18/28 203.0.113.17/28
for n in 1 2; do
    nx "rcv$n" ip link set rcv0 up
    nx rtr ip link set "rrcv$n" up
done

cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
[[interface]]
name = "rsnd"
igmp = false
[[interface]]
name = "rrcv1"
[[interface]]
name = "rrcv2"
[[interface]]
name = "rrcv3"
[[route]]
prefix = "198.51.100.0/24"
interface = "rsnd"
EOF
[ -x "$MGMD" ] || { echo "e2e_links: $MGMD missing (cargo build)" >&2; exit 1; }
e2e_start_mgmd debug || exit 1
ctl interfaces >"$RUN/interfaces_start.txt"

# The flow's sender (until a stop file) and a sniffer of a link (the kernel's arrival time of
# each datagram of the flow; a link going down and up again is waited through).
cat >"$RUN/flow.py" <<'PYEOF'
import errno, json, os, select, socket, struct, sys, time
def send(src, group, interval, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    start, i = time.time(), 0
    while not os.path.exists(stop):
        s.sendto(f"F {i}".encode(), (group, 5000))
        i += 1
        pause = start + i * float(interval) - time.time()
        if pause > 0:
            time.sleep(pause)
    print(json.dumps({"start": start, "end": time.time(), "sent": i}))
def sniff(ifname, group, ready, stop):
    SO_TIMESTAMPNS = 35
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((ifname, 0x0800))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    open(ready, "w").close()
    times = []
    while not os.path.exists(stop):
        if not select.select([s], [], [], 0.05)[0]:
            continue
        try:
            pkt, anc, _, _ = s.recvmsg(2048, 64)
        except OSError as e:
            if e.errno == errno.ENETDOWN:
                continue
            raise
        ts = [struct.unpack("qq", d[:16]) for lvl, k, d in anc if (lvl, k) == (socket.SOL_SOCKET, SO_TIMESTAMPNS)]
        if not ts or len(pkt) < 28:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] == 17 and pkt[16:20] == socket.inet_aton(group) and pkt[ihl + 8:].startswith(b"F "):
            times.append(ts[0][0] + ts[0][1] / 1e9)
    print(json.dumps({"times": times}))
{"send": send, "sniff": sniff}[sys.argv[1]](*sys.argv[2:])
PYEOF

# A link's VIF as mgmctl shows it ("" when it has none).
vif_of() {
    ctl --json interfaces | "$PY" -c 'import json,sys; r=[i for i in json.load(sys.stdin) if i["name"]==sys.argv[1]]; print("" if not r or r[0]["vif"] is None else r[0]["vif"])' "$1"
}
# The outgoing VIFs of the flow's entry in the kernel, one a line.
kernel_oifs() {
    nx rtr cat /proc/net/ip_mr_cache | awk -v g="$G_HEX" 'toupper($1) == g { for (i = 7; i <= NF; i++) { split($i, a, ":"); print a[1] } }'
}
has_entry() { [ -n "$(kernel_oifs)" ]; }
has_oif() { kernel_oifs | grep -qx "$1"; }
no_oif() { ! kernel_oifs | grep -qx "$1"; }
iface_line() { ctl interfaces | awk -v n="$1" '$1 == n'; }
state_is() { [ "$(iface_line "$1" | awk '{print $3}')" = "$2" ]; }
now() { date +%s.%N; }
joined_both() {
    ctl memberships | grep -q "rrcv1.*(\*,$G)" && ctl memberships | grep -q "rrcv2.*(\*,$G)"
}
igmp_address_is() { ctl igmp | grep -q "^$1: address $2,"; }
vif_back() {
    local v
    v=$(vif_of "$1")
    [ -n "$v" ] && has_oif "$v"
}

ip netns exec "${P}rcv1" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.2 \
    --stop-file "$RUN/stop" --duration 60 >"$RUN/recv1.json" &
PIDS+=($!)
ip netns exec "${P}rcv2" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.18 \
    --stop-file "$RUN/stop" --duration 60 >"$RUN/recv2.json" &
PR2=$!
PIDS+=("$PR2")
for n in rcv1 rcv2; do
    wait_for 20 nx "$n" grep -q $G_HEX /proc/net/igmp ||
        { echo "e2e_links: $n did not join in 20 s" >&2; exit 1; }
done
wait_for 5 joined_both ||
    { echo "e2e_links: mgmd did not hear both joins" >&2; exit 1; }

# A first burst sets up the forwarding entry (its first datagrams take the upcall path).
wait_for 5 state_is rsnd up || true
nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G --count 20 --tag W >"$RUN/send_w.json"
wait_for 5 has_entry || { echo "e2e_links: no kernel entry for the flow" >&2; exit 1; }
sleep 0.2
ip netns exec "${P}snd" "$PY" "$RUN/flow.py" send 198.51.100.2 $G $INTERVAL "$RUN/stop_flow" >"$RUN/send.json" &
PF=$!
PIDS+=("$PF")
sleep 0.5
OLD1=$(iface_line rrcv1 | awk '{print $2}')

# ---- 1. rrcv1 deleted and created again ----
nx rtr ip link del rrcv1
wait_for 5 state_is rrcv1 absent || true
iface_line rrcv1 >"$RUN/rrcv1_absent.txt"
sleep 0.3
receiver_link 1 203.0.113.2/28 203.0.113.1/28
nx rcv1 ip link set rcv0 up
ip netns exec "${P}rcv1" "$PY" "$RUN/flow.py" sniff rcv0 $G "$RUN/sniffing1" "$RUN/stop" >"$RUN/sniff1.json" &
PS1=$!
PIDS+=("$PS1")
wait_for 10 test -e "$RUN/sniffing1" || { echo "e2e_links: the sniffer did not start" >&2; exit 1; }
nx rtr ip link set rrcv1 up
UP1=$(now)
wait_for 5 state_is rrcv1 up || true
iface_line rrcv1 >"$RUN/rrcv1_back.txt"
NEW1=$(awk '{print $2}' "$RUN/rrcv1_back.txt")
sleep 1.2

# ---- 2. rrcv3 appears ----
receiver_link 3 203.0.113.34/28
nx rcv3 ip link set rcv0 up
nx rtr ip link set rrcv3 up
wait_for 5 state_is rrcv3 up || true
nx rtr ip addr add 203.0.113.33/28 dev rrcv3
wait_for 5 igmp_address_is rrcv3 203.0.113.33 || true
ip netns exec "${P}rcv3" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.34 \
    --stop-file "$RUN/stop" --duration 60 >"$RUN/recv3.json" &
PR3=$!
PIDS+=("$PR3")
sleep 1.5

# ---- 3. rrcv1 down and up ----
VIF1=$(vif_of rrcv1)
echo "rrcv1 has vif ${VIF1:-none}; the entry's oifs: $(kernel_oifs | tr '\n' ' ')"
HAD_VIF1=no
[ -n "$VIF1" ] && has_oif "$VIF1" && HAD_VIF1=yes
nx rtr ip link set rrcv1 down
DOWN_GONE=no
wait_for 3 no_oif "$VIF1" && DOWN_GONE=yes
state_is rrcv1 down && DOWN_STATE=yes || DOWN_STATE=no
nx rtr cat /proc/net/ip_mr_cache >"$RUN/mr_cache_down.txt"
sleep 0.3
nx rtr ip link set rrcv1 up
UP1B=$(now)
BACK=no
wait_for 3 vif_back rrcv1 && BACK=yes
sleep 1.2

# ---- 4. rrcv3's address changes ----
nx rtr ip addr add 203.0.113.49/28 dev rrcv3
nx rtr ip addr del 203.0.113.33/28 dev rrcv3
ADDR3=no
wait_for 3 igmp_address_is rrcv3 203.0.113.49 && ADDR3=yes
ctl --json igmp >"$RUN/igmp.json"

touch "$RUN/stop_flow"
wait "$PF"
sleep 0.2
touch "$RUN/stop"
wait "$PR2" "$PR3" "$PS1" || true
ctl interfaces >"$RUN/interfaces_end.txt" || true
e2e_stop "$RPID" "mgmd"

cat "$RUN/interfaces_start.txt"
check "at start rrcv3 is absent, with no ifindex" grep -Eq '^rrcv3 +- +absent' "$RUN/interfaces_start.txt"
check "deleted, rrcv1 shows absent" grep -q 'absent' "$RUN/rrcv1_absent.txt"
check "re-created, rrcv1 shows a new ifindex ($OLD1 -> $NEW1), up" \
    bash -c "[ '$NEW1' != '$OLD1' ] && grep -q ' up ' '$RUN/rrcv1_back.txt'"
check "down, rrcv1's vif $VIF1 left the entry's outgoing list (it was there: $HAD_VIF1)" \
    test "$HAD_VIF1$DOWN_GONE" = yesyes
check "down, mgmctl shows rrcv1 down" test "$DOWN_STATE" = yes
check "up again, rrcv1's vif is back in the entry's outgoing list" test "$BACK" = yes
check "rrcv3's new address shows in mgmctl igmp" test "$ADDR3" = yes
check "rrcv3's new address reached the IGMP querier and its subnets" \
    "$PY" -c 'import json,sys; r=[i for i in json.load(open(sys.argv[1])) if i["interface"]=="rrcv3"]; sys.exit(not (r and r[0]["address"]=="203.0.113.49" and r[0]["subnets"]==["203.0.113.49/28"]))' "$RUN/igmp.json"
check "mgmd exit status 0" test "$STOP_STATUS" = 0

set +e
"$PY" - "$RUN" "$UP1" "$UP1B" "$RESUME_WITHIN" <<'EOF'
import json, os, sys
run, up1, up1b, within = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def load(f):
    try:
        with open(os.path.join(run, f)) as h:
            return json.load(h)
    except Exception:
        return {}
fails = []
sent = load("send.json").get("sent", 0)
r2, r3 = load("recv2.json"), load("recv3.json")
got2, missing2 = r2.get("received", {}).get("F", 0), r2.get("missing", {}).get("F", ["all"])
print(f"the flow: {sent} datagrams; rcv2 (link untouched) received {got2}, missing {missing2}")
if missing2 or got2 < sent - 50:
    fails.append(f"rcv2 lost datagrams ({got2} of {sent}, missing {missing2})")
got3 = r3.get("received", {}).get("F", 0)
print(f"rcv3 (link absent at start) received {got3}")
if got3 < 200:
    fails.append(f"rcv3 received {got3} datagrams: the link that appeared did not get the flow")
times = load("sniff1.json").get("times", [])
for what, up, until in (("re-created", up1, up1b - 0.3), ("set up again", up1b, None)):
    after = [t for t in times if t >= up and (until is None or t < until)]
    if not after:
        fails.append(f"rrcv1 {what}: no datagram on the link after it was up")
        continue
    lat = after[0] - up
    print(f"rrcv1 {what}: the flow on the link {lat * 1000:.0f} ms after it was up (limit {within * 1000:.0f} ms), {len(after)} datagrams")
    if lat > within:
        fails.append(f"rrcv1 {what}: the flow came back {lat:.2f} s after the link was up")
for x in fails:
    print("FAIL:", x)
sys.exit(1 if fails else 0)
EOF
[ "$?" = 0 ] || FAILS+=("the flow's delivery")
echo "e2e_links: ${#FAILS[@]} of $((CHECKS + 1)) checks failed"
if [ "${#FAILS[@]}" = 0 ]; then e2e_finish 0 60; fi
e2e_finish 1 60
