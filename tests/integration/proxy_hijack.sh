#!/usr/bin/env bash
# proxy_hijack.sh: TLS interception of CONNECT tunnels (proxy.hijack.*) in `vx serve`, with curl
# as an HTTPS_PROXY client, a real nginx HTTPS origin and two daemons joined to a scheduler.
# The daemons run in a mount namespace of their own where the system CA bundle
# (/etc/ssl/certs/ca-certificates.crt) is the test's origin CA: they verify the origin against
# "the system store" without this host's store being touched.
# - a listed host (127.0.0.1): curl trusting only the vx CA gets the file byte-exact through
#   the proxy (a leaf minted for 127.0.0.1), and curl trusting only the origin's certificate
#   fails (it is not the origin's certificate it sees);
# - a rule-matched large file (.bin, the default rules) goes through P2P: fetched through
#   daemon a, then through daemon b, whose copy comes from peers: the origin's access log
#   shows its body sent once;
# - an unlisted host (localhost) is a plain tunnel: curl sees the origin's own certificate;
# - a plain absolute-form https:// request (not inside a tunnel) is 400, nothing fetched;
# - proxy.hijack.upstream_ca: daemons outside the namespace (the host's own store, which does
#   not know the origin): c, given the origin's CA in that file, serves the intercepted GET
#   byte-exact; d, without it, answers 502 (the origin is not trusted);
# - a CA key of mode 0644 stops `vx serve` (exit 1, the key named); hosts without a CA are
#   refused by `vx config check`.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 10 (TLS verification on
# outbound HTTPS: the origin is verified against the system store).
set -euo pipefail
vx=$1
name=proxy_hijack
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
for tool in openssl curl unshare mount; do
	command -v "$tool" >/dev/null || {
		echo "$name: needs $tool, skipping" >&2
		exit 77
	}
done
unshare -m true 2>/dev/null || {
	echo "$name: needs mount namespaces (root), skipping" >&2
	exit 77
}

# the origin's certificate, and the vx CA (key 0600)
tls_origin_start
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=vx test interception CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null)
make_file big.bin 3145733
printf 'small text\n' >"$dir/www/small.txt"
# the daemons' system store is the origin's certificate (their own mount namespace)
serve_wrap=(unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"'
	"$dir/origin.pem")
sched_start

# hstart NAME: vx serve NAME with interception of 127.0.0.1; its proxy port in $fp
hstart() {
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  connect:\n    ports: ["%s"]\n' \
		"$tls_port" >"$dir/$1.yaml"
	printf '  hijack:\n    hosts: ["^127\\\\.0\\\\.0\\\\.1$"]\n    ca_cert: %s\n    ca_key: %s\n' \
		"$dir/ca.pem" "$dir/ca.key" >>"$dir/$1.yaml"
	serve_start "$1" --config "$dir/$1.yaml"
	fp=$(mirror_port "$1")
}
hstart a
pa=$fp
hstart b
pb=$fp
origin=https://127.0.0.1:$tls_port

# a listed host: the vx CA's leaf, the origin's bytes
curl -sf -p -x "http://127.0.0.1:$pa" --cacert "$dir/ca.pem" --max-time 20 \
	-o "$dir/out/s.txt" "$origin/small.txt" || fail "intercepted GET small.txt"
cmp -s "$dir/out/s.txt" "$dir/www/small.txt" || fail "intercepted small.txt: wrong bytes"
grep -q "GET $origin/small.txt repo -: passed through" "$dir/a.log" ||
	fail "small.txt was not served by the forward path: $(grep proxy "$dir/a.log")"
curl -s -p -x "http://127.0.0.1:$pa" --cacert "$dir/origin.pem" --max-time 20 \
	-o /dev/null "$origin/small.txt" && fail "an intercepted tunnel showed the origin's certificate"

# a rule-matched large file through P2P: a from the origin, b from a
curl -sf -p -x "http://127.0.0.1:$pa" --cacert "$dir/ca.pem" --max-time 20 \
	-o "$dir/out/a.bin" "$origin/big.bin" || fail "intercepted GET big.bin through a"
cmp -s "$dir/out/a.bin" "$dir/www/big.bin" || fail "big.bin through a: wrong bytes"
want_id=$("$vx" task-id "$origin/big.bin")
grep -qE "proxy: .* GET $origin/big.bin repo - task ${want_id:0:12}: " "$dir/a.log" ||
	fail "big.bin did not go through P2P as task ${want_id:0:12}: $(grep proxy "$dir/a.log")"
