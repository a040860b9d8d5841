#!/usr/bin/env bash
# End-to-end test of mgmd's IGMP input checks and limits, against hand-built IGMP from a host.
# Topology (network namespaces with a per-run prefix, one veth pair with MTU 9000):
#
#   rtr: rh0 203.0.113.1/24 (mgmd) ── h0 203.0.113.2/24 (host: igmp_forge.py)
#
# Checks, each read from `mgmctl --json igmp`:
#   1. a forged general query from 198.51.100.4 (off-subnet, lower address): mgmd stays querier,
#      and the drop is counted (TTL 64: bad_ttl; TTL 1: off_subnet_query);
#   2. a report with TTL 64, and one without Router Alert: no membership, both counted;
#   3. a 2,408-byte IGMPv3 report (above the old 2,048-byte buffer; the link's MTU is 9000):
#      accepted whole, its 10 groups and 290 sources in the state;
#   4. one host reporting 600 groups with a per-host limit of 400: 400 kept, 200 refused and
#      counted; then seven more hosts, 100 groups each, with 1,000 groups per interface: the
#      table stops at 1,000 and the refusals are counted.
#   5. the 1,000 groups in pages of 7 (mgmctl --page 7, and one raw request of max 7): the same
#      listing as in one page of 500, text and JSON, and no page over 7 groups;
#   6. mgmd stops on SIGTERM with exit status 0.
#
# Works as root, and unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (paths of
# the binaries; default target/debug), PYTHON.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

e2e_unshare -- "$@"
e2e_setup e2e_igmp mgmigmp mgm-e2e-igmp rtr host

e2e_netns_add rtr host
ip link add h0 netns "${P}host" mtu 9000 type veth peer name rh0 netns "${P}rtr" mtu 9000
nx rtr ip addr add 203.0.113.1/24 dev rh0
nx host ip addr add 203.0.113.2/24 dev h0
nx rtr ip link set rh0 up
nx host ip link set h0 up
# The forged sources must reach mgmd, to be judged there (not by reverse-path filtering).
for c in all default rh0; do
    nx rtr sh -c "echo 0 > /proc/sys/net/ipv4/conf/$c/rp_filter"
done

cat >"$RUN/mgmd.toml" <<EOF
control_socket = "$RUN/mgmd.sock"
[igmp]
max_memberships_per_host = 400
max_groups_per_interface = 1000
[[interface]]
name = "rh0"
EOF
e2e_start_mgmd info || exit 1

forge() { nx host "$PY" "$HERE/igmp_forge.py" --ifname h0 "$@" >>"$RUN/forge.log"; }
snapshot() { ctl --json igmp >"$RUN/$1.json"; }
# counter NAME FILE: the rh0 counter NAME in a snapshot.
field() {
    "$PY" -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x["interface"]=="rh0"][0]; print(eval(sys.argv[2], {}, r))' "$RUN/$1.json" "$2"
}
# until_count SECONDS SNAPSHOT EXPR MIN: snapshot until EXPR reaches MIN.
until_count() {
    local until=$((SECONDS + $1))
    while :; do
        snapshot "$2"
        [ "$(field "$2" "$3")" -ge "$4" ] && return 0
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.2
    done
}

# The first message the router hears makes it read the link's subnets.
forge --src 203.0.113.2 report --group 239.5.5.5
until_count 5 s0 'counters["accepted"]' 1 || { echo "FAIL: mgmd heard nothing" >&2; exit 1; }

fails=()
check() { # check WHAT CONDITION-RESULT(0/1): its own form, in place of lib.sh's
    if [ "$2" = 1 ]; then echo "ok   $1"; else echo "FAIL $1"; fails+=("$1"); fi
}
py_true() { "$PY" -c "import sys; sys.exit(0 if ($1) else 1)" && echo 1 || echo 0; }

# 1. Forged off-subnet general queries.
forge --src 198.51.100.4 --ttl 64 query
forge --src 198.51.100.4 query
until_count 5 s1 'counters["off_subnet_query"]' 1 || true
check "forged query from 198.51.100.4, TTL 64: dropped for its TTL" "$(py_true "$(field s1 'counters["bad_ttl"]') >= 1")"
check "forged query from 198.51.100.4, TTL 1: counted off-subnet" "$(py_true "$(field s1 'counters["off_subnet_query"]') >= 1")"
check "mgmd is still the querier" "$(py_true "'$(field s1 'querier')' == 'self' and '$(field s1 'other_querier')' == 'None'")"

