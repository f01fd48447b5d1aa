#!/usr/bin/env bash
# peer_store_files.sh VX: issue 18, "Abuse and exhaustion": the store's open files and what
# `vx get` hands the user.
#  1. fd exhaustion: daemon A runs with RLIMIT_NOFILE 128 (soft = hard, so it cannot raise it)
#     and stores far more tasks than 128 fds could keep open (each used to hold its fds for
#     good, so downloads failed after ~50 here, after ~500 with the common 1,024). Every get
#     through A succeeds, A never holds more than its limit allows, and daemon B then fetches
#     every task again with A a parent: closed files are reopened on demand to serve.
#     Daemon B starts with soft 256 below a hard 4096: it raises its soft limit at start.
#  2. export: a user edits the output of a `vx get`; a second `vx get` of the same URL and a
#     peer fetching it still get the origin's bytes (it was a hard link to the store's file).
#  3. the same for `vx cache export` of a task the daemon holds: the user edits the exported
#     file, and the next export still gives the imported bytes. A `vx get` writes a new file
#     of its own as the pieces arrive (the early output) even for a task already stored, so
#     only here does the store's export itself (storage/src/gc.c) place the output: checked
#     2026-12-07 with hard links made the default export again there, 2 still passed and 3
#     failed ("editing an exported copy changed the cached one").
# dragonfly-behaviour.md 5.5: resource exhaustion by many tasks; cache poisoning through a
# user-writable output.
set -euo pipefail
vx=$1
name=peer_store_files
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
command -v prlimit >/dev/null || {
	echo "$name: needs prlimit (util-linux), skipping" >&2
	exit 77
}

nr=${VX_TEST_STORE_FILES:-160}
for i in $(seq "$nr"); do
	make_file "f$i.bin" $((4096 + i))
done
origin_start
sched_start
serve_wrap=(prlimit --nofile=128:128)
serve_start a
serve_wrap=(prlimit --nofile=256:4096)
serve_start b
serve_wrap=()
pid_a=${serve_pid[a]}
soft_b=$(awk '/^Max open files/ { print $4 }' "/proc/${serve_pid[b]}/limits")
[ "$soft_b" -eq 4096 ] || fail "daemon B kept a soft RLIMIT_NOFILE of $soft_b, want 4096"

# 1. Many more tasks than fds.
max_fds=0
for i in $(seq "$nr"); do
	get a "$base/f$i.bin" "$dir/out/a$i" --timeout 30s
	expect_rc 0 "get $i of $nr through A (RLIMIT_NOFILE 128)"
	same_file "$dir/www/f$i.bin" "$dir/out/a$i" "f$i.bin through A"
	fds=$(find "/proc/$pid_a/fd" -mindepth 1 -maxdepth 1 | wc -l)
	[ "$fds" -le "$max_fds" ] || max_fds=$fds
done
[ "$max_fds" -lt 128 ] || fail "daemon A had $max_fds fds open, its limit is 128"
echo "$name: $nr tasks through A, at most $max_fds fds open"
for i in $(seq "$nr"); do
	get b "$base/f$i.bin" "$dir/out/b$i" --timeout 30s
	expect_rc 0 "get $i of $nr through B"
	same_file "$dir/www/f$i.bin" "$dir/out/b$i" "f$i.bin through B"
done
# B took the bytes from A, which had to reopen closed files to serve them (the origin sent
# each file once, to A).
total=0
for i in $(seq "$nr"); do
	total=$((total + $(origin_body_bytes "/f$i.bin")))
done
want=$(cat "$dir"/www/f*.bin | wc -c)
[ "$total" -le "$want" ] || fail "the origin sent $total body bytes for $want bytes of files: B did not fetch from A"

# 2. Edit an output, then fetch it again through the same daemon and through a peer.
make_file edit.bin 300000
get a "$base/edit.bin" "$dir/out/edit" --timeout 30s
expect_rc 0 "edit.bin through A"
printf 'EDITED BY THE USER' | dd of="$dir/out/edit" conv=notrunc status=none
get a "$base/edit.bin" "$dir/out/edit2" --timeout 30s
expect_rc 0 "edit.bin again through A"
same_file "$dir/www/edit.bin" "$dir/out/edit2" "edit.bin through A after the user edited an output"
get b "$base/edit.bin" "$dir/out/edit-b" --timeout 30s
expect_rc 0 "edit.bin through B"
same_file "$dir/www/edit.bin" "$dir/out/edit-b" "edit.bin through B after a user on A edited an output"

# 3. Edit the output of a `vx cache export` of a task A holds, then export it again.
. "$(dirname "$0")/cache_lib.sh"
make_file imp.bin 300000
cache a import "$dir/www/imp.bin"
[ "$rc" -eq 0 ] || fail "vx cache import through A: exit $rc: $err"
id=$out
cache a export "$id" -O "$dir/out/exp1"
[ "$rc" -eq 0 ] || fail "vx cache export through A: exit $rc: $err"
same_file "$dir/www/imp.bin" "$dir/out/exp1" "the cache export"
printf 'EDITED BY THE USER' | dd of="$dir/out/exp1" conv=notrunc status=none
cache a export "$id" -O "$dir/out/exp2"
[ "$rc" -eq 0 ] || fail "vx cache export through A again: exit $rc: $err"
cmp -s "$dir/www/imp.bin" "$dir/out/exp2" ||
	fail "editing an exported copy changed the cached one: the next export differs"

serve_stop b
serve_stop a
echo "$name: ok"
