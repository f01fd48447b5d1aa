#!/usr/bin/env bash
# proxy_front_idle.sh: connections that send nothing must not lock everyone else out of the
# proxy. The front door (proxy/src/connect.c) peeks at each connection's first byte and, on
# main, stopped accepting once FRONT_PENDING_MAX (128) of them waited: one client opening 128
# idle connections (no byte, ever) froze the mirror and the forward proxy for every other
# client until the first of them timed out (30 s), and could do it again forever. The attack:
# hold 160 idle connections open, then a plain request from another client must be answered
# (any HTTP status) while they are still held.
# Then the slow-loris forms (proxy.header_timeout 2s):
# - a client trickling its request head one header line every 0.4 s (each byte resets an idle
#   timeout) is answered 408 and closed within the head timeout: on main the front door handed
#   it to the HTTP server at its first byte and the server kept it for proxy.client_timeout
#   after its last byte, so it held a server connection for as long as it kept trickling;
# - a client from 127.0.0.2 that connected but has not sent its head yet survives 200 more
#   silent connections from 127.0.0.1 (which push out only 127.0.0.1's own, at its cap of
#   proxy.max_connections_per_addr): on main the oldest waiting connection of any client was
#   closed, so one address flooding pushed out every other client's connection before its
#   head was in; then it is answered.
# - what is no HTTP request at all (a TLS ClientHello: Go clients such as skopeo try https
#   first) is answered 400 at once, never held for the head timeout (skopeo pulls waited
#   10 s each for their fallback to http so).
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 13 (per-connection
# limits), 15 (slow-loris and half-open streams).
set -euo pipefail
vx=$1
name=proxy_front_idle
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
command -v curl >/dev/null || {
	echo "$name: needs curl, skipping" >&2
	exit 77
}

printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  header_timeout: 2s\n' >"$dir/p.yaml"
serve_start p --no-scheduler --config "$dir/p.yaml"
fp=$(mirror_port p)

# the idle holder: 160 connections that never send, kept until told to stop (bounded: 60 s)
python3 - "$fp" "$dir/idle.ready" "$dir/idle.stop" <<'PY' &
import os, socket, sys, time
port, ready, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for _ in range(160):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    socks.append(s)
open(ready, "w").close()
end = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < end:
    time.sleep(0.05)
PY
holder=$!
bg_pids+=("$holder")
for _ in $(seq 200); do
	[ -e "$dir/idle.ready" ] && break
	kill -0 "$holder" 2>/dev/null || fail "the idle holder died"
	sleep 0.05
done
[ -e "$dir/idle.ready" ] || fail "the idle connections were not opened"
sleep 0.5 # let the front door accept them all

# a plain request from another client while the idle ones are held: answered, not queued
# behind them (on main it waited for the first idle one's 30 s timeout)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	"http://127.0.0.1:$fp/v2/" || true)
touch "$dir/idle.stop"
wait "$holder" || true
[ "$code" != 000 ] || fail "the proxy did not answer while 160 idle connections were held"
echo "$name: answered $code with 160 idle connections held"

python3 - "$fp" <<'PY' || fail "slow-loris (see above)"
import socket, sys, time
port = int(sys.argv[1])

# a head trickled a line at a time: 408 (or closed) within the 2 s head timeout
t = socket.socket()
t.bind(("127.0.0.3", 0))
t.connect(("127.0.0.1", port))
t.sendall(b"GET http://127.0.0.1:1/x HTTP/1.1\r\n")
start = time.monotonic()
t.setblocking(False)
got, closed = b"", False
while time.monotonic() - start < 8 and not closed:
    try:
        t.send(b"X-Slow: y\r\n")
    except OSError:
        closed = True
        break
    time.sleep(0.4)
    try:
        d = t.recv(4096)
        if not d:
            closed = True
        got += d
    except BlockingIOError:
        pass
    except OSError:
        closed = True
took = time.monotonic() - start
if not closed and not got:
    sys.exit(f"a trickled head was still open after {took:.1f} s (header_timeout 2s)")
if got and not got.startswith(b"HTTP/1.1 408"):
    sys.exit(f"a trickled head was answered {got[:40]!r}, want 408")
print(f"trickled head closed after {took:.1f} s: {got[:12]!r}")

# a slow client from another address outlives a flood of silent connections
slow = socket.socket()
slow.bind(("127.0.0.2", 0))
slow.connect(("127.0.0.1", port))
time.sleep(0.2)
flood = []
for _ in range(200):
    s = socket.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    flood.append(s)
time.sleep(0.5)
slow.settimeout(10)
try:
    slow.sendall(b"GET http://127.0.0.1:1/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
    answer = slow.recv(64)
except OSError as e:
    answer = repr(e).encode()
if not answer.startswith(b"HTTP/1.1 "):
    sys.exit(f"the slow client from 127.0.0.2 was pushed out by the flood: {answer!r}")
print(f"slow client from 127.0.0.2 answered {answer[:12]!r} beside 200 silent connections")
for s in flood:
    s.close()

# a TLS ClientHello to the plaintext port (Go clients such as skopeo try https first): no
# HTTP request, so it is answered 400 at once (what Go recognises as "an HTTP response to an
# HTTPS client"), not held for the head timeout and answered 408 (which delayed every skopeo
# pull's fallback to http by that long)
h = socket.create_connection(("127.0.0.1", port), timeout=10)
h.sendall(bytes([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]) + bytes(32))
try:
    answer = h.recv(64)
except OSError as e:
    answer = repr(e).encode()
if not answer.startswith(b"HTTP/1.1 400"):
    sys.exit(f"a TLS ClientHello to the plaintext port was answered {answer[:40]!r}, want 400 at once")
print(f"TLS ClientHello to the plaintext port refused at once: {answer[:12]!r}")
PY
echo "PASS: $name"
