#!/usr/bin/env bash
# End-to-end test of mgmd's fast leave with explicit host tracking: two receivers on one
# downstream link. Topology (network namespaces with a per-run prefix, veth pairs, a bridge
# without multicast snooping standing for the link's switch):
#
#   snd: snd0 198.51.100.2/24 ── rsnd 198.51.100.1/24    (rtr, mgmd with fast_leave = true)
#                                rlan 203.0.113.1/24 ── lr ┐
#   rcva: rcv0 203.0.113.2/24 ─────────────────────── la ├ br0 (lan)
#   rcvb: rcv0 203.0.113.3/24 ─────────────────────── lb ┘
#
# Scenario: both receivers join 239.1.2.4 with ordinary sockets (the kernel sends IGMPv3); a
# flow of 1,500 datagrams, one every 2 ms, runs while
#   1. rcva leaves (0.75 s into the flow): rcvb must lose no datagram, and mgmd must keep the
#      membership on rlan (rcvb is still tracked);
#   2. rcvb leaves (2 s into the flow): the last host tracked, so traffic on the link (seen by
#      a sniffer in rcva) must stop within 20 ms of rcvb's leave report on the link, while the
#      sender goes on 1 s (the time rcvb's kernel takes to send the report is shown apart).
#   3. mgmd stops on SIGTERM with exit status 0.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
G=239.1.2.4
# The flow: COUNT datagrams, one every INTERVAL s; the receivers leave at datagrams LEAVE_A
# and LEAVE_B (0.75 s and 2 s into it).
COUNT=1500
INTERVAL=0.002
LEAVE_A=375
LEAVE_B=1000
# Most time from rcvb's leave report on the link to the last datagram there.
STOP_WITHIN=0.020

e2e_unshare -- "$@"
NAMESPACES=(snd rtr lan rcva rcvb)
e2e_setup e2e_fast_leave mgmfl mgm-e2e-fast-leave "${NAMESPACES[@]}"

joined() { ctl memberships | grep -q "rlan.*(\*,$G)"; }

e2e_netns_add "${NAMESPACES[@]}"
ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
ip link add rlan netns "${P}rtr" type veth peer name lr netns "${P}lan"
ip link add rcv0 netns "${P}rcva" type veth peer name la netns "${P}lan"
ip link add rcv0 netns "${P}rcvb" type veth peer name lb netns "${P}lan"
# The link's switch floods multicast to every port: no snooping of its own.
nx lan ip link add br0 type bridge mcast_snooping 0
for i in lr la lb; do
    nx lan ip link set "$i" master br0
    nx lan ip link set "$i" up
done
nx lan ip link set br0 up
nx snd ip addr add 198.51.100.2/24 dev snd0
nx snd ip link set snd0 up
nx rtr ip addr add 198.51.100.1/24 dev rsnd
nx rtr ip addr add 203.0.113.1/24 dev rlan
nx rtr ip link set rsnd up
nx rtr ip link set rlan up
nx rcva ip addr add 203.0.113.2/24 dev rcv0
nx rcvb ip addr add 203.0.113.3/24 dev rcv0
nx rcva ip link set rcv0 up
nx rcvb ip link set rcv0 up

cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
[igmp]
fast_leave = true
[[interface]]
name = "rsnd"
[[interface]]
name = "rlan"
[[route]]
prefix = "198.51.100.0/24"
interface = "rsnd"
EOF
[ -x "$MGMD" ] || { echo "e2e_fast_leave: $MGMD missing (cargo build)" >&2; exit 1; }
e2e_start_mgmd debug || exit 1

# The flow's sender and the link's sniffer, with the timing this test needs: the sender makes
# the receivers leave at given datagrams of the flow (whatever the machine's load, the leaves
# fall inside it), and the sniffer reads the kernel's arrival time of each datagram.
cat >"$RUN/flow.py" <<'PYEOF'
import json, os, select, socket, struct, sys, time
def send(src, group, count, interval, *marks):
    at = {int(m.split(":", 1)[0]): m.split(":", 1)[1] for m in marks}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    start = time.time()
    for i in range(int(count)):
        if i in at:
            open(at[i], "w").close()
        s.sendto(f"F {i}".encode(), (group, 5000))
        pause = start + (i + 1) * float(interval) - time.time()
        if pause > 0:
            time.sleep(pause)
    print(json.dumps({"start": start, "end": time.time()}))
def sniff(ifname, group, host, ready, stop):
    # The flow's datagrams, and the IGMPv3 reports `host` sends: kernel arrival times.
    SO_TIMESTAMPNS = 35
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((ifname, 0x0800))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    open(ready, "w").close()
    count, last, reports = 0, None, []
    while not os.path.exists(stop):
        if not select.select([s], [], [], 0.05)[0]:
            continue
        pkt, anc, _, _ = s.recvmsg(2048, 64)
        ts = [struct.unpack("qq", d[:16]) for lvl, k, d in anc if (lvl, k) == (socket.SOL_SOCKET, SO_TIMESTAMPNS)]
        if not ts or len(pkt) < 28:
            continue
        t, ihl = ts[0][0] + ts[0][1] / 1e9, (pkt[0] & 0x0F) * 4
        if pkt[9] == 17 and pkt[16:20] == socket.inet_aton(group) and pkt[ihl + 8:].startswith(b"F "):
            count, last = count + 1, t
        elif pkt[9] == 2 and pkt[12:16] == socket.inet_aton(host) and pkt[ihl:ihl + 1] == b"\x22":
            reports.append(t)
    print(json.dumps({"count": count, "last": last, "reports": reports}))
{"send": send, "sniff": sniff}[sys.argv[1]](*sys.argv[2:])
PYEOF

