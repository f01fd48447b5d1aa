#!/usr/bin/env bash
# peer_errors.sh VX: bad input through the daemon (`vx get --socket`), each with its exit code
# (`vx get --help`), a key phrase of its message and nothing left at the output path: 404,
# unknown scheme, unreachable origin, missing output directory, existing output without
# --overwrite, digest mismatch, --disable-back-to-source with no peer holding the file. Then
# `vx serve` refusing a bad config, a socket or store already in use, and a daemon whose store
# is a small tmpfs failing a download that does not fit, and carrying on afterwards.
set -euo pipefail
vx=$1
name=peer_errors
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mib=$((1024 * 1024))
make_file f.bin $((5 * mib + 3))
origin_start
sched_start
serve_start p1

# expect_nothing PATH: a failed download wrote nothing there.
expect_nothing() {
	[ ! -e "$1" ] || fail "a failed download left $1"
}

get p1 "$base/missing.bin" "$dir/out/missing"
expect_rc 3 "404"
expect_msg "404"
expect_nothing "$dir/out/missing"

get p1 "gopher://127.0.0.1:$origin_port/f.bin" "$dir/out/gopher"
expect_rc 6 "unknown scheme"
expect_msg "unsupported URL scheme"
expect_nothing "$dir/out/gopher"

get p1 "http://127.0.0.1:1/f.bin" "$dir/out/unreachable"
expect_rc 6 "unreachable origin"
expect_msg "cannot get the source"
expect_nothing "$dir/out/unreachable"

get p1 "$base/f.bin" "$dir/out/nodir/f"
expect_rc 5 "missing output directory"
expect_msg "output directory"
expect_nothing "$dir/out/nodir"

printf 'keep' >"$dir/out/exists"
get p1 "$base/f.bin" "$dir/out/exists"
expect_rc 5 "existing output"
expect_msg "exists (use --overwrite)"
[ "$(cat "$dir/out/exists")" = keep ] || fail "an existing output was changed"
get p1 "$base/f.bin" "$dir/out/exists" --overwrite
expect_rc 0 "--overwrite"
same_file "$dir/www/f.bin" "$dir/out/exists" "--overwrite"

zeros=$(printf '0%.0s' $(seq 64))
get p1 "$base/f.bin" "$dir/out/bad-digest" --digest "sha256:$zeros"
expect_rc 4 "digest mismatch"
expect_msg "does not match digest"
expect_nothing "$dir/out/bad-digest"
get p1 "$base/f.bin" "$dir/out/digest" --digest "sha256:$(sha256sum "$dir/www/f.bin" | cut -c1-64)"
expect_rc 0 "right digest"
same_file "$dir/www/f.bin" "$dir/out/digest" "right digest"
get p1 "$base/f.bin" "$dir/out/bad-syntax" --digest "md5:abc"
expect_rc 2 "digest syntax"
expect_nothing "$dir/out/bad-syntax"

# No peer has this task (its tag makes a new task id) and the origin may not be used.
get p1 "$base/f.bin" "$dir/out/nobts" --disable-back-to-source --tag nobody-has-it
expect_rc 8 "--disable-back-to-source"
expect_msg "back-to-source is disabled"
expect_nothing "$dir/out/nobts"

# A relative output is resolved against the client's directory, not the daemon's.
(cd "$dir/out" && timeout -k 5 60 "$vx" get "$base/f.bin" -O rel.bin --socket "$dir/p1.sock" \
	--no-progress 2>"$dir/rel.err") || fail "relative output: $(cat "$dir/rel.err")"
same_file "$dir/www/f.bin" "$dir/out/rel.bin" "relative output"

# The daemon itself: a bad config is exit 2, a socket or store in use is exit 1, each with a
# message; the running daemon is not disturbed.
printf 'upload:\n  rate_limit: fast\n' >"$dir/bad.yaml"
code=0
timeout 20 "$vx" serve --config "$dir/bad.yaml" --data-dir "$dir/x" --socket "$dir/x.sock" \
	2>"$dir/serve-err.txt" || code=$?
[ "$code" -eq 2 ] || fail "vx serve with a bad config: exit $code, want 2"
grep -q "rate_limit" "$dir/serve-err.txt" || fail "bad config message: $(cat "$dir/serve-err.txt")"
code=0
timeout 20 "$vx" serve --data-dir "$dir/y" --listen 127.0.0.1:0 --socket "$dir/p1.sock" \
	2>"$dir/serve-err.txt" || code=$?
[ "$code" -eq 1 ] || fail "a second daemon on p1's socket: exit $code, want 1"
code=0
timeout 20 "$vx" serve --data-dir "$dir/p1" --listen 127.0.0.1:0 --socket "$dir/z.sock" \
	2>"$dir/serve-err.txt" || code=$?
[ "$code" -eq 1 ] || fail "a second daemon on p1's store: exit $code, want 1"
grep -q "cannot open the store" "$dir/serve-err.txt" ||
	fail "store in use message: $(cat "$dir/serve-err.txt")"
get p1 "$base/f.bin" "$dir/out/still"
expect_rc 0 "p1 after the refused daemons"

# Disk full: a store on an 8 MiB tmpfs cannot take a 32 MiB file.
mkdir -p "$dir/tiny"
if ! mount -t tmpfs -o size=8m vx-test "$dir/tiny" 2>"$dir/mount.err"; then
	echo "$name: skipping the disk-full case: cannot mount a tmpfs: $(cat "$dir/mount.err")"
else
	mounts+=("$dir/tiny")
	make_file big.bin $((32 * mib))
	serve_start tiny --data-dir "$dir/tiny/store"
	get tiny "$base/big.bin" "$dir/out/big"
	[ "$rc" -ne 0 ] || fail "a 32 MiB download into an 8 MiB store succeeded"
	expect_msg "No space left on device"
	expect_nothing "$dir/out/big"
	[ "$(json ok)" = false ] || fail "--json says ok after a full disk: $out"
	# The daemon is still of use for what fits.
	get tiny "$base/f.bin" "$dir/out/small"
	expect_rc 0 "a small download after the full disk"
	same_file "$dir/www/f.bin" "$dir/out/small" "a small download after the full disk"
	serve_stop tiny
fi
serve_stop p1
echo "$name: ok"
