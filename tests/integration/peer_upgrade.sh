#!/usr/bin/env bash
# peer_upgrade.sh VX: a graceful upgrade (SIGUSR2) of a daemon in the middle of a swarm
# (issue 20). p1 holds g.bin whole and is fetching f.bin from a slow origin; c1 fetches g.bin
# from p1, held to 2 MiB/s and without the origin (download.back_to_source false), so it can
# only finish from p1. Then p1 gets SIGUSR2:
#   - the old p1 exits 0 and its log names the new daemon; the new one is ready on the same
#     pieces port (the listening socket was handed over, never closed);
#   - c1's download goes on and completes, correct, from p1 alone: the origin sent g.bin once;
#   - the old p1 drains its upload connections (vx_upload_drain()): c1's piece in flight at the
#     signal (c1's slow reading keeps one on the wire) is sent whole before the old p1 closes,
#     so the old p1 logs "drained N connections, 0 cut" and c1 never drops p1 as a parent
#     (without the drain the connection is cut mid-piece and c1 logs "parent 0 dropped");
#   - p1's own download is not restarted from zero: the new p1 resumes f.bin from the pieces the
#     old one finished, and the origin sent f.bin at most once plus the pieces in flight at the
#     stop (4, the origin fetch's parallelism);
#   - a second SIGUSR2 with a program path that cannot start leaves the daemon serving;
#   - so does one of a daemon given --token on its command line (blanked there once read).
set -euo pipefail
vx=$1
name=peer_upgrade
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

mib=$((1024 * 1024))
size=$((16 * mib))
make_file f.bin "$size"
make_file g.bin "$size"
origin_start
sched_start
serve_start p1
get p1 "$base/g.bin" "$dir/out/g-p1" --piece-length 1MiB
expect_rc 0 "p1's copy of g.bin"
printf 'download:\n  rate_limit: 2MiB\n  back_to_source: false\n' >"$dir/c1.yaml"
serve_start c1 --config "$dir/c1.yaml"
port=${serve_port[p1]}
old=${serve_pid[p1]}

get_pids=()
get_bg p1 "$base/slow/f.bin" "$dir/out/f" own --piece-length 1MiB
for _ in $(seq 200); do
	[ "$(pieces_in_store p1 2>/dev/null || echo 0)" -ge $((16 + 2)) ] && break
	sleep 0.1
done
get_bg c1 "$base/g.bin" "$dir/out/g-c1" child --timeout 60s --piece-length 1MiB
for _ in $(seq 200); do
	[ "$(pieces_in_store c1 2>/dev/null || echo 0)" -ge 1 ] && break
	sleep 0.1
done
[ "$(pieces_in_store c1)" -lt 12 ] || fail "c1 was done before the upgrade: make it slower"
[ "$(pieces_in_store p1)" -lt 32 ] || fail "p1 had f.bin whole before the upgrade"

kill -USR2 "$old"
code=0
wait_gone "$old" "the old p1 (SIGUSR2)"
wait "$old" || code=$?
[ "$code" -eq 0 ] || fail "the old p1 exited $code after SIGUSR2: $(tail -5 "$dir/p1.log")"
line=$(grep -m1 -oE 'upgrade: daemon [0-9]+ takes over port [0-9]+' "$dir/p1.log") ||
	fail "the old p1 did not start a new daemon: $(tail -3 "$dir/p1.log")"
new=$(awk '{print $3}' <<<"$line")
serve_pid[p1]=$new
for _ in $(seq 300); do
	[ "$(grep -c '^vx serve: ready: ' "$dir/p1.out")" -ge 2 ] && break
	kill -0 "$new" 2>/dev/null || fail "the new p1 exited: $(tail -5 "$dir/p1.log")"
	sleep 0.1
done
ready=$(grep '^vx serve: ready: ' "$dir/p1.out" | tail -1)
[ "$(grep -c '^vx serve: ready: ' "$dir/p1.out")" -ge 2 ] || fail "the new p1 never became ready"
case "$ready" in
*"pieces on port $port,"*) ;;
*) fail "the new p1 serves on another port than $port: $ready" ;;
esac

