#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Measures the registry mirror's limits (proxy_limits.sh). Every wait is bounded.

usage: proxy_limits.py measure PORT RATE PORT2 RATE2 SECONDS
                                              for SECONDS, clients from 127.0.0.1 and 127.0.0.2
                                              ask both mirrors at once, four connections an
                                              address, each as fast as it is answered (at most
                                              50/s): PORT's proxy.rate_limit
                                              RATE holds the two together to RATE/s, PORT2's
                                              proxy.client_rate_limit RATE2 holds each to
                                              RATE2/s; each rate served (200s counted over the
                                              time, the bucket's first second left out) within
                                              10 %, and every other answer a 429
       proxy_limits.py timeout PORT SECONDS   a client that sends half a request line is cut
                                              off within SECONDS
       proxy_limits.py conns PORT MAX         MAX idle connections held: one more gets no
                                              answer; once they close, requests pass again
"""
import http.client
import socket
import sys
import threading
import time

LOCK = threading.Lock()


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


def asker(port, source, end, out):
    """Asks PORT from SOURCE until END (monotonic) on one kept-alive connection (a new one when
    the server closes it), at most 50 times a second; counts the answers by status into OUT
    (a dict shared by the askers of one address, under LOCK), and the times of the first and
    the last request sent under OUT["first"], OUT["last"]."""
    c = None
    while True:
        t = time.monotonic()
        if t >= end:
            break
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                           source_address=(source, 0))
        with LOCK:
            out.setdefault("first", t)
            out["last"] = t
        try:
            c.request("GET", "/v2/")
            resp = c.getresponse()
            resp.read()
            st = resp.status
            if resp.will_close:
                c.close()
                c = None
        except (OSError, http.client.HTTPException):
            st = 0
            c.close()
            c = None
        with LOCK:
            out[st] = out.get(st, 0) + 1
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
    if c is not None:
        c.close()


def measure(port, r, port2, r2, secs):
    """proxy.rate_limit (all clients together) on PORT and proxy.client_rate_limit (each
    address its own) on PORT2, measured at once over SECS: a rate, not a single 429."""
    start = time.monotonic()
    end = start + secs
    res = {(p, src): {} for p in (port, port2) for src in ("127.0.0.1", "127.0.0.2")}
    # four askers an address: one waiting on a slow answer never leaves its bucket unasked
    threads = [threading.Thread(target=asker, args=(p, src, end, out))
               for (p, src), out in res.items() for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    bad = []
    # the window the buckets were asked in: first request sent to last (the answers of requests
    # in flight at the end come later and are counted, but no token was to be had after it)
    for key, out in res.items():
        res[key] = (out.pop("first"), out.pop("last"), out)
    both_win = (max(res[(port, a)][1] for a in ("127.0.0.1", "127.0.0.2")) -
                min(res[(port, a)][0] for a in ("127.0.0.1", "127.0.0.2")))
    wins = {src: res[(port2, src)][1] - res[(port2, src)][0] for src in ("127.0.0.1", "127.0.0.2")}
    res = {key: out for key, (_, _, out) in res.items()}
    for (p, src), out in res.items():
        if set(out) - {200, 429} or not out.get(429):
            bad.append("%s to %d: answers %s (want 200s and some 429s)" % (src, p, out))
    both = sum(res[(port, src)].get(200, 0) for src in ("127.0.0.1", "127.0.0.2"))
    asked = sum(sum(res[(port, src)].values()) for src in ("127.0.0.1", "127.0.0.2"))
    got = [("proxy.rate_limit %d, two clients together, %d asked" % (r, asked), r, both,
            both_win)]
    got += [("proxy.client_rate_limit %d, %s, %d asked" % (r2, src,
                                                        sum(res[(port2, src)].values())),
             r2, res[(port2, src)].get(200, 0), wins[src]) for src in ("127.0.0.1", "127.0.0.2")]
    for what, want, ok, win in got:
        rate = (ok - want) / win
        print("proxy_limits.py: %s: %.1f requests/s served (%d in %.2f s; all answered in "
              "%.2f s)" % (what, rate, ok, win, took))
        if abs(rate - want) > want * 0.1:
            bad.append("%s: %.1f/s, not within 10 %% of %d" % (what, rate, want))
        # and never more than a bucket can give: a second's worth, then the rate (with
        # several connections at once too: their requests must not refill it out of turn)
        if ok > want + want * win + 1:
            bad.append("%s: %d served in %.2f s, more than the bucket holds" % (what, ok, win))
    if bad:
        fail("; ".join(bad) + "; answers: %s" % res)


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
    {"measure": measure, "timeout": timeout, "conns": conns}[sys.argv[1]](
        *[int(a) for a in sys.argv[2:]])
