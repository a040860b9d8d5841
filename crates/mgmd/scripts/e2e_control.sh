#!/usr/bin/env bash
# End-to-end test of mgmd's reload and runtime control, with flows running and their loss
# counted. Topology (network namespaces with a per-run prefix, veth pairs):
#
#   snd: snd0 198.51.100.2/24 ── rsnd 198.51.100.1/24     (rtr, mgmd)
#                                rrcv1 203.0.113.1/28 ── rcv0 203.0.113.2/28   (rcv1)
#                                rrcv2 203.0.113.17/28 ── rcv0 203.0.113.18/28 (rcv2)
#                                rrcv3 203.0.113.33/28 ── rcv0 203.0.113.34/28 (rcv3)
#
# The configuration starts with rsnd, rrcv1 and rrcv2 and one static (S,G) mroute,
# (198.51.100.2, 239.5.5.5) from rsnd to rrcv1 and rrcv2. The sender sends that flow and a
# second one, (198.51.100.2, 239.5.5.6), a datagram of each every 4 ms, the whole time; a
# sniffer on each receiver's link records every datagram. While they run:
#   1. the static (S,G) shows no expiry (`mgmctl mfes`: never; --json: null); the --json
#      replies have null for what is absent, and `routes` shows the RPF routes;
#   2. SIGHUP with the file unchanged: nothing changes, nothing is lost;
#   3. `mgmctl reload` after rrcv3 is added to the file (and to the mroute's `to`) and an IGMP
#      timer changed: the reply names both, rcv3 gets the flow, rcv1 and rcv2 lose nothing;
#   4. `mgmctl reload` with an invalid file: exit status 1, the reply says why, the routes
#      and interfaces are as before, nothing is lost;
#   5. `mgmctl mroute add` of (198.51.100.2, 239.5.5.6) to rrcv1: rcv1 gets the second flow
#      within 0.5 s; `mgmctl mroute del`: it stops within 0.5 s; a reload that removes rrcv3
#      again: rcv3's flow stops, rcv1 and rcv2 lose nothing; a reload that adds rlate, a link
#      that does not exist yet: `interfaces` shows it absent, a `mgmctl join` on it is
#      accepted; once the link is created and up it is attached, with the mroute's and the
#      join's memberships; a reload that removes it again detaches it, and its link going
#      down afterwards is ignored;
#   6. `mgmctl flush`: the static (S,G) stays, nothing of it is lost;
#   7. mgmd stops on SIGTERM with exit status 0.
# Over the whole run rcv1 and rcv2 must miss no datagram of the first flow from their first.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
G1=239.5.5.5
G2=239.5.5.6
S=198.51.100.2
INTERVAL=0.004

e2e_unshare -- "$@"
NAMESPACES=(snd rtr rcv1 rcv2 rcv3)
e2e_setup e2e_control mgmct mgm-e2e-control "${NAMESPACES[@]}"

e2e_netns_add "${NAMESPACES[@]}"
ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
nx snd ip addr add $S/24 dev snd0
nx snd ip link set snd0 up
nx rtr ip addr add 198.51.100.1/24 dev rsnd
nx rtr ip link set rsnd up
n=0
for r in rcv1 rcv2 rcv3; do
    ip link add "r$r" netns "${P}rtr" type veth peer name rcv0 netns "$P$r"
    nx rtr ip addr add "203.0.113.$((n * 16 + 1))/28" dev "r$r"
    nx "$r" ip addr add "203.0.113.$((n * 16 + 2))/28" dev rcv0
    nx rtr ip link set "r$r" up
    nx "$r" ip link set rcv0 up
    n=$((n + 1))
done

# config TO... : the configuration with interfaces rsnd and TO, the (S,G) mroute to TO, and
# the [igmp] section $IGMP.
IGMP=""
config() {
    local i to=""
    echo "control_socket = \"$RUN/mgmd.sock\""
    printf '%b' "$IGMP"
    printf '[[interface]]\nname = "rsnd"\nigmp = false\n'
    for i in "$@"; do
        printf '[[interface]]\nname = "%s"\n' "$i"
        to="$to${to:+, }\"$i\""
    done
    printf '[[route]]\nprefix = "198.51.100.0/24"\ninterface = "rsnd"\n'
    printf '[[mroute]]\nfrom = "rsnd"\nsource = "%s"\ngroup = "%s"\nto = [%s]\n' "$S" "$G1" "$to"
}
config rrcv1 rrcv2 >"$RUN/mgmd.toml"
[ -x "$MGMD" ] || { echo "e2e_control: $MGMD missing (cargo build)" >&2; exit 1; }
e2e_start_mgmd info || exit 1

