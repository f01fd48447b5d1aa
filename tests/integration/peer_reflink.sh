#!/usr/bin/env bash
# peer_reflink.sh VX: issue 19 goal 4 where the filesystem shares extents (XFS with reflink,
# made by the test on a loop device in a mount namespace of its own). `vx get -O FILE` through
# a daemon whose store is on the same filesystem writes every byte once: the output is a
# reflink of the store's file made at the export (FIEMAP says its extents are shared), not a
# second copy written while the pieces arrive. The output is still the user's own inode:
# editing it does not change what peers are served (a second daemon fetches from the first
# and gets the origin's bytes). Where the output and the store cannot share extents (the
# store on the test's own directory, the output on XFS or beside it), the output is written
# during the download as before.
# dragonfly-behaviour.md 5.5: cache poisoning through a user-writable output.
set -euo pipefail
vx=$1
name=peer_reflink
if [ -z "${VX_IN_MNTNS:-}" ]; then
	[ "$(id -u)" = 0 ] || {
		echo "$name: needs root (a loop mount), skipping" >&2
		exit 77
	}
	command -v mkfs.xfs >/dev/null || {
		echo "$name: needs mkfs.xfs (scripts/deps/storage.apt: xfsprogs), skipping" >&2
		exit 77
	}
	# the mount dies with the namespace, and the loop device (autoclear) with it
	exec unshare --mount --propagation private env VX_IN_MNTNS=1 "$0" "$@"
fi
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mnt=$dir/xfs
mkdir -p "$mnt"
truncate -s 512M "$dir/xfs.img"
mkfs.xfs -q -f -m reflink=1 "$dir/xfs.img"
mount -o loop "$dir/xfs.img" "$mnt"
mounts+=("$mnt")
mkdir -p "$mnt/out"
chmod 755 "$mnt"

# shared MARK FILE: every extent of FILE is flagged shared (FIEMAP, e2fsprogs' filefrag)
shared() {
	local ext
	ext=$(filefrag -v "$1" | awk '$1 ~ /^[0-9]+:$/')
	[ -n "$ext" ] || fail "filefrag shows no extent of $1"
	! grep -qv shared <<<"$ext"
}

make_file f.bin 25178169 # 24 MiB and a part piece
origin_start
sched_start
serve_start seed --seed
serve_start a --data-dir "$mnt/a"
serve_start b

# 1. store and output on XFS: A takes the pieces from the seed and writes each once, to its
# store; the export reflinks
get a "$base/f.bin" "$mnt/out/a.bin" --timeout 60s
expect_rc 0 "get through A (store and output on XFS)"
same_file "$dir/www/f.bin" "$mnt/out/a.bin" "f.bin through A"
grep -q 'output a.bin: the filesystem reflinks it at the export' "$dir/a.log" ||
	fail "A did not reflink the output (its log: $(grep 'output a.bin' "$dir/a.log" || true))"
shared "$mnt/out/a.bin" || fail "the output's extents are not shared with the store's copy"

grep -q 'complete (25178169 bytes: 25178169 from peers' "$dir/a.log" ||
	fail "A did not take f.bin from the seed: $(grep complete "$dir/a.log" || true)"

# 2. the user edits the output; B fetches from A (the seed is gone, the origin sent the file
# once) and gets the origin's bytes: the edit went to the user's copy only
printf 'EDITED BY THE USER' | dd of="$mnt/out/a.bin" conv=notrunc status=none
sync
serve_stop seed
get b "$base/f.bin" "$dir/out/b.bin" --timeout 60s
expect_rc 0 "get through B"
same_file "$dir/www/f.bin" "$dir/out/b.bin" "f.bin through B after a user on A edited the output"
sent=$(origin_body_bytes /f.bin)
[ "$sent" -le "$(stat -c %s "$dir/www/f.bin")" ] ||
	fail "the origin sent $sent bytes: B did not take the file from A"

# 3. no sharing possible (B's store is on the test's own directory): the output is written
# during the download, whether it is beside the store or on XFS
get b "$base/f.bin" "$mnt/out/b2.bin" --timeout 60s
expect_rc 0 "get through B to XFS"
same_file "$dir/www/f.bin" "$mnt/out/b2.bin" "f.bin through B to XFS"
for o in b.bin b2.bin; do
	! grep -q "output $o: the filesystem reflinks" "$dir/b.log" ||
		fail "B claims a reflink for $o, its store is on another filesystem"
done
grep -Eq 'output b.bin: [1-9][0-9]* of [0-9]+ pieces written during the download' "$dir/b.log" ||
	fail "B did not write b.bin during the download: $(grep 'output b.bin' "$dir/b.log" || true)"
serve_stop b
serve_stop a
echo "$name: ok"
