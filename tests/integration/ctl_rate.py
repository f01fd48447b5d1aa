"""ctl_rate.py PORT TOKEN SECONDS [SOURCE [N]]: a host on a scheduler's control channel (plaintext,
loopback; from address SOURCE, default 127.0.0.1; host id number N, default 1) that says hello
with TOKEN, then sends announce requests as fast as the answers come back (pipelined, 64 at a
time) for SECONDS, and prints "served S refused R seconds T start A end B": requests answered
0, answered -EBUSY (over the channel's request rate), the time between the first request and
the last answer, and its ends on the system's monotonic clock (to add up several clients run
at once). The rate served is a measurement (requests counted over time). With a sixth
argument "reconnect" the host closes its connection after every batch with a refusal and opens a
new one (hello again, retried while refused): a client trying to buy a full bucket anew."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vx_wire import cbor_dec, cbor_enc, recv_frame  # noqa: E402

port, token, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
src = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
nr = int(sys.argv[5]) if len(sys.argv) > 5 else 1
reconnect = len(sys.argv) > 6 and sys.argv[6] == "reconnect"
s = None


def send(rid, typ, m):
    v = cbor_enc({0: rid, 1: typ, 2: 1, **m})
    s.sendall(struct.pack(">BBI", 0, 0x60, len(v)) + v)


def answer():
    while True:
        tag, v = recv_frame(s)
        if tag is None:
            raise SystemExit("closed")
        r, _ = cbor_dec(v)
        if tag == 0x61:
            return r.get(3, 0)


key = os.urandom(32).hex()


def hello():
    """A new connection and its hello (again while -EBUSY: over the rate)."""
    global s
    while True:
        if s is not None:
            s.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
        send(1, 1, {8: "rate-%016x" % nr, 9: src, 10: 4005, 13: 0, 16: token, 19: key})
        st = answer()
        if st == 0:
            return
        if st != -16 or not reconnect:
            raise SystemExit("hello refused (%d)" % st)
        time.sleep(0.01)


hello()
served = refused = 0
refused_batch = False
reconnects = 0
rid = 2
start = time.monotonic()
while time.monotonic() - start < secs:
    if reconnect and refused_batch:
        hello()
        reconnects += 1
    refused_batch = False
    for i in range(64):
        send(rid + i, 2, {17: 0})
    for i in range(64):
        st = answer()
        if st == 0:
            served += 1
        elif st == -16:
            refused += 1
            refused_batch = True
        else:
            raise SystemExit("announce answered %d" % st)
    rid += 64
end = time.monotonic()
print("served %d refused %d seconds %.3f start %.3f end %.3f" % (served, refused, end - start,
                                                                 start, end)
      + (" reconnects %d" % reconnects if reconnect else ""))