# 2. A report with TTL 64; one without Router Alert.
forge --src 203.0.113.2 --ttl 64 report --group 239.6.6.6
forge --src 203.0.113.2 --no-router-alert report --group 239.6.6.7
until_count 5 s2 'counters["no_router_alert"]' 1 || true
groups2=$(field s2 '[g["group"] for g in groups]')
check "report with TTL 64: no membership, counted" "$(py_true "'239.6.6.6' not in $groups2 and $(field s2 'counters["bad_ttl"]') >= 2")"
check "report without Router Alert: no membership, counted" "$(py_true "'239.6.6.7' not in $groups2 and $(field s2 'counters["no_router_alert"]') >= 1")"

# 3. A jumbo IGMPv3 report.
forge --src 203.0.113.2 jumbo --size 2408
until_count 5 s3 'len([g for g in groups if g["group"].startswith("239.7.0.")])' 10 || true
check "2,408-byte IGMPv3 report: its 10 groups kept" "$(py_true "$(field s3 'len([g for g in groups if g["group"].startswith("239.7.0.")])') == 10")"
check "2,408-byte IGMPv3 report: its 290 sources kept" "$(py_true "$(field s3 'sum(len(g["sources"]) for g in groups if g["group"].startswith("239.7.0."))') == 290")"
check "2,408-byte IGMPv3 report: nothing malformed" "$(py_true "$(field s3 'counters["malformed"]') == 0")"

# 4. Floods: one host over its limit, then many hosts over the interface's.
forge --src 203.0.113.50 flood --first 239.10.0.0 --count 600
until_count 10 s4 'counters["host_limit"]' 200 || true
n_host=$(field s4 'len([g for g in groups if g["group"].startswith("239.10.")])')
check "one host, 600 groups, limit 400: $n_host kept" "$(py_true "$n_host == 400")"
check "one host over its limit: refusals counted ($(field s4 'counters["host_limit"]'))" "$(py_true "$(field s4 'counters["host_limit"]') == 200")"
for h in 60 61 62 63 64 65 66; do
    forge --src "203.0.113.$h" flood --first "239.20.$h.0" --count 100
done
until_count 10 s5 'counters["group_limit"]' 100 || true
n_all=$(field s5 'len(groups)')
check "seven more hosts, 700 groups, limit 1000 per interface: $n_all groups" "$(py_true "$n_all == 1000")"
check "over the interface's limit: refusals counted ($(field s5 'counters["group_limit"]'))" "$(py_true "$(field s5 'counters["group_limit"]') >= 100")"
check "counters add up" "$(py_true "$(field s5 'counters["received"] - counters["accepted"] - counters["own"] - counters["malformed"] - counters["bad_ttl"] - counters["no_router_alert"] - counters["off_subnet_report"] - counters["off_subnet_query"]') == 0")"
ctl igmp | grep -E "received|refused" >"$RUN/igmp.txt" || true
cat "$RUN/igmp.txt"

# 5. The same listing in pages of 7 as in one of 500 (timers and counters aside: they move).
same_text() { ctl --page "$1" igmp | grep -v -E "^  (received|refused)" | sed -E 's/EXCLUDE [0-9.]+s/EXCLUDE/'; }
same_text 7 >"$RUN/igmp7.txt"
same_text 500 >"$RUN/igmp500.txt"
check "igmp in pages of 7: the text of one page ($(wc -l <"$RUN/igmp7.txt") lines)" "$(py_true "$(wc -l <"$RUN/igmp7.txt") > 1000 and $(cmp -s "$RUN/igmp7.txt" "$RUN/igmp500.txt" && echo 1 || echo 0)")"
ctl --json --page 7 igmp >"$RUN/s7.json"
ctl --json --page 500 igmp >"$RUN/s500.json"
check "igmp --json in pages of 7: one row per interface, the groups and sources of one page" "$("$PY" -c '
import json, sys
rows = lambda f: [(r["interface"], [(g["group"], g["sources"]) for g in r["groups"]]) for r in json.load(open(f))]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
print(int(a == b and len(a) == 1 and len(a[0][1]) == 1000))' "$RUN/s7.json" "$RUN/s500.json")"
check "one request of max 7: 7 groups, more to come, the key of the 7th" "$("$PY" -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"command\":\"igmp\",\"json\":true,\"max\":7}\n")
r = b""
while not r.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    r += c
p = json.loads(r)["result"]
gs = [g["group"] for row in p["rows"] for g in row["groups"]]
print(int(len(gs) == 7 and p["more"] and p["next"].endswith("," + gs[-1])))' "$RUN/mgmd.sock")"

# 6. Stop.
e2e_stop "$RPID" mgmd
rc=$STOP_STATUS
check "mgmd stops cleanly (exit $rc)" "$(py_true "$rc == 0")"

echo "e2e_igmp: $((17 - ${#fails[@]})) passed, ${#fails[@]} failed"
e2e_finish "$((${#fails[@]} > 0))" 30