wait_gets
rc=$(cat "$dir/child.rc")
err=$(cat "$dir/child.err")
expect_rc 0 "c1's download across p1's upgrade"
same_file "$dir/www/g.bin" "$dir/out/g-c1" "c1's copy"
sent=$(origin_body_bytes /g.bin)
[ "$sent" -eq "$size" ] || fail "the origin sent $sent bytes of g.bin, want $size (p1's once)"
from_peers=$(json bytes_from_peers "$(cat "$dir/child.json")")
[ "$from_peers" -eq "$size" ] || fail "c1 got $from_peers bytes from peers, want $size"
! grep -E 'fetcher: parent [0-9]+ dropped' "$dir/c1.log" ||
	fail "c1 dropped p1 across the upgrade: its connection was cut"
drained=$(grep -m1 -oE 'upload: drained [0-9]+ connections, [0-9]+ cut' "$dir/p1.log") ||
	fail "the old p1 did not drain its upload connections: $(tail -5 "$dir/p1.log")"
read -r _ _ n_drained _ n_cut _ <<<"$drained"
[ "$n_drained" -ge 1 ] || fail "the old p1 drained no connection (c1's): $drained"
[ "$n_cut" -eq 0 ] || fail "the old p1 cut $n_cut connections mid-piece: $drained"

grep -q "resuming task" "$dir/p1.log" || fail "the new p1 did not resume f.bin"
get p1 "$base/slow/f.bin" "$dir/out/f" --piece-length 1MiB
expect_rc 0 "p1's f.bin after the upgrade"
same_file "$dir/www/f.bin" "$dir/out/f" "p1's copy of f.bin"
sent=$(origin_body_bytes /slow/f.bin)
[ "$sent" -lt $((size + 4 * mib)) ] ||
	fail "the origin sent $sent body bytes of f.bin ($size): the upgrade restarted it from zero"
# the new p1 is not this shell's child: stopped by hand (its exit code is not ours to read)
kill -TERM "$new"
wait_gone "$new" "the new p1 (SIGTERM)"
grep -q 'serve: SIGTERM: stopping' "$dir/p1.log" || fail "the new p1 did not stop on SIGTERM"
unset "serve_pid[p1]"

# A program that cannot start (its file is gone): the upgrade is refused and q keeps serving.
cp "$vx" "$dir/vx-gone"
vx_real=$vx
vx=$dir/vx-gone
serve_start q --no-scheduler
vx=$vx_real
rm "$dir/vx-gone"
kill -USR2 "${serve_pid[q]}"
for _ in $(seq 100); do
	grep -q 'upgrade refused, still serving' "$dir/q.log" && break
	kill -0 "${serve_pid[q]}" 2>/dev/null || fail "q died on a refused upgrade"
	sleep 0.1
done
grep -q 'upgrade refused, still serving' "$dir/q.log" ||
	fail "a refused upgrade was not logged: $(tail -3 "$dir/q.log")"
get q "$base/g.bin" "$dir/out/g-q"
expect_rc 0 "q's download after a refused upgrade"
serve_stop q

# A token given on the command line is blanked there once read, so the new daemon would start
# with x's and be refused by the scheduler: the upgrade is refused instead, r keeps serving.
serve_start r --token "$sched_peer_token"
kill -USR2 "${serve_pid[r]}"
for _ in $(seq 100); do
	grep -q 'upgrade refused, still serving: --token' "$dir/r.log" && break
	kill -0 "${serve_pid[r]}" 2>/dev/null || fail "r died on an upgrade with --token in argv"
	sleep 0.1
done
grep -q 'upgrade refused, still serving: --token was given on the command line' "$dir/r.log" ||
	fail "an upgrade with --token in argv was not refused: $(tail -3 "$dir/r.log")"
get r "$base/g.bin" "$dir/out/g-r"
expect_rc 0 "r's download after the refused upgrade"
serve_stop r
echo "$name: ok"
