#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Measures the registry mirror's limits (proxy_limits.sh). Every wait is bounded.

usage: proxy_limits.py rate PORT RATE         100 requests as fast as they go: the 200s are at
                                              most RATE (the bucket) + RATE per second elapsed
                                              + 1, some are 429, and one second later a
                                              request passes again
       proxy_limits.py client PORT RATE       the same from 127.0.0.1 with a per-client
                                              limit: 127.0.0.2 still passes at once
       proxy_limits.py timeout PORT SECONDS   a client that sends half a request line is cut
                                              off within SECONDS
       proxy_limits.py conns PORT MAX         MAX idle connections held: one more gets no
                                              answer; once they close, requests pass again
"""
import http.client
import socket
import sys
import time


def get(port, source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", "/v2/")
        return c.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        c.close()


def fail(msg):
    print("proxy_limits.py: " + msg, file=sys.stderr)
    sys.exit(1)


def client(port, r):
    """The per-client bucket: 127.0.0.1 is held to R/s as by rate(), and at that moment
    another client (127.0.0.2) still passes: its bucket is its own."""
    t0 = time.monotonic()
    codes = [get(port) for _ in range(100)]
    elapsed = time.monotonic() - t0
    if codes.count(200) > r + r * elapsed + 1 or codes.count(429) == 0:
        fail("client 127.0.0.1: %d passed, %d limited in %.2f s at %d/s" % (
            codes.count(200), codes.count(429), elapsed, r))
    if get(port, "127.0.0.2") != 200:
        fail("client 127.0.0.2 was limited by 127.0.0.1's requests")


def rate(port, r):
    t0 = time.monotonic()
    codes = [get(port) for _ in range(100)]
    elapsed = time.monotonic() - t0
    ok, limited = codes.count(200), codes.count(429)
    if ok > r + r * elapsed + 1:
        fail("%d requests passed in %.2f s at %d/s" % (ok, elapsed, r))
    if ok + limited != 100:
        fail("answers other than 200 and 429: %s" % sorted(set(codes)))
    if elapsed < 100.0 / r - 1 and limited == 0:
        fail("no 429 for 100 requests in %.2f s at %d/s" % (elapsed, r))
    time.sleep(1.5)
    if get(port) != 200:
        fail("the bucket did not refill")


def slow_client(port):
    """A connection the HTTP server holds: a whole request (answered; kept alive), then half of
    a second one. (Half of a first head never reaches the server: the front door holds it for
    proxy.header_timeout, proxy_front_idle.sh.)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\n")
    return s


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # the first answer, maybe a 408, then EOF
            if s.recv(4096) == b"":
                return True
        return False
    except socket.timeout:
        return False
    except OSError:
        return True


def timeout(port, seconds):
    s = slow_client(port)
    if not closed_within(s, seconds):
        fail("a slow client was still connected after %d s" % seconds)


def conns(port, n):
    held = [slow_client(port) for _ in range(n)]
    time.sleep(0.3)  # let the server take them (it answers nothing: no full request yet)
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        extra.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(5)
        data = extra.recv(4096)
    except OSError:
        data = b""
    if data.startswith(b"HTTP/"):
        fail("connection %d of at most %d was served" % (n + 1, n))
    for s in held:
        s.close()
    for _ in range(50):
        if get(port) == 200:
            return
        time.sleep(0.1)
    fail("requests do not pass after the held connections closed")


if __name__ == "__main__":
    {"rate": rate, "client": client, "timeout": timeout, "conns": conns}[sys.argv[1]](int(sys.argv[2]),
                                                                    int(sys.argv[3]))
