#!/usr/bin/env bash
# peer_rates.sh VX: the daemon's origin and per-task bandwidth limits (issue 16, "Limits"), each
# measured over >= 10 s and held within 10% of its setting. An nginx origin, a scheduler and four
# daemons on loopback; the three measurements run at once (one ~12 s window):
#   1. src: download.back_to_source_rate_limit 4 MiB/s, from the cluster configuration (the
#      control plane's --cluster-config; the daemon starts without it and applies it live),
#      two 24 MiB files fetched at once: the origin sends the 48 MiB at 4 MiB/s together
#      (12 s), not 4 MiB/s each. The other daemons' files set it to 0 (kept local).
#   2. task: download.task_rate_limit 2 MiB/s, two 24 MiB files at once: each task at 2 MiB/s,
#      4 MiB/s together (the cap is per task, not the daemon's).
#   3. capped (download.task_rate_limit 2 MiB/s) gets a 24 MiB file that `full` holds: from the
#      peer (the origin sends it once, to `full`), at 2 MiB/s: the cap covers peers too.
#   4. dl: download.rate_limit 4 MiB/s, two 24 MiB files `full` holds, fetched at once from it:
#      4 MiB/s together (12 s), not 4 MiB/s each (the limit is the daemon's, not a task's).
#   5. capped exports (`vx cache export`) a 24 MiB persistent-cache task `full` imported: the
#      fetch from the holder runs at the task cap too (it ran at the daemon's full rate).
# Rates are bytes over the measured time: in 1 the origin's bytes (nginx's log) from the first
# byte asked of it (the log's start of the earlier GET) to the end of both gets; in 2 and 3 the
# file's bytes over each get's own elapsed time.
set -euo pipefail
vx=$1
name=peer_rates
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mib=$((1024 * 1024))
size=$((24 * mib))
for f in s1 s2 t1 t2 p q1 q2 c; do
	make_file "$f.bin" "$size"
done
printf '{"download.back_to_source_rate_limit": "4MiB"}\n' >"$dir/cluster.json"
printf 'download:\n  back_to_source_rate_limit: 0\n  task_rate_limit: 2MiB\n' >"$dir/task.yaml"
printf 'download:\n  back_to_source_rate_limit: 0\n' >"$dir/full.yaml"
printf 'download:\n  back_to_source_rate_limit: 0\n  rate_limit: 4MiB\n' >"$dir/dl.yaml"
origin_log_extra=' $msec $request_time' # when each GET began: $msec - $request_time
origin_start
sched_start --cluster-config "$dir/cluster.json"
serve_start src
serve_start task --config "$dir/task.yaml"
serve_start full --config "$dir/full.yaml"
serve_start capped --config "$dir/task.yaml"
serve_start dl --config "$dir/dl.yaml"
wait_line "$dir/src.log" 'cluster config version 1 .*applied: .*download.back_to_source_rate_limit' \
	"${serve_pid[src]}" "src applying the cluster's back-to-source rate" >/dev/null

for f in p q1 q2; do
	get full "$base/$f.bin" "$dir/out/full-$f"
	[ "$rc" -eq 0 ] || fail "full's get of $f.bin failed: $err"
done

. "$(dirname "$0")/cache_lib.sh"
cache full import "$dir/www/c.bin" --replicas 1 # one holder: no endgame duplicates
[ "$rc" -eq 0 ] || fail "full's cache import of c.bin failed: $err"
cid=$out

get_pids=()
t0=$(date +%s.%N)
(
	a=$(date +%s%N)
	cache capped export "$cid" -O "$dir/out/capped-c"
	b=$(date +%s%N)
	echo "$rc $(((b - a) / 1000000))" >"$dir/cc.res"
) &
cc_pid=$!
get_bg src "$base/s1.bin" "$dir/out/s1" s1
get_bg src "$base/s2.bin" "$dir/out/s2" s2
src_pids=("${get_pids[@]}")
get_bg task "$base/t1.bin" "$dir/out/t1" t1
get_bg task "$base/t2.bin" "$dir/out/t2" t2
get_bg capped "$base/p.bin" "$dir/out/capped-p" cp
get_bg dl "$base/q1.bin" "$dir/out/dl-q1" q1
get_bg dl "$base/q2.bin" "$dir/out/dl-q2" q2
for pid in "${src_pids[@]}" "$cc_pid"; do
	wait "$pid" || true
