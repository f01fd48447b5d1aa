#!/usr/bin/env bash
# manager_pg.sh VX: two control planes (`vx scheduler --manager-db postgres://...`) share one
# real PostgreSQL server (Debian's, started here in a temp dir on a loopback port) behind one
# address (tcp_failover.py). Jobs, tokens and the audit log are shared: a token made through
# one is accepted by the other, a job made on one is read on the other; a job running on one
# is never claimed by the other while its lease is renewed; one killed mid-preheat, the other
# claims the job once its lease ran out and it finishes (claimed once, never lost). Both write
# refusals to the audit log at once and the hash chain stays whole, seqs without a gap. The
# database password (PGPASSFILE) is in no log.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5: item 1 on the second process (a route
# refused without a token), the audit chain with two writers, no secret in a log.
set -euo pipefail
vx=$1
name=manager_pg
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
pg_need
peer_lib_init

pg_start

# ---- two control planes on it; daemons reach them through one address
origin_start
common=(--manager-db "$uri" --job-lease 2 --tokens "$dir/sched.db.tokens"
	--allow-outbound 127.0.0.0/8)
sched_start "${common[@]}"
a_pid=$sched_pid a_port=$sched_port a_api=$api_port
mv "$dir/sched.out" "$dir/a.out"
mv "$dir/sched.log" "$dir/a.log"
sched_start "${common[@]}" --db "$dir/sched_b.db"
b_pid=$sched_pid b_port=$sched_port b_api=$api_port
mv "$dir/sched.out" "$dir/b.out"
mv "$dir/sched.log" "$dir/b.log"
python3 "$here/tcp_failover.py" "127.0.0.1:$a_port" "127.0.0.1:$b_port" >"$dir/fwd.out" 2>&1 &
fwd_pid=$!
bg_pids+=("$fwd_pid")
line=$(wait_line "$dir/fwd.out" '^port [0-9]+' "$fwd_pid" "tcp_failover.py")
sched_port=${line#port }
serve_start seed --seed --allow-outbound 127.0.0.0/8
sched_port=$b_port # a peer of the second one alone
serve_start pb --allow-outbound 127.0.0.0/8

"$vx" token create --bootstrap --db "$uri" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
[[ $admin =~ ^vxt_[0-9]+_[0-9a-f]{64}$ ]] || fail "bootstrap printed '$admin'"

# a URI with the password in it is never echoed (here: a server that is not there)
if "$vx" token create --bootstrap --db "postgres://vxtest:$pgpass_word@127.0.0.1:1/x" >"$dir/badboot.out" 2>&1; then
	fail "a bootstrap against no server succeeded"
fi
grep -q "$pgpass_word" "$dir/badboot.out" && fail "the database password was echoed: $(cat "$dir/badboot.out")"

# ---- shared tokens and jobs
expect_at "$b_api" 401 "B without a token" GET /oapi/v1/jobs >/dev/null
tok=$(expect_at "$a_api" 200 "a token made on A" POST /oapi/v1/tokens '{"name":"ci","scopes":["job:read","job:write"]}' "$admin")
tok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$tok")
job=$(expect_at "$b_api" 200 "B accepts A's token" POST /oapi/v1/jobs '{"type":"get_task","args":{"url":"http://127.0.0.1/x"}}' "$tok")
jid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
expect_at "$a_api" 200 "A reads B's job" GET "/oapi/v1/jobs/$jid" - "$tok" | grep -q '"state":"SUCCESS"' ||
	fail "A does not see B's job"

# ---- the audit chain with two writers at once
for p in "$a_api" "$b_api"; do
	python3 - "$p" >"$dir/burst.$p" 2>&1 <<'PY' &
import http.client, sys
for i in range(40):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
    c.request("POST", "/oapi/v1/jobs", body="{}", headers={"Authorization": "Bearer vxt_1_" + "0" * 64})
    assert c.getresponse().status == 401
PY
	bursts+=("$!")
done
for p in "${bursts[@]}"; do wait "$p" || fail "a burst of refusals: $(cat "$dir"/burst.*)"; done

# ---- a job on B with a lease that is renewed: A never claims it
head -c 4000000 /dev/urandom >"$dir/www/b1"
job=$(expect_at "$b_api" 200 "preheat on B" POST /oapi/v1/jobs "{\"type\":\"preheat\",\"args\":{\"url\":\"http://127.0.0.1:$origin_port/slow/b1\",\"scope\":\"all_peers\",\"ips\":[\"127.0.0.1\"],\"count\":1}}" "$admin")
bid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
# ---- a job on A, A killed mid-preheat: B claims it once A's lease ran out, it finishes
head -c 6000000 /dev/urandom >"$dir/www/a1"
job=$(expect_at "$a_api" 200 "preheat on A" POST /oapi/v1/jobs "{\"type\":\"preheat\",\"args\":{\"url\":\"http://127.0.0.1:$origin_port/slow/a1\"}}" "$admin")
aid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
wait_line "$dir/seed.log" 'preheat: fetching .*/slow/a1' "${serve_pid[seed]}" "the seed's preheat" >/dev/null
out=$(job_wait "$b_api" "$bid" "$admin")
echo "$out" | grep -q '"state":"SUCCESS"' || fail "B's job: $out"
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null || true
out=$(job_wait "$b_api" "$aid" "$admin")
echo "$out" | grep -q '"state":"SUCCESS"' || fail "A's job after A died: $out"
echo "$out" | grep -q '"host_type":"super"' || fail "A's job names no seed: $out"
[ "$(grep -c "job $aid (preheat): claimed here" "$dir/b.log")" = 1 ] ||
	fail "B did not claim A's job exactly once"
grep -q "job $bid" "$dir/a.log" && fail "A touched B's job"
[ "$(grep -c "job $aid: preheat of 1 blob(s) on" "$dir/a.log")" = 1 ] || fail "A ran its job not once"
"$vx" task stat "http://127.0.0.1:$origin_port/slow/a1" --api "http://127.0.0.1:$b_api" \
	--token-file <(printf '%s\n' "$admin") --json >"$dir/stat.json" || fail "task stat on B"

# ---- the audit log: every record of both writers, one chain, no gap, no secret
VX_API="http://127.0.0.1:$b_api" "$vx" audit ls --json --token-file <(printf '%s\n' "$admin") >"$dir/audit.json" ||
	fail "audit ls"
python3 - "$dir/audit.json" "$admin" <<'PY' || fail "the audit chain"
import hashlib, json, sys
recs = json.load(open(sys.argv[1]))
raw = open(sys.argv[1]).read()
assert sys.argv[2] not in raw, "the token in the audit"
prev = "0" * 64
for i, r in enumerate(recs):
    assert r["seq"] == i + 1, ("a gap", i, r)
    line = "|".join([prev, str(r["seq"]), str(r["time"]), str(r["token_id"]), r["source"],
                     r["action"], r["target"], str(r["result"])])
    assert r["prev"] == prev, r
    assert hashlib.sha256(line.encode()).hexdigest() == r["hash"], r
    prev = r["hash"]
assert sum(1 for r in recs if r["result"] == 401) >= 81, len(recs)
PY
for f in "$dir"/a.log "$dir"/b.log "$dir"/seed.log "$dir"/pb.log "$dir"/*.out; do
	[ "$f" = "$dir/boot.out" ] && continue
	grep -q -e "$pgpass_word" -e "$admin" "$f" && fail "a secret in $(basename "$f")"
done
echo "PASS: $name"
