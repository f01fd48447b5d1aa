#!/bin/sh
# sdk_pkgconfig.sh BUILD_DIR SOURCE_DIR CC [FAKE_DAEMON]: install libvx from BUILD_DIR into a
# fresh prefix, build api/examples/vx_fetch.c against the INSTALLED tree with nothing but
# pkg-config, and run it. With FAKE_DAEMON (tests/integration/api_fake_daemon.c: the real API
# server in front of a fake download), fetch through it to a file and in stream mode to stdout
# and compare the bytes. So the .pc file, the install rules and the archive's contents cannot
# rot unnoticed.
set -eu
build=$1
src=$2
cc=$3
fake=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "sdk_pkgconfig: $*" >&2
	exit 1
}

cmake --install "$build" --prefix "$tmp/p" --component libvx >"$tmp/install.log" ||
	fail "cmake --install failed: $(cat "$tmp/install.log")"
for f in lib/libvx.a lib/pkgconfig/libvx.pc include/vx/vx_client.h include/vx/vx_err.h; do
	[ -f "$tmp/p/$f" ] || fail "$f was not installed"
done
# Move the tree: the .pc file must find its prefix from where it lies, not from the build.
mv "$tmp/p" "$tmp/moved"
export PKG_CONFIG_PATH="$tmp/moved/lib/pkgconfig"
pkg-config --exists libvx || fail "pkg-config does not find libvx"
flags=$(pkg-config --static --cflags --libs libvx)
case "$flags" in
*"-I$tmp/moved/"*) ;;
*) fail "cflags do not point into the installed tree: $flags" ;;
esac
# shellcheck disable=SC2086 # flags are words
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/vx_fetch" "$src/api/examples/vx_fetch.c" $flags ||
	fail "the example does not build against the installed tree"

# Bad arguments: 2. No daemon: 1 with a message naming the socket and the reason.
set +e
"$tmp/vx_fetch" >/dev/null 2>&1
rc=$?
"$tmp/vx_fetch" "$tmp/none.sock" http://127.0.0.1:1/x "$tmp/out" 2>"$tmp/err"
rc2=$?
set -e
[ "$rc" -eq 2 ] || fail "usage error gave exit $rc, want 2"
[ "$rc2" -eq 1 ] || fail "no daemon gave exit $rc2, want 1"
grep -q "cannot connect to the daemon at $tmp/none.sock" "$tmp/err" ||
	fail "no clear message without a daemon: $(cat "$tmp/err")"

if [ -n "$fake" ]; then
	head -c 300001 /dev/urandom >"$tmp/content"
	mkfifo "$tmp/in" "$tmp/out"
	"$fake" "$tmp/d.sock" "$tmp/content" <"$tmp/in" >"$tmp/out" 2>"$tmp/daemon.log" &
	daemon=$!
	exec 3>"$tmp/in" 4<"$tmp/out"
	read -r line <&4 || true
	[ "$line" = ready ] || fail "the fake daemon did not start: $(cat "$tmp/daemon.log")"
	"$tmp/vx_fetch" "$tmp/d.sock" http://origin.invalid/blob - >"$tmp/streamed" 2>"$tmp/err" ||
		fail "stream mode failed: $(cat "$tmp/err")"
	cmp "$tmp/content" "$tmp/streamed" || fail "stream mode wrote other bytes than the content"
	"$tmp/vx_fetch" "$tmp/d.sock" http://origin.invalid/blob "$tmp/copied" 2>"$tmp/err" ||
		fail "download to a file failed: $(cat "$tmp/err")"
	cmp "$tmp/content" "$tmp/copied" || fail "the output file differs from the content"
	grep -q "task feedfeed" "$tmp/err" || fail "no task id reported: $(cat "$tmp/err")"
	exec 3>&- 4<&-
	wait "$daemon" || fail "the fake daemon exited with $?"
fi
echo "sdk_pkgconfig: ok ($flags)"
