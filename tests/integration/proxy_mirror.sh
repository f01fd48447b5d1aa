#!/usr/bin/env bash
# proxy_mirror.sh: the registry mirror in `vx serve` (proxy/) with real parts: Debian's
# docker-registry holding a multi-layer image (6 MiB, 70000 B, 1 B and 0 B layers), a scheduler
# and two daemons with --proxy, and skopeo pulling through each mirror (registries.conf whose
# primary location is dead, so only the mirror can serve it).
# - every layer's digest checks, and the registry sent each blob body once for both pulls;
# - the same blob under another repository is the same task (no new registry send), also for
#   two clients asking at once under the two names;
# - Range answers are byte-exact at piece boundaries, suffix ranges, 416 past the end;
# - bad input: malformed names and digests (400), an oversize header (4xx), a method (405), an
#   ns= naming a host that is not a configured upstream (403, nothing fetched: the open-mirror
#   SSRF of dragonfly-behaviour.md 5.5 item 8), and the answers are JSON errors.
# - a's /metrics counts the proxy's requests by result and its cache hits and misses.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 8, 13, 15.
set -euo pipefail
vx=$1
name=proxy_mirror
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
proxy_setup
serve_start a --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" --metrics 127.0.0.1:0
printf 'proxy:\n  max_header_size: 8KiB\n' >"$dir/b.yaml"
serve_start b --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" --config "$dir/b.yaml"
pa=$(mirror_port a)
pb=$(mirror_port b)

