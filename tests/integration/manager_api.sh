#!/usr/bin/env bash
# manager_api.sh VX: the management plane end to end (manager/, spec/manager.md). An nginx
# origin, `vx scheduler` with its open API, one seed and two peers on loopback.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5:
#   item 1: every route of the API's own table (vx scheduler --api-routes) but /healthy is
#           refused without a token, with a bad token, with a token in the query string;
#   tokens: a token without a route's or a job type's scope gets 403; a revoked token is
#           refused at once; secrets (the token, a signed URL's signature) are in no response,
#           audit record or log;
#   audit: every mutating call and every refusal is recorded, and the hash chain verifies;
#   bad input: bad JSON, unknown types, oversized bodies, bad and loopback URLs get 4xx;
#   rate limit per token (429).
#   item 14: job creation rate-limited per token (40 a minute: a 429 within 100 jobs);
#   item 22: audit entries name the actor (token id), source address, action, object and
#           result, are written for every mutating call and refusal, hash-chained (verified
#           here), and the table refuses an UPDATE.
# Jobs: preheat to single_seed_peer, all_peers (count) and ips; the chosen hosts hold the file
# (their stores; a later get costs the origin no byte); get_task names exactly the holders;
# delete_task removes it from every store; a job PENDING at a restart is resumed by the next
# start once its lease ran out (one with a credential in its URL is failed with a reason).
set -euo pipefail
vx=$1
name=manager_api
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
peer_lib_init

origin_start
sched_start --allow-outbound 127.0.0.0/8 --deny-outbound 10.0.0.0/8 --api-jobs-per-min 40 --job-lease 2
serve_start seed --seed --allow-outbound 127.0.0.0/8 # the origin is on loopback
serve_start p1
serve_start p2 --listen 127.0.0.3:0 # its own address, for the ips filter
head -c 3000000 /dev/urandom >"$dir/www/f1"
head -c 2000000 /dev/urandom >"$dir/www/f2"
head -c 1000000 /dev/urandom >"$dir/www/f3"
for f in f4 f5 f6; do head -c 500000 /dev/urandom >"$dir/www/$f"; done

