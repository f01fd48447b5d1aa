#!/usr/bin/env bash
# conn_limits.sh VX: per-source-address connection limits (issue 16, limits): the scheduler's
# control channel (`vx scheduler --conns-per-addr N`), the registry mirror / forward proxy
# (`proxy.max_connections_per_addr`), the management (open) API (32, libmicrohttpd's per-IP
# limit) and a daemon's /metrics listener (16). One client address opens more connections than
# its share; the count the server keeps open is measured: exactly the limit, the rest closed at
# accept. And the control channel's request rates, per connection (`--requests-per-s N`) and
# per source address (`--addr-requests-per-s N`, also for a client that reconnects whenever
# refused), measured over 10 s. (The upload port's limit
# is upload_addr_limit's. The local API is a unix socket: 256 clients in all, none per uid yet;
# its request rate per uid is api_rate's.)
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): 13 (per-connection and
# per-host limits), 15 (one client cannot hold every connection slot).
# Every wait is bounded; nothing depends on how long something took.
set -euo pipefail
vx=$1
name=conn_limits
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init

# the control channel: 4 per address, 7 opened (no hello: held until the hello timeout)
sched_start --conns-per-addr 4
res=$(python3 "$here/conn_limit.py" "$sched_port" 7 -)
[ "$res" = "open 4 closed 3" ] || fail "scheduler, 4 per address, 7 opened: $res"
grep -q "scheduler: 127.0.0.1 holds 4 connections, the limit per address: refused" \
	"$dir/sched.log" || fail "the scheduler did not say why it refused"
# the management API: 32 per address, 40 opened
res=$(python3 "$here/conn_limit.py" "$api_port" 40 -)
[ "$res" = "open 32 closed 8" ] || fail "management API, 32 per address, 40 opened: $res"

# the control channel's request rates, per connection (--requests-per-s 200) and per source
# address over all its connections (--addr-requests-per-s 300), in one 10 s window: three hosts
# ask as fast as they are answered, one from 127.0.0.2 (held by its connection's 200/s) and two
# from 127.0.0.1 (held together by their address's 300/s, each under its own 200). The rates
# served, measured (requests counted over the time taken, each bucket's first second of burst
# left out), are 200 and 300 within 10 %. Without the address limit the two get 400 together.
kill "$sched_pid" && wait "$sched_pid" 2>/dev/null || true
sched_start --requests-per-s 200 --addr-requests-per-s 300
pids=()
for h in 1 2 3; do
	src=127.0.0.1
	[ $h = 3 ] && src=127.0.0.2
	python3 "$here/ctl_rate.py" "$sched_port" "$sched_peer_token" 10 $src $h >"$dir/rate$h" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a control channel client failed: $(cat "$dir"/rate*)"
done
read -r _ s1 _ r1 _ _ _ b1 _ e1 <"$dir/rate1"
read -r _ s2 _ r2 _ _ _ b2 _ e2 <"$dir/rate2"
read -r _ s3 _ r3 _ t3 _ _ _ _ <"$dir/rate3"
conn=$(python3 -c "print(round(($s3 - 200) / $t3))")
addr=$(python3 -c "print(round(($s1 + $s2 - 300) / (max($e1, $e2) - min($b1, $b2))))")
echo "$name: control channel: one connection served $conn requests/s of 200;" \
	"two from one address $addr of 300 ($(cat "$dir/rate1"); $(cat "$dir/rate2"))"
[ "$conn" -ge 180 ] && [ "$conn" -le 220 ] ||
	fail "control channel at 200 requests/s a connection: served $conn/s ($(cat "$dir/rate3"))"
[ "$addr" -ge 270 ] && [ "$addr" -le 330 ] ||
	fail "control channel at 300 requests/s an address: its two connections got $addr/s"
[ "$r3" -gt 0 ] && [ $((r1 + r2)) -gt 0 ] || fail "nothing over the rates was refused"
grep -q "scheduler: 127.0.0.1 is over its 300 requests/s (--addr-requests-per-s)" \
	"$dir/sched.log" || fail "the scheduler did not say why it refused 127.0.0.1"
# ... and a client that closes its connection and opens a new one whenever refused is held to
# its address's 300/s as well (the address's bucket outlives its connections until it is full
# again; without that every new connection brought a full one: 1,000s of requests/s)
kill "$sched_pid" && wait "$sched_pid" 2>/dev/null || true
sched_start --requests-per-s 100000 --addr-requests-per-s 300
python3 "$here/ctl_rate.py" "$sched_port" "$sched_peer_token" 10 127.0.0.3 4 reconnect \
	>"$dir/rate4" || fail "the reconnecting client failed: $(cat "$dir/rate4")"
read -r _ s4 _ r4 _ t4 _ _ _ _ _ n4 <"$dir/rate4"
# its hellos are requests too: one a reconnect
again=$(python3 -c "print(round(($s4 + $n4 - 300) / $t4))")
echo "$name: control channel: a client reconnecting $n4 times was served $again requests/s of 300"
[ "$n4" -ge 5 ] || fail "the client reconnected only $n4 times: $(cat "$dir/rate4")"
[ "$again" -ge 270 ] && [ "$again" -le 330 ] ||
	fail "control channel at 300 requests/s an address: a reconnecting client got $again/s"

# the mirror: 3 per address, 6 opened, each with a request head begun (so each is handed to
# the HTTP server and held there waiting for the rest)
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  max_connections_per_addr: 3\n' \
	>"$dir/p.yaml"
serve_start p --no-scheduler --config "$dir/p.yaml" --metrics 127.0.0.1:0
res=$(python3 "$here/conn_limit.py" "$(mirror_port p)" 6 'GET /v2/ HTTP/1.1\r\nHost: x\r\n')
[ "$res" = "open 3 closed 3" ] || fail "mirror, 3 per address, 6 opened: $res"
# /metrics: 16 per address, 20 opened
mport=$(sed -n 's/^vx serve: metrics on port //p' "$dir/p.out")
[ -n "$mport" ] || fail "p: no metrics port in its output"
res=$(python3 "$here/conn_limit.py" "$mport" 20 -)
[ "$res" = "open 16 closed 4" ] || fail "/metrics, 16 per address, 20 opened: $res"
# 0: no limit
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  max_connections_per_addr: 0\n' \
	>"$dir/q.yaml"
serve_start q --no-scheduler --config "$dir/q.yaml"
res=$(python3 "$here/conn_limit.py" "$(mirror_port q)" 6 'GET /v2/ HTTP/1.1\r\nHost: x\r\n' 2)
[ "$res" = "open 6 closed 0" ] || fail "mirror without a limit, 6 opened: $res"
echo "$name: ok"
