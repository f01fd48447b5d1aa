#!/usr/bin/env bash
# peer_chaos_swarm.sh VX: the chaos swarm of issue 18 (ctest peer_chaos_swarm: 64 MiB; the long
# form, 128 MiB, is scripts/chaos-long's; VX_CHAOS_SWARM_MIB, default 32). An origin, two
# schedulers (one tokens file), a seed and 8 peers held to 4 MiB/s, all getting one file.
# Mid-distribution: SIGKILL half of the peers (p1-p4), the seed and the scheduler that owns the
# task, then start that scheduler again on its address and database. Every surviving peer
# (p5-p8) finishes with a correct file, the origin sent at most 2x the file, the survivors are
# still running, and no log holds a sanitizer report.
# shared/reference/dragonfly-behaviour.md 5.5 items 23 (under ASan) and 24 (kill -9, restart).
set -euo pipefail
vx=$1
name=peer_chaos_swarm
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
mib=1048576
size=$((${VX_CHAOS_SWARM_MIB:-32} * mib + 999))
make_file f.bin "$size"
origin_start
p1=$(free_port)
sched_start "127.0.0.1:$p1"
p2=$(free_port)
s2_start() {
	"$vx" scheduler --listen "127.0.0.1:$p2" --db "$dir/s2.db" --tokens "$sched_tokens" \
		--no-api --log-level info >>"$dir/s2.out" 2>>"$dir/s2.log" &
	s2_pid=$!
	bg_pids+=("$s2_pid")
	wait_line "$dir/s2.out" 'listening on port' "$s2_pid" "the second scheduler" >/dev/null
}
s1_start() {
	: >"$dir/sched.out"
	"$vx" scheduler --listen "127.0.0.1:$p1" --db "$dir/sched.db" --log-level info \
		--no-api >>"$dir/sched.out" 2>>"$dir/sched.log" &
	sched_pid=$!
	bg_pids+=("$sched_pid")
	wait_line "$dir/sched.out" 'listening on port' "$sched_pid" "the first scheduler" >/dev/null
}
s2_start
both=(--scheduler "127.0.0.1:$p2")
printf 'download:\n  rate_limit: 4MiB\n' >"$dir/slow.yaml"
serve_start seed --seed "${both[@]}"
for i in $(seq 8); do
	serve_start "p$i" --config "$dir/slow.yaml" "${both[@]}"
done
tid=$("$vx" task-id "$base/f.bin")
get_pids=()
for i in $(seq 8); do
	get_bg "p$i" "$base/f.bin" "$dir/out/p$i" "g$i" --timeout 50s
done
for i in $(seq 200); do
	[ "$(pieces_in_store p5 2>/dev/null || echo 0)" -ge 1 ] && break
	sleep 0.1
done
if grep -q "register task ${tid:0:12}" "$dir/sched.log"; then owner=1; else owner=2; fi
echo "$name: scheduler $owner owns task ${tid:0:12}; killing p1-p4, the seed and it"
for n in p1 p2 p3 p4 seed; do
	serve_kill "$n"
done
if [ "$owner" = 1 ]; then
	kill -KILL "$sched_pid"
	wait "$sched_pid" 2>/dev/null || true
	sleep 1
	s1_start
else
	kill -KILL "$s2_pid"
	wait "$s2_pid" 2>/dev/null || true
	sleep 1
	s2_start
fi
wait_gets
for i in 5 6 7 8; do
	rc=$(cat "$dir/g$i.rc")
	err=$(cat "$dir/g$i.err")
	expect_rc 0 "p$i after the chaos"
	same_file "$dir/www/f.bin" "$dir/out/p$i" "p$i after the chaos"
	kill -0 "${serve_pid[p$i]}" 2>/dev/null || fail "p$i died"
done
sent=$(origin_body_bytes /f.bin)
echo "$name: the origin sent $sent bytes for $size"
[ "$sent" -le $((2 * size)) ] || fail "the origin sent $sent bytes, more than twice the file"
! grep -l -E "ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:" "$dir"/*.log ||
	fail "a sanitizer report in the logs above"
echo "$name: ok"
