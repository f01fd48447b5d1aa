#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# peer_cluster_config: the cluster configuration document (issue 14, "Dynamic configuration";
# spec/manager.md, spec/control.md section 15, spec/peer.md). A real control plane and real
# daemons (a: its own file sets download.rate_limit; b: a seed started without --log-level and
# with /metrics; c: a peer that downloads from b):
#  0. no token: 401; a cluster:read token may GET but its PUT gets 403 and changes nothing;
#  1. a bad document (a host's own key, an unknown key, a bad value) is refused with 400 naming
#     the key, and the version stays 0;
#  2. PUT a small upload rate limit, log level debug and a second scheduler: the daemons apply
#     them (their logs name the version and the keys), a dials the second scheduler it was
#     never given, and b's level is live: the debug lines it did not write before now appear;
#  3. the rate limit is in force: while c downloads 8 MiB from b, the bytes b's /metrics
#     counts as uploaded in a fixed window stay within limit x window + one burst (without the
#     limit the whole file passes in that window);
#  4. a key the daemon's own file sets (download.rate_limit) is kept local; version 2 sets
#     the GC's watermarks and interval, and d (a 4 MiB store) evicts at once what the default
#     80 % kept, without a restart;
#  4c. version 3 sets proxy.rules and proxy.direct_rules: e's forward proxy, which passed the
#     URL through under its default rules, now sends it P2P, without a restart; a document with
#     a regex the proxy refuses is refused by the control plane (400, named: the same compiler
#     as the daemons'), nothing is stored and the running rules stay;
#  5. the control plane stopped, the daemons restarted: they use their cached copy (e's proxy
#     starts with version 3's rules and sends the URL P2P).
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): the route needs a token
# with cluster:admin to write (a cluster:read token gets 403, no token 401).
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
(umask 077 && printf '%s\n' "$admin" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"
reader=$("$vx" token create --name reader --scopes cluster:read) ||
	fail "token create --scopes cluster:read failed"
api() { # METHOD BODY_OR_EMPTY TOKEN -> prints "STATUS BODY"
	curl -s -o "$dir/api.body" -w '%{http_code}' -X "$1" ${3:+-H "Authorization: Bearer $3"} \
		${2:+--data-binary "$2"} "http://127.0.0.1:$api_port/oapi/v1/cluster-config"
}

# a second scheduler sharing the join tokens (its own database): the cluster names it
"$vx" scheduler --listen 127.0.0.1:0 --db "$dir/s2.db" --tokens "$sched_tokens" --no-api \
	>"$dir/s2.out" 2>"$dir/s2.log" &
s2_pid=$!
bg_pids+=("$s2_pid")
line=$(wait_line "$dir/s2.out" 'listening on port [0-9]+' "$s2_pid" "second scheduler")
s2_port=${line##* }

origin_start
make_file small 100000
make_file big $((8 * 1024 * 1024))
printf 'download:\n  rate_limit: 1MiB\n' >"$dir/a.yaml"
serve_start a --config "$dir/a.yaml"
serve_log_level='' serve_start b --seed --metrics 127.0.0.1:0
serve_start c
b_metrics=http://127.0.0.1:$(sed -n 's/^vx serve: metrics on port //p' "$dir/b.out")
uploaded() { # bytes b's /metrics counts as uploaded to peers
	curl -sf "$b_metrics/metrics" | awk '$1 ~ /^vx_upload_bytes_total/ { s += $2 }
		END { printf "%d\n", s }'
}
debug_re='peer: task [0-9a-f]{12}: [a-z]+ -> [a-z]+'

# 0. the route's scopes
[ "$(api PUT '{"log_level": "error"}' '')" = 401 ] || fail "PUT without a token: not 401"
[ "$(api GET '' '')" = 401 ] || fail "GET without a token: not 401"
st=$(api PUT '{"log_level": "error"}' "$reader")
[ "$st" = 403 ] || fail "PUT with a cluster:read token answered $st: $(cat "$dir/api.body")"
[ "$(api GET '' "$reader")" = 200 ] || fail "GET with a cluster:read token: $(cat "$dir/api.body")"
json version "$(cat "$dir/api.body")" | grep -qx 0 || fail "a refused PUT (403) changed the version"

# 1. refused, by name, and nothing changes
for bad in '{"host.ip": "10.0.0.1"}' '{"upload.rate_limt": "1MiB"}' \
	'{"upload.rate_limit": "fast"}' '{"storage.gc_low_percent": 90}' '[1]' \
	'{"proxy.rules": ["blobs/(sha256"]}' '{"proxy.direct_rules": ["a++"]}'; do
	st=$(api PUT "$bad" "$admin")
	[ "$st" = 400 ] || fail "bad document $bad answered $st: $(cat "$dir/api.body")"
done
grep -q "host.ip" <(api PUT '{"host.ip": "10.0.0.1"}' "$admin"; cat "$dir/api.body") ||
	fail "the refusal does not name the key: $(cat "$dir/api.body")"
# a regex the daemons' proxy would refuse is refused here, not handed to every daemon
grep -q 'proxy.rules\[0\]' <(api PUT '{"proxy.rules": ["blobs/(sha256"]}' "$admin"
	cat "$dir/api.body") || fail "a bad proxy.rules regex: $(cat "$dir/api.body")"
[ "$(api GET '' "$admin")" = 200 ] || fail "GET cluster-config failed"
json version "$(cat "$dir/api.body")" | grep -qx 0 || fail "a refused document changed the version"

# before: b (no --log-level, so info) writes no debug line for a download
get c "$base/small" "$dir/small.out"
[ "$rc" -eq 0 ] || fail "download of the small file: $err"
! grep -qE "$debug_re" "$dir/b.log" || fail "b wrote debug lines at log level info"

# 2. applied live
limit=$((256 * 1024))
# 192.0.2.1 (TEST-NET): these daemons talk to schedulers without TLS, so a scheduler the
# cluster adds beyond this host is not dialled (the hello would carry the join token in clear)
doc=$(printf '{"upload.rate_limit": "256KiB", "log_level": "debug", "download.rate_limit": "64MiB", "schedulers": ["127.0.0.1:%s", "192.0.2.1:8002"]}' "$s2_port")
st=$(api PUT "$doc" "$admin")
[ "$st" = 200 ] || fail "PUT answered $st: $(cat "$dir/api.body")"
line=$(wait_line "$dir/a.log" 'cluster config version 1 .*applied: ' "${serve_pid[a]}" \
	"the daemon applying version 1")
case $line in *schedulers*upload.rate_limit*) ;;
*) fail "the daemon did not apply the scheduler list and the upload limit: $line" ;; esac
wait_line "$dir/a.log" "scheduler 127.0.0.1:$s2_port joined the list" "${serve_pid[a]}" \
	"the daemon dialling the second scheduler" >/dev/null