cat >"$RUN/flow.py" <<'PYEOF'
import json, os, select, socket, sys, time
def send(src, interval, stop, *groups):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
    start, i = time.time(), 0
    while not os.path.exists(stop):
        for g in groups:
            s.sendto(f"F {i}".encode(), (g, 5000))
        i += 1
        pause = start + i * float(interval) - time.time()
        if pause > 0:
            time.sleep(pause)
    print(json.dumps({"start": start, "end": time.time(), "sent": i}))
def sniff(ifname, ready, stop, *groups):
    # Every datagram of the flows on the link: (sequence number, arrival time) per group.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((ifname, 0x0800))
    open(ready, "w").close()
    seen = {g: [] for g in groups}
    want = {socket.inet_aton(g): g for g in groups}
    while not os.path.exists(stop):
        if not select.select([s], [], [], 0.05)[0]:
            continue
        pkt = s.recv(2048)
        ihl = (pkt[0] & 0x0F) * 4
        g = want.get(pkt[16:20])
        if g and pkt[9] == 17 and pkt[ihl + 8:].startswith(b"F "):
            seen[g].append([int(pkt[ihl + 10:].split()[0]), time.time()])
    print(json.dumps(seen))
{"send": send, "sniff": sniff}[sys.argv[1]](*sys.argv[2:])
PYEOF

for r in rcv1 rcv2 rcv3; do
    ip netns exec "$P$r" "$PY" "$RUN/flow.py" sniff rcv0 "$RUN/ready.$r" "$RUN/stop" $G1 $G2 \
        >"$RUN/sniff.$r.json" &
    PIDS+=("$!")
done
for r in rcv1 rcv2 rcv3; do
    wait_for 10 test -e "$RUN/ready.$r" || { echo "e2e_control: sniffer $r did not start" >&2; exit 1; }
done
ip netns exec "${P}snd" "$PY" "$RUN/flow.py" send $S $INTERVAL "$RUN/stop" $G1 $G2 >"$RUN/send.json" &
PF=$!
PIDS+=("$PF")
mark() { echo "$1 $(date +%s.%N)" >>"$RUN/marks"; }
sleep 1

# 1. The static (S,G) never expires.
ctl mfes >"$RUN/mfes.txt"
ctl --json mfes >"$RUN/mfes.json"
check "static (S,G) shows EXPIRY never" grep -Eq "^$S +$G1 .* never$" "$RUN/mfes.txt"
check "static (S,G) has expiry null in --json" "$PY" -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["group"] == sys.argv[2]]
sys.exit(0 if len(rows) == 1 and rows[0]["expiry"] is None else 1)' "$RUN/mfes.json" $G1

check "--json interfaces: null where IGMP is absent, a string querier where it runs" "$PY" -c '
import json, subprocess, sys
rows = {r["name"]: r for r in json.loads(subprocess.check_output(sys.argv[1:] + ["--json", "interfaces"]))}
ok = rows["rsnd"]["igmp"] is None and rows["rsnd"]["querier"] is None and rows["rsnd"]["owner"] == "static"
sys.exit(0 if ok and rows["rrcv1"]["igmp"] == "igmp" and rows["rrcv1"]["querier"] == "self" else 1)' \
    ip netns exec "${P}rtr" "$MGMCTL" --socket "$RUN/mgmd.sock"
check "--json routes: the configured route and the (S,G) rule's host route" "$PY" -c '
import json, subprocess, sys
r = json.loads(subprocess.check_output(sys.argv[1:] + ["--json", "routes"]))
got = {(x["prefix"], x["interface"], x["origin"], x["upstream"]) for x in r["routes"]}
sys.exit(0 if got == {("198.51.100.0/24", "rsnd", "route", None), ("198.51.100.2/32", "rsnd", "mroute", None)} and len(r["mroutes"]) == 1 else 1)' \
    ip netns exec "${P}rtr" "$MGMCTL" --socket "$RUN/mgmd.sock"

# 2. SIGHUP, the file unchanged.
mark hup
kill -HUP "$RPID"
check "SIGHUP: mgmd logs that nothing changed" wait_for 5 grep -q "reload: .*nothing changed" "$RUN/mgmd.log"
check "SIGHUP: mgmd still runs" kill -0 "$RPID"
sleep 0.5

# 3. A downstream interface added by reload, and an IGMP setting changed.
IGMP='[igmp]\nquery_interval = 60.0\n'
config rrcv1 rrcv2 rrcv3 >"$RUN/mgmd.toml"
mark add3
ctl reload >"$RUN/reload_add.txt" 2>&1 || true
check "reload adding rrcv3: the reply names it" grep -q "interface rrcv3 added" "$RUN/reload_add.txt"
check "reload: the IGMP settings changed" grep -q "IGMP settings changed" "$RUN/reload_add.txt"
sleep 1
mark add3_done