# the bootstrap token, beside the running control plane
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap failed: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
[[ $admin =~ ^vxt_[0-9]+_[0-9a-f]{64}$ ]] || fail "bootstrap printed '$admin'"
(umask 077 && printf '%s\n' "$admin" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"

api() { api_at "$api_port" "$@"; }
expect() { expect_at "$api_port" "$@"; }

# ---- 5.5 item 1: every route but /healthy needs a token
expect 200 healthy GET /healthy >/dev/null
"$vx" scheduler --api-routes >"$dir/routes"
[ "$(wc -l <"$dir/routes")" -ge 8 ] || fail "route table too short"
for r in "GET /oapi/v1/cluster-config" "PUT /oapi/v1/cluster-config"; do # walked below
	grep -qx "$r" "$dir/routes" || fail "the route table lacks $r"
done
while read -r method path; do
	p=${path//\{id\}/1}
	[ "$p" = /healthy ] && continue
	expect 401 "$method $p without a token" "$method" "$p" '{}' >/dev/null
	expect 401 "$method $p with a bad token" "$method" "$p" '{}' "vxt_1_$(printf '0%.0s' {1..64})" >/dev/null
	expect 401 "$method $p with the token in the query" "$method" "$p?token=$admin&access_token=$admin" '{}' >/dev/null
done <"$dir/routes"
expect 401 "unknown path without a token" GET /oapi/v1/secret >/dev/null
expect 404 "unknown path with a token" GET /oapi/v1/secret - "$admin" >/dev/null

# ---- tokens and scopes
reader=$("$vx" token create --name reader --scopes job:read)
writer=$("$vx" token create --name writer --scopes job:read,job:write)
[[ $reader =~ ^vxt_ ]] || fail "token create printed '$reader'"
expect 403 "reader posts a job" POST /oapi/v1/jobs '{"type":"get_task","args":{"url":"http://x/"}}' "$reader" >/dev/null
expect 403 "writer preheats" POST /oapi/v1/jobs "{\"type\":\"preheat\",\"args\":{\"url\":\"http://127.0.0.1:$origin_port/f1\"}}" "$writer" >/dev/null
expect 403 "writer deletes a task" POST /oapi/v1/jobs '{"type":"delete_task","args":{"url":"http://x/"}}' "$writer" >/dev/null
expect 403 "reader reads the audit" GET /oapi/v1/audits - "$reader" >/dev/null
expect 403 "reader lists tokens" GET /oapi/v1/tokens - "$reader" >/dev/null
expect 200 "reader lists jobs" GET /oapi/v1/jobs - "$reader" >/dev/null
rid=${reader#vxt_}
rid=${rid%%_*}
"$vx" token revoke "$rid" >/dev/null || fail "token revoke failed"
expect 401 "a revoked token" GET /oapi/v1/jobs - "$reader" >/dev/null

# ---- bad input: clear 4xx
expect 400 "bad JSON" POST /oapi/v1/jobs '{"type":' "$admin" | grep -q "not JSON" || fail "bad JSON message"
expect 400 "unknown type" POST /oapi/v1/jobs '{"type":"mine_bitcoin"}' "$admin" | grep -q "unknown job type" || fail "unknown type message"
expect 400 "no url" POST /oapi/v1/jobs '{"type":"preheat","args":{}}' "$admin" >/dev/null
expect 400 "bad url" POST /oapi/v1/jobs '{"type":"preheat","args":{"url":"ftp://x/y"}}' "$admin" >/dev/null
expect 400 "metadata url" POST /oapi/v1/jobs '{"type":"preheat","args":{"url":"http://169.254.169.254/latest"}}' "$admin" | grep -q "outbound policy" || fail "metadata message"
expect 400 "a denied range" POST /oapi/v1/jobs '{"type":"preheat","args":{"url":"http://10.1.2.3/x"}}' "$admin" | grep -q "outbound policy" || fail "deny message"
expect 400 "bad scope" POST /oapi/v1/jobs '{"type":"preheat","args":{"url":"http://a/","scope":"everyone"}}' "$admin" >/dev/null
big=$(python3 -c 'print("{\"type\":\"gc\",\"args\":{\"x\":\"" + "a" * 70000 + "\"}}")')
expect 413 "oversized body" POST /oapi/v1/jobs "$big" "$admin" >/dev/null
expect 404 "no such job" GET /oapi/v1/jobs/999999 - "$admin" >/dev/null

url1="http://127.0.0.1:$origin_port/f1?Signature=topsecretsig"
url2="http://127.0.0.1:$origin_port/f2"
url3="http://127.0.0.1:$origin_port/f3"

# ---- preheat, single_seed_peer (the default): only the seed holds it
"$vx" preheat "$url1" --wait --timeout 60 --json >"$dir/pre1.json" || fail "preheat f1: $(cat "$dir/pre1.json")"
grep -q topsecretsig "$dir/pre1.json" && fail "a signature came back in a response"
python3 - "$dir/pre1.json" <<'PY' || fail "preheat f1 result"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "SUCCESS", j
r = j["result"]["job_states"][0]["results"][0]
assert len(r["success_tasks"]) == 1 and r["success_tasks"][0]["host_type"] == "super", r
assert r["failure_tasks"] == [], r
PY
[ "$(pieces_in_store seed)" -gt 0 ] || fail "the seed holds no piece after the preheat"
[ "$(pieces_in_store p1)" = 0 ] && [ "$(pieces_in_store p2)" = 0 ] || fail "a peer holds pieces after a single_seed_peer preheat"
"$vx" task stat "$url1" --json >"$dir/stat1.json" || fail "task stat f1"
python3 - "$dir/stat1.json" <<'PY' || fail "get_task f1 does not name exactly the seed"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert [p["host_type"] for p in r["peers"]] == ["super"], r
PY

# ---- preheat all_peers, count 2: the seed and one peer; then ips: the other one
"$vx" preheat "$url2" --scope all_peers --count 2 --wait --timeout 60 --json >"$dir/pre2.json" || fail "preheat f2: $(cat "$dir/pre2.json")"
python3 - "$dir/pre2.json" <<'PY' || fail "preheat f2 result"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert len(r["success_tasks"]) == 2 and r["failure_tasks"] == [], r
PY
"$vx" preheat "$url3" --scope all_peers --wait --timeout 60 --json >"$dir/pre3.json" || fail "preheat f3: $(cat "$dir/pre3.json")"
python3 - "$dir/pre3.json" <<'PY' || fail "preheat f3 result"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert len(r["success_tasks"]) == 3 and r["failure_tasks"] == [], r
PY
before=$(origin_body_bytes /f3)
[ "$before" -gt 0 ] || fail "the origin sent nothing for f3"
get p2 "$url3" "$dir/out/f3" --json
[ "$rc" = 0 ] || fail "get f3 after the preheat: $err"
cmp -s "$dir/out/f3" "$dir/www/f3" || fail "f3 differs"
[ "$(origin_body_bytes /f3)" = "$before" ] || fail "a get after the preheat cost the origin bytes"
"$vx" task stat "$url3" --json >"$dir/stat3.json" || fail "task stat f3"
python3 - "$dir/stat3.json" <<'PY' || fail "get_task f3 does not name the three holders"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert len(r["peers"]) == 3, r
PY

# ---- all_seed_peers (one seed here), ips (p2 alone, on 127.0.0.3), percentage (34% of 3: 2)
preheat_hosts() { # preheat_hosts FILE ARGS...: the success_tasks' ips, sorted, one line
	local f=$1
	shift
	"$vx" preheat "http://127.0.0.1:$origin_port/$f" --wait --timeout 60 --json "$@" >"$dir/$f.json" ||
		fail "preheat $f $*: $(cat "$dir/$f.json")"
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]; assert r["failure_tasks"]==[], r; print(" ".join(sorted(t["host_type"]+"@"+t["ip"] for t in r["success_tasks"])))' "$dir/$f.json"
}
[ "$(preheat_hosts f4 --scope all_seed_peers)" = "super@127.0.0.1" ] || fail "all_seed_peers: $(cat "$dir/f4.json")"
[ "$(preheat_hosts f5 --scope all_peers --ips 127.0.0.3)" = "normal@127.0.0.3" ] || fail "ips: $(cat "$dir/f5.json")"
"$vx" task stat "http://127.0.0.1:$origin_port/f5" --json >"$dir/stat5.json"
# p2 registered it, so the scheduler had the seed fetch it first (its seed trigger): the holders
# are p2 and the seed, never p1
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]; assert sorted(p["host_type"]+"@"+p["ip"] for p in r["peers"])==["normal@127.0.0.3","super@127.0.0.1"], r' "$dir/stat5.json" ||
	fail "get_task f5 does not name exactly p2 and the seed"
[ "$(preheat_hosts f6 --scope all_peers --percentage 34 | wc -w)" = 2 ] || fail "percentage: $(cat "$dir/f6.json")"
# concurrent_peer_count 1: the three hosts one after another, never two in flight
head -c 500000 /dev/urandom >"$dir/www/f7"
[ "$(preheat_hosts f7 --scope all_peers --concurrent-peers 1 | wc -w)" = 3 ] || fail "concurrent_peer_count: $(cat "$dir/f7.json")"
f7job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/f7.json")
grep "manager: job $f7job: .* told to fetch" "$dir/sched.log" >"$dir/f7.told" || true
[ "$(wc -l <"$dir/f7.told")" = 3 ] && ! grep -qv "(1 host(s), 1 blob(s) in flight)" "$dir/f7.told" ||
	fail "concurrent_peer_count 1: $(cat "$dir/f7.told")"

# ---- delete_task: gone from every store and from the scheduler
n3=$(python3 -c 'import os; print(1000000 // (4 << 20) + 1)')
"$vx" task rm "$url3" --json >"$dir/rm3.json" || fail "task rm f3: $(cat "$dir/rm3.json")"
python3 - "$dir/rm3.json" <<'PY' || fail "delete_task f3 result"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert len(r["success_tasks"]) == 3 and r["failure_tasks"] == [], r
PY
gone=0
for i in $(seq 100); do
	t=$(( $(pieces_in_store seed) + $(pieces_in_store p1) + $(pieces_in_store p2) ))
	before_f12=$t
	if ! grep -q "evicted" "$dir/seed.log" || ! grep -q "evicted" "$dir/p1.log" || ! grep -q "evicted" "$dir/p2.log"; then
		sleep 0.1
		continue
	fi
	gone=1
	break
done
[ "$gone" = 1 ] || fail "delete_task: not every daemon evicted the task"
: "$n3" "$before_f12"
"$vx" task stat "$url3" --json >"$dir/stat3b.json" || fail "task stat f3 after rm"
python3 - "$dir/stat3b.json" <<'PY' || fail "get_task after delete_task still names holders"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert r["peers"] == [] and r["partial_peers"] == [], r
PY
get p1 "$url3" "$dir/out/f3b" --json
[ "$rc" = 0 ] || fail "get f3 after the delete: $err"
[ "$(origin_body_bytes /f3)" -gt "$before" ] || fail "after delete_task the origin was not asked again"

# ---- rate limit per token: 40 a minute. One client posts until the first 429 (at most 100):
# the jobs accepted before it are at most the bucket (40) and what it refilled meanwhile (a
# process per POST took up to 1.4 s each under load, and the refill then kept up)
python3 - "$api_port" "$writer" >"$dir/rate.out" <<'PY' || fail "job rate limit: $(cat "$dir/rate.out")"
import http.client, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
h = {"Content-Type": "application/json", "Authorization": "Bearer " + tok}
t0, ok = time.monotonic(), 0
for i in range(100):
    c.request("POST", "/oapi/v1/jobs", body='{"type":"get_task","args":{"url":"http://x/"}}',
              headers=h)
    r = c.getresponse()
    r.read()
    if r.status == 429:
        break
    assert r.status in (200, 201), r.status
    ok += 1
else:
    raise SystemExit("no 429 after 100 jobs from one token (40 a minute)")
secs = time.monotonic() - t0
print("accepted %d in %.2f s before a 429" % (ok, secs))
assert ok <= 40 + int(secs * 40 / 60) + 1, "over 40 a minute"
PY

# ---- audit: every call recorded, chain intact, no secret
"$vx" audit ls --json >"$dir/audit.json" || fail "audit ls"
python3 - "$dir/audit.json" "$admin" <<'PY' || fail "audit"
import hashlib, json, sys
recs = json.load(open(sys.argv[1]))
raw = open(sys.argv[1]).read()
assert sys.argv[2] not in raw and "topsecretsig" not in raw, "a secret in the audit"
prev = recs[0]["prev"]
for r in recs:
    line = "|".join([prev, str(r["seq"]), str(r["time"]), str(r["token_id"]), r["source"],
                     r["action"], r["target"], str(r["result"])])
    assert r["prev"] == prev, r
    assert hashlib.sha256(line.encode()).hexdigest() == r["hash"], r
    prev = r["hash"]
results = [r["result"] for r in recs]
for code in (401, 403, 400, 413, 429, 200):
    assert code in results, code
assert any(r["action"].startswith("DELETE /oapi/v1/tokens/") for r in recs)
assert any("type=delete_task" in r["target"] for r in recs)
PY
for f in "$dir"/*.log "$dir"/*.out; do
	[ "$f" = "$dir/boot.out" ] && continue # where the bootstrap token is shown, once
	grep -q -e "$admin" -e topsecretsig "$f" && fail "a secret in $(basename "$f")"
done
python3 - "$dir/sched.db" <<'PY' || fail "the audit log accepted an update"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
try:
    db.execute("UPDATE mgr_audit SET result = 200")
    db.commit()
except sqlite3.DatabaseError:
    sys.exit(0)
sys.exit(1)
PY

# ---- a job PENDING when the control plane dies is resumed by the next start (its lease ran
# out); one whose URL carries a credential (kept in memory only) is failed with a reason
head -c 3000000 /dev/urandom >"$dir/www/resume" # 3 s at /slow/: still running at the kill
cp "$dir/www/resume" "$dir/www/big"
job=$(expect 200 "slow preheat" POST /oapi/v1/jobs "{\"type\":\"preheat\",\"args\":{\"url\":\"http://127.0.0.1:$origin_port/slow/resume\",\"timeout\":600}}" "$admin")
echo "$job" | grep -q '"state":"PENDING"' || fail "the slow preheat is not PENDING: $job"
jid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
job=$(expect 200 "signed preheat" POST /oapi/v1/jobs "{\"type\":\"preheat\",\"args\":{\"url\":\"http://127.0.0.1:$origin_port/slow/big?X-Amz-Signature=topsecretsig\",\"timeout\":600}}" "$admin")
sid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
kill -KILL "$sched_pid"
wait "$sched_pid" 2>/dev/null || true
sched_start "127.0.0.1:$sched_port" --allow-outbound 127.0.0.0/8 --job-lease 2
after=$(job_wait "$api_port" "$jid" "$admin" 300)
echo "$after" | grep -q '"state":"SUCCESS"' || fail "the resumed job: $after"
grep -q "job $jid (preheat): claimed here" "$dir/sched.log" ||
	fail "the job was not claimed by the restarted control plane"
# claimed in its turn (the restarted process may take it after the other one ended)
signed=$(job_wait "$api_port" "$sid" "$admin" 300)
echo "$signed" | grep -q '"state":"FAILURE"' && echo "$signed" | grep -q "credential" ||
	fail "a job with a credential PENDING at the restart: $signed"
for f in "$dir"/sched.log "$dir"/seed.log "$dir"/p1.log "$dir"/p2.log "$dir"/sched.db*; do grep -aq topsecretsig "$f" && fail "a signature in $(basename "$f")"; done
echo "PASS: $name"
