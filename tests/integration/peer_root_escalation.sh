#!/usr/bin/env bash
# peer_root_escalation.sh VX: a daemon running as root acts for an unprivileged client of its
# socket's group with the client's rights only (issue 16, "Fix first" 1; security test list,
# shared/reference/dragonfly-behaviour.md section 5.5, item 11: local import/export only over
# the unix socket with a peer-credential check, symlinks and swapped paths refused, files
# created 0600 until complete).
#   (a) file:// of a file the client cannot read: refused with EACCES, nothing written, nothing
#       streamed; a file it can read: delivered, and the client's.
#   (b) the client swaps its output directory for a symlink to a root-owned directory while
#       the download runs (a slow origin keeps it running): the root-owned file there is not
#       replaced nor chowned; the output lands in the directory the client named at the start.
#   (c) the output name is a symlink (with --overwrite) to a root-owned file: the link is
#       replaced, never the file it points to.
#   (d) a client's own 0600 file read for it (file://) stays local: anyone who computes the
#       task id (`vx task-id`) and asks the upload port for its pieces with a raw Vortex
#       client (vortex_piece.py) gets none (review 16 finding 3; item 11 and item 6 of 5.5).
#   (e) a client with more than 64 supplementary groups: its download is refused with a clear
#       message, never run with no groups (a group-deny mode would grant it more; finding 14).
# The attacker is a real unprivileged process (setpriv). Needs root and setpriv; skips (77)
# otherwise.
set -euo pipefail
vx=$1
name=peer_root_escalation
origin_slow_rate=256k
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
nobody_init
# root_file_intact PATH: PATH still holds "root's" and belongs to root
root_file_intact() {
	[ "$(cat "$1")" = "root's" ] || fail "$2: root's $1 was replaced"
	[ "$(stat -c %u "$1")" -eq 0 ] || fail "$2: root's $1 was given to uid $(stat -c %u "$1")"
}

origin_start
serve_start d --no-scheduler --socket-group "$gname"
mkdir -m 0777 "$dir/open"

# (a) a secret the client may not read
echo "root's secret" >"$dir/secret"
chmod 0600 "$dir/secret"
nget "file://$dir/secret" "$dir/open/s"
[ "$rc" -ne 0 ] || fail "(a) an unprivileged client got root's 0600 file"
expect_msg "may not read"
[ ! -e "$dir/open/s" ] || fail "(a) root's 0600 file was written for the client"
nget "file://$dir/secret" -
[ "$rc" -ne 0 ] || fail "(a) an unprivileged client streamed root's 0600 file"
[ ! -s "$dir/nget-out" ] || fail "(a) stream mode gave the client root's 0600 file"
# ... nor through another spelling of its URL, nor through a link of the client's own
nget "file://localhost$dir/secret" "$dir/open/s"
[ "$rc" -ne 0 ] && [ ! -e "$dir/open/s" ] || fail "(a) file://localhost gave root's 0600 file"
as_nobody ln -s "$dir/secret" "$dir/open/sl"
nget "file://$dir/open/sl" "$dir/open/s"
[ "$rc" -ne 0 ] && [ ! -e "$dir/open/s" ] || fail "(a) a client's symlink gave root's 0600 file"
expect_msg "may not read"
# ... one it may read: delivered, and its own
head -c 300000 /dev/urandom >"$dir/public"
chmod 0644 "$dir/public"
nget "file://$dir/public" "$dir/open/p"
expect_rc 0 "(a) a file the client may read"
same_file "$dir/public" "$dir/open/p" "(a) a file the client may read"
[ "$(stat -c %u "$dir/open/p")" -eq $nobody ] || fail "(a) the output is not the client's"
nget "file://$dir/public" -
expect_rc 0 "(a) streaming a file the client may read"
same_file "$dir/public" "$dir/nget-out" "(a) streaming a file the client may read"