done
t1=$(date +%s.%N)
wait_gets
for tag in s1 s2 t1 t2 cp q1 q2; do
	[ "$(cat "$dir/$tag.rc")" -eq 0 ] || fail "get $tag failed: $(cat "$dir/$tag.err")"
done
for f in s1 s2 t1 t2; do
	same_file "$dir/www/$f.bin" "$dir/out/$f" "$f"
done
same_file "$dir/www/p.bin" "$dir/out/capped-p" "capped's p.bin"

# 1. the origin's bytes for both of src's files over the time both took
bytes=$(($(origin_body_bytes /s1.bin) + $(origin_body_bytes /s2.bin)))
[ "$bytes" -eq $((2 * size)) ] || fail "the origin sent $bytes bytes of s1 and s2, want $((2 * size))"
first=$(awk '$1 == "GET" && ($2 == "/s1.bin" || $2 == "/s2.bin") && $5 != "\"bytes=0-0\"" {
	t = $6 - $7; if (!s || t < s) s = t } END { printf "%.3f", s }' "$dir/access.log")
awk -v a="$t0" -v f="$first" 'BEGIN { exit !(f >= a - 1) }' || fail "the GETs of s1 and s2 began at $first, before the gets ($t0)"
secs=$(awk -v a="$first" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
awk -v s="$secs" 'BEGIN { exit !(s >= 10) }' || fail "src's two gets took $secs s, want >= 10"
rate_within10 "1. back-to-source, two tasks together over $secs s" \
	"$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%d", b / s }')" $((4 * mib))

# 2. each of task's gets at its cap
total=0
for tag in t1 t2; do
	ms=$(json elapsed_ms "$(cat "$dir/$tag.json")")
	[ "$(origin_body_bytes "/$tag.bin")" -eq "$size" ] || fail "the origin sent $tag.bin more than once"
	[ "$ms" -ge 10000 ] || fail "task's get of $tag took $ms ms, want >= 10 s"
	rate_within10 "2. task $tag alone over $ms ms" $((size * 1000 / ms)) $((2 * mib))
done

# 3. from the peer, at the cap
ms=$(json elapsed_ms "$(cat "$dir/cp.json")")
peers=$(json bytes_from_peers "$(cat "$dir/cp.json")")
[ "$peers" -eq "$size" ] || fail "capped got $peers bytes of p.bin from peers, want all $size"
[ "$(origin_body_bytes /p.bin)" -eq "$size" ] || fail "the origin sent p.bin more than once"
[ "$ms" -ge 10000 ] || fail "capped's get of p.bin took $ms ms, want >= 10 s"
rate_within10 "3. one task from a peer over $ms ms" $((size * 1000 / ms)) $((2 * mib))

# 4. dl's two tasks from the peer, together at the daemon's download limit: both ran at once,
#    so the rate is the two files over the longer get
ms=0
for tag in q1 q2; do
	same_file "$dir/www/$tag.bin" "$dir/out/dl-$tag" "dl's $tag.bin"
	[ "$(json bytes_from_peers "$(cat "$dir/$tag.json")")" -eq "$size" ] ||
		fail "dl got $tag.bin not all from the peer: $(cat "$dir/$tag.json")"
	[ "$(origin_body_bytes "/$tag.bin")" -eq "$size" ] || fail "the origin sent $tag.bin more than once"
	m=$(json elapsed_ms "$(cat "$dir/$tag.json")")
	[ "$m" -le "$ms" ] || ms=$m
done
[ "$ms" -ge 10000 ] || fail "dl's two gets took $ms ms, want >= 10 s (the limit is per task?)"
rate_within10 "4. two tasks from a peer over $ms ms" $((2 * size * 1000 / ms)) $((4 * mib))

# 5. capped's cache export from full, at the task cap
read -r crc ms <"$dir/cc.res"
[ "$crc" -eq 0 ] || fail "capped's cache export of c.bin failed"
same_file "$dir/www/c.bin" "$dir/out/capped-c" "capped's export of c.bin"
[ "$ms" -ge 10000 ] || fail "capped's cache export took $ms ms, want >= 10 s (no task cap?)"
# the fetch's own time (the export's command also asks the scheduler and places the file)
ms=$(sed -n "s/.*cache: fetch of ${cid:0:12} from [0-9]* holders\{0,1\}: complete after \([0-9]*\) ms.*/\1/p" \
	"$dir/capped.log")
[ -n "$ms" ] || fail "capped did not log its cache fetch of c.bin"
rate_within10 "5. a cache export from a peer, its fetch over $ms ms" $((size * 1000 / ms)) $((2 * mib))
echo "$name: ok"