grep -q "scheduler 192.0.2.1:8002 not dialled: this daemon talks to schedulers without TLS" \
	"$dir/a.log" || fail "a plaintext daemon took a remote scheduler from the cluster config"
! grep -q "192.0.2.1:8002 joined the list" "$dir/a.log" ||
	fail "a plaintext daemon dials a remote scheduler the cluster config named"
line=$(wait_line "$dir/b.log" 'cluster config version 1 .*applied: ' "${serve_pid[b]}" \
	"b applying version 1")
case $line in *log_level*upload.rate_limit*) ;;
*) fail "b did not apply the log level and the upload limit: $line" ;; esac
# vx status names the version b applied (its /metrics: vx_cluster_config_version)
st=$(timeout -k 5 30 "$vx" status --socket "$dir/b.sock" --metrics "${b_metrics#http://}") ||
	fail "vx status of b: $st"
grep -qx 'config:  cluster configuration version 1 applied' <<<"$st" ||
	fail "vx status does not show the applied cluster configuration: $st"

# 3. the limit measured: bytes b uploads in a fixed window while c downloads 8 MiB from it
b0=$(uploaded)
t0=$(date +%s%N)
get_bg c "$base/big" "$dir/big.out" big
sleep 3
b1=$(uploaded)
t1=$(date +%s%N)
# limit x elapsed, plus one burst (a tenth of a second, or a chunk) and a piece in flight
allowed=$((limit * (t1 - t0) / 1000000000 + 1024 * 1024))
[ $((b1 - b0)) -le "$allowed" ] ||
	fail "b uploaded $((b1 - b0)) bytes in $(((t1 - t0) / 1000000)) ms under a limit of $limit B/s (allowed $allowed)"
for _ in $(seq 200); do # and it does upload: the limit slows, it does not stop
	[ "$(uploaded)" -gt "$b0" ] && break
	sleep 0.1
done
[ "$(uploaded)" -gt "$b0" ] || fail "b uploaded nothing to c within 20 s"
# b's level is live: its own fetch of the file wrote debug lines
wait_line "$dir/b.log" "$debug_re" "${serve_pid[b]}" "a debug line from b" >/dev/null
serve_kill c
wait_gets

# 4. the daemon's own file wins
# (the harness's --log-level flag keeps log_level local as well)
wait_line "$dir/a.log" 'kept local .*download.rate_limit, log_level' "${serve_pid[a]}" \
	"the daemon keeping its own download.rate_limit" >/dev/null
[ -f "$dir/a/cluster-config.json" ] || fail "no cached copy in the data dir"

