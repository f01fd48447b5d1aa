#!/usr/bin/env bash
# peer_bad_parents.sh VX: a hostile scheduler names bad parents, again and again; a real daemon
# must still fetch the file from the origin, and open a bounded number of connections to each
# bad parent (issue 16 item 5: a peer told of one opened 8,952 connections in 45 s to it and
# never fell back). shared/reference/dragonfly-behaviour.md 5.5 items 9 (a peer-supplied
# address: the fetcher, told of it, must not hammer it) and 15 (slow-loris and half-open
# streams time out: a parent that accepts and says nothing, or stalls mid-piece).
#
# bad_parents.py is the scheduler (any token is accepted) and the parents. Each case is a file
# of its own, whose every register and reschedule is answered with the same bad parent:
#   a.bin  a closed port            b.bin  garbage (a reserved frame tag)
#   c.bin  accepts, never answers   d.bin  vx HELLO + BITFIELD (every piece), then half a piece
# The bounds, from the policy (dataplane/include/vx_fetcher.h, peer/src/peer_int.h), not time:
#   a: the fetcher dials a refusing parent at most VX_FETCH_DIAL_TRIES = 6 times, 100 ms after
#      the first failure, doubling up to 2 s (so the log says "k of 6; again in
#      min(100 * 2^(k-1), 2000) ms"), then bans the address for the life of the task: however
#      often the scheduler names it again, 6 dials in all and one drop. (Fails with the ban
#      removed from fx_drop_parent(): about 6 dials per answer. Fails with the back-off removed:
#      "again in 0 ms".)
#   b: a parent that spoke garbage is dropped with VX_FETCH_DROP_PROTOCOL and banned like
#      an unreachable one: exactly 1 accept. (Fails without that ban: one accept per answer,
#      until the bound below.)
#   c, d: a stalled parent is dropped after download.piece_timeout (2 s here) and is not
#      banned (it may only be slow). Each accepted connection ends in one drop (one connection
#      per parent; these never close, so there is no redial without a drop), each drop is one
#      of PEER_PARENT_FAILS_MAX = 5 failures after which the task goes to the origin whatever
#      the scheduler says (no piece ever arrives to reset the count). So at most 5 connections
#      are dropped before the fall-back, one more may be open when it happens, and one answer
#      to a reschedule sent before it may still add the parent again: at most 5 + 1 + 1 = 7
#      accepts. (Fails without PEER_PARENT_FAILS_MAX: the daemon never falls back, the get
#      times out and the accepts grow without bound; before this test it was so.)
#   Every case: the get exits 0 with the origin's bytes, and the log says which bound ended it.
# download.piece_timeout, measured on case d with "wait" re-answers (parents once, then WAIT,
# so the task goes to the origin after download.parent_wait = 5 s): with piece_timeout: 2s
# (p1) the stalled parent is dropped for a stall (reason 4) before that fall-back; with the
# default (10 s, p2) the fall-back comes first and no stall drop precedes it; the fall-back
# stops the fetcher, so the task completes from the origin before any stall drop (the origin
# no longer waits for the half piece the stalled parent holds).
# download.concurrent_pieces, measured on e.bin: two stall parents (re-answers "wait"), each
# holding every request it gets (half a piece at most); the most requests they held at once
# is the daemon's pieces in flight: 1 with concurrent_pieces: 1 (p3), and with the default
# (16, p2) min(4 pieces, 2 parents x 2 requests each) = 4, at least 2. Both have the default
# piece_timeout (10 s), longer than the wait (5 s): no stalled request is re-asked elsewhere
# before the fall-back, so the fake never sees a request move from one parent to the other
# (its threads could see the new request before the old connection's close).
set -euo pipefail
vx=$1
name=peer_bad_parents
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
origin_start

piece=1048576
for f in a b c d m1 m2 e1 e2; do
	make_file "$f.bin" $((3 * piece + 4321))
done
python3 "$(dirname "$0")/bad_parents.py" --www "$dir/www" --piece-len $piece \
	--state "$dir/state.json" --port-file "$dir/fake.port" --cases '{
	"a.bin": [["closed"], "same"], "b.bin": [["garbage"], "same"],
	"c.bin": [["silent"], "same"], "d.bin": [["stall"], "same"],
	"m1.bin": [["stall"], "wait"], "m2.bin": [["stall"], "wait"],
	"e1.bin": [["stall", "stall"], "wait"], "e2.bin": [["stall", "stall"], "wait"]}' \
	>"$dir/fake.out" 2>"$dir/fake.log" &
fake_pid=$!
bg_pids+=("$fake_pid")
for i in $(seq 100); do
	[ -s "$dir/fake.port" ] && break
	kill -0 "$fake_pid" 2>/dev/null || fail "bad_parents.py exited: $(cat "$dir/fake.log")"
	sleep 0.1
done
[ -s "$dir/fake.port" ] || fail "bad_parents.py did not start"
sched_port=$(cat "$dir/fake.port") # serve_start joins it with $dir/token.peer
(umask 077 && echo "any-token-the-fake-takes" >"$dir/token.peer")

printf 'download:\n  piece_timeout: 2s\n' >"$dir/p1.yaml"
printf 'download:\n  concurrent_pieces: 1\n' >"$dir/p3.yaml"
serve_start p1 --config "$dir/p1.yaml" --log-level debug
serve_start p2 --log-level debug
serve_start p3 --config "$dir/p3.yaml" --log-level debug

