#!/usr/bin/env bash
# manager_jobs.sh VX: the management plane's job extras end to end (spec/manager.md): a job's
# webhook is called with the job when it ends and retried with back-off (a receiver that fails
# twice, then accepts: three calls, the last one taken, no more); a webhook the outbound policy
# refuses (link-local, cloud metadata) is a 400; sync_peers names the connected hosts.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5: outbound URLs (a webhook to a link-local
# address is refused unless allowed), no secret in a log (the webhook's query token).
set -euo pipefail
vx=$1
name=manager_jobs
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
peer_lib_init

origin_start
sched_start --allow-outbound 127.0.0.0/8 --job-lease 2
serve_start seed --seed --allow-outbound 127.0.0.0/8
serve_start p1
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
(umask 077 && printf '%s\n' "$admin" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"

python3 "$here/webhook_sink.py" "$dir/hook.log" 2 >"$dir/sink.out" 2>&1 &
sink_pid=$!
bg_pids+=("$sink_pid")
line=$(wait_line "$dir/sink.out" '^port [0-9]+' "$sink_pid" "webhook_sink.py")
hook="http://127.0.0.1:${line#port }/done?token=hooksecret"

# ---- a refused webhook: link-local (cloud metadata)
expect_at "$api_port" 400 "a link-local webhook" POST /oapi/v1/jobs '{"type":"sync_peers","webhook":"http://169.254.169.254/x"}' "$admin" |
	grep -q "webhook" || fail "the refusal does not name the webhook"
expect_at "$api_port" 400 "a webhook that is no URL" POST /oapi/v1/jobs '{"type":"sync_peers","webhook":"file:///etc/passwd"}' "$admin" >/dev/null

# ---- sync_peers: the seed and the peer
"$vx" job sync-peers --wait --json >"$dir/sync.json" || fail "sync-peers: $(cat "$dir/sync.json")"
python3 - "$dir/sync.json" <<'PY' || fail "sync_peers result: $(cat "$dir/sync.json")"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
assert sorted(p["host_type"] for p in r["peers"]) == ["normal", "super"], r
PY

# ---- a preheat with a webhook that fails twice, then accepts
head -c 300000 /dev/urandom >"$dir/www/w1"
"$vx" preheat "http://127.0.0.1:$origin_port/w1" --webhook "$hook" --wait --timeout 60 --json >"$dir/w1.json" ||
	fail "preheat w1: $(cat "$dir/w1.json")"
jid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/w1.json")
for i in $(seq 300); do
	[ "$(wc -l <"$dir/hook.log" 2>/dev/null || echo 0)" -ge 3 ] && break
	sleep 0.1
done
grep -q "job $jid: webhook .* called (attempt 3)" "$dir/sched.log" ||
	for i in $(seq 100); do
		grep -q "job $jid: webhook .* called (attempt 3)" "$dir/sched.log" && break
		sleep 0.1
	done
grep -q "job $jid: webhook .* called (attempt 3)" "$dir/sched.log" ||
	fail "the webhook was not taken at the third attempt: $(cat "$dir/hook.log" 2>/dev/null)"
python3 - "$dir/hook.log" "$jid" <<'PY' || fail "webhook calls: $(cat "$dir/hook.log")"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
assert [c["status"] for c in calls] == [500, 500, 200], calls
for c in calls:
    assert c["body"]["id"] == int(sys.argv[2]) and c["body"]["state"] == "SUCCESS", c
    assert c["body"]["type"] == "preheat", c
PY
# the job's answer and every log leave the webhook's token out
"$vx" job get "$jid" --json | grep -q hooksecret && fail "the webhook's token in a response"
for f in "$dir"/sched.log "$dir"/seed.log "$dir"/p1.log; do
	grep -q hooksecret "$f" && fail "the webhook's token in $(basename "$f")"
done
# the database holds the webhook's URL: private
for f in "$dir"/sched.db "$dir"/sched.db-wal; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$(basename "$f") is mode $(stat -c %a "$f")"
done

# ---- roles: a manager alone (the API on the same database, no scheduler) makes jobs that a
# scheduler runs; a scheduler-role process serves no API
"$vx" scheduler --role manager --db "$dir/sched.db" --api 127.0.0.1:0 --log-level info \
	>"$dir/mgr.out" 2>"$dir/mgr.log" &
mgr_pid=$!
bg_pids+=("$mgr_pid")
line=$(wait_line "$dir/mgr.out" 'api on port [0-9]+' "$mgr_pid" "vx scheduler --role manager")
m_api=${line##* }
"$vx" scheduler --api-routes >"$dir/routes"
while read -r method path; do
	p=${path//\{id\}/1}
	[ "$p" = /healthy ] && continue
	expect_at "$m_api" 401 "$method $p on the manager role without a token" "$method" "$p" '{}' >/dev/null
done <"$dir/routes"
job=$(expect_at "$m_api" 200 "sync_peers on the manager role" POST /oapi/v1/jobs '{"type":"sync_peers"}' "$admin")
echo "$job" | grep -q '"state":"PENDING"' || fail "the manager role ran a job itself: $job"
mid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$job")
out=$(job_wait "$m_api" "$mid" "$admin")
python3 -c 'import json,sys; r=json.loads(sys.argv[1])["result"]["job_states"][0]["results"][0]; assert sorted(p["host_type"] for p in r["peers"])==["normal","super"], r' "$out" ||
	fail "the manager role's job was not run by the scheduler: $out"
grep -q "job $mid (sync_peers): claimed here" "$dir/sched.log" || fail "the scheduler did not claim the manager's job"
"$vx" scheduler --role scheduler --listen 127.0.0.1:0 --db "$dir/s2.db" --manager-db "$dir/sched.db" \
	--tokens "$dir/sched.db.tokens" --api 127.0.0.1:0 >"$dir/s2.out" 2>"$dir/s2.log" &
s2_pid=$!
bg_pids+=("$s2_pid")
wait_line "$dir/s2.out" 'listening on port [0-9]+' "$s2_pid" "vx scheduler --role scheduler" >/dev/null
grep -q "api on port" "$dir/s2.out" "$dir/s2.log" && fail "the scheduler role serves the API"
echo "PASS: $name"
