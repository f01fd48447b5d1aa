#!/usr/bin/env bash
# cache_oapi.sh VX: the persistent cache in the open API (spec/manager.md):
# GET /oapi/v1/persistent-cache-tasks lists what `vx cache import` made (id, size,
# piece_length, replicas, holders, ttl_left_s, tag, application, created_at) to a job:read
# token and to nobody without one; the jobs persistent_cache_replicate (replicas 1 -> 2 places
# a copy), persistent_cache_import (a copy on the host args.ips names) and
# persistent_cache_delete (gone from every holder) run on the scheduler.
# Security list (shared/reference/dragonfly-behaviour.md 5.5): 1 (the new route needs a token
# and its scope).
set -euo pipefail
vx=$1
name=cache_oapi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
. "$here/cache_lib.sh"
peer_lib_init

sched_start
serve_start A
serve_start B
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
head -c 300000 /dev/urandom >"$dir/f.bin"
cache A import "$dir/f.bin" --replicas 1 --tag t1 --application app1 --ttl 1h
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
id=$out

expect_at "$api_port" 401 "the list without a token" GET /oapi/v1/persistent-cache-tasks >/dev/null
list=$(expect_at "$api_port" 200 "the list" GET /oapi/v1/persistent-cache-tasks - "$admin")
python3 - "$list" "$id" <<'PY' || fail "the list: $list"
import json, sys
l, want = json.loads(sys.argv[1]), sys.argv[2]
assert len(l) == 1, l
t = l[0]
assert t["id"] == want and t["size"] == 300000 and t["piece_length"] > 0, t
assert t["replicas"] == 1 and len(t["holders"]) == 1, t
assert 3500 < t["ttl_left_s"] <= 3600 and t["tag"] == "t1" and t["application"] == "app1", t
assert t["created_at"].endswith("Z"), t
PY

job() { # BODY: posts a job, waits, prints the final job
	local j jid
	j=$(expect_at "$api_port" 200 "job $1" POST /oapi/v1/jobs "$1" "$admin")
	jid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$j")
	job_wait "$api_port" "$jid" "$admin"
}
j=$(job '{"type":"persistent_cache_replicate","args":{"task_id":"'"$id"'","replicas":2}}')
case $j in *'"state":"SUCCESS"'*) ;; *) fail "replicate job: $j" ;; esac
wait_holders A "$id" 2
serve_start C
j=$(job '{"type":"persistent_cache_import","args":{"task_id":"'"$id"'","ips":["127.0.0.1"]}}')
case $j in *'"state":"SUCCESS"'*) ;; *) fail "import job: $j" ;; esac
wait_holders A "$id" 3
expect_at "$api_port" 400 "a replicate job without replicas" POST /oapi/v1/jobs \
	'{"type":"persistent_cache_replicate","args":{"task_id":"'"$id"'"}}' "$admin" >/dev/null
j=$(job '{"type":"persistent_cache_delete","args":{"task_id":"'"$id"'"}}')
case $j in *'"state":"SUCCESS"'*) ;; *) fail "delete job: $j" ;; esac
wait_gone "$id" A B C
list=$(expect_at "$api_port" 200 "the list after delete" GET /oapi/v1/persistent-cache-tasks - "$admin")
[ "$list" = "[]" ] || fail "the list after delete: $list"
echo "$name: ok"
