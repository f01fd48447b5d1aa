#!/usr/bin/env bash
# manager_sync.sh VX [pg]: `vx sync` end to end (spec/manager.md "Syncs") with a real `vx scheduler
# --api`, a seed and an nginx origin serving the synced directory: a 1,000-object file://
# prefix (ten sub-directories) is preheated object by object, each fetched from the origin
# once (and a 10-object http:// prefix, nginx's autoindex listing, the same way); a second run
# with nothing changed preheats nothing, and a sync with an interval runs again by itself;
# preheats past the scheduler's tasks per host fail at once, named; a changed object is evicted and
# preheated again (fetched again), a new one preheated, a deleted one evicted (--delete); the
# state survives a restart of the control plane; max_objects bounds a run (nothing done past
# it); bad prefixes and missing scopes are refused with clear errors and store nothing; a sync
# whose token was revoked stops. With "pg", the manager's tables are in a real PostgreSQL
# (manager_lib.sh pg_start) instead of the sqlite file.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5: deny by default (a file:// prefix
# outside --sync-dir or a link in it to outside, a token without preheat or task:delete, a tenant's token: syncs span tenants), no credentials stored (a prefix
# with user-info), a revoked token stops acting.
set -euo pipefail
vx=$1
name=manager_sync${2:+_$2}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
[ "${2:-}" != pg ] || pg_need
peer_lib_init
mdb=("$dir/sched.db")
if [ "${2:-}" = pg ]; then
	pg_start
	mdb=("$uri")
fi
# a seed registers 16,384 tasks by default: 1,024 here, which the last part goes past
margs=(--allow-outbound 127.0.0.0/8 --sync-dir "$dir/www" --job-lease 2 --manager-db "${mdb[0]}"
	--seed-tasks-max 1024)

# 1,000 small objects in ten directories (the listing recurses)
mkdir -p "$dir/www/tree"
python3 - "$dir/www/tree" <<'PY'
import os, sys
for d in range(10):
    os.mkdir(os.path.join(sys.argv[1], "d%d" % d))
    for i in range(100):
        with open(os.path.join(sys.argv[1], "d%d" % d, "o%03d" % i), "wb") as f:
            f.write(b"%d-%d " % (d, i) * 20)
