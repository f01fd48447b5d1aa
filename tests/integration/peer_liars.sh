#!/usr/bin/env bash
# peer_liars.sh VX: lying parents against a real scheduler (issue 18 "Lying peers";
# shared/reference/dragonfly-behaviour.md 5.5 items 9, 15 and 17). A daemon A fetches a file
# from the origin (so the scheduler holds the trusted manifest) and leaves; then four liars
# (bad_parents.py --join) say hello with the peer token, register the task, report every piece
# held and FINISHED, so the scheduler offers them as full copies:
#   wrong      serves wrong bytes of the right length under their own (consistent) CRC-32
#   lack       claims every piece (BITFIELD) and answers each request "not found"
#   stall      claims every piece, sends half a piece and nothing more
#   othertask  sends a BITFIELD for another task id
# B, then C, each get the file: both exit 0 with the origin's bytes (0 corrupt outputs). B drops
# wrong for its digest (3), othertask as a protocol error (2), lack for denying a piece it
# announced (5) and stall for a stall (4), and reports wrong, othertask and lack to the
# scheduler as a mismatch (spec/control.md section 7): the scheduler blocks them for the task,
# so C is never sent to them (their accept counts do not grow after B). Fails without the report
# (peer/src/peer_task.c report_liar()): C dials wrong and othertask again; and without the
# fetcher's check of a denied claim (dataplane/src/fetcher.c fx_denied_claim()): lack is never
# dropped nor reported, and C dials it again. (When B got both pieces before asking lack, B2 and
# then B3 get the file first, until one has asked it.) stall may only be slow: it may be offered again.
# D gets the file once every daemon holding it has left: the scheduler can offer it only stall,
# and D drops stall for the stall (4) at its piece timeout (2 s) and takes the source. Fails
# without the fetcher's stall timeout (dataplane/src/fetcher.c, VX_FETCH_DROP_STALL): D then
# waits for the task's 10 s "no piece" fallback and never drops stall (checked 2026-12-07;
# B, C and the rest passed without it). Once dropped, D avoids stall for 30 s (its reschedules
# name it, answers pushed to it skip it): it dials stall once (5 times, dropping it 4 times,
# before the avoid list, peer/src/peer_task.c avoid_parent()).
# peer_bad_parents.sh covers, with a fake scheduler, parents that refuse, speak garbage, never
# answer, or stall mid-piece, and the bounds on redials.
set -euo pipefail
vx=$1
name=peer_liars
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
origin_start
sched_start --cands 6

make_file f.bin $((4 * 1048576 + 777))
printf 'download:\n  piece_timeout: 2s\n' >"$dir/p.yaml"
serve_start A
get A "$base/f.bin" "$dir/out/a.bin"
expect_rc 0 "A from the origin"
tid=$("$vx" task-id "$base/f.bin")

sched_peer_token=$sched_peer_token PYTHONPATH="$(dirname "$0")" python3 \
	"$(dirname "$0")/bad_parents.py" --join "$sched_port" --task "$tid" \
	--kinds wrong,lack,stall,othertask --state "$dir/state.json" 2>"$dir/liars.log" &
liars=$!
bg_pids+=("$liars")
st() { python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))
print(s[sys.argv[2]].get(sys.argv[3], 0))' "$dir/state.json" "$1" "$2" 2>/dev/null || echo 0; }
for i in $(seq 100); do
	[ -s "$dir/state.json" ] && [ "$(st joined othertask)" != 0 ] &&
		[ "$(st joined wrong)" != 0 ] && [ "$(st joined lack)" != 0 ] &&
		[ "$(st joined stall)" != 0 ] && break
	kill -0 "$liars" 2>/dev/null || fail "the liars exited: $(cat "$dir/liars.log")"
	sleep 0.1
done
[ "$(st joined stall)" != 0 ] || fail "the liars did not all join: $(cat "$dir/liars.log")"
# A leaves once the liars hold the task: the task and its trusted manifest stay, and the liars
# are the only copies the scheduler can offer.
serve_stop A

serve_start B --config "$dir/p.yaml" --log-level debug
get B "$base/f.bin" "$dir/out/b.bin"
expect_rc 0 "B beside the liars"
same_file "$dir/www/f.bin" "$dir/out/b.bin" "B beside the liars"
for w in "wrong dropped (3)" "othertask dropped (2)"; do
	grep -qF "parent liar-$w" "$dir/B.log" || fail "B: no 'parent liar-$w' in its log"