sent=$(awk '$1 == "GET" && $2 == "/big.bin" && $5 != "\"bytes=0-0\"" { s += $4 }
	END { printf "%d\n", s }' "$dir/tls-access.log")
[ "$sent" -ge 3145733 ] || fail "the origin sent $sent bytes of big.bin to a"
curl -sf -p -x "http://127.0.0.1:$pb" --cacert "$dir/ca.pem" --max-time 20 \
	-o "$dir/out/b.bin" "$origin/big.bin" || fail "intercepted GET big.bin through b"
cmp -s "$dir/out/b.bin" "$dir/www/big.bin" || fail "big.bin through b: wrong bytes"
sent2=$(awk '$1 == "GET" && $2 == "/big.bin" && $5 != "\"bytes=0-0\"" { s += $4 }
	END { printf "%d\n", s }' "$dir/tls-access.log")
[ "$sent2" = "$sent" ] || fail "b fetched big.bin from the origin ($sent2 bytes sent, $sent before)"
grep -qE "GET $origin/big.bin repo - task ${want_id:0:12}: [1-9][0-9]* bytes from peers" \
	"$dir/b.log" || fail "b: big.bin did not come from peers: $(grep proxy "$dir/b.log")"

# an unlisted host: a plain tunnel, the origin's own certificate
curl -sf -p -x "http://127.0.0.1:$pa" --cacert "$dir/origin.pem" --max-time 20 \
	-o "$dir/out/l.txt" "https://localhost:$tls_port/small.txt" ||
	fail "an unlisted host did not see the origin's certificate"
grep -qE "CONNECT .* -> localhost:$tls_port: tunnel closed" "$dir/a.log" ||
	fail "localhost was not tunnelled untouched"
# an https:// target outside an intercepted tunnel is not the plain forward proxy's: 400
before=$(wc -l <"$dir/tls-access.log")
code=$(curl -s -o /dev/null -w '%{http_code}' --request-target "$origin/small.txt" \
	"http://127.0.0.1:$pa/") || true
[ "$code" = 400 ] || fail "an absolute https:// target answered $code, want 400"
[ "$(wc -l <"$dir/tls-access.log")" = "$before" ] || fail "an https:// target was fetched"
serve_stop a
serve_stop b

# proxy.hijack.upstream_ca: the origin's CA only in that file, the daemons' store the host's
serve_wrap=()
for n in c d; do
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  connect:\n    ports: ["%s"]\n' \
		"$tls_port" >"$dir/$n.yaml"
	printf '  hijack:\n    hosts: ["^127\\\\.0\\\\.0\\\\.1$"]\n    ca_cert: %s\n    ca_key: %s\n' \
		"$dir/ca.pem" "$dir/ca.key" >>"$dir/$n.yaml"
done
printf '    upstream_ca: %s\n' "$dir/origin.pem" >>"$dir/c.yaml"
serve_start c --no-scheduler --config "$dir/c.yaml"
serve_start d --no-scheduler --config "$dir/d.yaml"
curl -sf -p -x "http://127.0.0.1:$(mirror_port c)" --cacert "$dir/ca.pem" --max-time 20 \
	-o "$dir/out/c.txt" "$origin/small.txt" || fail "intercepted GET with proxy.hijack.upstream_ca"
cmp -s "$dir/out/c.txt" "$dir/www/small.txt" || fail "upstream_ca small.txt: wrong bytes"
code=$(curl -s -p -x "http://127.0.0.1:$(mirror_port d)" --cacert "$dir/ca.pem" --max-time 20 \
	-o /dev/null -w '%{http_code}' "$origin/small.txt") || true
[ "$code" = 502 ] || fail "an origin the daemon's store does not know answered $code, want 502"
serve_stop c
serve_stop d

# a CA key others may read stops the daemon
chmod 0644 "$dir/ca.key"
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  hijack:\n    hosts: [x]\n    ca_cert: %s\n    ca_key: %s\n' \
	"$dir/ca.pem" "$dir/ca.key" >"$dir/bad.yaml"
rc=0
timeout 20 "$vx" serve --config "$dir/bad.yaml" --data-dir "$dir/bad" \
	--listen 127.0.0.1:0 --socket "$dir/bad.sock" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
[ "$rc" -ne 0 ] || fail "vx serve started with a CA key of mode 0644"
grep -q "proxy.hijack.ca_key .*mode 0644" "$dir/bad.err" || fail "bad key mode: $(cat "$dir/bad.err")"
printf 'proxy:\n  forward: true\n  hijack:\n    hosts: [x]\n' >"$dir/bad2.yaml"
"$vx" config check "$dir/bad2.yaml" >"$dir/bad2.out" 2>&1 && fail "config check took hosts without a CA"
grep -q "proxy.hijack" "$dir/bad2.out" || fail "config check: $(cat "$dir/bad2.out")"
echo "PASS: $name"
