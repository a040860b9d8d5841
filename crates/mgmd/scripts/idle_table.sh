#!/usr/bin/env bash
# A measurement, not a test (it is not run by `cargo test` or CI: filling the table takes a
# minute or more): the CPU and memory of an idle mgmd holding a large table. A sender builds
# ENTRIES (S,G) entries (default 400,000) through mgmd's miss path, one packet each, with
# sources over 198.51.100.2-254 and groups over 239.2.0.0/16 (raw socket, rounds until the
# table holds them or ROUNDS pass); then, with no traffic, mgmd's CPU time is read from
# /proc over IDLE seconds (default 30) of its running time (time it spent stopped by
# something else on the machine is left out) and its RSS at the end. Prints one JSON line,
# with the CPU model. Then mgmd's peak RSS is reset (`clear_refs`) and `mgmctl --json mfes`
# dumps the whole table page by page: a second JSON line gives the rows, the time, and mgmd's
# peak RSS during the dump against its RSS before it.
#
#   snd: snd0 198.51.100.2/24 ── rsnd 198.51.100.1/24 (rtr) rrcv1 203.0.113.1/25
#
# Root, or unprivileged through `unshare -Urnm`. Environment: MGMD, MGMCTL (an optimised
# build: target/release), PYTHON, ENTRIES, ROUNDS (default 12), IDLE, MGMD_LOG (default
# warn), EXTRA_LIMITS (more `[limits]` lines, e.g. "counter_sync_per_second = 0"). KEEP=1
# keeps the logs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ENTRIES=${ENTRIES:-400000}
ROUNDS=${ROUNDS:-12}
IDLE=${IDLE:-30}

e2e_unshare ENTRIES ROUNDS IDLE MGMD_LOG EXTRA_LIMITS KEEP -- "$@"
e2e_setup idle_table mgmidle mgm-idle snd rtr

e2e_netns_add snd rtr
ip link add snd0 netns "${P}snd" type veth peer name rsnd netns "${P}rtr"
# The second interface leads nowhere: its peer stays in rtr, down.
ip link add rrcv1 netns "${P}rtr" type veth peer name rrcv1p netns "${P}rtr"
nx snd ip addr add 198.51.100.2/24 dev snd0
nx snd ip link set snd0 up
nx snd ip route add 224.0.0.0/4 dev snd0
nx rtr ip addr add 198.51.100.1/24 dev rsnd
nx rtr ip addr add 203.0.113.1/25 dev rrcv1
nx rtr ip link set rsnd up
nx rtr ip link set rrcv1 up

{
    echo "control_socket = \"$RUN/mgmd.sock\""
    echo "[limits]"
    echo "max_mfes = $((ENTRIES + ENTRIES / 10))"
    [ -n "${EXTRA_LIMITS:-}" ] && echo "$EXTRA_LIMITS"
    echo "[[interface]]"
    echo 'name = "rsnd"'
    echo "[[interface]]"
    echo 'name = "rrcv1"'
    echo "[[route]]"
    echo 'prefix = "198.51.100.0/24"'
    echo 'interface = "rsnd"'
} >"$RUN/mgmd.toml"
e2e_start_mgmd "${MGMD_LOG:-warn}"

mfes() { ctl --json status | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["mfes"])'; }

# One UDP packet per (S,G), the IP header written here (the kernel fills in the length and
# the checksum), the first `n` of sources 198.51.100.2-254 x groups 239.2.0.0/16.
cat >"$RUN/storm.py" <<'EOF'
import socket, struct, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
groups = (n + 252) // 253
sent = 0
for gi in range(groups):
    dst = socket.inet_aton("239.2.0.0")
    dst = struct.pack("!I", struct.unpack("!I", dst)[0] + gi + 1)
    for si in range(253):
        if sent == n:
            break
        src = bytes([198, 51, 100, 2 + si])
        udp = struct.pack("!HHHH", 5001, 5001, 8 + 4, 0) + b"idle"
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 8, 17, 0, src, dst)
        try:
            s.sendto(ip + udp, (socket.inet_ntoa(dst), 0))
        except OSError:
            pass
        sent += 1
print(sent)
EOF

fill_start=$SECONDS
round=0
have=0
while [ "$round" -lt "$ROUNDS" ]; do
    round=$((round + 1))
    nx snd "$PY" "$RUN/storm.py" "$ENTRIES" >/dev/null
    # Let the upcalls queued in the kernel and the forwarder's backlog drain.
    sleep 2
    have=$(mfes)
    echo "round $round: $have entries" >&2
    [ "$have" -ge "$ENTRIES" ] && break
done
fill_s=$((SECONDS - fill_start))
# Quiet for a while before measuring: the last installs and the log flushes are done.
sleep 5
kernel_mfcs=$(nx rtr awk 'NR > 1' /proc/net/ip_mr_cache | wc -l)

# mgmd's CPU time (utime + stime, all threads) sampled every 0.1 s until IDLE seconds of
# running time are seen: an interval at either end of which mgmd was stopped (state T: on a
# shared machine something may freeze every process for a while) is left out, so that time
# spent frozen does not count as idle time.
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
"$PY" - "$RPID" "$IDLE" "$(getconf CLK_TCK)" <<EOF
import json, time, sys
pid, idle, hz = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
def sample():
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return rest[0], int(rest[11]) + int(rest[12]), time.monotonic()
seen = ticks = 0.0
left_out = 0
prev = sample()
deadline = time.monotonic() + 10 * idle
while seen < idle and time.monotonic() < deadline:
    time.sleep(0.1)
    cur = sample()
    if prev[0] != "T" and cur[0] != "T":
        seen += cur[2] - prev[2]
        ticks += cur[1] - prev[1]
    else:
        left_out += 1
    prev = cur
with open(f"/proc/{pid}/status") as f:
    rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
print(json.dumps({
    "entries": $have, "kernel_mfcs": $kernel_mfcs, "fill_rounds": $round, "fill_s": $fill_s,
    "idle_s": round(seen, 2), "stopped_samples_left_out": left_out,
    "cpu_s": round(ticks / hz, 2), "cpu_percent_of_a_core": round(100 * ticks / hz / seen, 2),
    "rss_mb": round(rss_kb / 1024, 1), "extra_limits": "${EXTRA_LIMITS:-}", "cpu": "$cpu",
}))
EOF
# The whole table through the pages, mgmd's peak RSS reset before it.
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$RPID/status"; }
rss_before=$(kb VmRSS)
echo 5 >"/proc/$RPID/clear_refs"
dump_start=$(date +%s.%N)
rows=$(ctl --json mfes | grep -c '"source":')
dump_end=$(date +%s.%N)
hwm=$(kb VmHWM)
"$PY" -c '
import json, sys
rows, t0, t1, before, hwm = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"dump_rows": rows, "dump_s": round(t1 - t0, 2), "rss_before_mb": round(before / 1024, 1),
    "peak_rss_during_dump_mb": round(hwm / 1024, 1), "growth_percent": round(100 * (hwm - before) / before, 2)}))' \
    "$rows" "$dump_start" "$dump_end" "$rss_before" "$hwm"
e2e_stop "$RPID" mgmd
[ "${KEEP:-0}" = 1 ] || KEEP_LOGS=0
