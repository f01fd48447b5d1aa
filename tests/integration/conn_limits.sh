#!/usr/bin/env bash
# conn_limits.sh VX: per-source-address connection limits on the listeners that had none (issue
# 16, limits): the scheduler's control channel (`vx scheduler --conns-per-addr N`) and the
# registry mirror / forward proxy (`proxy.max_connections_per_addr`). One client address opens
# more connections than its share; the count the server keeps open is measured: exactly the
# limit, the rest closed at accept. And the control channel's request rate
# (`--requests-per-s N`), measured over 10 s. (The upload port's limit is upload_addr_limit's; the
# management API and /metrics had theirs: 32 and 16.)
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

# the control channel's request rate: 200 per second and connection (a second's worth at
# once), one host asking as fast as it is answered for 10 s; the rate served, measured
# (requests counted over the time taken, the first second's burst left out), is 200 within 10 %
kill "$sched_pid" && wait "$sched_pid" 2>/dev/null || true
sched_start --requests-per-s 200
res=$(python3 "$here/ctl_rate.py" "$sched_port" "$sched_peer_token" 10)
read -r _ served _ refused _ secs <<<"$res"
rate=$(python3 -c "print(round(($served - 200) / $secs))")
[ "$rate" -ge 180 ] && [ "$rate" -le 220 ] ||
	fail "control channel at 200 requests/s: served $rate/s ($res)"
[ "$refused" -gt 0 ] || fail "nothing over the rate was refused ($res)"
echo "$name: control channel served $rate requests/s of 200 ($res)"

# the mirror: 3 per address, 6 opened, each with a request head begun (so each is handed to
# the HTTP server and held there waiting for the rest)
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  max_connections_per_addr: 3\n' \
	>"$dir/p.yaml"
serve_start p --no-scheduler --config "$dir/p.yaml"
res=$(python3 "$here/conn_limit.py" "$(mirror_port p)" 6 'GET /v2/ HTTP/1.1\r\nHost: x\r\n')
[ "$res" = "open 3 closed 3" ] || fail "mirror, 3 per address, 6 opened: $res"
# 0: no limit
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  max_connections_per_addr: 0\n' \
	>"$dir/q.yaml"
serve_start q --no-scheduler --config "$dir/q.yaml"
res=$(python3 "$here/conn_limit.py" "$(mirror_port q)" 6 'GET /v2/ HTTP/1.1\r\nHost: x\r\n' 2)
[ "$res" = "open 6 closed 0" ] || fail "mirror without a limit, 6 opened: $res"
echo "$name: ok"
