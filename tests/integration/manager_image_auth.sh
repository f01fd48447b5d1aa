#!/usr/bin/env bash
# manager_image_auth.sh VX: an image preheat from a registry that wants credentials (Debian's
# docker-registry with htpasswd on loopback, behind the nginx front that logs blob bytes), the
# way Harbor's preheat provider calls Dragonfly's manager: args.username and args.password, or
# args.headers with an Authorization line.
#   - without credentials the job fails with the registry's refusal; with them it succeeds and
#     every chosen host holds every blob (the seed and the peers fetched with the job's
#     credentials, which reach them on the control channel, never the other peers' data plane);
#   - the password (and its Basic form) is in no answer, log line, audit record or database;
#   - a later pull of a layer through a daemon's registry mirror with the user's own
#     credentials costs the registry no more than the access proof (the preheated task is
#     private: no byte leaves without it);
#   - `vx preheat --username --password-file` and `-H` do the same from the CLI;
#   - header names that belong to the connection, credentials on other job types, a username
#     with ':' and a username beside an Authorization header are 400s.
# dragonfly-behaviour.md 5.5 item 2 (secrets never in responses, logs, audit); private content
# staying private is issue 16's authorization (no 5.5 item of its own).
set -euo pipefail
vx=$1
name=manager_image_auth
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
. "$here/registry_lib.sh"
registry_lib_init
. "$here/manager_lib.sh"
reg_start plain
python3 "$here/sources_registry_push.py" "http://$reg_direct" vx/app "$dir/push" \
	>"$dir/push.log" 2>&1 || fail "push failed: $(cat "$dir/push.log")"
reg_start htpasswd

sched_start --allow-outbound 127.0.0.0/8
serve_start seed --seed --allow-outbound 127.0.0.0/8 # the origin is on loopback
serve_start p1 --proxy 127.0.0.1:0 --upstream "http://$reg_front"
serve_start p2 --proxy 127.0.0.1:0 --upstream "http://$reg_front"
"$vx" token create --bootstrap --db "$dir/sched.db" 2>/dev/null | tail -n1 >"$dir/api.admin"
chmod 600 "$dir/api.admin"
admin=$(cat "$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"
basic=$(printf '%s:%s' "$reg_user" "$reg_pass" | base64 -w0)

manifest="http://$reg_front/v2/vx/app/manifests/multi"
body() { # body EXTRA_ARGS_JSON
	printf '{"type":"preheat","args":{"type":"image","url":"%s","platform":"linux/arm64","scope":"all_peers","timeout":60%s}}' "$manifest" "$1"
}
state_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["state"])' "$1"; }
id_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$1"; }

# refusals of the request itself
for bad in ',"headers":{"Host":"x"}' ',"headers":{"Range":"bytes=0-1"}' \
	',"headers":{"X-A":"a\u000d\u000ab: c"}' ',"username":"a:b","password":"c"' \
	',"username":"vx","password":"p","headers":{"authorization":"Basic eA=="}' \
	',"password":"p"' ',"headers":["Authorization: Basic eA=="]'; do
	expect_at "$api_port" 400 "preheat args $bad" POST /oapi/v1/jobs "$(body "$bad")" \
		"$admin" >/dev/null
done
expect_at "$api_port" 400 "credentials on get_task" POST /oapi/v1/jobs \
	'{"type":"get_task","args":{"url":"http://a/b","username":"vx","password":"p"}}' \
	"$admin" >/dev/null

# without credentials: the registry refuses, the job says so
got=$(expect_at "$api_port" 200 "preheat without credentials" POST /oapi/v1/jobs "$(body '')" "$admin")
got=$(job_wait "$api_port" "$(id_of "$got")" "$admin")
[ "$(state_of "$got")" = FAILURE ] || fail "a preheat without credentials: $got"

# with username and password
reg_log_reset
got=$(expect_at "$api_port" 200 "preheat with credentials" POST /oapi/v1/jobs \
	"$(body ",\"username\":\"$reg_user\",\"password\":\"$reg_pass\"")" "$admin")
case $got in *"$reg_pass"* | *"$basic"*) fail "the job's answer shows its password: $got" ;; esac
jid=$(id_of "$got")
got=$(job_wait "$api_port" "$jid" "$admin")
echo "$got" >"$dir/job.json"
python3 - "$dir/job.json" "$dir/push/expect.json" <<'PY' || fail "preheat with credentials: $got"
import json, sys
j = json.load(open(sys.argv[1]))
ex = json.load(open(sys.argv[2]))["platforms"]["arm64"]
assert j["state"] == "SUCCESS", j
r = j["result"]["job_states"][0]["results"][0]
assert r["failure_tasks"] == [], r
blobs = {ex["config"]["digest"]} | {l["digest"] for l in ex["layers"]}
got = {}
for t in r["success_tasks"]:
    got.setdefault(t["url"].rsplit("/", 1)[1], set()).add(t["hostname"])