get_bg p3 "$base/e1.bin" "$dir/out/e1.bin" e1
for f in a b c d m1; do
	get_bg p1 "$base/$f.bin" "$dir/out/$f.bin" "$f"
done
get_bg p2 "$base/m2.bin" "$dir/out/m2.bin" m2
get_bg p2 "$base/e2.bin" "$dir/out/e2.bin" e2
wait_gets
for f in a b c d m1 m2 e1 e2; do
	rc=$(cat "$dir/$f.rc")
	err=$(cat "$dir/$f.err")
	expect_rc 0 "case $f"
	same_file "$dir/www/$f.bin" "$dir/out/$f.bin" "case $f"
done

st() { python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))
print(s[sys.argv[2]][sys.argv[3]])' "$dir/state.json" "$1" "$2"; }
tid() { st tasks "$1.bin" | cut -c1-12; }
pid_of() { # the host id bad_parents.py gave the parent of case $1
	grep -o "127\.0\.0\.1-bad-$1\.bin-[a-z]*-[0-9]*" "$2" | head -n1
}

# a: 6 dials with the back-off of the policy, one drop, and never dialled again.
id=$(pid_of a "$dir/p1.log")
[ -n "$id" ] || fail "case a: p1 never dialled the closed port"
k=0
while read -r line; do
	k=$((k + 1))
	want=$((100 << (k - 1)))
	[ $want -le 2000 ] || want=2000
	case "$line" in
	*"connect failed ("*"), $k of 6; again in $want ms"*) ;;
	*) fail "case a: dial $k: want the back-off '$k of 6; again in $want ms': $line" ;;
	esac
done < <(grep -F "($id): connect failed" "$dir/p1.log")
drops=$(grep -cF "parent $id dropped (0)" "$dir/p1.log" || true)
[ "$k" -eq 5 ] && [ "$drops" -eq 1 ] ||
	fail "case a: $k failed dials and $drops drops of the closed port, want 5 and 1 (6 dials)"
[ "$(st answers a.bin)" -ge 2 ] || fail "case a: the scheduler was not asked again"

# b: one accept, then banned.
n=$(st accepts b.bin/garbage)
[ "$n" -eq 1 ] || fail "case b: the garbage parent accepted $n connections, want 1"
[ "$(st answers b.bin)" -ge 2 ] || fail "case b: the scheduler was not asked again"

# c, d: at most PEER_PARENT_FAILS_MAX + 2 accepts, and the failure bound sent it to the origin.
for c in c.bin/silent d.bin/stall; do
	n=$(st accepts "$c")
	[ "$n" -ge 1 ] && [ "$n" -le 7 ] || fail "case $c: $n connections, want 1 to 7"
done
for f in a b c d; do
	grep -qE "task $(tid $f): [0-9]+ parent failures in a row without a piece: fetching from the source" \
		"$dir/p1.log" || fail "case $f: p1 did not fall back for parent failures"
done
# A parent that never answers HELLO (c) and one that stops mid-piece (d) time out: dropped for
# a stall (before, c in HANDSHAKE with nothing asked had its stall clock reset on every tick).
for f in c d; do
	grep -qF "parent $(pid_of $f "$dir/p1.log") dropped (4)" "$dir/p1.log" ||
		fail "case $f: the stalled parent was not dropped for a stall"
done

# piece_timeout: the first of "stall drop" and "wait fall-back" for the m task of each daemon.
first() { # first() DAEMON CASE: "stall" or "wait", whichever p logged first for the task
	grep -E "task $(tid "$2"): (parent $(pid_of "$2" "$dir/$1.log") dropped \(4\)|the scheduler had no parent for)" \
		"$dir/$1.log" | head -n1 | grep -q "dropped (4)" && echo stall || echo wait
}
[ "$(first p1 m1)" = stall ] ||
	fail "piece_timeout 2s: p1 fell back before it dropped the stalled parent"
[ "$(first p2 m2)" = wait ] ||
	fail "piece_timeout default: p2 dropped the stalled parent before the 5 s wait ended"
grep -qF "task $(tid m2): the scheduler had no parent for" "$dir/p2.log" ||
	fail "piece_timeout default: p2 did not fall back after the wait"
# ...and the half piece the stalled parent holds does not keep the origin waiting until the
# stall limit: the fall-back stops the parents (before, the origin fetch deferred that piece
# until the fetcher dropped the parent, so "dropped (4)" always came before "complete").
grep -E "task $(tid m2)(: parent $(pid_of m2 "$dir/p2.log") dropped \(4\)| complete)" \
	"$dir/p2.log" | head -n1 | grep -q " complete" ||
	fail "fall-back: p2's origin fetch waited for the stalled parent to be dropped"
# concurrent_pieces: the pieces in flight of each daemon's e task.
n=$(st max_out e1.bin)
[ "$n" -eq 1 ] || fail "concurrent_pieces 1: p3 had $n pieces in flight at once, want 1"
n=$(st max_out e2.bin)
[ "$n" -ge 2 ] || fail "concurrent_pieces default: p2 had $n pieces in flight at most, want >= 2"
echo "$name: ok ($(cat "$dir/state.json"))"