# (b) the output directory becomes a symlink to root's directory during the download
mkdir -m 0755 "$dir/rootdir"
echo "root's" >"$dir/rootdir/victim"
chmod 0644 "$dir/rootdir/victim"
mkdir -m 0755 "$dir/home" "$dir/home/cdir" # the client's own: it may rename what is inside
chown $nobody:$nobody "$dir/home" "$dir/home/cdir"
make_file big.bin $((2 * 1024 * 1024))
(
	code=0
	as_nobody timeout -k 5 120 "$vx" get "$base/slow/big.bin" -O "$dir/home/cdir/victim" \
		--overwrite --socket "$dir/d.sock" --no-progress >/dev/null 2>"$dir/race.err" ||
		code=$?
	echo "$code" >"$dir/race.rc"
) &
race_pid=$!
bg_pids+=("$race_pid")
# the daemon asked the origin for the length: the job's output checks are behind it
for i in $(seq 200); do
	[ "$(origin_probes /slow/big.bin)" -ge 1 ] && break
	[ ! -e "$dir/race.rc" ] || fail "(b) the download ended before it started: $(cat "$dir/race.err")"
	sleep 0.1
done
[ "$(origin_probes /slow/big.bin)" -ge 1 ] || fail "(b) the download did not start"
as_nobody mv "$dir/home/cdir" "$dir/home/cdir.moved"
as_nobody ln -s "$dir/rootdir" "$dir/home/cdir"
# 2 MiB at 256 KiB/s per connection: the body is still coming
[ ! -e "$dir/race.rc" ] || fail "(b) the download ended before the swap; the test proves nothing"
wait "$race_pid" || true
rc=$(cat "$dir/race.rc")
err=$(cat "$dir/race.err")
root_file_intact "$dir/rootdir/victim" "(b)"
[ "$(find "$dir/rootdir" -mindepth 1 | wc -l)" -eq 1 ] ||
	fail "(b) root's directory got new files: $(ls -a "$dir/rootdir")"
expect_rc 0 "(b) the download whose directory was swapped"
same_file "$dir/www/big.bin" "$dir/home/cdir.moved/victim" "(b) the output in the directory named at start"
[ "$(stat -c %u "$dir/home/cdir.moved/victim")" -eq $nobody ] || fail "(b) the output is not the client's"

# (c) the output name is a symlink to root's file
as_nobody ln -s "$dir/rootdir/victim" "$dir/open/link"
make_file small.bin 100000
nget "$base/small.bin" "$dir/open/link" --overwrite
root_file_intact "$dir/rootdir/victim" "(c)"
if [ "$rc" -eq 0 ]; then
	[ ! -L "$dir/open/link" ] || fail "(c) success, yet the link is still there"
	same_file "$dir/www/small.bin" "$dir/open/link" "(c) the link replaced by the output"
fi

# (d) a file:// task is not served over Vortex to anyone
mkdir -m 0700 "$dir/home/priv"
chown $nobody:$nobody "$dir/home/priv"
as_nobody sh -c "head -c 100000 /dev/urandom >'$dir/home/priv/id_key'; chmod 600 '$dir/home/priv/id_key'"
nget "file://$dir/home/priv/id_key" "$dir/home/priv/k"
expect_rc 0 "(d) the client's own file"
same_file "$dir/home/priv/id_key" "$dir/home/priv/k" "(d) the client's own file"
id=$("$vx" task-id "file://$dir/home/priv/id_key")
# a network client: its uid does not matter (another host's would do the same)
got=$(python3 "$(dirname "$0")/vortex_piece.py" "${serve_port[d]}" "$id" 0)
case $got in
piece*) fail "(d) a network client read the client's 0600 file from the upload port ($got)" ;;
error* | closed) ;;
*) fail "(d) the raw Vortex client failed: $got" ;;
esac
# (e) more supplementary groups than the daemon can act with
rc=0
setpriv --reuid=$nobody --regid=$nobody --groups="$(seq -s, 20000 20070)" timeout -k 5 60 \
	"$vx" get "file://$dir/public" -O "$dir/open/g" --socket "$dir/d.sock" --no-progress \
	>/dev/null 2>"$dir/nget-err.txt" || rc=$?
err=$(cat "$dir/nget-err.txt")
[ "$rc" -ne 0 ] || fail "(e) a client with 71 supplementary groups was served with none"
expect_msg "more than 64 supplementary groups"
[ ! -e "$dir/open/g" ] || fail "(e) the output was written"
echo "$name: ok"
