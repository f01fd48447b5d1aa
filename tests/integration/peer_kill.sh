#!/usr/bin/env bash
# peer_kill.sh VX: failures in the middle of a swarm download. Origin, scheduler, a seed and
# peers whose downloads are held to 4 MiB/s (download.rate_limit in a --config file), so they
# are surely mid-download when something dies:
#   - a peer killed with SIGKILL: the others finish with correct copies, the origin still sent
#     the file once, and a peer that joins later is not held up by the dead one;
#   - the scheduler killed with SIGKILL: downloads already running finish (from their parents
#     or the source), and a download started afterwards falls back to the source instead of
#     hanging (or, with --disable-back-to-source, fails with exit 8).
# Every wait is bounded; no check depends on how long something took.
set -euo pipefail
vx=$1
name=peer_kill
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mib=$((1024 * 1024))
printf 'download:\n  rate_limit: 4MiB\n' >"$dir/slow.yaml"
"$vx" config check "$dir/slow.yaml" >/dev/null || fail "the rate-limit config is refused"
origin_start
sched_start
serve_start seed --seed
# p2, the one killed mid-download, is held back harder (1 MiB/s: 16 s for the file) so that it
# surely is mid-download when it dies, however fast the others are.
printf 'download:\n  rate_limit: 1MiB\n' >"$dir/slower.yaml"
for i in 1 2 3; do
	conf=$dir/slow.yaml
	[ "$i" -ne 2 ] || conf=$dir/slower.yaml
	serve_start "p$i" --config "$conf"
done

# wait_pieces NAME MIN: until daemon NAME's store holds at least MIN finished pieces (20 s).
wait_pieces() {
	local i
	for i in $(seq 200); do
		[ "$(pieces_in_store "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 did not get $2 pieces"
}

# check_get TAG WHAT: the background get TAG succeeded with a copy of $src.
check_get() {
	rc=$(cat "$dir/$1.rc")
	out=$(cat "$dir/$1.json")
	err=$(cat "$dir/$1.err")
	expect_rc 0 "$2"
	same_file "$src" "$(json output)" "$2"
}

# 1. A peer dies mid-download.
size=$((16 * mib))
make_file f.bin "$size"
src=$dir/www/f.bin
# 16 MiB at 4 MiB/s takes about 4 s; --timeout 30s turns a stalled get into exit 7.
get_pids=()
for i in 1 2 3; do
	get_bg "p$i" "$base/f.bin" "$dir/out/f$i" "f$i" --timeout 30s
done
wait_pieces p2 1
serve_kill p2
wait_gets
rc=$(cat "$dir/f2.rc")
[ "$rc" -ne 0 ] || fail "p2 was killed yet its get succeeded: not mid-download"
[ ! -e "$dir/out/f2" ] || fail "the killed peer's get left an output"
for i in 1 3; do
	check_get "f$i" "p$i after p2 was killed"
done
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq "$size" ] || fail "the origin sent $sent body bytes of f.bin, want $size (once)"
# A newcomer is sent to live parents only (or drops the dead one) and finishes.
serve_start p4
get p4 "$base/f.bin" "$dir/out/f4" --timeout 30s
expect_rc 0 "p4 after p2 was killed"
same_file "$src" "$dir/out/f4" "p4 after p2 was killed"
[ "$(json bytes_from_peers)" -eq "$size" ] || fail "p4 did not get f.bin from peers: $out"

# 2. The scheduler dies mid-download.
make_file k.bin "$size"
src=$dir/www/k.bin
before=$(pieces_in_store p1)
get_pids=()
for n in p1 p3 p4; do
	get_bg "$n" "$base/k.bin" "$dir/out/k-$n" "k-$n"
done
wait_pieces p1 $((before + 1))
kill -KILL "$sched_pid"
wait "$sched_pid" 2>/dev/null || true
wait_gets
for n in p1 p3 p4; do
	check_get "k-$n" "$n after the scheduler was killed"
done
# A download that starts with no scheduler left: to the source, not a hang...
make_file l.bin $((3 * mib))
get p1 "$base/l.bin" "$dir/out/l"
expect_rc 0 "a new download with the scheduler dead"
same_file "$dir/www/l.bin" "$dir/out/l" "a new download with the scheduler dead"
[ "$(json bytes_from_source)" -eq $((3 * mib)) ] || fail "not from the source: $out"
# ...unless back-to-source is disabled: then a clear failure, exit 8, nothing written.
get p3 "$base/l.bin" "$dir/out/l-nobts" --disable-back-to-source --tag nobts
expect_rc 8 "--disable-back-to-source with the scheduler dead"
expect_msg "back-to-source is disabled"
[ ! -e "$dir/out/l-nobts" ] || fail "a failed download left an output"
echo "$name: ok"
