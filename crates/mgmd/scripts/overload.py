#!/usr/bin/env python3
"""Helpers for scripts/e2e_overload.sh: misbehaving control clients, new flows with send
times, a receiver that measures first-packet delivery, and a miss storm.

Every command prints one JSON object on stdout.
"""
import argparse
import json
import os
import select
import socket
import threading
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_all(s, limit=1 << 20, timeout=5.0):
    s.settimeout(timeout)
    out = b""
    try:
        while len(out) < limit:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    return out


def cmd_clients(a):
    """Opens the misbehaving clients until the stop file appears, reconnecting each one when
    mgmd cuts it off; counts what mgmd answered."""
    stats = {"slow": 0, "idle": 0, "noread": 0, "cut_with_error": 0, "errors_seen": [],
             "huge_sent": 0, "huge_reply": ""}
    lock = threading.Lock()
    stop = threading.Event()

    def note(reply):
        # An error is a reply envelope whose status says so.
        try:
            envelope = json.loads(reply.decode(errors="replace").splitlines()[0])
        except (ValueError, IndexError):
            return
        if not isinstance(envelope, dict) or envelope.get("status") != "error":
            return
        with lock:
            stats["cut_with_error"] += 1
            if envelope.get("error") not in stats["errors_seen"]:
                stats["errors_seen"].append(envelope.get("error"))

    def slow():
        while not stop.is_set():
            try:
                s = connect(a.socket)
                with lock:
                    stats["slow"] += 1
                s.setblocking(False)
                for ch in b"status json" * 100:
                    if stop.is_set():
                        break
                    try:
                        s.send(bytes([ch]))
                    except OSError:
                        break
                    time.sleep(0.5)
                note(read_all(s, timeout=1))
                s.close()
            except OSError:
                time.sleep(0.1)

    def idle():
        while not stop.is_set():
            try:
                s = connect(a.socket)
                with lock:
                    stats["idle"] += 1
                while not stop.is_set():
                    r, _, _ = select.select([s], [], [], 0.2)
                    if r:
                        break
                note(read_all(s, timeout=1))
                s.close()
            except OSError:
                time.sleep(0.1)

    def noread():
        while not stop.is_set():
            try:
                s = connect(a.socket)
                with lock:
                    stats["noread"] += 1
                s.sendall(b"mfes json max 500\n")
                # Never read; hold the connection until mgmd closes its end or we stop.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                t_end = time.time() + 3
                while not stop.is_set() and time.time() < t_end:
                    time.sleep(0.2)
                s.close()
            except OSError:
                time.sleep(0.1)

    def huge():
        try:
            s = connect(a.socket)
            chunk = b"x" * 65536
            s.settimeout(5)
            try:
                while stats["huge_sent"] < a.huge_mb << 20:
                    n = s.send(chunk)
                    stats["huge_sent"] += n
            except OSError:
                pass
            stats["huge_reply"] = read_all(s, timeout=2).decode(errors="replace")[:200]
            s.close()
        except OSError as e:
            stats["huge_reply"] = f"connect: {e}"

    threads = []
    for kind, n in (("slow", a.slow), ("idle", a.idle), ("noread", a.noread)):
        f = {"slow": slow, "idle": idle, "noread": noread}[kind]
        for _ in range(n):
            t = threading.Thread(target=f, daemon=True)
            t.start()
            threads.append(t)
    if a.huge_mb:
        t = threading.Thread(target=huge, daemon=True)
        t.start()
        threads.append(t)
    if a.ready_file:
        open(a.ready_file, "w").close()
    end = time.time() + a.duration
    while time.time() < end and not (a.stop_file and os.path.exists(a.stop_file)):
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=2)
    print(json.dumps(stats))


def cmd_hold(a):
    """Holds N idle connections open until the stop file appears."""
    socks = [connect(a.socket) for _ in range(a.count)]
    if a.ready_file:
        open(a.ready_file, "w").close()
    end = time.time() + a.duration
    while time.time() < end and not os.path.exists(a.stop_file):
        time.sleep(0.05)
    for s in socks:
        s.close()
    print(json.dumps({"held": len(socks)}))


