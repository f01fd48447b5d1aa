"""conn_limit.py PORT K PAYLOAD [WAIT]: opens K connections to 127.0.0.1:PORT one after another, sends
PAYLOAD (text, "\\r\\n" escapes; "-" nothing) on each, then waits (at most 10 s) until the server
has closed at least one (WAIT s when given), and prints "open O closed C": how many it still holds and how many it
closed. A server with a per-address limit L closes all but L; one without closes none (the
wait then runs out: a bounded wait, not a measurement of time)."""
import socket
import sys
import time

port, k, payload = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = b"" if payload == "-" else payload.encode().decode("unicode_escape").encode()
socks = []
for _ in range(k):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        try:
            s.sendall(data)
        except OSError:
            pass
    socks.append(s)


def count():
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


end = time.monotonic() + (float(sys.argv[4]) if len(sys.argv) > 4 else 10)
while count() == 0 and time.monotonic() < end:
    time.sleep(0.05)
time.sleep(0.3)  # the last refusals of a burst land (they come at accept)
c = count()
print("open %d closed %d" % (k - c, c))
