#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# peer_cluster_config: the cluster configuration document (issue 14, "Dynamic configuration";
# spec/manager.md, spec/control.md section 15, spec/peer.md). A real control plane and real
# daemons:
#  1. a bad document (a host's own key, an unknown key, a bad value) is refused with 400 naming
#     the key, and the version stays 0;
#  2. PUT a new upload rate limit, log level and a second scheduler: the daemon applies them
#     (its log names the version and the keys), and dials the second scheduler it was never
#     given;
#  3. a key the daemon's own file sets (download.rate_limit) is kept local;
#  4. the control plane stopped, the daemon restarted: it uses its cached copy.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): the route needs a token
# with cluster:admin to write (a cluster:read token gets 403).
set -euo pipefail
vx=$1
name=peer_cluster_config
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
command -v curl >/dev/null || { echo "$name: needs curl, skipping" >&2; exit 77; }

"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap failed: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
sched_start
api() { # METHOD BODY_OR_EMPTY TOKEN -> prints "STATUS BODY"
	curl -s -o "$dir/api.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
		${2:+--data-binary "$2"} "http://127.0.0.1:$api_port/oapi/v1/cluster-config"
}

# a second scheduler sharing the join tokens (its own database): the cluster names it
"$vx" scheduler --listen 127.0.0.1:0 --db "$dir/s2.db" --tokens "$sched_tokens" --no-api \
	>"$dir/s2.out" 2>"$dir/s2.log" &
s2_pid=$!
bg_pids+=("$s2_pid")
line=$(wait_line "$dir/s2.out" 'listening on port [0-9]+' "$s2_pid" "second scheduler")
s2_port=${line##* }

printf 'download:\n  rate_limit: 1MiB\n' >"$dir/a.yaml"
serve_start a --config "$dir/a.yaml"

# 1. refused, by name, and nothing changes
for bad in '{"host.ip": "10.0.0.1"}' '{"upload.rate_limt": "1MiB"}' \
	'{"upload.rate_limit": "fast"}' '{"storage.gc_low_percent": 90}' '[1]'; do
	st=$(api PUT "$bad" "$admin")
	[ "$st" = 400 ] || fail "bad document $bad answered $st: $(cat "$dir/api.body")"
done
grep -q "host.ip" <(api PUT '{"host.ip": "10.0.0.1"}' "$admin"; cat "$dir/api.body") ||
	fail "the refusal does not name the key: $(cat "$dir/api.body")"
[ "$(api GET '' "$admin")" = 200 ] || fail "GET cluster-config failed"
json version "$(cat "$dir/api.body")" | grep -qx 0 || fail "a refused document changed the version"

# 2. applied live
doc=$(printf '{"upload.rate_limit": "2MiB", "log_level": "debug", "download.rate_limit": "5MiB", "schedulers": ["127.0.0.1:%s"]}' "$s2_port")
st=$(api PUT "$doc" "$admin")
[ "$st" = 200 ] || fail "PUT answered $st: $(cat "$dir/api.body")"
line=$(wait_line "$dir/a.log" 'cluster config version 1 .*applied: ' "${serve_pid[a]}" \
	"the daemon applying version 1")
case $line in *schedulers*upload.rate_limit*) ;;
*) fail "the daemon did not apply the scheduler list and the upload limit: $line" ;; esac
wait_line "$dir/a.log" "scheduler 127.0.0.1:$s2_port joined the list" "${serve_pid[a]}" \
	"the daemon dialling the second scheduler" >/dev/null
# 3. the daemon's own file wins
# (the harness's --log-level flag keeps log_level local as well)
wait_line "$dir/a.log" 'kept local .*download.rate_limit, log_level' "${serve_pid[a]}" \
	"the daemon keeping its own download.rate_limit" >/dev/null
[ -f "$dir/a/cluster-config.json" ] || fail "no cached copy in the data dir"

# 4. control plane gone: the daemon restarts on its cached copy
kill -TERM "$sched_pid"
wait_gone "$sched_pid" "vx scheduler"
serve_stop a
: >"$dir/a.log"
serve_start a --config "$dir/a.yaml"
wait_line "$dir/a.log" 'using the cached cluster config' "${serve_pid[a]}" \
	"the daemon using its cached copy" >/dev/null
echo "$name: ok"
