#!/usr/bin/env bash
# proxy_private.sh: private registry content stays private through the mirror (issue 13
# "Private content stays private"; shared/reference/dragonfly-behaviour.md 5.5 items 2, 17).
# A docker-registry with htpasswd auth; daemon a pulls the image with credentials through its
# mirror (skopeo: the 401 / Basic handshake passes through), so a's store holds every blob,
# and b, on the same scheduler, can fetch them from a. The attack: clients without
# credentials, and with a wrong password, ask a (which holds the blob) and b for each layer,
# whole and as a Range, and HEAD: each gets the registry's 401 and not one byte of the blob.
# A client with the right credentials through b gets the layer from the swarm. The password
# (and its Basic form) appears in no daemon or scheduler log. A repository the operator
# declared public (proxy.public_repositories) is served from the store without credentials,
# under that name only.
set -euo pipefail
vx=$1
name=proxy_private
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
command -v htpasswd >/dev/null || { echo "$name: needs htpasswd, skipping" >&2; exit 77; }
pass=pw-SECRET-1313
htpasswd -Bbn vxuser "$pass" >"$dir/htpasswd" 2>/dev/null
proxy_setup "$dir/htpasswd" "vxuser:$pass"
# a declares repository "other" public (it holds the same big layer as "img")
printf 'proxy:\n  public_repositories: [other, "team/*"]\n' >"$dir/a.yaml"
serve_start a --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port" --config "$dir/a.yaml"
serve_start b --proxy 127.0.0.1:0 --upstream "http://127.0.0.1:$reg_port"
pa=$(mirror_port a)
pb=$(mirror_port b)

cat >"$dir/a.conf" <<EOC
[[registry]]
prefix = "mirror.test"
location = "127.0.0.1:1"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:$pa"
insecure = true
EOC
# skopeo takes a mirror's credentials from an auth file (--src-creds covers the primary only)
(umask 077 && printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$pa" \
	"$(printf 'vxuser:%s' "$pass" | base64)" >"$dir/auth.json")
timeout 60 skopeo --registries-conf "$dir/a.conf" copy --insecure-policy \
	--src-authfile "$dir/auth.json" docker://mirror.test/img:v1 "dir:$dir/out/a" \
	>"$dir/a.skopeo" 2>&1 || fail "authorized skopeo pull through a: $(cat "$dir/a.skopeo")"

no_bytes() { # no_bytes PORT WHAT DIGEST curl-args...: 401 and nothing of the blob
	local port=$1 what=$2 d=$3 code
	shift 3
	code=$(curl -s -o "$dir/leak.out" -w '%{http_code}' "$@" \
		"http://127.0.0.1:$port/v2/img/blobs/$d" || true)
	[ "$code" = 401 ] || fail "$what: HTTP $code, want 401"
	if [ -s "$dir/leak.out" ] && grep -qF -f <(head -c 64 "$dir/img/blobs/${d#sha256:}" |
		od -An -tx1 | tr -d ' \n') <(od -An -tx1 "$dir/leak.out" | tr -d ' \n'); then
		fail "$what: blob bytes in the answer"
	fi
}
while read -r d size; do
	[ "$size" -ge 64 ] || continue
	[ "sha256:$(sha256sum <"$dir/out/a/${d#sha256:}" | cut -d' ' -f1)" = "$d" ] ||
		fail "authorized pull: $d wrong"
	for p in "$pa" "$pb"; do
		no_bytes "$p" "no credentials, port $p" "$d"
		no_bytes "$p" "wrong password, port $p" "$d" -u "vxuser:wrong"
		no_bytes "$p" "no credentials, Range, port $p" "$d" -H 'Range: bytes=0-63'
		no_bytes "$p" "no credentials, HEAD, port $p" "$d" -I
	done
done <"$dir/img/layers"
# the right credentials through b: from the swarm
big=$(head -1 "$dir/img/layers" | cut -d' ' -f1)
curl -sf -u "vxuser:$pass" -o "$dir/b.blob" "http://127.0.0.1:$pb/v2/img/blobs/$big" ||
	fail "authorized pull through b"
cmp -s "$dir/b.blob" "$dir/img/blobs/${big#sha256:}" || fail "b: wrong bytes"
# proxy.public_repositories: a's store serves the layer named under "other" without
# credentials; under "img" it stays 401 (the declaration covers the name asked for)
curl -sf -o "$dir/pub.blob" "http://127.0.0.1:$pa/v2/other/blobs/$big" ||
	fail "a public repository's blob without credentials"
cmp -s "$dir/pub.blob" "$dir/img/blobs/${big#sha256:}" || fail "public blob: wrong bytes"
no_bytes "$pa" "no credentials after a public read" "$big"
basic=$(printf 'vxuser:%s' "$pass" | base64)
for f in "$dir"/a.log "$dir"/b.log "$dir"/sched.log "$dir"/a.out "$dir"/b.out; do
	! grep -qF -e "$pass" -e "$basic" "$f" || fail "a credential in $(basename "$f")"
done
serve_stop a
serve_stop b
echo "PASS: $name"