pull() { # pull NAME PORT: skopeo through the mirror on PORT into $dir/out/NAME
	cat >"$dir/$1.conf" <<EOC
[[registry]]
prefix = "mirror.test"
location = "127.0.0.1:1"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:$2"
insecure = true
EOC
	timeout 60 skopeo --registries-conf "$dir/$1.conf" copy --insecure-policy \
		docker://mirror.test/img:v1 "dir:$dir/out/$1" >"$dir/$1.skopeo" 2>&1 ||
		fail "skopeo through mirror $1: $(cat "$dir/$1.skopeo")"
	local d size
	while read -r d size; do
		[ -f "$dir/out/$1/${d#sha256:}" ] || fail "$1: layer $d missing"
		[ "sha256:$(sha256sum <"$dir/out/$1/${d#sha256:}" | cut -d' ' -f1)" = "$d" ] ||
			fail "$1: layer $d does not match its digest"
	done <"$dir/img/layers"
}
# two clients at once on a, under two names: one task (the registry count below)
big=$(head -1 "$dir/img/layers" | cut -d' ' -f1)
bighex=${big#sha256:}
two_pids=()
for repo in img other; do
	curl -sf -o "$dir/two.$repo" "http://127.0.0.1:$pa/v2/$repo/blobs/$big" &
	bg_pids+=($!)
	two_pids+=($!)
done
for pid in "${two_pids[@]}"; do
	wait "$pid" || fail "a concurrent client failed"
done
for repo in img other; do
	cmp -s "$dir/two.$repo" "$dir/img/blobs/$bighex" || fail "concurrent client ($repo): wrong bytes"
done
pull a "$pa"
pull b "$pb"

# each blob body left the registry once for both pulls (b got it from a or from the task)
while read -r d size; do
	[ "$size" -gt 0 ] || continue
	sent=$(blob_sends "$dir/reg.log" "${d#sha256:}")
	[ "$sent" -le $((size + 2)) ] ||
		fail "blob $d ($size B): the registry sent $sent body bytes for two pulls"
done <"$dir/img/layers"
grep -q 'bytes from peers' "$dir/b.log" || fail "b logged no proxied blob request"

# the same blob under another name: same task, no new send
curl -sf -o "$dir/other.blob" "http://127.0.0.1:$pb/v2/other/blobs/$big" ||
	fail "blob under another repository"
cmp -s "$dir/other.blob" "$dir/img/blobs/$bighex" || fail "blob under another name differs"
sent=$(blob_sends "$dir/reg.log" "$bighex")
[ "$sent" -le $((6 * 1048576 + 5 + 2)) ] || fail "a blob under a second name was fetched again"

# Range answers, byte-exact (pieces are 4 MiB here: 4194303-4194304 crosses one)
range_check() { # range_check PORT RANGE START LEN
	local code
	code=$(curl -s -o "$dir/range.out" -w '%{http_code}' -H "Range: bytes=$2" \
		"http://127.0.0.1:$1/v2/img/blobs/$big")
	[ "$code" = 206 ] || fail "Range $2: HTTP $code"
	python3 -c 'import sys; f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]))
sys.stdout.buffer.write(f.read(int(sys.argv[3])))' "$dir/img/blobs/$bighex" "$3" "$4" >"$dir/range.want"
	cmp -s "$dir/range.out" "$dir/range.want" || fail "Range $2: wrong bytes"
}
range_check "$pb" 0-0 0 1
range_check "$pb" 4194303-4194304 4194303 2
range_check "$pb" 4194304- 4194304 $((2 * 1048576 + 5))
range_check "$pb" -7 $((6 * 1048576 - 2)) 7
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Range: bytes=$((7 * 1048576))-" \
	"http://127.0.0.1:$pb/v2/img/blobs/$big")
[ "$code" = 416 ] || fail "Range past the end: HTTP $code, want 416"

# 1-byte and 0-byte blobs through a fresh daemon's mirror
while read -r d size; do
	[ "$size" -le 1 ] || continue
	curl -sf -o "$dir/small.out" "http://127.0.0.1:$pa/v2/img/blobs/$d" || fail "$size-byte blob"
	[ "sha256:$(sha256sum <"$dir/small.out" | cut -d' ' -f1)" = "$d" ] ||
		fail "$size-byte blob: wrong content"
done <"$dir/img/layers"

# bad input: clear 4xx, JSON errors
expect_http() { # expect_http CODE WHAT curl-args...
	local want=$1 what=$2 code
	shift 2
	code=$(curl -s -o "$dir/err.out" -w '%{http_code}' "$@")
	[ "$code" = "$want" ] || fail "$what: HTTP $code, want $want"
}
expect_http 400 "upper-case name" "http://127.0.0.1:$pa/v2/Img/blobs/$big"
expect_http 400 "short digest" "http://127.0.0.1:$pa/v2/img/blobs/sha256:abc"
expect_http 400 "upper-case hex" "http://127.0.0.1:$pa/v2/img/blobs/sha256:${bighex^^}"
expect_http 400 "tag for a blob" "http://127.0.0.1:$pa/v2/img/blobs/latest"
expect_http 400 "dot-dot name" "http://127.0.0.1:$pa/v2/a/../b/manifests/v1" --path-as-is
expect_http 404 "uploads" "http://127.0.0.1:$pa/v2/img/blobs/uploads/"
expect_http 405 "POST" -X POST "http://127.0.0.1:$pa/v2/img/blobs/uploads/"
grep -q '"errors"' "$dir/err.out" || fail "error answers are not distribution JSON errors"
expect_http 403 "ns of another host" "http://127.0.0.1:$pa/v2/img/manifests/v1?ns=169.254.169.254"
# b's max_header_size: 8 KiB: a 6 KiB header passes, a 10 KiB one is a 4xx (a's 16 KiB
# default takes 10 KiB)
hdr() { python3 -c "print('a' * $1)"; }
expect_http 200 "6 KiB header" -H "X-Big: $(hdr 6000)" "http://127.0.0.1:$pb/v2/"
expect_http 200 "10 KiB header, default limit" -H "X-Big: $(hdr 10000)" "http://127.0.0.1:$pa/v2/"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(hdr 10000)" \
	"http://127.0.0.1:$pb/v2/" || true)
case $code in 4??) ;; *) fail "oversize header: HTTP $code, want 4xx" ;; esac
# manifests by tag and by digest pass through, with the registry's digest header
curl -sf -D "$dir/h.out" -o "$dir/man.json" \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://127.0.0.1:$pa/v2/img/manifests/v1?ns=127.0.0.1:$reg_port" || fail "manifest by tag"
md=$(grep -i '^docker-content-digest:' "$dir/h.out" | tr -d '\r' | cut -d' ' -f2)
curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://127.0.0.1:$pa/v2/img/manifests/$md" >/dev/null || fail "manifest HEAD by digest"
curl -sf "http://127.0.0.1:$pa/v2/img/tags/list" | grep -q '"v1"' || fail "tag list"
# a's /metrics counted what it did: blobs through P2P, manifests and tags from the upstream,
# the 4xx above refused, and blob answers from a finished task (the second 1-byte read) as hits
mp=$(sed -n 's/^vx serve: metrics on port //p' "$dir/a.out")
curl -sf "http://127.0.0.1:$mp/metrics" >"$dir/a.metrics" || fail "a's /metrics"
metric() { awk -v k="$1" '$1 == k { print $2 }' "$dir/a.metrics"; }
for k in 'vx_proxy_requests_total{result="p2p"}' 'vx_proxy_requests_total{result="upstream"}' \
	'vx_proxy_requests_total{result="refused"}' 'vx_proxy_cache_requests_total{cache="hit"}' \
	'vx_proxy_cache_requests_total{cache="miss"}'; do
	v=$(metric "$k")
	[ -n "$v" ] && [ "${v%.*}" -ge 1 ] || fail "a's $k is '${v:-absent}'"
done
serve_stop a
serve_stop b
echo "PASS: $name"