# 4. An invalid file: nothing changes, the reply says why.
ctl routes >"$RUN/routes_before.txt"
ctl --json interfaces | "$PY" -c 'import json,sys; print([(i["name"], i["vif"]) for i in json.load(sys.stdin)])' >"$RUN/ifaces_before.txt"
{ config rrcv1 rrcv2 rrcv3; printf '[[route]]\nprefix = "203.0.113.7/24"\ninterface = "rrcv1"\n'; } >"$RUN/mgmd.toml"
mark invalid
rc=0
ctl reload >"$RUN/reload_bad.txt" 2>&1 || rc=$?
check "invalid reload: mgmctl exits 1" test "$rc" = 1
check "invalid reload: the reply says why (host bits)" grep -q "host bits set" "$RUN/reload_bad.txt"
ctl routes >"$RUN/routes_after.txt"
ctl --json interfaces | "$PY" -c 'import json,sys; print([(i["name"], i["vif"]) for i in json.load(sys.stdin)])' >"$RUN/ifaces_after.txt"
check "invalid reload: routes unchanged" cmp -s "$RUN/routes_before.txt" "$RUN/routes_after.txt"
check "invalid reload: interfaces unchanged" cmp -s "$RUN/ifaces_before.txt" "$RUN/ifaces_after.txt"
config rrcv1 rrcv2 rrcv3 >"$RUN/mgmd.toml"
sleep 0.5

# 5. A static mroute added and removed at run time.
mark g2_add
check "mroute add: accepted" ctl mroute add --from rsnd --source $S $G2 rrcv1
sleep 1
mark g2_del
check "mroute del: accepted" ctl mroute del --source $S $G2
ctl routes >"$RUN/routes_final.txt"
sleep 1

# 5b. The downstream interface removed by reload.
config rrcv1 rrcv2 >"$RUN/mgmd.toml"
mark rm3
ctl reload >"$RUN/reload_rm.txt" 2>&1 || true
check "reload removing rrcv3: the reply names it" grep -q "interface rrcv3 removed" "$RUN/reload_rm.txt"
check "reload removing rrcv3: it has no VIF" bash -c "! '$MGMCTL' --socket '$RUN/mgmd.sock' interfaces | grep -q rrcv3"
sleep 1

# 5c. An interface added by reload before its link exists.
config rrcv1 rrcv2 rlate >"$RUN/mgmd.toml"
ctl reload >"$RUN/reload_late.txt" 2>&1 || true
check "reload adding rlate (no link yet): the reply says it waits for the link" \
    grep -q "interface rlate added (link absent" "$RUN/reload_late.txt"
check "rlate shows absent, with no ifindex and no VIF" bash -c \
    "'$MGMCTL' --socket '$RUN/mgmd.sock' interfaces | grep -Eq '^rlate +- +absent +- '"
check "join on rlate while it is absent: accepted" ctl join rlate 239.5.5.7
ip link add rlate netns "${P}rtr" type veth peer name late0 netns "${P}rcv3"
nx rcv3 ip link set late0 up
nx rtr ip link set rlate up
late_attached() {
    ctl --json memberships | "$PY" -c '
import json, sys
got = {r["selector"] for r in json.load(sys.stdin) if r["interface"] == "rlate" and r["protocol"] == "static"}
sys.exit(0 if got == {"(*,239.5.5.7)", "(198.51.100.2,239.5.5.5)"} else 1)' &&
        ctl --json interfaces | "$PY" -c '
import json, sys
r = [i for i in json.load(sys.stdin) if i["name"] == "rlate"]
sys.exit(0 if r and r[0]["state"] == "up" and r[0]["vif"] is not None and isinstance(r[0]["ifindex"], int) else 1)'
}
check "rlate up: attached, with the mroute's and the join's memberships" wait_for 5 late_attached
config rrcv1 rrcv2 >"$RUN/mgmd.toml"
ctl reload >"$RUN/reload_rm_late.txt" 2>&1 || true
check "reload removing rlate: the reply names it" grep -q "interface rlate removed" "$RUN/reload_rm_late.txt"
check "reload removing rlate: gone from interfaces" bash -c "! '$MGMCTL' --socket '$RUN/mgmd.sock' interfaces | grep -q rlate"
nx rtr ip link set rlate down
sleep 0.3
check "rlate down after its removal: ignored" bash -c "kill -0 $RPID && ! '$MGMCTL' --socket '$RUN/mgmd.sock' interfaces | grep -q rlate"

