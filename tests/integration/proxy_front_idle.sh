#!/usr/bin/env bash
# proxy_front_idle.sh: connections that send nothing must not lock everyone else out of the
# proxy. The front door (proxy/src/connect.c) peeks at each connection's first byte and, on
# main, stopped accepting once FRONT_PENDING_MAX (128) of them waited: one client opening 128
# idle connections (no byte, ever) froze the mirror and the forward proxy for every other
# client until the first of them timed out (30 s), and could do it again forever. The attack:
# hold 160 idle connections open, then a plain request from another client must be answered
# (any HTTP status) while they are still held.
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

printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n' >"$dir/p.yaml"
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
echo "PASS: $name"
