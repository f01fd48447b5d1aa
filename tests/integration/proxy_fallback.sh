#!/usr/bin/env bash
# proxy_fallback.sh: the registry mirror is never worse than the registry.
# - a swarm stalled mid-layer: daemon a holds the image (its upload rate-limited); daemon b (no
#   back-to-source) streams a 6 MiB layer from byte 1 MiB on (a Range) to a client from a;
#   1.5 s in, a is frozen (SIGSTOP). b's mirror sees no byte arrive for
#   proxy.fallback_after (1 s) and continues the same response from the registry with a Range
#   for the rest: the client gets its range byte-exact, and the registry log shows that
#   ranged GET;
# - an upstream that lies (fake_registry.py): about the content (bytes that do not match the
#   digest) and about the length (Content-Length larger than the body): the client never gets
#   a complete 200, and a second request is not served wrongly from the store either.
# - a slow swarm that moves (a parent at 768 KiB/s, pieces of 4 MiB) is no stall: bytes of
#   unfinished pieces count as progress, so the mirror does not leave it for the registry;
# - a Range beyond what the task holds is served from the upstream at once (exactly that
#   range), and with proxy.prefetch the rest lands in the background (a later whole GET is
#   served from the store);
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
# a's upload is rate-limited too: a frozen a then has little in flight (the socket buffers of a
# fast a would hold the whole layer, and b would rightly see its bytes still arriving)
printf 'upload:\n  rate_limit: 768KiB\n' >"$dir/a.yaml"
serve_start a --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" --config "$dir/a.yaml"
pa=$(mirror_port a)
curl -sf -o "$dir/a.blob" "http://127.0.0.1:$pa/v2/img/blobs/$big" || fail "pull through a"
cmp -s "$dir/a.blob" "$dir/img/blobs/${big#sha256:}" || fail "a: wrong bytes"

printf 'proxy:\n  fallback_after: 1s\n' >"$dir/b.yaml"

# A slow swarm that moves is no stall: s gets the layer from a at 768 KiB/s, a 4 MiB piece
# takes over 5 s to finish, yet bytes keep arriving, so s never falls back within its 1 s.
serve_start s --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" \
	--config "$dir/b.yaml" --log-level debug
gets_before=$(grep -c "\"GET /v2/img/blobs/$big " "$dir/reg.log" || true)
curl -sf -o "$dir/s.blob" "http://127.0.0.1:$(mirror_port s)/v2/img/blobs/$big" ||
	fail "pull through s"
cmp -s "$dir/s.blob" "$dir/img/blobs/${big#sha256:}" || fail "s: wrong bytes"
! grep -q 'continuing from the upstream' "$dir/s.log" ||
	fail "s left a moving swarm for the registry"
[ "$(grep -c "\"GET /v2/img/blobs/$big " "$dir/reg.log" || true)" = "$gets_before" ] ||
	fail "s fetched the layer from the registry"
serve_stop s
serve_start b --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" \
	--config "$dir/b.yaml" --no-back-to-source
pb=$(mirror_port b)
# The client asks from byte 1 MiB on (mid piece 0): b's pieces land in no fixed order, so a
# Range is what makes the continuation start mid-layer every time. a is frozen 1.5 s in (b has
# bytes of pieces, none finished: a sends at 768 KiB/s).
off=1048576
curl -s -o "$dir/b.blob" -w '%{http_code}' -H "Range: bytes=$off-" \
	"http://127.0.0.1:$pb/v2/img/blobs/$big" >"$dir/b.code" 2>"$dir/b.curl" &
cpid=$!
bg_pids+=("$cpid")
sleep 1.5
kill -STOP "${serve_pid[a]}"
for i in $(seq 600); do
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
kill -CONT "${serve_pid[a]}"
wait "$cpid" || fail "the client through b failed: $(cat "$dir/b.curl")"
[ "$(cat "$dir/b.code")" = 206 ] || fail "b answered $(cat "$dir/b.code")"
tail -c +$((off + 1)) "$dir/img/blobs/${big#sha256:}" >"$dir/b.want"
cmp -s "$dir/b.blob" "$dir/b.want" || fail "b: wrong bytes after the fallback"
grep -q 'continuing from the upstream' "$dir/b.log" ||
	fail "b did not fall back: $(grep -E 'proxy|task' "$dir/b.log" | tail -5)"
grep -qE "\"GET /v2/img/blobs/$big HTTP/1.1\" 206 $(($(stat -c %s "$dir/b.want")))" \
	"$dir/reg.log" || fail "no ranged GET of the rest at the registry"

# A range beyond what the task holds (a lazy-pull snapshotter reading the end of a layer) is
# not made to wait for the prefix: it comes from the upstream at once, exactly that range; with
# proxy.prefetch the task runs on and lands whole in the background. e's only parent is a
# (768 KiB/s, 4 MiB pieces): its prefix is far from the end when the range is asked.
printf 'proxy:\n  prefetch: true\n' >"$dir/e.yaml"
serve_start e --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" --config "$dir/e.yaml" \
	--no-back-to-source
pe=$(mirror_port e)
size=$(stat -c %s "$dir/img/blobs/${big#sha256:}")
off=$((size - 1048581))
code=$(curl -s -o "$dir/e.part" -w '%{http_code}' -H "Range: bytes=$off-" \
	"http://127.0.0.1:$pe/v2/img/blobs/$big")
[ "$code" = 206 ] || fail "range beyond the prefix: answered $code"
cmp -s "$dir/e.part" <(tail -c 1048581 "$dir/img/blobs/${big#sha256:}") ||
	fail "range beyond the prefix: wrong bytes"
grep -q 'lie beyond what the task holds' "$dir/e.log" || fail "e waited for the prefix"
grep -qE "\"GET /v2/img/blobs/$big HTTP/1.1\" 206 1048581 " "$dir/reg.log" ||
	fail "no ranged GET of exactly that range at the registry"
wait_line "$dir/e.log" "task [0-9a-f]+ complete" "${serve_pid[e]}" "e's prefetch" >/dev/null
gets_before=$(grep -c "\"GET /v2/img/blobs/$big " "$dir/reg.log" || true)
curl -sf -o "$dir/e.blob" "http://127.0.0.1:$pe/v2/img/blobs/$big" || fail "whole blob from e"
cmp -s "$dir/e.blob" "$dir/img/blobs/${big#sha256:}" || fail "e: wrong bytes"
[ "$(grep -c "\"GET /v2/img/blobs/$big " "$dir/reg.log" || true)" = "$gets_before" ] ||
	fail "e's prefetched blob was fetched again"
serve_stop e

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
