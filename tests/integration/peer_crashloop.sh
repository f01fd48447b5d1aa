#!/usr/bin/env bash
# peer_crashloop.sh VX: kill -9 a downloading daemon again and again (issue 18 "Crash loop";
# shared/reference/dragonfly-behaviour.md 5.5 item 24: kill -9 during writes, restart). One
# daemon fetches a file from a slow origin (nginx limit_rate per connection) in 256 KiB pieces;
# $kills times, at a random moment after it finished another piece, it gets SIGKILL and is
# started again on the same data directory (it resumes the task by itself; a new get attaches). Then a last `vx get` completes: sha256 matches, and the
# origin sent at most the file plus, per kill, the pieces that can be in flight at once
# (VX_ORIGIN_PARALLEL_DEFAULT = 4 ranged reads, or the one stream of a fresh task, plus the
# 50 ms of finished pieces the store may not have flushed: bounded by 4 pieces + 1 here).
# Fails when a restart does not keep the pieces it finished: each restart then refetches them.
# Long form: VX_CHAOS_KILLS=N VX_CHAOS_MIB=M (scripts/chaos-long); VX_CHAOS_SEED picks the
# moments (printed).
set -euo pipefail
vx=$1
name=peer_crashloop
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

kills=${VX_CHAOS_KILLS:-10}
seed=${VX_CHAOS_SEED:-$$}
RANDOM=$seed
piece=$((256 * 1024))
size=$((${VX_CHAOS_MIB:-16} * 1048576 + 12345))
origin_slow_rate=${VX_CHAOS_RATE:-512k}
make_file f.bin "$size"
origin_start
sched_start
echo "$name: seed $seed, $kills kills, $size bytes"

held=0
done_kills=0
for k in $(seq "$kills"); do
	serve_start p
	get_pids=()
	get_bg p "$base/slow/f.bin" "$dir/out/f" "g$k" --piece-length 256KiB --timeout 120s
	# a random moment 0..300 ms after it finished another piece (so each restart has kept
	# pieces to lose), or once the get ended
	for i in $(seq 200); do
		[ "$(pieces_in_store p 2>/dev/null || echo 0)" -ge $((held + 1)) ] && break
		[ ! -e "$dir/g$k.rc" ] || break
		sleep 0.1
	done
	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	serve_kill p
	wait_gets
	rc=$(cat "$dir/g$k.rc")
	[ "$rc" -ne 0 ] || break # it finished before this kill
	done_kills=$k
	[ ! -e "$dir/out/f" ] || fail "kill $k: the killed daemon's get left an output"
	mv "$dir/p.log" "$dir/p.log.$k"
	held=$(pieces_in_store p)
done
serve_start p
get p "$base/slow/f.bin" "$dir/out/final" --piece-length 256KiB --timeout 120s
expect_rc 0 "the get after $done_kills kills"
[ "$(sha256sum <"$dir/out/final")" = "$(sha256sum <"$dir/www/f.bin")" ] ||
	fail "the file after $done_kills kills differs from the source (sha256)"
[ "$done_kills" -ge $((kills / 2)) ] ||
	fail "the download ended after $done_kills of $kills kills: too fast to test (seed $seed)"
sent=$(origin_body_bytes /slow/f.bin)
bound=$((size + done_kills * 5 * piece))
echo "$name: the origin sent $sent body bytes for $size ($((sent - size)) again," \
	"$done_kills kills; bound $bound)"
[ "$sent" -le "$bound" ] ||
	fail "the origin sent $sent bytes, more than the file and $done_kills x 5 pieces ($bound)"
echo "$name: ok"
