#!/usr/bin/env bash
# peer_perms.sh VX: a daemon running as root works for an unprivileged client of its socket's
# group: the output belongs to the client, the client cannot make it write where the client
# itself may not, nor replace another user's file in a sticky directory; a client outside the
# group is refused. Needs root and setpriv (util-linux); skips (77) otherwise.
set -euo pipefail
vx=$1
name=peer_perms
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
nobody_init

origin_start
make_file f.bin $((1024 * 1024))
serve_start d --no-scheduler --socket-group "$gname"
chmod 755 "$dir"

mkdir -m 0777 "$dir/open" "$dir/shut"
chmod 0755 "$dir/shut"
mkdir -m 1777 "$dir/sticky"
echo "root's" >"$dir/sticky/theirs"

# 1. a new file in a directory the client may write: done, and the client's
nget "$base/f.bin" "$dir/open/mine"
expect_rc 0 "a download for an unprivileged client"
same_file "$dir/www/f.bin" "$dir/open/mine" "a download for an unprivileged client"
[ "$(stat -c %u "$dir/open/mine")" -eq $nobody ] || fail "the output does not belong to the client"
# 2. a directory only root may write: refused before anything is fetched
nget "$base/f.bin" "$dir/shut/x"
expect_rc 5 "an output directory the client may not write"
expect_msg "not writable by uid"
[ ! -e "$dir/shut/x" ] || fail "root wrote $dir/shut/x for a client that may not"
# 3. another user's file in a sticky directory: not replaced, even with --overwrite
nget "$base/f.bin" "$dir/sticky/theirs" --overwrite
expect_rc 5 "another user's file in a sticky directory"
expect_msg "belongs to another user"
[ "$(cat "$dir/sticky/theirs")" = "root's" ] || fail "another user's file was replaced"
# 4. a client outside the socket's group: refused by the socket
serve_stop d
serve_start d --no-scheduler
nget "$base/f.bin" "$dir/open/other"
[ "$rc" -ne 0 ] || fail "a client outside the socket's group was served"
[ ! -e "$dir/open/other" ] || fail "a refused client got $dir/open/other"
echo "$name: ok"
