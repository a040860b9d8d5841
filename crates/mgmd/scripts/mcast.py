#!/usr/bin/env python3
"""Multicast test helpers for the e2e scripts: send, receive (join/leave), sniff a link.

IPv4 only: send, recv, sniff (payloads "TAG SEQ"). Either family, by the addresses given:
send6, recv6, sniff6 (payloads "TAG SEQ SENT_TIME", the receivers joining with the kernel's
own IGMP or MLD, any-source or source-specific, the sniffer timing datagrams and reports from
the kernel's timestamps). Every command prints one JSON object on stdout.
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


# The kernel's option numbers (linux/in6.h, linux/in.h) that Python's socket module may lack.
MCAST_JOIN_SOURCE_GROUP = 46
MCAST_LEAVE_SOURCE_GROUP = 47
# linux/in6.h and linux/in.h: off, a socket gets only the groups it joined itself.
IPV6_MULTICAST_ALL = 29
IP_MULTICAST_ALL = 49
SO_TIMESTAMPNS = 35


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def sockaddr_storage(addr):
    """A struct sockaddr_storage holding the sockaddr_in6 or sockaddr_in of addr (no port)."""
    if family_of(addr) == socket.AF_INET6:
        sa = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, addr), 0)
    else:
        sa = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton(addr))
    return sa + bytes(128 - len(sa))


def group_source_req(ifindex, group, source):
    """struct group_source_req: the interface (with the padding of a 64-bit ABI), group, source."""
    return struct.pack("=I4x", ifindex) + sockaddr_storage(group) + sockaddr_storage(source)


def ip_mreqn(group, ifindex):
    """struct ip_mreqn: the group (0.0.0.0 for IP_MULTICAST_IF), no address, the interface."""
    return socket.inet_aton(group) + bytes(4) + struct.pack("=i", ifindex)


def wait_file(path, until):
    while path and not os.path.exists(path):
        if time.time() > until:
            return False
        time.sleep(0.002)
    return True


def cmd_send6(a):
    """Sends COUNT datagrams to each group, in turn, INTERVAL apart; at datagram N of a mark
    N:FILE, creates FILE (so that receivers act at a point of the flow, whatever the load)."""
    marks = {int(m.split(":", 1)[0]): m.split(":", 1)[1] for m in a.mark}
    fam = family_of(a.src)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    ifindex = socket.if_nametoindex(a.ifname)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, a.hops)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.hops)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, ip_mreqn("0.0.0.0", ifindex))
    start = time.time()
    for i in range(a.count):
        if i in marks:
            open(marks[i], "w").close()
        for g in a.group:
            s.sendto(f"{a.tag} {i} {time.time():.6f}".encode(), (g, a.port))
        pause = start + (i + 1) * a.interval - time.time()
        if pause > 0:
            time.sleep(pause)
    print(json.dumps({"sent": a.count, "tag": a.tag, "start": start, "end": time.time()}))


def cmd_recv6(a):
    """Joins GROUP on IFNAME (from SOURCE only with --source: MLDv2 INCLUDE), when JOIN_FILE
    appears if given; leaves when LEAVE_FILE appears; counts what it receives, and the stale
    datagrams: those sent before its join."""
    ifindex = socket.if_nametoindex(a.ifname)
    v6 = family_of(a.group) == socket.AF_INET6
    level = socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP
    s = socket.socket(family_of(a.group), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bound to the group, and with IPV6_MULTICAST_ALL (IP_MULTICAST_ALL) off: two receivers on
    # one port in one namespace must each get their own group only, or one group's datagrams
    # would pass for the other's.
    s.setsockopt(level, IPV6_MULTICAST_ALL if v6 else IP_MULTICAST_ALL, 0)
    s.bind((a.group, a.port))
    end = time.time() + a.duration
    wait_file(a.join_file, end)
    # Before the call: the kernel sends its report within it, and the router may forward the
    # group before the call returns.
    joined_at = time.time()
    if a.source:
        req = group_source_req(ifindex, a.group, a.source)
        s.setsockopt(level, MCAST_JOIN_SOURCE_GROUP, req)
    elif v6:
        mreq = socket.inet_pton(socket.AF_INET6, a.group) + struct.pack("=I", ifindex)
        s.setsockopt(level, socket.IPV6_JOIN_GROUP, mreq)
    else:
        mreq = ip_mreqn(a.group, ifindex)
        s.setsockopt(level, socket.IP_ADD_MEMBERSHIP, mreq)
    if a.ready_file:
        open(a.ready_file, "w").close()
    got, stale, left_at = {}, [], None
    while time.time() < end:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        if a.leave_file and os.path.exists(a.leave_file):
            # Before the call: the kernel may send its report within it.
            left_at = time.time()
            if a.source:
                s.setsockopt(level, MCAST_LEAVE_SOURCE_GROUP, req)
            else:
                s.setsockopt(level, socket.IPV6_LEAVE_GROUP if v6 else socket.IP_DROP_MEMBERSHIP, mreq)
            break
        r, _, _ = select.select([s], [], [], 0.02)
        if not r:
            continue
        data, frm = s.recvfrom(2048)
        f = data.decode(errors="replace").split()
        if len(f) != 3:
            continue
        tag, seq, sent = f[0], int(f[1]), float(f[2])
        got.setdefault(tag, set()).add(seq)
        if sent < joined_at:
            stale.append({"tag": tag, "seq": seq, "sent_before_join": joined_at - sent})
    print(json.dumps({"joined_at": joined_at, "left_at": left_at,
                      "received": {k: len(v) for k, v in got.items()},
                      "first": {k: min(v) for k, v in got.items()},
                      "missing": {k: sorted(set(range(min(v), max(v) + 1)) - v)[:20] for k, v in got.items()},
                      "stale": stale[:20], "stale_count": len(stale)}))


def cmd_sniff6(a):
    """The kernel's arrival time of each datagram to GROUP on IFNAME, and of each IGMP or MLD
    report, leave or done on the link (the hosts' joins and leaves), from SO_TIMESTAMPNS; in
    group_reports, those that name GROUP."""
    # ETH_P_ALL: a socket of one protocol sees only what comes in, and the hosts' own
    # reports go out of the link this sniffer is on.
    ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((a.ifname, ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if a.ready_file:
        open(a.ready_file, "w").close()
    fam = family_of(a.group)
    grp = socket.inet_pton(fam, a.group)
    count, first, last, reports, sources, group_reports = 0, None, None, [], {}, []
    end = time.time() + a.duration
    while time.time() < end and not (a.stop_file and os.path.exists(a.stop_file)):
        if not select.select([s], [], [], 0.05)[0]:
            continue
        pkt, anc, _, frm = s.recvmsg(9216, 64)
        ts = [struct.unpack("qq", d[:16]) for lvl, k, d in anc if (lvl, k) == (socket.SOL_SOCKET, SO_TIMESTAMPNS)]
        if not ts:
            continue
        t = ts[0][0] + ts[0][1] / 1e9
        if fam == socket.AF_INET6 and frm[1] == ETH_P_IPV6 and len(pkt) >= 48:
            nh, off = pkt[6], 40
            if nh == 0 and len(pkt) > off + 8:
                # The hop-by-hop options (MLD's router alert).
                nh, off = pkt[off], off + (pkt[off + 1] + 1) * 8
            src, dst = pkt[8:24], pkt[24:40]
            report = nh == 58 and len(pkt) > off and pkt[off] in (131, 132, 143)
        elif fam == socket.AF_INET and frm[1] == ETH_P_IP and len(pkt) >= 28:
            nh, off = pkt[9], (pkt[0] & 0x0F) * 4
            src, dst = pkt[12:16], pkt[16:20]
            report = nh == 2 and len(pkt) > off and pkt[off] in (0x12, 0x16, 0x17, 0x22)
        else:
            continue
        if nh == 17 and dst == grp:
            src = socket.inet_ntop(fam, src)
            sources[src] = sources.get(src, 0) + 1
            count += 1
            first = t if first is None else first
            last = t
        elif report:
            reports.append(t)
            if grp in pkt[off:]:
                group_reports.append(t)
    print(json.dumps({"count": count, "first": first, "last": last, "reports": reports,
                      "group_reports": group_reports, "sources": sources}))


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
    s6 = sub.add_parser("send6")
    s6.add_argument("--src", required=True)
    s6.add_argument("--ifname", required=True)
    s6.add_argument("--group", action="append", required=True)
    s6.add_argument("--port", type=int, default=5000)
    s6.add_argument("--count", type=int, default=50)
    s6.add_argument("--interval", type=float, default=0.01)
    s6.add_argument("--hops", type=int, default=8)
    s6.add_argument("--tag", default="A")
    s6.add_argument("--mark", action="append", default=[])
    s6.set_defaults(f=cmd_send6)
    r6 = sub.add_parser("recv6")
    r6.add_argument("--group", required=True)
    r6.add_argument("--source")
    r6.add_argument("--ifname", required=True)
    r6.add_argument("--port", type=int, default=5000)
    r6.add_argument("--duration", type=float, default=60)
    r6.add_argument("--join-file")
    r6.add_argument("--ready-file")
    r6.add_argument("--leave-file")
    r6.add_argument("--stop-file")
    r6.set_defaults(f=cmd_recv6)
    n6 = sub.add_parser("sniff6")
    n6.add_argument("--ifname", required=True)
    n6.add_argument("--group", required=True)
    n6.add_argument("--duration", type=float, default=60)
    n6.add_argument("--ready-file")
    n6.add_argument("--stop-file")
    n6.set_defaults(f=cmd_sniff6)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
