#!/usr/bin/env bash
# peer_resume.sh VX: a daemon stopped mid-download resumes after a restart. A `vx get` through
# the daemon fetches from a slow origin (nginx limit_rate) in 1 MiB pieces; the daemon gets
# SIGTERM part way: it must exit 0, fail the client's download with a clear message and keep
# the finished pieces. Started again on the same data dir, it restarts the task by itself, and a
# second `vx get` completes with a correct copy that did not fetch the kept pieces again. The
# same again for a peer that fetches from a seed (the parent) rather than from the origin.
set -euo pipefail
vx=$1
name=peer_resume
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mib=$((1024 * 1024))
size=$((16 * mib))
make_file f.bin "$size"
origin_start
sched_start
serve_start p1

get_pids=()
get_bg p1 "$base/slow/f.bin" "$dir/out/f" first --piece-length 1MiB
for i in $(seq 200); do
	[ "$(pieces_in_store p1 2>/dev/null || echo 0)" -ge 4 ] && break
	sleep 0.1
done
serve_stop p1
wait_gets
rc=$(cat "$dir/first.rc")
err=$(cat "$dir/first.err")
expect_rc 1 "the download cut by SIGTERM"
expect_msg "shutting down"
[ ! -e "$dir/out/f" ] || fail "an interrupted download left an output"
kept=$(pieces_in_store p1)
[ "$kept" -ge 4 ] && [ "$kept" -lt 16 ] ||
	fail "the store kept $kept of 16 pieces after SIGTERM; want at least 4 and not all"

serve_start p1
grep -q "resuming task" "$dir/p1.log" || fail "the restarted daemon did not resume the task"
get p1 "$base/slow/f.bin" "$dir/out/f" --piece-length 1MiB
expect_rc 0 "vx get after the restart"
same_file "$dir/www/f.bin" "$dir/out/f" "copy after the restart"
from_source=$(json bytes_from_source)
[ $((from_source + kept * mib)) -le "$size" ] ||
	fail "after the restart $from_source bytes came from the source, but $kept pieces were kept"
# Pieces in flight at the stop (at most 4, the origin fetch's parallelism) were cut short;
# nothing that was kept went over the wire twice.
sent=$(origin_body_bytes /slow/f.bin)
[ "$sent" -lt $((size + 4 * mib)) ] ||
	fail "the origin sent $sent body bytes for a $size byte file: kept pieces fetched again"
serve_stop p1

# 2. The same for a peer fetching from parents: a seed holds the file, p2's downloads are held
# to 4 MiB/s (download.rate_limit), and p2 gets SIGTERM after its first piece.
make_file g.bin "$size"
printf 'download:\n  rate_limit: 4MiB\n' >"$dir/slow.yaml"
serve_start seed --seed
serve_start p2 --config "$dir/slow.yaml"
get seed "$base/g.bin" "$dir/out/g-seed"
expect_rc 0 "the seed's copy"
get_pids=()
get_bg p2 "$base/g.bin" "$dir/out/g" second
for i in $(seq 200); do
	[ "$(pieces_in_store p2 2>/dev/null || echo 0)" -ge 1 ] && break
	sleep 0.1
done
kill -TERM "${serve_pid[p2]}"
code=0
for i in $(seq 200); do
	kill -0 "${serve_pid[p2]}" 2>/dev/null || break
	sleep 0.1
done
wait "${serve_pid[p2]}" || code=$?
unset "serve_pid[p2]"
wait_gets
[ "$code" -eq 0 ] || fail "p2 exited $code after SIGTERM mid-download from peers"
rc=$(cat "$dir/second.rc")
err=$(cat "$dir/second.err")
[ "$rc" -ne 0 ] || fail "p2's download succeeded though p2 was stopped after its first piece"
[ ! -e "$dir/out/g" ] || fail "an interrupted download left an output"
kept=$(pieces_in_store p2)
serve_start p2 --config "$dir/slow.yaml"
get p2 "$base/g.bin" "$dir/out/g" --timeout 45s
expect_rc 0 "p2's download after its restart"
same_file "$dir/www/g.bin" "$dir/out/g" "p2's copy after its restart"
fetched=$(($(json bytes_from_peers) + $(json bytes_from_source)))
[ $((fetched + kept * 4 * mib)) -le "$size" ] ||
	fail "p2 fetched $fetched bytes after its restart though it kept $kept pieces of 4 MiB"
# Only the seed fetched g.bin from the origin, and only once (a stopping daemon does not go
# to the origin on a late answer).
sent=$(origin_body_bytes /g.bin)
[ "$sent" -eq "$size" ] || fail "the origin sent $sent bytes of g.bin, want $size (once)"
serve_stop seed
echo "$name: ok"