done
for k in wrong othertask; do
	grep -qF "parent liar-$k reported to the scheduler" "$dir/B.log" ||
		fail "B did not report liar-$k to the scheduler"
done
# The file has 2 pieces: B may have got both elsewhere before asking liar-lack. Then B2 (and B3)
# get it too, until one has asked it; that one drops and reports it.
asker=B
for n in B2 B3; do
	[ "$(st asked lack)" -lt 1 ] || break
	serve_start "$n" --config "$dir/p.yaml" --log-level debug
	get "$n" "$base/f.bin" "$dir/out/$n.bin"
	expect_rc 0 "$n beside the liars"
	same_file "$dir/www/f.bin" "$dir/out/$n.bin" "$n beside the liars"
	asker=$n
done
[ "$(st asked lack)" -ge 1 ] || fail "B, B2 and B3 never asked liar-lack for a piece"
grep -qF "parent liar-lack dropped (5)" "$dir/$asker.log" ||
	fail "$asker: no 'parent liar-lack dropped (5)' in its log"
grep -qF "parent liar-lack reported to the scheduler" "$dir/$asker.log" ||
	fail "$asker did not report liar-lack to the scheduler"
acc_wrong=$(st accepts wrong)
acc_other=$(st accepts othertask)
acc_lack=$(st accepts lack)
[ "$acc_wrong" -ge 1 ] && [ "$acc_other" -ge 1 ] ||
	fail "B never dialled the liars (wrong $acc_wrong, othertask $acc_other): not offered"

serve_start C --config "$dir/p.yaml" --log-level debug
get C "$base/f.bin" "$dir/out/c.bin"
expect_rc 0 "C after B's reports"
same_file "$dir/www/f.bin" "$dir/out/c.bin" "C after B's reports"
[ "$(st accepts wrong)" -eq "$acc_wrong" ] ||
	fail "the scheduler still offered the liar that sent wrong bytes: C dialled it"
[ "$(st accepts othertask)" -eq "$acc_other" ] ||
	fail "the scheduler still offered the liar with another task's bitfield: C dialled it"
[ "$(st accepts lack)" -eq "$acc_lack" ] ||
	fail "the scheduler still offered the liar that claims pieces it lacks: C dialled it"
! grep -qE "parent liar-(wrong|othertask|lack)" "$dir/C.log" ||
	fail "C was given a reported liar: $(grep -E "parent liar-(wrong|othertask|lack)" "$dir/C.log" | head -n2)"

# D: only stall is left to offer (the reported liars are blocked, the honest daemons gone)
for n in B B2 B3 C; do
	[ -z "${serve_pid[$n]:-}" ] || serve_stop "$n"
done
acc_stall=$(st accepts stall)
serve_start D --config "$dir/p.yaml" --log-level debug
get D "$base/f.bin" "$dir/out/d.bin"
expect_rc 0 "D with only liar-stall to offer"
same_file "$dir/www/f.bin" "$dir/out/d.bin" "D with only liar-stall to offer"
[ "$(st accepts stall)" -gt "$acc_stall" ] || fail "D never dialled liar-stall: not offered"
grep -qF "parent liar-stall dropped (4)" "$dir/D.log" ||
	fail "D: no 'parent liar-stall dropped (4)' in its log: the stall was not detected"
# once dropped, stall is avoided (the reschedule names it, pushed answers are skipped): D
# dialled it once and dropped it once (5 dials, 4 drops when the scheduler offered it again)
[ "$(($(st accepts stall) - acc_stall))" -eq 1 ] && [ "$(grep -c "parent liar-stall dropped" "$dir/D.log")" -eq 1 ] ||
	fail "D dialled liar-stall $(($(st accepts stall) - acc_stall)) times and dropped it $(grep -c "parent liar-stall dropped" "$dir/D.log") times, want once"
! grep -qE "parent liar-(wrong|othertask|lack)" "$dir/D.log" ||
	fail "D was given a reported liar: $(grep -E "parent liar-(wrong|othertask|lack)" "$dir/D.log" | head -n2)"
echo "$name: ok ($(cat "$dir/state.json"))"
