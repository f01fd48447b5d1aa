#!/usr/bin/env bash
# peer_preheat_rate.sh VX: the control plane's preheat rate (issue 14, `vx scheduler
# --preheat-rate-limit`) is shared by every preheat fetch from the origin it runs at once, on
# all the chosen daemons together. A scheduler with a 4 MiB/s preheat rate, two seeds, an nginx
# origin; two preheat jobs at once, each of its own 24 MiB file: the origin sends the 48 MiB at
# 4 MiB/s together (12 s; each fetch got half in its preheat event, then all of it once the
# other was done), not 4 MiB/s each. Measured from the first byte asked of the origin (nginx's
# log: the start of the earlier GET) to the last byte written (the newest content file of the
# seeds' stores), within 10%.
# With "pg" (ctest manager_pg_preheat_rate): two control planes share one real PostgreSQL
# server (Debian's, on a loopback port), each with one seed; each runs one of the two jobs,
# so the limit holds only if they count each other's fetches through the database. The
# scheduler takes the limit from its config file (`vx scheduler --config`).
set -euo pipefail
vx=$1
mode=${2:-one}
name=peer_preheat_rate
[ "$mode" = pg ] && name=manager_pg_preheat_rate
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
[ "$mode" = pg ] && pg_need
peer_lib_init

mib=$((1024 * 1024))
size=$((24 * mib))
limit=$((4 * mib))
make_file a.bin "$size"
make_file b.bin "$size"
origin_log_extra=' $msec $request_time' # when each GET began: $msec - $request_time
origin_start
# the limit and the outbound list from the scheduler's config file (`--config`, the flags'
# own parser), the rest of the flags on the command line
printf 'allow_outbound: [127.0.0.0/8]\npreheat_rate_limit: 4MiB\n' >"$dir/sched.yaml"
common=(--config "$dir/sched.yaml")
db=$dir/sched.db
if [ "$mode" = pg ]; then
	pg_start
	db=$uri
	common+=(--manager-db "$uri" --tokens "$dir/sched.db.tokens")
fi
sched_start "${common[@]}"
declare -A api=([a]=$api_port [b]=$api_port)
serve_start seed1 --seed --allow-outbound 127.0.0.0/8
if [ "$mode" = pg ]; then # a second control plane with the second seed
	mv "$dir/sched.log" "$dir/sched_a.log"
	sched_start "${common[@]}" --db "$dir/sched_b.db"
	api[b]=$api_port
fi
serve_start seed2 --seed --allow-outbound 127.0.0.0/8
"$vx" token create --bootstrap --db "$db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
(umask 077 && tail -n1 "$dir/boot.out" >"$dir/api.admin")
export VX_API_TOKEN_FILE="$dir/api.admin"

pids=()
for f in a b; do
	VX_API="http://127.0.0.1:${api[$f]}" \
		"$vx" preheat "$base/$f.bin" --wait --timeout 60 --json >"$dir/$f.json" 2>"$dir/$f.err" &
	pids+=($!)
	bg_pids+=($!)
done
for i in 0 1; do
	wait "${pids[$i]}" || fail "preheat job $i failed: $(cat "$dir/a.json" "$dir/a.err" "$dir/b.json" "$dir/b.err")"
done

bytes=$(($(origin_body_bytes /a.bin) + $(origin_body_bytes /b.bin)))
[ "$bytes" -eq $((2 * size)) ] || fail "the origin sent $bytes bytes of a and b, want $((2 * size))"
first=$(awk '$1 == "GET" && ($2 == "/a.bin" || $2 == "/b.bin") && $5 != "\"bytes=0-0\"" {
	t = $6 - $7; if (!s || t < s) s = t } END { printf "%.3f", s }' "$dir/access.log")
last=$(find "$dir/seed1/content/tasks" "$dir/seed2/content/tasks" -type f -printf '%T@\n' |
	sort -n | tail -n1)
[ -n "$last" ] || fail "no content file in the seeds' stores"
secs=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.3f", b - a }')
awk -v s="$secs" 'BEGIN { exit !(s >= 10) }' ||
	fail "the two preheats took $secs s from the origin, want >= 10 (the limit is 4 MiB/s)"
if [ "$mode" = pg ]; then # each control plane ran its own job, on its own seed
	[ "$(task_files seed1)" = 1 ] && [ "$(task_files seed2)" = 1 ] ||
		fail "seed1 holds $(task_files seed1) and seed2 $(task_files seed2) tasks, want one each"
fi
rate_within10 "two preheats together from the origin over $secs s" \
	"$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%d", b / s }')" "$limit"
echo "$name: ok"
