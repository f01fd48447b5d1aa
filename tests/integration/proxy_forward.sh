#!/usr/bin/env bash
# proxy_forward.sh: the HTTP forward proxy of `vx serve` (proxy.forward, proxy.rules), used as a
# client with HTTP_PROXY does (curl -x: absolute-form requests), against a real nginx origin.
# - off by default: a mirror-only daemon answers an absolute-form request 403, nothing fetched;
# - forward: true, default rules: a .tar goes through P2P with the task id `vx task-id URL`
#   gives (the same task as `vx get URL`), byte-exact, and a second pull is served from the
#   store (the origin sees no new body bytes); a Range of it is byte-exact; a .txt passes
#   through (the origin's answer, status and Last-Modified included); a 404 stays a 404;
# - rules: ['\.txt$'] sends the .txt through P2P instead, and the .tar passes through;
#   a rule with a back-reference or a bad regex stops the daemon (exit 1, the rule named);
# - malformed targets (user-info, a fragment, ftp://, a bad port, a bad host) are 400, and a
#   target over 2048 bytes is 414, nothing fetched;
# - the outbound policy: with source.deny_outbound 127.0.0.0/8 neither path reaches the
#   origin (403, the origin's log unchanged).
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 8 (SSRF: deny-listed
# targets), 12 (malformed input).
set -euo pipefail
vx=$1
name=proxy_forward
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
origin_start
make_file big.tar 3145733
printf 'small text\n' >"$dir/www/small.txt"
origin_lines() { wc -l <"$dir/access.log"; }
# fwd_start NAME [YAML LINES]: vx serve NAME with the forward proxy on (and YAML LINES of
# config), its proxy port in $fp
fwd_start() {
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n%b' "${2:-}" >"$dir/$1.yaml"
	serve_start "$1" --no-scheduler --config "$dir/$1.yaml"
	fp=$(mirror_port "$1")
}

# off by default
serve_start m --no-scheduler --proxy 127.0.0.1:0 --upstream "$base"
pm=$(mirror_port m)
before=$(origin_lines)
code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$pm" "$base/big.tar")
[ "$code" = 403 ] || fail "forward proxy off: answered $code, want 403"
[ "$(origin_lines)" = "$before" ] || fail "forward proxy off: the origin was asked"
serve_stop m

# forward: true, the default rules
fwd_start f
pf=$fp
px=(-x "http://127.0.0.1:$pf")
curl -sf "${px[@]}" -o "$dir/f1.tar" "$base/big.tar" || fail "GET big.tar through the proxy"
cmp -s "$dir/f1.tar" "$dir/www/big.tar" || fail "big.tar: wrong bytes"
want_id=$("$vx" task-id "$base/big.tar")
grep -qE "proxy: .* GET $base/big.tar repo - task ${want_id:0:12}: " "$dir/f.log" ||
	fail "big.tar did not go through P2P as task ${want_id:0:12}: $(grep proxy "$dir/f.log")"
sent=$(origin_body_bytes /big.tar)
curl -sf "${px[@]}" -o "$dir/f2.tar" "$base/big.tar" || fail "second GET big.tar"
cmp -s "$dir/f2.tar" "$dir/www/big.tar" || fail "big.tar (warm): wrong bytes"
[ "$(origin_body_bytes /big.tar)" = "$sent" ] || fail "the warm pull went to the origin again"
curl -sf "${px[@]}" -r 1048570-2097160 -o "$dir/f3.part" "$base/big.tar" || fail "Range"
cmp -s "$dir/f3.part" <(tail -c +1048571 "$dir/www/big.tar" | head -c 1048591 || true) ||
	fail "Range of big.tar: wrong bytes"
hdr=$(curl -sf "${px[@]}" -D - -o "$dir/s.txt" "$base/small.txt") || fail "GET small.txt"
cmp -s "$dir/s.txt" "$dir/www/small.txt" || fail "small.txt: wrong bytes"
grep -qi '^last-modified:' <<<"$hdr" || fail "small.txt: no Last-Modified passed back"
grep -q "GET $base/small.txt repo -: passed through" "$dir/f.log" ||
	fail "small.txt was not passed through"
code=$(curl -s "${px[@]}" -o /dev/null -w '%{http_code}' "$base/none.txt")
[ "$code" = 404 ] || fail "a missing file answered $code, want the origin's 404"

# malformed targets: 400 / 414, nothing fetched
before=$(origin_lines)
for t in "http://u:p@127.0.0.1:$origin_port/big.tar" "http://127.0.0.1:$origin_port/a#frag" \
	"ftp://127.0.0.1:$origin_port/big.tar" "http://127.0.0.1:0$origin_port/big.tar" \
	"http://127.0.0.1:99999/x" "http://-bad-.host/x" "http://[::1/x"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --request-target "$t" \
		"http://127.0.0.1:$pf/") || true
	[ "$code" = 400 ] || fail "target '$t' answered $code, want 400"
done
long="http://127.0.0.1:$origin_port/$(head -c 2100 /dev/zero | tr '\0' a)"
code=$(curl -s -o /dev/null -w '%{http_code}' --request-target "$long" "http://127.0.0.1:$pf/")
[ "$code" = 414 ] || fail "a 2100-byte target answered $code, want 414"
[ "$(origin_lines)" = "$before" ] || fail "a malformed target reached the origin"
serve_stop f

# rules: .txt through P2P, .tar passed through
fwd_start r '  rules: ["\\\\.txt$"]\n'
pr=$fp
curl -sf -x "http://127.0.0.1:$pr" -o "$dir/r.txt" "$base/small.txt" || fail "rules: small.txt"
cmp -s "$dir/r.txt" "$dir/www/small.txt" || fail "rules: small.txt wrong bytes"
curl -sf -x "http://127.0.0.1:$pr" -o "$dir/r.tar" "$base/big.tar" || fail "rules: big.tar"
cmp -s "$dir/r.tar" "$dir/www/big.tar" || fail "rules: big.tar wrong bytes"
grep -qE "GET $base/small.txt repo - task [0-9a-f]{12}: " "$dir/r.log" ||
	fail "rules: small.txt did not go through P2P"
grep -q "GET $base/big.tar repo -: passed through" "$dir/r.log" ||
	fail "rules: big.tar was not passed through"
serve_stop r
for bad in '["(a)\\1"]|back-references' '["a[b"]|proxy.rules[0]'; do
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  rules: %s\n' "${bad%%|*}" \
		>"$dir/bad.yaml"
	rc=0
	timeout 20 "$vx" serve --config "$dir/bad.yaml" --data-dir "$dir/bad" \
		--listen 127.0.0.1:0 --socket "$dir/bad.sock" >"$dir/bad.out" 2>"$dir/bad.err" ||
		rc=$?
	[ "$rc" -ne 0 ] || fail "rules ${bad%%|*}: vx serve started"
	grep -qF "${bad#*|}" "$dir/bad.err" || fail "rules ${bad%%|*}: $(cat "$dir/bad.err")"
done

# the outbound policy: a deny-listed origin is reached by neither path
fwd_start d 'source:\n  deny_outbound: [127.0.0.0/8]\n'
pd=$fp
before=$(origin_lines)
for f in big.tar small.txt; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$pd" "$base/$f")
	[ "$code" = 403 ] || fail "deny_outbound: $f answered $code, want 403"
done
[ "$(origin_lines)" = "$before" ] || fail "deny_outbound: the origin was reached"
serve_stop d
echo "PASS: $name"