assert set(got) == blobs, (got, blobs)
assert all(len(h) == 3 for h in got.values()), got
assert "password" not in j["args"] and "headers" not in j["args"], j["args"]
PY
layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["platforms"]["arm64"]["layers"][0]["digest"])' "$dir/push/expect.json")
size=$(python3 -c 'import json,sys; print([l["size"] for l in json.load(open(sys.argv[1]))["platforms"]["arm64"]["layers"]][0])' "$dir/push/expect.json")
sent=$(reg_blob_bytes "$layer") # one copy, and at most the one-byte stat probe
[ "$sent" -ge "$size" ] && [ "$sent" -le $((size + 1)) ] ||
	fail "the registry sent $sent bytes of the layer for 3 hosts, not one copy ($size)"

# a later pull through a daemon's registry mirror with the user's own credentials (the way a
# runtime pulls; a preheated blob is the mirror's task, its digest's id): only the access
# proof reaches the registry
mirror_of() { sed -nE 's/^vx serve: registry mirror on port ([0-9]+).*/\1/p' "$dir/$1.out"; }
reg_log_reset
curl -fsS -m 60 -u "$reg_user:$reg_pass" -o "$dir/out/layer" \
	"http://127.0.0.1:$(mirror_of p2)/v2/vx/app/blobs/$layer" ||
	fail "a preheated private layer through p2's mirror with credentials"
[ "sha256:$(sha256sum <"$dir/out/layer" | cut -d' ' -f1)" = "$layer" ] || fail "the layer differs"
[ "$(reg_blob_bytes "$layer")" -le 1 ] ||
	fail "the registry sent $(reg_blob_bytes "$layer") bytes of a preheated layer"
# and without credentials the private task gives nothing
code=$(curl -sS -m 60 -o "$dir/out/layer2" -w '%{http_code}' \
	"http://127.0.0.1:$(mirror_of p1)/v2/vx/app/blobs/$layer" || true)
[ "$code" = 401 ] || [ "$code" = 403 ] ||
	fail "a preheated private layer through p1's mirror without credentials answered $code"

# the CLI: --username with the password from a file, and -H, to the seed only
printf '%s\n' "$reg_pass" >"$dir/reg.pass"
chmod 600 "$dir/reg.pass"
"$vx" preheat "$manifest" --platform linux/amd64 --scope all_seed_peers --wait --timeout 60 \
	--username "$reg_user" --password-file "$dir/reg.pass" --json >"$dir/cli.json" ||
	fail "vx preheat --username: $(cat "$dir/cli.json")"
grep -q '"state":"SUCCESS"' "$dir/cli.json" || fail "vx preheat --username: $(cat "$dir/cli.json")"
"$vx" preheat "$manifest" --platform linux/arm64 --scope all_seed_peers --wait --timeout 60 \
	-H "Authorization: Basic $basic" --json >"$dir/cli2.json" ||
	fail "vx preheat -H: $(cat "$dir/cli2.json")"
grep -q '"state":"SUCCESS"' "$dir/cli2.json" || fail "vx preheat -H: $(cat "$dir/cli2.json")"

# a registry with a token service: the credentials buy the daemons' bearer tokens (a wrong
# password is refused by the token service, so the job fails)
reg_start token
got=$(expect_at "$api_port" 200 "preheat, token registry, wrong password" POST /oapi/v1/jobs \
	"$(body ",\"username\":\"$reg_user\",\"password\":\"wrong\",\"piece_length\":1048576")" "$admin")
got=$(job_wait "$api_port" "$(id_of "$got")" "$admin")
[ "$(state_of "$got")" = FAILURE ] || fail "a token registry took a wrong password: $got"
got=$(expect_at "$api_port" 200 "preheat, token registry" POST /oapi/v1/jobs \
	"$(body ",\"headers\":{\"Authorization\":\"Basic $basic\"},\"piece_length\":1048576")" "$admin")
got=$(job_wait "$api_port" "$(id_of "$got")" "$admin")
[ "$(state_of "$got")" = SUCCESS ] || fail "a token registry preheat with credentials: $got"

# the secret is nowhere it could be read back
"$vx" job ls --json >"$dir/jobs.json"
"$vx" audit ls --json >"$dir/audit.json"
for f in "$dir"/*.log "$dir"/*.out "$dir/jobs.json" "$dir/audit.json" "$dir/cli.json" \
	"$dir"/sched.db*; do
	[ -f "$f" ] || continue
	if grep -aqF -e "$reg_pass" -e "$basic" "$f"; then
		fail "the registry password is in $(basename "$f")"
	fi
done
echo "PASS: $name"
