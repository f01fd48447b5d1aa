#!/usr/bin/env python3
"""sched_load.py PORT TOKEN [--peers N] [--tasks T] [--timeout S]: a load generator over the
real control protocol (issue 18, "Scheduler overload"). N simulated peers connect to one
scheduler at once, each says hello with the peer token, then all register at once for one of T
tasks (asking for parents). One thread, non-blocking sockets: every request of a phase is sent
before any answer is read, so the scheduler sees the whole burst. Prints one JSON line: peers
answered per phase, the status counts, and the latency p50/p99/max in ms of each phase (from a
request's last byte sent to its answer's last byte read). Exits 1 when a peer got no answer
within --timeout seconds (starved) or a hello was refused."""
import argparse
import hashlib
import json
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vx_wire import cbor_dec as dec, cbor_enc as enc  # noqa: E402

T_REQ, T_RESP = 0x60, 0x61


class Peer:
    def __init__(self, i, port):
        self.i = i
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.setblocking(False)
        self.out = b""
        self.inb = b""
        self.want = None  # rid awaited
        self.sent_at = 0.0
        self.answer = None  # (status, latency s)

    def queue(self, rid, typ, m):
        v = enc({0: rid, 1: typ, 2: 1, **m})
        self.out += struct.pack(">BBI", 0, T_REQ, len(v)) + v
        self.want, self.answer = rid, None

    def flush(self):
        while self.out:
            try:
                n = self.s.send(self.out)
            except BlockingIOError:
                return
            except OSError:  # closed by the scheduler: the read says so
                self.out = b""
                return
            self.out = self.out[n:]
        self.sent_at = time.monotonic()

    def read(self):
        try:
            b = self.s.recv(65536)
        except BlockingIOError:
            return
        if not b:
            raise EOFError("peer %d: the scheduler closed the connection" % self.i)
        self.inb += b
        while len(self.inb) >= 6:
            _, tag, n = struct.unpack(">BBI", self.inb[:6])
            if len(self.inb) < 6 + n:
                break
            m = dec(self.inb[6:6 + n])[0]
            self.inb = self.inb[6 + n:]
            if tag == T_RESP and m.get(0) == self.want:
                self.answer = (m.get(3, 0), time.monotonic() - self.sent_at)


def phase(peers, sel, timeout):
    """Sends every queued request, reads until each peer has its answer or @timeout passes."""
    peers = [p for p in peers if sel.get_map().get(p.s.fileno())]  # not closed before
    for p in peers:
        p.flush()
        sel.modify(p.s, selectors.EVENT_READ | (selectors.EVENT_WRITE if p.out else 0), p)
    end = time.monotonic() + timeout
    waiting = sum(1 for p in peers if p.answer is None)
    while waiting and time.monotonic() < end:
        for key, ev in sel.select(timeout=max(0.0, min(1.0, end - time.monotonic()))):
            p = key.data
            if ev & selectors.EVENT_WRITE:
                p.flush()
                if not p.out:
                    sel.modify(p.s, selectors.EVENT_READ, p)
            if ev & selectors.EVENT_READ and p.answer is None:
                try:
                    p.read()
                except (EOFError, OSError):  # closed by the scheduler: starved
                    sel.unregister(p.s)
                    waiting -= 1
                    continue
                if p.answer is not None:
                    waiting -= 1
    lat = sorted(p.answer[1] * 1000 for p in peers if p.answer is not None)
    status = {}
    for p in peers:
        if p.answer is not None:
            status[str(p.answer[0])] = status.get(str(p.answer[0]), 0) + 1

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None
    return {"answered": len(lat), "status": status, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1], 2) if lat else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("token")
    ap.add_argument("--peers", type=int, default=500)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    sel = selectors.DefaultSelector()
    peers = []
    for i in range(a.peers):
        p = Peer(i, a.port)
        sel.register(p.s, selectors.EVENT_READ, p)
        peers.append(p)
    for p in peers:
        p.queue(1, 1, {8: "load-%d" % p.i, 9: "127.0.0.1", 10: 9, 13: 0, 16: a.token,
                       19: os.urandom(32).hex()})
    hello = phase(peers, sel, a.timeout)
    for p in peers:
        url = "http://127.0.0.1:9/load/%d" % (p.i % a.tasks)
        p.queue(2, 3, {20: hashlib.sha256(url.encode()).hexdigest(), 21: url, 23: -1})
    register = phase(peers, sel, a.timeout)
    print(json.dumps({"peers": a.peers, "tasks": a.tasks, "hello": hello,
                      "register": register}), flush=True)
    if hello["answered"] != a.peers or register["answered"] != a.peers:
        sys.exit("starved: %d of %d hellos and %d registers answered" %
                 (hello["answered"], a.peers, register["answered"]))
    if hello["status"] != {"0": a.peers}:
        sys.exit("hellos refused: %s" % hello["status"])


if __name__ == "__main__":
    main()