ip netns exec "${P}rcva" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.2 \
    --leave-file "$RUN/leave_a" --duration 60 >"$RUN/recv_a.json" &
PA=$!
ip netns exec "${P}rcvb" "$PY" "$HERE/mcast.py" recv --group $G --iface-addr 203.0.113.3 \
    --leave-file "$RUN/leave_b" --duration 60 >"$RUN/recv_b.json" &
PB=$!
ip netns exec "${P}rcva" "$PY" "$RUN/flow.py" sniff rcv0 $G 203.0.113.3 \
    "$RUN/sniffing" "$RUN/stop" >"$RUN/sniff.json" &
PS=$!
PIDS+=("$PA" "$PB" "$PS")
# Each receiver's kernel has joined (and sent its report) once the group is in its
# /proc/net/igmp (239.1.2.4 in the kernel's byte order).
for n in rcva rcvb; do
    wait_for 20 nx "$n" grep -q 040201EF /proc/net/igmp ||
        { echo "e2e_fast_leave: $n did not join in 20 s" >&2; exit 1; }
done
wait_for 5 joined || { echo "e2e_fast_leave: mgmd did not hear the joins" >&2; exit 1; }
wait_for 20 test -e "$RUN/sniffing" || { echo "e2e_fast_leave: the sniffer did not start" >&2; exit 1; }
sleep 0.5
# A first burst sets up the forwarding entry (its first datagram takes the upcall path).
nx snd "$PY" "$HERE/mcast.py" send --src 198.51.100.2 --group $G --count 20 --tag W >"$RUN/send_w.json"
sleep 0.3

ip netns exec "${P}snd" "$PY" "$RUN/flow.py" send 198.51.100.2 $G $COUNT $INTERVAL \
    "$LEAVE_A:$RUN/leave_a" "$LEAVE_B:$RUN/leave_b" >"$RUN/send_f.json" &
PF=$!
PIDS+=("$PF")
wait_for 20 test -e "$RUN/leave_a" || true
sleep 0.3
ctl memberships >"$RUN/memberships_after_a.txt" || true
wait "$PF"
ctl memberships >"$RUN/memberships_after_b.txt" || true
touch "$RUN/stop"
wait "$PA" "$PB" "$PS" || true

e2e_stop "$RPID" "e2e_fast_leave: mgmd"
rc=$STOP_STATUS

set +e
"$PY" - "$RUN" "$INTERVAL" "$STOP_WITHIN" "$rc" "$G" <<'EOF'
import json, os, sys
run, interval, stop_within, rc, g = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(f):
    try:
        with open(os.path.join(run, f)) as h:
            return json.load(h)
    except Exception:
        return {}
def text(f):
    try:
        return open(os.path.join(run, f)).read()
    except Exception:
        return ""
def joined(f):
    return any("rlan" in l and f"(*,{g})" in l for l in text(f).splitlines())
a, b, sniff, sent = load("recv_a.json"), load("recv_b.json"), load("sniff.json"), load("send_f.json")
start, end = sent.get("start"), sent.get("end")
left_a, left_b = a.get("left_at"), b.get("left_at")
if None in (start, end, left_a, left_b):
    print("FAIL: a receiver or the sender did not report:", a, b, sent)
    sys.exit(1)
fails = []
seq_at = lambda t: int((t - start) / interval)
print(f"rcva left {left_a - start:.3f} s into the flow, rcvb {left_b - start:.3f} s")
# 1. rcvb through rcva's leave: every datagram up to its own leave, none missing.
got_b = b.get("received", {}).get("F", 0)
missing_b = b.get("missing", {}).get("F", ["all"])
print(f"rcvb received {got_b} datagrams before its leave (about {seq_at(left_b)} sent), missing {missing_b}")
if missing_b:
    fails.append(f"rcvb lost datagrams: {missing_b}")
if got_b < seq_at(left_a) + 200:
    fails.append(f"rcvb received {got_b}: it did not go on receiving after rcva's leave")
kept = joined("memberships_after_a.txt")
print(f"membership on rlan after rcva's leave: {'kept' if kept else 'GONE'}")
if not kept:
    fails.append("mgmd dropped the membership at rcva's leave")
# 2. After rcvb's leave the link carries the flow no more, within STOP_WITHIN.
last = sniff.get("last")
if last is None:
    fails.append("the sniffer on the link saw none of the flow")
else:
    # The router can act once the leave is on the link: the time from rcvb's socket call to
    # its kernel's report (a timer of a few jiffies) is the host's, and shown apart.
    wire = min((t for t in sniff.get("reports", []) if t >= left_b), default=None)
    if wire is None:
        fails.append("rcvb's leave report was not seen on the link")
    else:
        lat = last - wire
        print(f"rcvb's leave report on the link {(wire - left_b) * 1000:.1f} ms after its socket left; the last "
              f"datagram {lat * 1000:.1f} ms after the report (limit {stop_within * 1000:.0f} ms); "
              f"the sender went on {end - left_b:.2f} s; the link carried {sniff.get('count')} datagrams")
        if lat > stop_within:
            fails.append(f"traffic went on {lat * 1000:.1f} ms after the last host's leave")
    if end - left_b < 0.5:
        fails.append("the flow ended too soon after rcvb's leave to tell")
    if sniff.get("count", 0) < got_b:
        fails.append(f"the link carried {sniff.get('count')} datagrams, fewer than rcvb received")
if joined("memberships_after_b.txt"):
    fails.append("membership left on rlan after both leaves")
if rc != "0":
    fails.append(f"mgmd exit code {rc}")
for x in fails:
    print("FAIL:", x)
print(f"e2e_fast_leave: {'ok' if not fails else str(len(fails)) + ' failed'}")
sys.exit(1 if fails else 0)
EOF
e2e_finish "$?" 40