PY
# links out of --sync-dir, to a directory and to a file: never listed (stats say 1000)
mkdir -p "$dir/outside/sub" && echo secret >"$dir/outside/sub/key" && echo secret >"$dir/outside/key"
ln -s "$dir/outside" "$dir/www/tree/escape" && ln -s "$dir/outside/key" "$dir/www/tree/d0/key"
origin_start
sched_start "${margs[@]}"
serve_start seed --seed --allow-outbound 127.0.0.0/8
"$vx" token create --bootstrap --db "${mdb[0]}" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
(umask 077 && printf '%s\n' "$admin" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"
base="http://127.0.0.1:$origin_port/tree/"
prefix="file://$dir/www/tree/"

js() { # js FILE EXPR: prints EXPR of the JSON in FILE (j)
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
token_with() { # token_with SCOPES...: a token with these scopes (JSON list items)
	local IFS=,
	expect_at "$api_port" 200 "token $*" POST /oapi/v1/tokens "{\"name\":\"t$RANDOM\",\"scopes\":[$*]}" "$admin" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
origin_gets() { # GETs of the origin under /tree/ for content (a stat is "Range: bytes=0-0")
	grep '^GET /tree/' "$dir/access.log" | grep -vc '"bytes=0-0"$' || true
}

# ---- refused: nothing stored (one client for all the calls: each python start costs)
nopre=$(token_with '"job:read"' '"job:write"')
nodel=$(token_with '"job:read"' '"job:write"' '"preheat"')
# a tenant's token with every scope a sync needs: a sync's evictions would delete other
# tenants' tasks (delete_task jobs made outside the tenant check), so it is refused syncs
tenant=$(expect_at "$api_port" 200 "tenant token" POST /oapi/v1/tokens \
	'{"name":"ta","scopes":["job:read","job:write","preheat","task:delete"],"tenant":"team-a"}' "$admin" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$api_port" "$admin" "$nopre" "$nodel" "$prefix" "$base" "$dir" "$tenant" <<'PY' || fail "a refusal"
import http.client, json, sys
port, admin, nopre, nodel, prefix, base, d, tenant = sys.argv[1:]
def call(method, path, body=None, tok=admin):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    h = {"Authorization": "Bearer " + tok} if tok else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"null")
cases = [  # what, body, token, status, words of the message
    ("outside --sync-dir", {"prefix": "file:///etc/", "fetch_base": "http://127.0.0.1:1/"}, admin, 403, "--sync-dir"),
    ("a missing directory", {"prefix": "file://%s/www/nothere/" % d, "fetch_base": base}, admin, 400, "No such file"),
    # outside --sync-dir a missing path answers as an existing one: no probe of this host's files
    ("a missing directory outside", {"prefix": "file:///etc/nothere-vx/", "fetch_base": "http://127.0.0.1:1/"}, admin, 403, "--sync-dir"),
    ("no fetch_base", {"prefix": prefix}, admin, 400, "fetch_base"),
    ("user-info", {"prefix": "http://user:pw@127.0.0.1:1/x/"}, admin, 400, "credentials"),
    ("a signed query", {"prefix": "http://127.0.0.1:1/x/?X-Amz-Signature=s"}, admin, 400, "credentials"),
    ("an unknown scheme", {"prefix": "gopher://x/y"}, admin, 400, "prefix must be"),
    ("an unknown key", {"prefix": prefix, "fetch_base": base, "bogus": 1}, admin, 400, "unknown key bogus"),
    ("a bad preheat scope", {"prefix": prefix, "fetch_base": base, "preheat": {"scope": "everyone"}}, admin, 400, "preheat.scope"),
    ("a preheat url", {"prefix": prefix, "fetch_base": base, "preheat": {"url": "http://x/"}}, admin, 400, "preheat.url"),
    ("a short interval", {"prefix": prefix, "fetch_base": base, "interval": 2}, admin, 400, "interval"),
    ("no preheat scope", {"prefix": prefix, "fetch_base": base}, nopre, 403, "preheat scope"),
    ("--delete without task:delete", {"prefix": prefix, "fetch_base": base, "delete": True}, nodel, 403, "task:delete"),
    ("no token", {"prefix": prefix, "fetch_base": base}, "", 401, "bearer"),
    ("a tenant's token", {"prefix": prefix, "fetch_base": base, "delete": True}, tenant, 403, "tenant"),
]
for what, body, tok, want, words in cases:
    st, j = call("POST", "/oapi/v1/syncs", body, tok)
    assert st == want and words in j["message"], (what, st, j)
assert call("GET", "/oapi/v1/syncs") == (200, []), "a refused sync was stored"
assert call("POST", "/oapi/v1/syncs/99")[0] == 404
assert call("GET", "/oapi/v1/syncs/99", tok=nopre)[0] == 404
for m in ("GET", "POST", "DELETE"):  # another's sync, by id: not even its existence
    assert call(m, "/oapi/v1/syncs/99", tok=tenant)[0] == 403, m
assert call("GET", "/oapi/v1/syncs", tok=tenant)[0] == 403
PY

# ---- max_objects: a larger listing fails the run and stores nothing
"$vx" sync "$prefix" --fetch-base "$base" --max-objects 10 --wait --json >"$dir/small.json" 2>"$dir/small.err" &&
	fail "a sync past max_objects succeeded"
grep -q "more than max_objects (10)" "$dir/small.err" || fail "max_objects: $(cat "$dir/small.err")"
[ "$(js "$dir/small.json" 'j["objects"]')" = 0 ] || fail "max_objects: objects were stored"
"$vx" sync rm "$(js "$dir/small.json" 'j["id"]')" >/dev/null

# ---- the first run: every object preheated once
t0=$SECONDS
"$vx" sync "$prefix" --fetch-base "$base" --delete --max-concurrent 128 --wait --timeout 120 --json >"$dir/r1.json" ||
	fail "the first run: $(cat "$dir/r1.json")"
sid=$(js "$dir/r1.json" 'j["id"]')
[ "$(js "$dir/r1.json" 'j["last_stats"]')" = "{'listed': 1000, 'new': 1000, 'preheat': 1000, 'preheated': 1000, 'failed': 0}" ] ||
	fail "the first run's stats: $(cat "$dir/r1.json")"
echo "first run: $((SECONDS - t0)) s"
[ "$(origin_gets)" = 1000 ] || fail "the origin sent $(origin_gets) objects, not 1000"
# each object on the seed: its preheat job's successes name 1000 distinct tasks
job=$(js "$dir/r1.json" 'j["last_job"]')
expect_at "$api_port" 200 "job" GET "/oapi/v1/jobs/$job" - "$admin" >"$dir/job1.json"
[ "$(js "$dir/job1.json" 'len({t["task_id"] for t in j["result"]["job_states"][0]["results"][0]["success_tasks"]})')" = 1000 ] ||
	fail "the preheat job did not place 1000 tasks"

# ---- nothing changed: nothing preheated
"$vx" sync run "$sid" --wait --json >"$dir/r2.json" || fail "the second run: $(cat "$dir/r2.json")"
[ "$(js "$dir/r2.json" 'j["last_stats"]')" = "{'listed': 1000, 'unchanged': 1000, 'preheat': 0}" ] ||
	fail "the second run's stats: $(cat "$dir/r2.json")"
[ "$(origin_gets)" = 1000 ] || fail "an unchanged run fetched from the origin"

# ---- one changed, one new, one gone
printf 'changed content\n' >"$dir/www/tree/d3/o007"
printf 'new object\n' >"$dir/www/tree/d9/new"
rm "$dir/www/tree/d5/o050"
"$vx" sync run "$sid" --wait --json >"$dir/r3.json" || fail "the third run: $(cat "$dir/r3.json")"
python3 - "$dir/r3.json" <<'PY' || fail "the third run's stats: $(cat "$dir/r3.json")"
import json, sys
s = json.load(open(sys.argv[1]))["last_stats"]
want = {"listed": 1000, "unchanged": 998, "changed": 1, "new": 1, "gone": 1, "evicted": 1,
        "preheat": 2, "preheated": 2, "failed": 0}
assert s == want, s
PY
grep -q '^GET /tree/d3/o007 20[06] 16 ' "$dir/access.log" || fail "the changed object was not fetched again"
grep -q '^GET /tree/d9/new 20[06] 11 ' "$dir/access.log" || fail "the new object was not fetched"
[ "$(origin_gets)" = 1002 ] || fail "the third run fetched $(origin_gets) - 1000 objects, not 2"
# the gone object's task was evicted from the seed (a delete_task job that reached it)
expect_at "$api_port" 200 "jobs" GET "/oapi/v1/jobs?per_page=20" - "$admin" >"$dir/jobs.json"
[ "$(js "$dir/jobs.json" 'sum(1 for x in j if x["type"] == "delete_task" and x["state"] == "SUCCESS" and len(x["result"]["job_states"][0]["results"][0]["success_tasks"]) == 1)')" = 2 ] ||
	fail "the changed and the gone object were not evicted on the seed: $(cat "$dir/jobs.json")"

# ---- a restart keeps the state: nothing to do
kill -TERM "$sched_pid"
wait "$sched_pid" 2>/dev/null || true
sched_start "127.0.0.1:$sched_port" "${margs[@]}"
export VX_API="http://127.0.0.1:$api_port"
"$vx" sync get "$sid" --json >"$dir/r4.json"
[ "$(js "$dir/r4.json" '(j["runs"], j["objects"], j["state"])')" = "(3, 1000, 'idle')" ] ||
	fail "the state after a restart: $(cat "$dir/r4.json")"
"$vx" sync run "$sid" --wait --json >"$dir/r5.json" || fail "the run after the restart: $(cat "$dir/r5.json")"
[ "$(js "$dir/r5.json" 'j["last_stats"]')" = "{'listed': 1000, 'unchanged': 1000, 'preheat': 0}" ] ||
	fail "the run after the restart: $(cat "$dir/r5.json")"
[ "$(origin_gets)" = 1002 ] || fail "the run after the restart fetched from the origin"

# ---- an http directory listing as the prefix (nginx autoindex under /ls/): each object
# preheated once by the URL the listing gives, an unchanged second run preheats nothing. Ten
# objects: the seed holds 1,002 tasks here and the scheduler registers at most 1,024 for it
# (--seed-tasks-max); the next section goes past that
mkdir -p "$dir/www/flat"
for i in $(seq 10); do printf 'flat object %d\n' "$i" >"$dir/www/flat/f$i"; done
ls_gets() { grep '^GET /ls/flat/f' "$dir/access.log" | grep -vc '"bytes=0-0"$' || true; }
"$vx" sync "http://127.0.0.1:$origin_port/ls/flat/" --wait --timeout 60 --json >"$dir/h1.json" ||
	fail "a sync of an http listing: $(cat "$dir/h1.json")"
[ "$(js "$dir/h1.json" 'j["last_stats"]')" = "{'listed': 10, 'new': 10, 'preheat': 10, 'preheated': 10, 'failed': 0}" ] ||
	fail "the http listing's first run: $(cat "$dir/h1.json")"
[ "$(ls_gets)" = 10 ] || fail "the http listing's run fetched $(ls_gets) objects, not 10"
"$vx" sync run "$(js "$dir/h1.json" 'j["id"]')" --wait --json >"$dir/h2.json" ||
	fail "the http listing's second run: $(cat "$dir/h2.json")"
[ "$(js "$dir/h2.json" 'j["last_stats"]')" = "{'listed': 10, 'unchanged': 10, 'preheat': 0}" ] ||
	fail "the http listing's second run: $(cat "$dir/h2.json")"
[ "$(ls_gets)" = 10 ] || fail "an unchanged http listing was fetched again"

# ---- past the tasks the scheduler registers per host (1,024 here, --seed-tasks-max): 30 new objects
# for the seed holding ~1,012: those past the limit fail at once, named, and the job ends by
# itself (it waited for its timeout, "timed out", when a refused register left no trace)
mkdir -p "$dir/www/more"
for i in $(seq 30); do printf 'one more %d\n' "$i" >"$dir/www/more/m$i"; done
"$vx" sync "http://127.0.0.1:$origin_port/ls/more/" --wait --timeout 60 --json >"$dir/f1.json" 2>"$dir/f1.err" &&
	fail "a sync past the seed's task limit succeeded: $(cat "$dir/f1.json")"
python3 - "$dir/f1.json" <<'PY' || fail "a sync past the seed's task limit: $(cat "$dir/f1.json" "$dir/f1.err")"
import json, sys
j = json.load(open(sys.argv[1]))
s = j["last_stats"]
assert s["listed"] == 30 and s["failed"] > 0 and s["preheated"] + s["failed"] == 30, s
assert "some hosts failed" in j["last_error"], j["last_error"]
PY
expect_at "$api_port" 200 "job" GET "/oapi/v1/jobs/$(js "$dir/f1.json" 'j["last_job"]')" - "$admin" >"$dir/fjob.json"
[ "$(js "$dir/fjob.json" '{t["description"] for t in j["result"]["job_states"][0]["results"][0]["failure_tasks"]}')" = "{'the host holds as many tasks as the scheduler registers per host (--host-tasks-max, --seed-tasks-max)'}" ] ||
	fail "the refused preheats were not named: $(cat "$dir/fjob.json")"

# ---- an interval: the sync runs again by itself, without `vx sync run` (objects the seed
# holds already: nothing fetched)
"$vx" sync "file://$dir/www/tree/d4/" --fetch-base "${base}d4/" --interval 10 --json >"$dir/i1.json" ||
	fail "a sync with an interval: $(cat "$dir/i1.json")"
iid=$(js "$dir/i1.json" 'j["id"]')
for k in $(seq 400); do
	"$vx" sync get "$iid" --json >"$dir/i2.json"
	[ "$(js "$dir/i2.json" '(j["runs"] >= 2, j["state"])')" = "(True, 'idle')" ] && break
	sleep 0.1
done
[ "$(js "$dir/i2.json" '(j["runs"] >= 2, j["next_run"] is not None, j["last_stats"])')" = "(True, True, {'listed': 100, 'unchanged': 100, 'preheat': 0})" ] ||
	fail "a sync with a 10 s interval did not run again by itself within 40 s: $(cat "$dir/i2.json")"
[ "$(origin_gets)" = 1002 ] || fail "the interval's runs fetched from the origin"
"$vx" sync rm "$iid" >/dev/null

# ---- a sync whose token was revoked does nothing
mine=$(token_with '"job:read"' '"job:write"' '"preheat"')
python3 - "$api_port" "$admin" "$mine" "$dir" "$base" <<'PY' || fail "a revoked token's sync"
import http.client, json, sys, time
port, admin, mine, d, base = sys.argv[1:]
def call(method, path, body=None, tok=admin):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"null")
def wait_runs(sid, n):
    for _ in range(300):
        st, j = call("GET", "/oapi/v1/syncs/%d" % sid)
        if j["runs"] >= n and j["state"] == "idle":
            return j
        time.sleep(0.1)
    raise SystemExit("sync %d: no run %d: %s" % (sid, n, j))
st, j = call("POST", "/oapi/v1/syncs", {"prefix": "file://%s/www/tree/d1/" % d, "fetch_base": base + "d1/"}, mine)
assert st == 200, j
sid = j["id"]
j = wait_runs(sid, 1)
assert j["last_error"] is None and j["objects"] == 100, j
assert call("DELETE", "/oapi/v1/tokens/%s" % mine.split("_")[1])[0] == 200
assert call("POST", "/oapi/v1/syncs/%d" % sid)[0] == 200
j = wait_runs(sid, 2)
assert "revoked" in j["last_error"], j
assert call("DELETE", "/oapi/v1/syncs/%d" % sid)[0] == 200
assert call("GET", "/oapi/v1/syncs/%d" % sid)[0] == 404
PY

echo "PASS: $name"
