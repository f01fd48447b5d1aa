#!/usr/bin/env bash
# peer_swarm.sh VX: a real swarm on loopback. An nginx origin, `vx scheduler`, one seed
# (`vx serve --seed`) and three `vx serve` peers, each with its own store and socket; the three
# peers download one file at once through `vx get --socket`. Checks: every output is the
# source byte for byte; the origin sent the file's bytes once (nginx's access log); each
# peer's --json says its bytes came from peers. Then two `vx get` of one URL at once through
# one daemon share one task (one content file in its store, origin bytes still once), a
# user-fixed piece length holds across the swarm, and every daemon stops cleanly on SIGTERM.
set -euo pipefail
vx=$1
name=peer_swarm
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

size=$((24 * 1024 * 1024 + 5))
make_file f.bin "$size"
origin_start
sched_start
serve_start seed --seed
for i in 1 2 3; do
	serve_start "p$i"
done

# 1. Three peers at once; the seed is the only one the scheduler sends to the origin.
# A swarm copy takes a few seconds here; --timeout 30s turns a stalled one into exit 7.
get_pids=()
for i in 1 2 3; do
	get_bg "p$i" "$base/f.bin" "$dir/out/f$i" "g$i" --timeout 30s
done
wait_gets
for i in 1 2 3; do
	rc=$(cat "$dir/g$i.rc")
	out=$(cat "$dir/g$i.json")
	err=$(cat "$dir/g$i.err")
	expect_rc 0 "vx get through p$i"
	same_file "$dir/www/f.bin" "$dir/out/f$i" "swarm copy of p$i"
	[ "$(json ok)" = true ] || fail "p$i: --json says not ok: $out"
	[ "$(json content_length)" -eq "$size" ] || fail "p$i: content_length: $out"
	[ "$(json bytes_from_peers)" -gt 0 ] || fail "p$i got nothing from peers: $out"
	[ $(($(json bytes_from_peers) + $(json bytes_from_source))) -eq "$size" ] ||
		fail "p$i: peers + source bytes are not the file's size: $out"
done
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq "$size" ] || fail "the origin sent $sent body bytes of f.bin, want $size (once)"
[ "$(origin_probes /f.bin)" -eq 1 ] ||
	fail "the origin was asked for the length $(origin_probes /f.bin) times, want 1"
# The seed holds the task too, and serves it to a fourth request at once.
get seed "$base/f.bin" "$dir/out/seed"
expect_rc 0 "vx get through the seed"
same_file "$dir/www/f.bin" "$dir/out/seed" "seed copy"
[ "$(json reused)" = true ] || fail "the seed fetched again: $out"
[ "$(origin_body_bytes /f.bin)" -eq "$size" ] || fail "the seed went to the origin again"

# 2. Two `vx get` of one URL at once through one daemon: one task, one fetch. /slow/ keeps the
# first download running while the second one arrives.
make_file g.bin $((6 * 1024 * 1024))
get_pids=()
get_bg p1 "$base/slow/g.bin" "$dir/out/g-a" ga --piece-length 1MiB
get_bg p1 "$base/slow/g.bin" "$dir/out/g-b" gb --piece-length 1MiB
wait_gets
for t in ga gb; do
	rc=$(cat "$dir/$t.rc")
	err=$(cat "$dir/$t.err")
	expect_rc 0 "concurrent vx get $t"
done
same_file "$dir/www/g.bin" "$dir/out/g-a" "first of two concurrent gets"
same_file "$dir/www/g.bin" "$dir/out/g-b" "second of two concurrent gets"
out_a=$(cat "$dir/ga.json")
out_b=$(cat "$dir/gb.json")
[ "$(json task_id "$out_a")" = "$(json task_id "$out_b")" ] || fail "two task ids for one URL"
# Neither found a finished copy: both were attached to the running task.
[ "$(json reused "$out_a")" = false ] && [ "$(json reused "$out_b")" = false ] ||
	fail "the second get did not join the running task: $out_a / $out_b"
# p1 holds f.bin and g.bin: two content files, not three.
[ "$(task_files p1)" -eq 2 ] || fail "p1's store holds $(task_files p1) tasks, want 2"
sent=$(origin_body_bytes /slow/g.bin)
[ "$sent" -eq $((6 * 1024 * 1024)) ] || fail "the origin sent $sent body bytes of g.bin, want once"

# 3. A piece length fixed by the user is part of the task id, so every peer of that task must
# use it, the seed included (Dragonfly peers of the same id expect that geometry).
make_file h.bin $((8 * 1024 * 1024))
get p2 "$base/h.bin" "$dir/out/h" --piece-length 1MiB
expect_rc 0 "vx get --piece-length 1MiB through the swarm"
same_file "$dir/www/h.bin" "$dir/out/h" "copy with 1 MiB pieces"
[ "$(json pieces)" -eq 8 ] ||
	fail "--piece-length 1MiB through a swarm with a seed gave $(json pieces) pieces, want 8"

# The --json of a download through the daemon names the piece length of the plan, or null
# when the daemon does not say; never a wrong number.
pl=$(json piece_length)
[ "$pl" = null ] || [ "$pl" -eq $((1024 * 1024)) ] || fail "--json says piece_length $pl: $out"
# The other fields must not be null.
for k in content_length pieces bytes_from_peers bytes_from_source bytes_reused elapsed_ms; do
	[ "$(json "$k")" != null ] || fail "--json says $k null: $out"
done

# Every completion line accounts for each byte: peers + source + already stored = size, and
# only the seed's request for a task it held (step 1) found it stored (the seed's origin fetch
# counts a piece before the commit that may complete the task; it undercounted the last one).
n=0
stored=0
while read -r total peers src kept; do
	[ $((peers + src + kept)) -eq "$total" ] ||
		fail "a completion line says $total bytes: $peers from peers, $src from the source, $kept stored"
	[ "$kept" -eq 0 ] || stored=$((stored + 1))
	n=$((n + 1))
done < <(sed -nE 's/.* complete \(([0-9]+) bytes: ([0-9]+) from peers, ([0-9]+) from the source, ([0-9]+) already stored\).*/\1 \2 \3 \4/p' \
	"$dir"/seed.log "$dir"/p[123].log)
[ "$n" -ge 6 ] || fail "only $n completion lines in the daemons' logs"
[ "$stored" -eq 1 ] || fail "$stored completion lines say bytes were already stored, want 1"

# 4. Graceful stop of every daemon: exit 0 within the bound, sockets removed.
for n in p1 p2 p3 seed; do
	serve_stop "$n"
	[ ! -e "$dir/$n.sock" ] || fail "$n left its socket behind"
done
echo "$name: ok"
