#!/usr/bin/env bash
# peer_wait.sh VX: the seed's child slots (here 1: the scheduler runs with
# --child-min-mbps 1000, and a host's 1 Gb/s default over that is one child *host*; spec/control.md
# section 6) are a shared resource; a download must neither keep one it no longer uses nor wait
# for one forever. An origin, a scheduler, a seed; p1 downloads at 8 KiB/s (so its downloads
# hold their parent slot for half a minute past the fetcher's 1 MiB burst), p2 is a normal peer that waits at most 3 s for a parent
# (download.parent_wait).
#   1. 2 downloads through p1 that their clients give up on (--timeout 2s): each task is
#      abandoned and gives its slot back, so a download through p2 with back-to-source
#      disabled still gets the seed as its parent and completes.
#   2. A running download through p1 takes the seed's one child host: the scheduler answers p2
#      WAIT. p2 goes to the origin after its 3 s bound and completes; with back-to-source
#      disabled it fails with exit 8 and a clear message instead of waiting forever.
set -euo pipefail
vx=$1
name=peer_wait
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

kib=1024
slots=1
printf 'download:\n  rate_limit: 8KiB\n' >"$dir/slow.yaml"
printf 'download:\n  parent_wait: 3s\n' >"$dir/wait.yaml"
for i in $(seq 0 $((2 * slots + 1))); do
	make_file "f$i.bin" $((1280 * kib))
done
make_file g.bin $((3 * 1024 * kib))
make_file h.bin $((3 * 1024 * kib))
origin_start
sched_start --child-min-mbps 1000
serve_start seed --seed
serve_start p1 --config "$dir/slow.yaml"
serve_start p2 --config "$dir/wait.yaml"

# 1. More abandoned downloads than the seed has child slots.
get_pids=()
for i in $(seq 0 "$slots"); do
	get_bg p1 "$base/f$i.bin" "$dir/out/a$i" "a$i" --timeout 2s
done
wait_gets
for i in $(seq 0 "$slots"); do
	[ "$(cat "$dir/a$i.rc")" -eq 7 ] || fail "abandoned download $i: exit $(cat "$dir/a$i.rc")," \
		"want 7 (timed out at 8 KiB/s): $(cat "$dir/a$i.err")"
done
get p2 "$base/g.bin" "$dir/out/g" --disable-back-to-source --timeout 30s
expect_rc 0 "a download after $((slots + 1)) abandoned ones"
same_file "$dir/www/g.bin" "$dir/out/g" "a download after abandoned ones"
[ "$(json bytes_from_peers)" -eq $((3 * 1024 * kib)) ] || fail "g.bin not from the seed: $out"

# 2. Every slot in use: WAIT, bounded.
get_pids=()
for i in $(seq $((slots + 1)) $((2 * slots))); do
	get_bg p1 "$base/f$i.bin" "$dir/out/b$i" "b$i" --timeout 120s
done
# until each holds its slot: p1 has opened a content file for each (after the answer)
for i in $(seq 300); do
	[ "$(task_files p1)" -ge $((2 * slots + 1)) ] && break
	sleep 0.1
done
[ "$(task_files p1)" -ge $((2 * slots + 1)) ] || fail "p1 did not start $slots downloads"
get p2 "$base/h.bin" "$dir/out/h" --disable-back-to-source --timeout 30s
expect_rc 8 "back-to-source disabled and no parent free"
expect_msg "no parent was free"
[ ! -e "$dir/out/h" ] || fail "a failed download left an output"
get p2 "$base/h.bin" "$dir/out/h" --timeout 30s --tag bts
expect_rc 0 "no parent free: the origin after the bound"
same_file "$dir/www/h.bin" "$dir/out/h" "h.bin from the origin after a bounded wait"
[ "$(json bytes_from_source)" -eq $((3 * 1024 * kib)) ] || fail "h.bin not from the origin: $out"
grep -q "the scheduler had no parent for" "$dir/p2.log" || fail "p2 did not log the bounded wait"
echo "$name: ok"
