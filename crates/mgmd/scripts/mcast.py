#!/usr/bin/env python3
"""Multicast test helpers for scripts/e2e.sh: send, receive (join/leave), sniff a link.

Payloads are "TAG SEQ". Every command prints one JSON object on stdout.
"""
import argparse
import json
import os
import select
import socket
import struct
import time


def cmd_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.src))
    start = time.time()
    for i in range(a.count):
        s.sendto(f"{a.tag} {i}".encode(), (a.group, a.port))
        nxt = start + (i + 1) * a.interval
        d = nxt - time.time()
        if d > 0:
            time.sleep(d)
    print(json.dumps({"sent": a.count, "tag": a.tag, "start": start, "end": time.time()}))


def cmd_recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.group, a.port))
    mreq = socket.inet_aton(a.group) + socket.inet_aton(a.iface_addr)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    got = {}
    left_at = None
    end = time.time() + a.duration
    while time.time() < end:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        if a.leave_file and left_at is None and os.path.exists(a.leave_file):
            s.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
            left_at = time.time()
            break
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            data = s.recv(2048).decode(errors="replace").split()
            if len(data) == 2:
                got.setdefault(data[0], set()).add(int(data[1]))
    print(json.dumps({"left_at": left_at,
                      "received": {k: len(v) for k, v in got.items()},
                      "missing": {k: sorted(set(range(max(v) + 1)) - v)[:20] for k, v in got.items()}}))


def cmd_sniff(a):
    ETH_P_IP = 0x0800
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((a.ifname, ETH_P_IP))
    grp = socket.inet_aton(a.group)
    seen = {}
    end = time.time() + a.duration
    while time.time() < end:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        pkt = s.recv(4096)
        now = time.time()
        if len(pkt) < 28 or pkt[9] != 17 or pkt[16:20] != grp:
            continue
        ihl = (pkt[0] & 0x0F) * 4
        dport = struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
        if dport != a.port:
            continue
        data = pkt[ihl + 8:].decode(errors="replace").split()
        if len(data) == 2:
            tag = data[0]
            first, last, n = seen.get(tag, (now, now, 0))
            seen[tag] = (first, now, n + 1)
    print(json.dumps({k: {"first": v[0], "last": v[1], "count": v[2]} for k, v in seen.items()}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--src", required=True)
    s.add_argument("--group", required=True)
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--count", type=int, default=50)
    s.add_argument("--interval", type=float, default=0.01)
    s.add_argument("--ttl", type=int, default=8)
    s.add_argument("--tag", default="A")
    s.set_defaults(f=cmd_send)
    r = sub.add_parser("recv")
    r.add_argument("--group", required=True)
    r.add_argument("--port", type=int, default=5000)
    r.add_argument("--iface-addr", required=True)
    r.add_argument("--duration", type=float, default=60)
    r.add_argument("--leave-file")
    r.add_argument("--stop-file")
    r.set_defaults(f=cmd_recv)
    n = sub.add_parser("sniff")
    n.add_argument("--ifname", required=True)
    n.add_argument("--group", required=True)
    n.add_argument("--port", type=int, default=5000)
    n.add_argument("--duration", type=float, default=60)
    n.add_argument("--stop-file")
    n.set_defaults(f=cmd_sniff)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
