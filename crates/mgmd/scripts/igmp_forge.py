#!/usr/bin/env python3
"""Sends hand-built IGMP messages from a raw socket (IP_HDRINCL): any source address, any TTL,
with or without the Router Alert option, out of one interface. For the IGMP end-to-end test
(e2e_igmp.sh); documentation address ranges only.

  igmp_forge.py --ifname h0 query  --src 198.51.100.4 --ttl 64
  igmp_forge.py --ifname h0 report --src 203.0.113.2 --group 239.6.6.6 --ttl 64
  igmp_forge.py --ifname h0 jumbo  --src 203.0.113.2 --size 2408
  igmp_forge.py --ifname h0 flood  --src 203.0.113.50 --first 239.10.0.0 --count 600

Prints one JSON line: what was sent (messages, IGMP bytes of the largest).
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

ROUTER_ALERT = b"\x94\x04\x00\x00"


def checksum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def with_checksum(msg):
    c = checksum(msg)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def v2(kind, group):
    return with_checksum(struct.pack("!BBH4s", kind, 0, 0, socket.inet_aton(group)))


def general_query():
    # IGMPv3 general query: max response 10 s, QRV 2, QQIC 125 s, no sources.
    return with_checksum(struct.pack("!BBH4sBBH", 0x11, 100, 0, b"\0\0\0\0", 2, 125, 0))


def v3_report(records):
    body = b""
    for kind, group, sources in records:
        body += struct.pack("!BBH4s", kind, 0, len(sources), socket.inet_aton(group))
        body += b"".join(socket.inet_aton(s) for s in sources)
    return with_checksum(struct.pack("!BBHHH", 0x22, 0, 0, 0, len(records)) + body)


def ip_packet(src, dst, ttl, router_alert, payload):
    opts = ROUTER_ALERT if router_alert else b""
    ihl = (20 + len(opts)) // 4
    total = 20 + len(opts) + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, total, 0, 0, ttl, 2, 0,
                      socket.inet_aton(src), socket.inet_aton(dst)) + opts
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def jumbo(size):
    """An IGMPv3 report of exactly `size` bytes: five ALLOW records (one (S,G) membership per
    source) and TO_EX records (one (*,G) each, their sources not kept), 58 sources each."""
    per = 8 + 58 * 4
    n = (size - 8) // per
    if n < 1 or 8 + n * per != size:
        sys.exit(f"jumbo: size {size} is not 8 + k * {per}")
    srcs = [f"198.51.100.{i}" for i in range(1, 59)]
    recs = [(5 if i < 5 else 4, f"239.7.0.{i + 1}", srcs) for i in range(n)]
    return v3_report(recs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ifname", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--ttl", type=int, default=1)
    p.add_argument("--no-router-alert", action="store_true")
    p.add_argument("--interval", type=float, default=0.001, help="seconds between messages")
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("query")
    r = sub.add_parser("report")
    r.add_argument("--group", required=True)
    j = sub.add_parser("jumbo")
    j.add_argument("--size", type=int, default=2408)
    f = sub.add_parser("flood")
    f.add_argument("--first", required=True, help="first group; the others follow it")
    f.add_argument("--count", type=int, required=True)
    a = p.parse_args()

    if a.what == "query":
        msgs = [("224.0.0.1", general_query())]
    elif a.what == "report":
        msgs = [(a.group, v2(0x16, a.group))]
    elif a.what == "jumbo":
        msgs = [("224.0.0.22", jumbo(a.size))]
    else:
        first = int(ipaddress.IPv4Address(a.first))
        groups = [str(ipaddress.IPv4Address(first + i)) for i in range(a.count)]
        msgs = [(g, v2(0x16, g)) for g in groups]

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.ifname.encode())
    for dst, m in msgs:
        s.sendto(ip_packet(a.src, dst, a.ttl, not a.no_router_alert, m), (dst, 0))
        if len(msgs) > 1:
            time.sleep(a.interval)
    print(json.dumps({"what": a.what, "messages": len(msgs), "igmp_bytes": max(len(m) for _, m in msgs)}))


if __name__ == "__main__":
    main()
