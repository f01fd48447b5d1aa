#!/usr/bin/env bash
# peer_members.sh VX: members mode (`vx serve --members`, spec/peer.md "Members"): eight
# daemons and no `vx scheduler`. Every daemon carries the scheduler and takes the control
# connections for the tasks it owns (rendezvous hashing over the members) on its Vortex port.
# 1. All eight pull one file at once: every copy has the file's sha256, and the origin sent
#    one copy (the owner sends one peer to the origin; the rest come from the swarm).
# 2. The owner of a second task is killed (SIGKILL) mid-download (a slow origin): every other
#    daemon still finishes with the right bytes, taken over by the next member in hash order
#    from the pieces already held (no download restarts: each one's bytes from peers plus from
#    the source are the file's size once).
# 3. A non-member's control connection is closed before a byte of it is answered, and a
#    daemon refuses --members together with --scheduler.
# dragonfly-behaviour.md 5.5: a non-member cannot steer a member's scheduler (item "who may
# talk to a scheduler", plaintext from loopback only as today).
set -euo pipefail
vx=$1
name=peer_members
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

N=8
ports=()
list=
for i in $(seq 1 $N); do
	ports[i]=$(free_port)
	list+="${list:+,}127.0.0.1:${ports[i]}"
done
origin_start
# 500 ms x 4: a loaded CI machine can hold a member's answer for a few hundred ms, and a member
# taken for gone too early splits a task's ownership (two origin copies)
printf 'members_heartbeat_misses: 4\n' >"$dir/members.yaml"
for i in $(seq 1 $N); do
	serve_start "m$i" --no-scheduler --config "$dir/members.yaml" \
		--listen "127.0.0.1:${ports[i]}" --members "$list" --members-heartbeat 500ms
done
members_wait_up $N

# 1. eight first pulls of one file at once
size=$((8 * 1024 * 1024 + 3))
make_file f.bin "$size"
want=$(sha256sum "$dir/www/f.bin" | cut -d' ' -f1)
get_pids=()
for i in $(seq 1 $N); do
	get_bg "m$i" "$base/f.bin" "$dir/out/f$i" "g$i" --timeout 50s
done
wait_gets
for i in $(seq 1 $N); do
	rc=$(cat "$dir/g$i.rc")
	out=$(cat "$dir/g$i.json")
	err=$(cat "$dir/g$i.err")
	expect_rc 0 "first pull through m$i"
	[ "$(sha256sum "$dir/out/f$i" | cut -d' ' -f1)" = "$want" ] || fail "m$i: wrong sha256"
done
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq "$size" ] || fail "eight first pulls cost the origin $sent bytes, want $size (one copy)"

# 2. The owner of a task is killed mid-download. The owner is the one member whose embedded
# scheduler recorded the task (its members.db); /slow/ at 512 KiB/s and 1 MiB pieces keep the
# origin copy running for about 8 s, and the kill must come after a piece landed and before
# any pull finished (else the test fails: it would not test a takeover).
size2=$((4 * 1024 * 1024))
make_file g.bin "$size2"
want2=$(sha256sum "$dir/www/g.bin" | cut -d' ' -f1)
tid=$("$vx" task-id "$base/slow/g.bin" --piece-length 1MiB)
get_pids=()
for i in $(seq 1 $N); do
	get_bg "m$i" "$base/slow/g.bin" "$dir/out/g$i" "h$i" --timeout 50s --piece-length 1MiB
