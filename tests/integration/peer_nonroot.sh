#!/usr/bin/env bash
# peer_nonroot.sh VX: a daemon that is not root serves the members of its socket group without
# lending them its own rights (review 16 finding 9; security test list,
# shared/reference/dragonfly-behaviour.md section 5.5, item 11). The daemon runs as uid 12345
# (setpriv); its data directory (token, host key, store) is 0750 with the socket's group; the
# client is a real unprivileged process (nobody, in that group).
#   (a) file:// of the daemon's own token: refused (EACCES, "file:// sources are refused"),
#       nothing written; streamed (-O -) the same, for the host key.
#   (b) an output over the daemon's token (--overwrite), in the daemon's directory: refused,
#       the token intact.
#   (c) an output in a directory everyone may write (sticky, like /tmp): delivered.
# Needs root and setpriv; skips (77) otherwise.
set -euo pipefail
vx=$1
name=peer_nonroot
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
nobody_init
daemon_uid=12345

origin_start
make_file pub.bin 100000
mkdir -p "$dir/vx" "$dir/pub"
chown $daemon_uid:$nobody "$dir/vx"
chmod 0750 "$dir/vx"
chmod 1777 "$dir/pub"
echo "the daemon's own secret" >"$dir/vx/token.peer"
chown $daemon_uid "$dir/vx/token.peer"
chmod 0600 "$dir/vx/token.peer"
setpriv --reuid=$daemon_uid --regid=$nobody --clear-groups "$vx" serve --data-dir "$dir/vx/data" \
	--listen 127.0.0.1:0 --socket "$dir/vx/d.sock" --socket-group "$gname" --log-level info \
	>"$dir/d.out" 2>"$dir/d.log" &
serve_pid[d]=$!
wait_line "$dir/d.out" '^vx serve: ready: ' "${serve_pid[d]}" "vx serve (uid $daemon_uid)" >/dev/null
# nget's socket is $dir/d.sock
ln -s "$dir/vx/d.sock" "$dir/d.sock"

# (a) the daemon's secrets through file://
nget "file://$dir/vx/token.peer" "$dir/pub/tok"
[ "$rc" -ne 0 ] || fail "(a) nobody got the daemon's token through file://"
expect_msg "file:// sources are refused"
[ ! -e "$dir/pub/tok" ] || fail "(a) the daemon's token was written for nobody"
nget "file://$dir/vx/token.peer" -
[ "$rc" -ne 0 ] && [ ! -s "$dir/nget-out" ] || fail "(a) nobody streamed the daemon's token"
for f in "$dir"/vx/data/host.key "$dir"/vx/data/*.key; do
	[ -e "$f" ] || continue
	nget "file://$f" -
	[ "$rc" -ne 0 ] && [ ! -s "$dir/nget-out" ] || fail "(a) nobody streamed $f"
done

# (b) an output over the daemon's own file
nget "$base/pub.bin" "$dir/vx/token.peer" --overwrite
[ "$rc" -ne 0 ] || fail "(b) nobody replaced the daemon's token"
[ "$(cat "$dir/vx/token.peer")" = "the daemon's own secret" ] ||
	fail "(b) the daemon's token was replaced"
nget "$base/pub.bin" "$dir/vx/new"
[ "$rc" -ne 0 ] && [ ! -e "$dir/vx/new" ] || fail "(b) nobody wrote into the daemon's directory"

# (c) a directory everyone may write
nget "$base/pub.bin" "$dir/pub/ok"
expect_rc 0 "(c) an output in a sticky world-writable directory"
same_file "$dir/www/pub.bin" "$dir/pub/ok" "(c)"
echo "$name: ok"
