#!/usr/bin/env bash
# peer_preheat_queue.sh VX: preheats beyond the daemon's task table (VX_PEER_TASKS_MAX, 256)
# wait for a slot instead of being dropped. A scheduler (preheat_flood_sched.py) pushes 300
# preheat events at once right after the hello, each for its own small file on nginx, and
# answers every register with back-to-source: every one of the 300 is registered and stored,
# and the daemon said its table was full (else the test proves nothing). Before, the 44 past
# the table were dropped with a warning and their job only timed out.
set -euo pipefail
vx=$1
name=peer_preheat_queue
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

n=300
origin_start
for i in $(seq 0 $((n - 1))); do
	printf 'preheated file %d\n' "$i" >"$dir/www/f$i"
done
python3 "$(dirname "$0")/preheat_flood_sched.py" "$dir/flood.port" "$dir/flood.count" \
	"http://127.0.0.1:$origin_port" "$n" 2>"$dir/flood.log" &
bg_pids+=($!)
for _ in $(seq 100); do
	[ -s "$dir/flood.port" ] && break
	sleep 0.1
done
[ -s "$dir/flood.port" ] || fail "preheat_flood_sched.py did not start: $(cat "$dir/flood.log")"
(umask 077 && echo any-token-for-the-fake >"$dir/token.peer") # the fake takes any token
sched_port=$(cat "$dir/flood.port")
serve_start A --allow-outbound 127.0.0.0/8

count() { cat "$dir/flood.count" 2>/dev/null || echo 0; }
for _ in $(seq 600); do
	[ "$(count)" -ge "$n" ] && break
	sleep 0.1
done
[ "$(count)" = "$n" ] || fail "the daemon registered $(count) of $n preheats: $(grep -c dropped "$dir/A.log" || true) dropped"
grep -qE 'task table full: [0-9]+ preheats wait for a slot' "$dir/A.log" ||
	fail "the daemon's task table never filled: the test proves nothing"
for _ in $(seq 300); do
	[ "$(task_files A)" -ge "$n" ] && break
	sleep 0.1
done
[ "$(task_files A)" = "$n" ] || fail "A stores $(task_files A) of the $n preheated files"
echo "$name: ok"