done
owner=$(python3 -c 'import sqlite3, sys, time
tid, dbs = sys.argv[1], sys.argv[2:]
end = time.monotonic() + 20
while time.monotonic() < end:
    for i, db in enumerate(dbs, 1):
        try:
            c = sqlite3.connect("file:" + db + "?mode=ro", uri=True, timeout=1)
            if c.execute("select 1 from tasks where id = ?", (tid,)).fetchone():
                print(i)
                sys.exit(0)
        except sqlite3.Error:
            pass
    time.sleep(0.05)
sys.exit(1)' "$tid" $(for i in $(seq 1 $N); do echo "$dir/m$i/members.db"; done)) ||
	fail "no member recorded task $tid"
held=0
for k in $(seq 200); do
	for i in $(seq 1 $N); do
		[ "$(pieces_in_store "m$i")" -gt 0 ] && held=1 && break
	done
	[ "$held" -eq 1 ] && break
	sleep 0.1
done
[ "$held" -eq 1 ] || fail "no member got a piece of g.bin"
for i in $(seq 1 $N); do
	[ ! -e "$dir/h$i.rc" ] || fail "m$i finished g.bin before its owner m$owner was killed: slow the origin"
done
serve_kill "m$owner"
wait_gets
for i in $(seq 1 $N); do
	[ "$i" -eq "$owner" ] && continue
	rc=$(cat "$dir/h$i.rc")
	out=$(cat "$dir/h$i.json")
	err=$(cat "$dir/h$i.err")
	expect_rc 0 "pull through m$i with its owner m$owner killed"
	[ "$(sha256sum "$dir/out/g$i" | cut -d' ' -f1)" = "$want2" ] || fail "m$i: wrong sha256 of g.bin"
	[ $(($(json bytes_from_peers) + $(json bytes_from_source))) -eq "$size2" ] ||
		fail "m$i fetched more than the file once (a restart?): $out"
done
grep -q "sched client: 127.0.0.1:${ports[owner]}: " "$dir/m$(((owner % N) + 1)).log" ||
	fail "the members did not notice that m$owner left"

# 3. A control connection from an address that is no member's (127.0.0.2) is closed unanswered;
# the same hello from a member's address is answered.
alive=$(((owner % N) + 1))
if python3 "$(dirname "$0")/fake_sched_client.py" "${ports[alive]}" 127.0.0.2 intruder register \
	"$tid" "" >"$dir/intruder.out" 2>&1; then
	fail "a non-member was answered by m$alive's scheduler: $(cat "$dir/intruder.out")"
fi
grep -q "closed the connection" "$dir/intruder.out" ||
	fail "the non-member failed otherwise: $(cat "$dir/intruder.out")"
grep -q "control connection from a non-member (127.0.0.2) refused" "$dir/m$alive.log" ||
	fail "m$alive did not log the refused non-member"
python3 "$(dirname "$0")/fake_sched_client.py" "${ports[alive]}" 127.0.0.1 friend register \
	"$tid" "" 0 0 >"$dir/friend.out" 2>&1 || fail "a member address was refused: $(cat "$dir/friend.out")"

# 4. Heartbeats: a member that stops (SIGSTOP) answers none; after members_heartbeat x
# members_heartbeat_misses of silence the others drop it as gone.
stopped=$(((alive % N) + 1))
[ "$stopped" -ne "$owner" ] || stopped=$(((stopped % N) + 1))
kill -STOP "${serve_pid[m$stopped]}"
seen=0
for k in $(seq 200); do
	grep -q "sched client: 127.0.0.1:${ports[stopped]}: silent (heartbeats missed)" \
		"$dir/m$alive.log" && seen=1 && break
	sleep 0.1
done
kill -CONT "${serve_pid[m$stopped]}"
[ "$seen" -eq 1 ] || fail "m$alive did not drop m$stopped, silent for 20 s"

# --members and --scheduler together: refused at start
rc=0
"$vx" serve --data-dir "$dir/bad" --listen 127.0.0.1:0 --socket "$dir/bad.sock" \
	--members "$list" --scheduler 127.0.0.1:1 >"$dir/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--members with --scheduler: exit $rc, want 2: $(cat "$dir/bad.out")"
grep -q "members and schedulers" "$dir/bad.out" || fail "no reason given: $(cat "$dir/bad.out")"
# a list naming a member by name: refused before anything starts
rc=0
"$vx" serve --data-dir "$dir/bad" --listen 127.0.0.1:0 --socket "$dir/bad.sock" \
	--members "127.0.0.1:1,somehost:2" >"$dir/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--members with a name in a list: exit $rc, want 2: $(cat "$dir/bad.out")"
grep -q "a list names members by IP:PORT" "$dir/bad.out" ||
	fail "no reason given: $(cat "$dir/bad.out")"

echo "$name: ok"