def flows(a):
    for si in range(a.sources):
        for gi in range(a.groups):
            yield f"{a.src_prefix}.{a.src_first + si}", f"{a.group_prefix}.{gi + 1}"


def cmd_flows(a):
    """The first packet of each new (S,G), with its send time, INTERVAL apart."""
    socks = {}
    sent = 0
    start = time.time()
    for i, (src, grp) in enumerate(flows(a)):
        s = socks.get(src)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
            socks[src] = s
        s.sendto(f"F {src} {grp} {time.time():.6f}".encode(), (grp, a.port))
        sent += 1
        d = start + (i + 1) * a.interval - time.time()
        if d > 0:
            time.sleep(d)
    print(json.dumps({"sent": sent, "start": start, "end": time.time()}))


def cmd_recv(a):
    """Joins the groups and records each flow's first-packet delivery time."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", a.port))
    for gi in range(a.groups):
        mreq = socket.inet_aton(f"{a.group_prefix}.{gi + 1}") + socket.inet_aton(a.iface_addr)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    if a.ready_file:
        open(a.ready_file, "w").close()
    lat = {}
    end = time.time() + a.duration
    while time.time() < end and not os.path.exists(a.stop_file):
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        data = s.recv(2048)
        now = time.time()
        w = data.decode(errors="replace").split()
        if len(w) == 4 and w[0] == "F":
            lat.setdefault((w[1], w[2]), now - float(w[3]))
    v = sorted(lat.values())
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 3) if v else None
    print(json.dumps({"flows": len(v), "p50_ms": pick(0.5), "p90_ms": pick(0.9),
                      "max_ms": pick(1.0)}))


def cmd_storm(a):
    """One packet per (S,G) as fast as the sockets take them, ROUNDS times over."""
    socks = {}
    sent = 0
    for _ in range(a.rounds):
        for src, grp in flows(a):
            s = socks.get(src)
            if s is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((src, 0))
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
                socks[src] = s
            try:
                s.sendto(b"storm", (grp, a.port))
                sent += 1
            except OSError:
                pass
        time.sleep(a.pause)
    print(json.dumps({"sent": sent}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("clients")
    c.add_argument("--socket", required=True)
    c.add_argument("--slow", type=int, default=0)
    c.add_argument("--idle", type=int, default=0)
    c.add_argument("--noread", type=int, default=0)
    c.add_argument("--huge-mb", type=int, default=0)
    c.add_argument("--duration", type=float, default=30)
    c.add_argument("--ready-file")
    c.add_argument("--stop-file")
    c.set_defaults(f=cmd_clients)
    h = sub.add_parser("hold")
    h.add_argument("--socket", required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--duration", type=float, default=30)
    h.add_argument("--ready-file")
    h.add_argument("--stop-file", required=True)
    h.set_defaults(f=cmd_hold)
    for name, f in (("flows", cmd_flows), ("recv", cmd_recv), ("storm", cmd_storm)):
        x = sub.add_parser(name)
        x.add_argument("--src-prefix", default="198.51.100")
        x.add_argument("--src-first", type=int, default=10)
        x.add_argument("--sources", type=int, default=10)
        x.add_argument("--group-prefix", default="239.2.0")
        x.add_argument("--groups", type=int, default=10)
        x.add_argument("--port", type=int, default=5001)
        x.set_defaults(f=f)
        if name == "flows":
            x.add_argument("--interval", type=float, default=0.05)
        if name == "recv":
            x.add_argument("--iface-addr", required=True)
            x.add_argument("--duration", type=float, default=60)
            x.add_argument("--ready-file")
            x.add_argument("--stop-file", required=True)
        if name == "storm":
            x.add_argument("--rounds", type=int, default=2)
            x.add_argument("--pause", type=float, default=0.2)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
