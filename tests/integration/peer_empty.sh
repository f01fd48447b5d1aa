#!/usr/bin/env bash
# peer_empty.sh VX: content that has no bytes, or whose length the source cannot tell, through
# daemons while a seed exists. An nginx origin serves an empty file; a scheduler, a seed and
# two peers. Both peers' `vx get` complete with an empty output (the scheduler answers "empty
# content" once the seed, its origin peer, found the object empty: only the seed asked the
# origin), and a /proc file (stat says 0 bytes, reading gives more) arrives whole.
set -euo pipefail
vx=$1
name=peer_empty
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

: >"$dir/www/empty.bin"
origin_start
sched_start
serve_start seed --seed
serve_start p1
serve_start p2

# 1. An empty file: both complete, at once (the timeout is far above the ~0.3 s this takes,
# and below the 5 s after which a peer that is kept waiting goes to the origin itself).
for n in p1 p2; do
	get "$n" "$base/empty.bin" "$dir/out/e-$n" --timeout 20s
	expect_rc 0 "an empty file through $n"
	[ -f "$dir/out/e-$n" ] && [ ! -s "$dir/out/e-$n" ] ||
		fail "$n: the output of an empty file is missing or not empty"
	[ "$(json content_length)" -eq 0 ] || fail "$n: content_length of an empty file: $out"
done
# Only the seed asked the origin: the peers learnt "empty" from the scheduler.
[ "$(origin_probes /empty.bin)" -eq 1 ] ||
	fail "the origin was asked for empty.bin $(origin_probes /empty.bin) times, want 1 (the seed)"
[ "$(origin_body_bytes /empty.bin)" -eq 0 ] || fail "the origin sent bytes of an empty file"

# 2. Unknown size: a /proc file says 0 bytes to stat(2) and has more when read (cmp trusts
# stat's size too, so the copy is compared with what cat read).
cat /proc/version >"$dir/version.txt"
for n in p1 p2; do
	get "$n" file:///proc/version "$dir/out/v-$n" --timeout 20s
	expect_rc 0 "/proc/version through $n"
	same_file "$dir/version.txt" "$dir/out/v-$n" "/proc/version through $n"
	[ "$(json content_length)" -eq "$(wc -c <"$dir/version.txt")" ] ||
		fail "$n: content_length of /proc/version: $out"
done

for n in p1 p2 seed; do
	serve_stop "$n"
done
echo "$name: ok"
