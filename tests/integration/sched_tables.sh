#!/usr/bin/env bash
# sched_tables.sh VX: the scheduler's tables and records stay usable under junk (issue 18,
# "Abuse and exhaustion": phantom tasks filling the task table; the sqlite records growing
# without bound).
#   1. A hostile client with the peer token fills the whole task table (--tasks-max 8) with
#      phantom tasks it never fetches, and stays connected. Once they are stale (--task-stale
#      2: no progress for 2 s, no full copy anywhere) a real download still goes P2P: the first
#      daemon's task takes the place of the stalest phantom, so a second daemon gets the file
#      from the first, not from the origin. (Without the eviction the table stays full: both
#      fall back to the origin and the second gets nothing from peers.)
#   2. Host and task records unseen for --db-keep seconds leave the database: the phantoms'
#      rows are gone a few seconds later while the scheduler runs.
set -euo pipefail
vx=$1
name=sched_tables
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init

make_file f.bin $((3 << 20))
origin_start
sched_start --tasks-max 8 --task-stale 2 --db-keep 3
serve_start p1
serve_start p2

# the attacker: one host, 8 phantom registrations, then silence on an open connection
sched_peer_token=$sched_peer_token python3 - "$sched_port" "$here" >"$dir/attacker.out" \
	2>"$dir/attacker.err" <<'PY' &
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
from fake_sched_client import peer_hello
c = peer_hello(int(sys.argv[1]), "attacker-1", os.environ["sched_peer_token"])
ids = []
for i in range(9):
    tid = os.urandom(32).hex()
    a = c.response(c.send(3, {20: tid, 21: "http://127.0.0.1:9/phantom%d" % i, 23: -1}))
    ids.append((tid, a.get(3, 0)))
print(json.dumps(ids), flush=True)
time.sleep(60)  # stay connected, silent, until the test ends
PY
bg_pids+=($!)
for i in $(seq 100); do
	[ -s "$dir/attacker.out" ] && break
	sleep 0.1
done
python3 - "$dir/attacker.out" <<'PY' || fail "the attacker's registrations: $(cat "$dir/attacker.out" "$dir/attacker.err")"
import json, sys
ids = json.loads(open(sys.argv[1]).read())
assert [s for _, s in ids[:8]] == [0] * 8, ids      # the table takes 8
assert ids[8][1] != 0, ids                          # the 9th does not fit (nothing is stale)
PY

sleep 3 # the phantoms are stale now (2 s without progress)
get p1 "$base/f.bin" "$dir/out1" --json
[ "$rc" = 0 ] || fail "p1's download: $err"
get p2 "$base/f.bin" "$dir/out2" --json
[ "$rc" = 0 ] || fail "p2's download: $err"
cmp -s "$dir/www/f.bin" "$dir/out2" || fail "p2's file differs"
[ "$(json bytes_from_peers)" = $((3 << 20)) ] ||
	fail "with a table full of stale phantoms p2 got $(json bytes_from_peers) bytes from peers, not the file: $out"
grep -q "the task table is full (8): dropped task" "$dir/sched.log" ||
	fail "the scheduler did not say it dropped a stale task"

# the phantoms' records leave the database (kept 3 s; checked at most every 1.5 s)
python3 - "$dir/sched.db" "$dir/attacker.out" <<'PY' || fail "the phantom tasks' records stayed in the database"
import json, sqlite3, sys, time
ids = [t for t, _ in json.loads(open(sys.argv[2]).read())[:8]]
end = time.monotonic() + 20
while True:
    db = sqlite3.connect(sys.argv[1], timeout=5)
    q = "SELECT count(*) FROM tasks WHERE id IN (%s)" % ",".join("?" * len(ids))
    n = db.execute(q, ids).fetchone()[0]
    hosts = db.execute("SELECT count(*) FROM hosts WHERE id = 'attacker-1'").fetchone()[0]
    db.close()
    if n == 0 and hosts == 0:
        break
    if time.monotonic() > end:
        sys.exit("%d phantom task rows and %d attacker host rows left" % (n, hosts))
    time.sleep(0.3)
PY
echo "PASS: $name"
