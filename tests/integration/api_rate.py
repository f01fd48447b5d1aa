#!/usr/bin/env python3
"""api_rate.py SOCKET SECONDS: one local API client making task-list requests one after another
as fast as the daemon answers, for SECONDS; prints "ok limited elapsed" (status 0 answers,
-EAGAIN answers, seconds). Any other status fails.

api_rate.py --conns SOCKET K HOLD: opens K connections one after another and prints "open O
refused R": how many the daemon keeps (silent, as an idle client's) and how many it answered
-EUSERS and closed at accept (api.max_conns_per_uid); then holds the open ones HOLD seconds."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vx_wire  # noqa: E402

EAGAIN = 11
EUSERS = 87
TASK_LIST = 14


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    ok = limited = 0
    rid = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        rid += 1
        r = vx_wire.ctl_call(s, rid, TASK_LIST, {})
        st = r.get(3, 0)
        if st == 0:
            ok += 1
        elif st == -EAGAIN:
            limited += 1
        else:
            sys.exit("api_rate: status %d: %s" % (st, r.get(4)))
    elapsed = time.monotonic() - start
    print("%d %d %.3f" % (ok, limited, elapsed))


def conns(path, k, hold):
    socks = []
    for _ in range(k):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        socks.append(s)
    time.sleep(0.5)  # a refusal comes at accept: the daemon's loop has taken them all by now
    kept = refused = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            kept += 1  # nothing said: an accepted client
            continue
        s.settimeout(10)
        tag, v = vx_wire.recv_frame(s)
        st = vx_wire.cbor_dec(v)[0].get(3, 0) if tag is not None else 0
        if st != -EUSERS or s.recv(1) != b"":
            sys.exit("api_rate: a connection was answered %r, not -EUSERS and closed" % st)
        refused += 1
    print("open %d refused %d" % (kept, refused), flush=True)
    time.sleep(hold)


if __name__ == "__main__":
    if sys.argv[1] == "--conns":
        conns(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
