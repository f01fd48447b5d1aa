#!/usr/bin/env bash
# peer_diskfull.sh VX: a daemon whose data directory sits on a small tmpfs (issue 18 "Disk
# full"), mounted by the test in a private mount namespace (root; skips with 77 otherwise).
# shared/reference/dragonfly-behaviour.md 5.5 item 16 (disk fill: refuse, report, recover).
# storage_diskfull.c covers the store alone (admission, preallocation, ENOSPC mid-write of a
# sparse task, reopen); this drives a real daemon and its clients:
#  1. GC first: a finished task sits idle in the store; a task that does not fit beside it is
#     admitted after the store evicts the idle one (LRU), and the get succeeds.
#  2. Full mid-download: a slow get is running when a filler takes every free byte of the
#     filesystem; the get ends with exit 0 and the source's bytes (its space was reserved at
#     admission) or a clear error naming the lack of space (never a hang, never wrong bytes);
#     a get whose output lies on the full filesystem fails with a clear error and leaves no
#     output; a new task on the full disk evicts the idle one and succeeds. (Before the fix in
#     storage/src/store.c it failed with "No space left on device": the eviction's sqlite
#     delete needed journal space the full disk did not have, so nothing was ever freed.)
#  3. The daemon stops, the filler goes (space returns); it starts again on the same store: every
#     piece the store calls finished holds the source's bytes (store_check), and the next gets
#     succeed.
set -euo pipefail
vx=$1
name=peer_diskfull
if [ -z "${VX_DISKFULL_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null ||
		! unshare -m --propagation private true 2>/dev/null; then
		echo "$name: needs root and a mount namespace, skipping" >&2
		exit 77
	fi
	VX_DISKFULL_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
mib=1048576
mnt=$dir/p # the data directory of daemon p is the mount point
mkdir -p "$mnt"
mount -t tmpfs -o size=16m tmpfs "$mnt" || fail "cannot mount a tmpfs"
mounts+=("$mnt") # unmounted by the EXIT trap before the directory goes
origin_start
sched_start

make_file old.bin $((8 * mib))
make_file new.bin $((10 * mib))
make_file mid.bin $((6 * mib + 99))
serve_start p

# 1. GC under pressure: old (8 MiB) idle, new (10 MiB) does not fit beside it in 16 MiB.
get p "$base/old.bin" "$dir/out/old"
expect_rc 0 "old"
get p "$base/new.bin" "$dir/out/new"
expect_rc 0 "new, beside an idle task that does not leave room"
same_file "$dir/www/new.bin" "$dir/out/new" "new"
[ "$(task_files p)" -eq 1 ] || fail "the idle task was not evicted for the new one"
cmp -s "$dir/www/old.bin" "$dir/out/old" || fail "old's output changed"

# 2. The filesystem fills up while a slow get runs.
get_pids=()
get_bg p "$base/slow/mid.bin" "$dir/out/mid" mid --timeout 60s
for i in $(seq 200); do
	[ "$(pieces_in_store p 2>/dev/null || echo 0)" -ge 2 ] && break
	sleep 0.1
done
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true # until ENOSPC
echo "$name: full: $(df -k "$mnt" | tail -n1)"
wait_gets
rc=$(cat "$dir/mid.rc")
err=$(cat "$dir/mid.err")
echo "$name: the get running when the disk filled: exit $rc: $err"
[ "$rc" -eq 0 ] || expect_msg "space"
[ "$rc" -ne 0 ] || same_file "$dir/www/mid.bin" "$dir/out/mid" "the get running when the disk filled"
# an output on the full filesystem (mid is in the store, the export must write it there): a
# clear error and no output
get p "$base/slow/mid.bin" "$mnt/out-mid"
echo "$name: an output on the full disk: exit $rc: $err"
[ "$rc" -ne 0 ] || fail "an output on a full filesystem was written whole?"
expect_msg "space"
[ ! -e "$mnt/out-mid" ] || fail "a failed export left $mnt/out-mid"
# a new task on the full store: GC evicts the idle one first (its rows cannot be deleted on a
# full filesystem before its content is: the fix in storage/src/store.c), then it fits
make_file more.bin $((3 * mib))
get p "$base/more.bin" "$dir/out/more"
expect_rc 0 "a new task on the full disk beside an idle one"
same_file "$dir/www/more.bin" "$dir/out/more" "a new task on the full disk"

# 3. Space returns: the store reopens consistent and serves the next downloads.
serve_stop p
rm -f "$mnt/filler"
n=$(store_check p) || fail "the store after the full disk: $n"
echo "$name: $n finished pieces intact after the full disk"
serve_start p
for f in more mid new; do
	get p "$base/$f.bin" "$dir/out/$f-2"
	expect_rc 0 "$f once space returned"
	same_file "$dir/www/$f.bin" "$dir/out/$f-2" "$f once space returned"
done
n=$(store_check p) || fail "the store at the end: $n"
echo "$name: ok ($n pieces intact)"
