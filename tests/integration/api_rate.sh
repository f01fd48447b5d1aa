#!/usr/bin/env bash
# api_rate.sh: the local API's limits per client uid, the unix socket's "source address".
# Connections (api.max_conns_per_uid): nobody holds 3 of the 5 it opened, and root at that
# moment is kept 3 of its 5 too. Request rate (api.requests_per_s): two clients of one root
# daemon's socket, root and nobody (setpriv, the socket's group), each make
# task-list requests back to back for 10 s at once; each must get its own uid's rate within
# 10 % (20/s: 200 in 10 s beyond the bucket's first second, 20) and be answered -EAGAIN for the
# rest, so one uid flooding the socket neither passes nor takes another uid's share. Without
# the limit each client gets thousands of answers.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 13 (request-rate limits
# on every listener), 11 (the local socket).
set -euo pipefail
vx=$1
name=api_rate
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
nobody_init

rate=20
secs=10
printf 'api:\n  requests_per_s: %s\n  max_conns_per_uid: 3\n' "$rate" >"$dir/a.yaml"
serve_start a --no-scheduler --socket-group "$gname" --config "$dir/a.yaml"
chmod 755 "$dir"
# the system interpreter: one under root's home (pyenv) is not nobody's to run
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# connections per uid (api.max_conns_per_uid 3): nobody opens 5 and holds the 3 it keeps; root,
# at that moment, opens 5 too and is kept 3 of its own: one uid cannot take every slot
as_nobody "$py" "$here/api_rate.py" --conns "$dir/a.sock" 5 4 >"$dir/nobody.conns" &
p0=$!
bg_pids+=("$p0")
for _ in $(seq 100); do
	[ -s "$dir/nobody.conns" ] && break
	sleep 0.1
done
res=$(python3 "$here/api_rate.py" --conns "$dir/a.sock" 5 0)
[ "$(cat "$dir/nobody.conns")" = "open 3 refused 2" ] ||
	fail "nobody, 3 connections per uid, 5 opened: $(cat "$dir/nobody.conns")"
[ "$res" = "open 3 refused 2" ] || fail "root, while nobody holds 3: $res"
wait "$p0" || fail "the nobody connections client failed"
grep -q "api: refused uid 0 pid [0-9]*: it holds 3 connections, the limit per uid" \
	"$dir/a.log" || fail "the daemon did not say why it refused root's 4th connection"
echo "$name: 3 connections per uid: nobody kept 3 of 5, root kept 3 of 5 at the same time"

python3 "$here/api_rate.py" "$dir/a.sock" "$secs" >"$dir/root.out" &
p1=$!
bg_pids+=("$p1")
as_nobody "$py" "$here/api_rate.py" "$dir/a.sock" "$secs" >"$dir/nobody.out" &
p2=$!
bg_pids+=("$p2")
wait "$p1" || fail "the root client failed"
wait "$p2" || fail "the nobody client failed"
for who in root nobody; do
	read -r ok limited elapsed <"$dir/$who.out"
	echo "$name: $who: $ok answered, $limited refused (-EAGAIN) in $elapsed s"
	# the bucket starts full (one second's worth), then refills at the rate
	python3 - "$ok" "$limited" "$elapsed" "$rate" <<'PY' || fail "$who: rate (above)"
import sys
ok, limited, elapsed, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
measured = (ok - rate) / elapsed
print("measured %.2f requests/s against %d" % (measured, rate))
if abs(measured - rate) > 0.1 * rate:
    sys.exit("measured %.2f/s, not within 10%% of %d/s" % (measured, rate))
if limited < ok:
    sys.exit("only %d refused: the client was not held to the limit" % limited)
PY
done
serve_stop a
echo "PASS: $name"