# 6. flush: the static (S,G) stays.
mark flush
ctl flush >"$RUN/flush.txt"
check "flush: the static (S,G) stays" bash -c "'$MGMCTL' --socket '$RUN/mgmd.sock' mfes | grep -Eq '^$S +$G1 .* never$'"
sleep 0.5
mark end
# The longest control step (a reload or a change is one step; a flush a slice at a time):
# shown, not checked; the machine's load decides it as much as mgmd does.
ctl --json status | "$PY" -c 'import json,sys; s=json.load(sys.stdin); print("longest control step %d us, longest unwatched %d us" % (s["control_reply_max_us"], s["unwatched_max_us"]))'

touch "$RUN/stop"
wait "$PF"
for pid in "${PIDS[@]:1}"; do
    wait "$pid" 2>/dev/null || true
done
e2e_stop "$RPID" mgmd
check "mgmd stops cleanly (exit 0)" test "$STOP_STATUS" = 0

set +e
"$PY" - "$RUN" "$G1" "$G2" <<'EOF'
import json, os, sys
run, g1, g2 = sys.argv[1:4]
def load(f):
    try:
        with open(os.path.join(run, f)) as h:
            return json.load(h)
    except Exception:
        return {}
marks = {}
for line in open(os.path.join(run, "marks")):
    k, t = line.split()
    marks[k] = float(t)
sent = load("send.json")
fails = []
def gaps(rows):
    seqs = sorted({s for s, _ in rows})
    return [s for s in range(seqs[0], seqs[-1] + 1) if s not in set(seqs)] if seqs else None
for r in ("rcv1", "rcv2"):
    rows = load(f"sniff.{r}.json").get(g1, [])
    missing = gaps(rows)
    got = len({s for s, _ in rows})
    print(f"{r}: {got} datagrams of {g1} of {sent.get('sent')} sent, missing {missing[:10] if missing else missing}")
    if missing is None or missing:
        fails.append(f"{r} lost datagrams of the static flow (SIGHUP, reload, flush)")
    elif got < sent.get("sent", 0) - 50:
        fails.append(f"{r} started receiving late: {got} of {sent.get('sent')}")
rows3 = load("sniff.rcv3.json").get(g1, [])
before = [t for _, t in rows3 if t < marks["add3"]]
after = [t for _, t in rows3 if marks["add3"] <= t < marks["add3_done"]]
print(f"rcv3: {len(before)} datagrams before the reload, {len(after)} in the second after; first {min(after) - marks['add3']:.3f} s after the reload" if after else f"rcv3: {len(before)} before, none after")
if before or len(after) < 100:
    fails.append("rcv3 did not get the flow after the reload that added rrcv3")
if rows3 and gaps([x for x in rows3 if marks["add3_done"] <= x[1] < marks["rm3"]]):
    fails.append("rcv3 lost datagrams once it had the flow")
removed = [t for _, t in rows3 if t >= marks["rm3"] + 0.5]
print(f"rcv3: {len(removed)} datagrams from 0.5 s after the reload that removed rrcv3")
if removed:
    fails.append("rcv3 still got the flow after the reload that removed rrcv3")
rows = load("sniff.rcv1.json").get(g2, [])
t_add, t_del = marks["g2_add"], marks["g2_del"]
early = [t for _, t in rows if t < t_add]
on = [t for _, t in rows if t_add <= t < t_del]
late = [t for _, t in rows if t >= t_del + 0.5]
print(f"{g2} at rcv1: {len(early)} before mroute add, {len(on)} while it stood"
      + (f" (first {min(on) - t_add:.3f} s after the add)" if on else "")
      + f", {len(late)} from 0.5 s after mroute del"
      + (f" (last {max(t for _, t in rows) - t_del:.3f} s after the del)" if rows else ""))
if early:
    fails.append(f"{g2} reached rcv1 before its mroute was added")
if not on or min(on) - t_add > 0.5:
    fails.append(f"{g2} did not start within 0.5 s of mroute add")
if late:
    fails.append(f"{g2} did not stop within 0.5 s of mroute del")
for x in fails:
    print("FAIL:", x)
sys.exit(1 if fails else 0)
EOF
flows=$?
set -e
check "the flows: no loss, reloads and mroute add/del take effect" test "$flows" = 0
echo "e2e_control: $((CHECKS - ${#FAILS[@]})) passed, ${#FAILS[@]} failed"
status=0
[ "${#FAILS[@]}" = 0 ] || status=1
e2e_finish "$status" 40