# 4b. the GC's watermarks and interval are live: d (a 4 MiB store) holds a file well below the
# default 80 %; version 2 sets 2 % / 1 % and a 1 s pass, and d evicts it without a restart
printf 'storage:\n  disk_limit: 4MiB\n' >"$dir/d.yaml"
serve_start d --config "$dir/d.yaml"
get d "$base/small" "$dir/small-d.out"
[ "$rc" -eq 0 ] || fail "d's download of the small file: $err"
[ "$(task_files d)" -gt 0 ] || fail "d holds no task file after its download"
st=$(api PUT '{"storage.gc_high_percent": 2, "storage.gc_low_percent": 1, "storage.gc_interval": "1s"}' "$admin")
[ "$st" = 200 ] || fail "PUT of version 2 answered $st: $(cat "$dir/api.body")"
line=$(wait_line "$dir/d.log" 'cluster config version 2 .*applied: ' "${serve_pid[d]}" \
	"d applying version 2")
case $line in *storage.gc_high_percent*storage.gc_low_percent*) ;;
*) fail "d did not apply the GC watermarks live: $line" ;; esac
wait_line "$dir/d.log" 'store: usage [0-9]+ of 4194304 bytes is above 2%: evicting down to 1%' \
	"${serve_pid[d]}" "d's GC pass under the new watermarks" >/dev/null
for _ in $(seq 100); do
	[ "$(task_files d)" -eq 0 ] && break
	sleep 0.1
done
[ "$(task_files d)" -eq 0 ] || fail "d kept the task its new watermarks evict"

# 4c. the forward proxy's rules are live: /small passes through under the default rules
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n' >"$dir/e.yaml"
serve_start e --config "$dir/e.yaml"
e_proxy=http://127.0.0.1:$(sed -n 's/^vx serve: registry mirror on port //p' "$dir/e.out")
p2p_lines() { grep -cE "GET $base/small repo - task [0-9a-f]{12}: " "$dir/e.log" || true; }
curl -sf -m 30 -x "$e_proxy" -o "$dir/e1" "$base/small" || fail "e: GET small (default rules)"
grep -q "GET $base/small repo -: passed through" "$dir/e.log" ||
	fail "e: /small was not passed through under the default rules"
st=$(api PUT '{"proxy.rules": ["/small$"], "proxy.direct_rules": ["\\.never$"]}' "$admin")
[ "$st" = 200 ] || fail "PUT of version 3 answered $st: $(cat "$dir/api.body")"
line=$(wait_line "$dir/e.log" 'cluster config version 3 .*applied: ' "${serve_pid[e]}" \
	"e applying version 3")
line=${line#*applied: }
case ${line%%; needs a restart*} in *proxy.rules*proxy.direct_rules*) ;;
*) fail "e did not apply the proxy rules live: $line" ;; esac
curl -sf -m 30 -x "$e_proxy" -o "$dir/e2" "$base/small" || fail "e: GET small (version 3)"
cmp -s "$dir/e2" "$dir/www/small" || fail "e: /small through P2P: wrong bytes"
[ "$(p2p_lines)" = 1 ] || fail "e: /small did not go P2P under version 3's rules"
st=$(api PUT '{"proxy.rules": ["a[b"]}' "$admin")
[ "$st" = 400 ] || fail "PUT of a bad proxy.rules regex answered $st: $(cat "$dir/api.body")"
grep -q 'proxy.rules\[0\]' "$dir/api.body" || fail "the 400 does not name proxy.rules[0]"
[ "$(api GET '' "$admin")" = 200 ] || fail "GET cluster-config failed"
json version "$(cat "$dir/api.body")" | grep -qx 3 || fail "the refused regex changed the version"
curl -sf -m 30 -x "$e_proxy" -o "$dir/e3" "$base/small" || fail "e: GET small (after the refusal)"
[ "$(p2p_lines)" = 2 ] || fail "e: the refused regex changed the running rules"

# 5. control plane gone: the daemons restart on their cached copy
kill -TERM "$sched_pid"
wait_gone "$sched_pid" "vx scheduler"
serve_stop a
: >"$dir/a.log"
serve_start a --config "$dir/a.yaml"
wait_line "$dir/a.log" 'using the cached cluster config' "${serve_pid[a]}" \
	"the daemon using its cached copy" >/dev/null
serve_stop e
: >"$dir/e.log"
serve_start e --config "$dir/e.yaml"
grep -q 'using the cached cluster config' "$dir/e.log" || fail "e did not use its cached copy"
grep -q 'proxy rules applied: 1 P2P rule(s), 1 direct rule(s)' "$dir/e.log" ||
	fail "e's proxy did not start with the cached rules: $(grep proxy "$dir/e.log")"
e_proxy=http://127.0.0.1:$(sed -n 's/^vx serve: registry mirror on port //p' "$dir/e.out")
curl -sf -m 30 -x "$e_proxy" -o "$dir/e4" "$base/small" || fail "e: GET small (cached rules)"
[ "$(p2p_lines)" = 1 ] || fail "e: /small did not go P2P under the cached rules"
echo "$name: ok"
