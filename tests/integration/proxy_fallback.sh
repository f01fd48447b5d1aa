#!/usr/bin/env bash
# proxy_fallback.sh: the registry mirror is never worse than the registry.
# - a swarm stalled mid-layer: daemon a holds the image; daemon b (no back-to-source, download
#   rate-limited so the client is mid-layer for seconds) streams a 6 MiB layer to a client
#   from a; after its first piece reached the client, a is frozen (SIGSTOP). b's mirror sees
#   no progress for proxy.fallback_after (1 s) and continues the same response from the
#   registry with a Range for the rest: the client gets the whole layer, byte-exact, and the
#   registry log shows that ranged GET;
# - an upstream that lies (fake_registry.py): about the content (bytes that do not match the
#   digest) and about the length (Content-Length larger than the body): the client never gets
#   a complete 200, and a second request is not served wrongly from the store either.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 15, 17.
set -euo pipefail
vx=$1
name=proxy_fallback
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
proxy_setup
big=$(head -1 "$dir/img/layers" | cut -d' ' -f1)
serve_start a --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port"
pa=$(mirror_port a)
curl -sf -o "$dir/a.blob" "http://127.0.0.1:$pa/v2/img/blobs/$big" || fail "pull through a"
cmp -s "$dir/a.blob" "$dir/img/blobs/${big#sha256:}" || fail "a: wrong bytes"

printf 'proxy:\n  fallback_after: 1s\ndownload:\n  rate_limit: 768KiB\n' >"$dir/b.yaml"
serve_start b --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" \
	--config "$dir/b.yaml" --no-back-to-source
pb=$(mirror_port b)
curl -s -o "$dir/b.blob" -w '%{http_code}' "http://127.0.0.1:$pb/v2/img/blobs/$big" \
	>"$dir/b.code" 2>"$dir/b.curl" &
cpid=$!
bg_pids+=("$cpid")
for i in $(seq 300); do
	[ "$(stat -c %s "$dir/b.blob" 2>/dev/null || echo 0)" -gt 0 ] && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
[ "$(stat -c %s "$dir/b.blob" 2>/dev/null || echo 0)" -gt 0 ] || fail "no first byte from b"
kill -STOP "${serve_pid[a]}"
for i in $(seq 600); do
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
kill -CONT "${serve_pid[a]}"
wait "$cpid" || fail "the client through b failed: $(cat "$dir/b.curl")"
[ "$(cat "$dir/b.code")" = 200 ] || fail "b answered $(cat "$dir/b.code")"
cmp -s "$dir/b.blob" "$dir/img/blobs/${big#sha256:}" || fail "b: wrong bytes after the fallback"
grep -q 'continuing from the upstream' "$dir/b.log" || fail "b did not fall back"
grep -qE "\"GET /v2/img/blobs/$big HTTP/1.1\" 206 [1-9]" "$dir/reg.log" ||
	fail "no ranged GET of the rest at the registry"

# upstreams that lie
fake_upstream_start
serve_start c --no-scheduler --proxy 127.0.0.1:0 --upstream "$fake_url"
pc=$(mirror_port c)
for kind in wrongbytes shortbody; do
	d=$(python3 "$here/proxy_fake_registry.py" --digest "$kind")
	for attempt in 1 2; do
		code=$(curl -s -o "$dir/lie.out" -w '%{http_code}' \
			"http://127.0.0.1:$pc/v2/lie/$kind/blobs/$d" 2>/dev/null) && rc=0 || rc=$?
		if [ "$rc" -eq 0 ] && [ "$code" = 200 ]; then
			fail "$kind (attempt $attempt): a complete 200 for content that is not $d"
		fi
	done
done
serve_stop c
serve_stop b
serve_stop a
echo "PASS: $name"
