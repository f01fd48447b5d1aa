#!/usr/bin/env bash
# front_tls.sh VX: TLS on the front doors.
# - `vx scheduler --api` with --api-tls-cert/--api-tls-key serves the management API over
#   HTTPS (libmicrohttpd's GnuTLS): curl trusting only the test CA gets /healthy and, with the
#   admin token, /oapi/v1/jobs; a plain HTTP request to that port gets no HTTP answer; curl
#   without the CA refuses the certificate; a key of mode 0644 stops the scheduler (exit 1, the
#   key named).
# - An --api address that is not loopback (this host's first global address, when it has one)
#   is refused without TLS (exit 2, naming --api-tls-cert) and served with it.
# - `vx serve` with proxy.tls.cert/proxy.tls.key serves the registry mirror over HTTPS: curl
#   with the CA gets /v2/ from the upstream through it, plain HTTP and curl without the CA get
#   nothing; on this host's global address the mirror is refused without proxy.tls (exit 2,
#   naming proxy.tls.cert) and served with it; `vx init containerd --mirror https://...
#   --mirror-ca CA` writes the https mirror with containerd's "ca" key.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 1 (the open API: tokens
# never cross the network in the clear), 10 (TLS verification: clients verify against the CA).
set -euo pipefail
vx=$1
name=front_tls
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
for tool in openssl curl; do
	command -v "$tool" >/dev/null || {
		echo "$name: needs $tool, skipping" >&2
		exit 77
	}
done

# a CA and a server certificate for 127.0.0.1, 127.0.0.2 and this host's global address
gaddr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }' || true)
san="IP:127.0.0.1,IP:127.0.0.2,DNS:localhost${gaddr:+,IP:$gaddr}"
front_cert "$san"

# the API over HTTPS on 127.0.0.2
sched_start --api 127.0.0.2:0 --api-tls-cert "$dir/front.pem" --api-tls-key "$dir/front.key"
base=https://127.0.0.2:$api_port
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap failed: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" --max-time 10 \
	"$base/healthy") || true
[ "$code" = 200 ] || fail "GET /healthy over HTTPS answered $code"
code=$(curl -s -o "$dir/jobs.json" -w '%{http_code}' --cacert "$dir/ca.pem" --max-time 10 \
	-H "Authorization: Bearer $admin" "$base/oapi/v1/jobs") || true
[ "$code" = 200 ] || fail "GET /oapi/v1/jobs over HTTPS with the admin token answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.2:$api_port/healthy") || true
[ "$code" = 000 ] || fail "plain HTTP to the HTTPS API answered $code"
curl -s -o /dev/null --max-time 10 "$base/healthy" && fail "curl without the CA accepted the API's certificate"
grep -q "open API on port $api_port (https)" "$dir/sched.log" || fail "the scheduler did not log its HTTPS API"
kill "$sched_pid"
wait "$sched_pid" 2>/dev/null || true

# a key others may read stops it
cp "$dir/front.key" "$dir/open.key"
chmod 0644 "$dir/open.key"
rc=0
timeout 20 "$vx" scheduler --listen 127.0.0.1:0 --db "$dir/k.db" --api 127.0.0.2:0 \
	--api-tls-cert "$dir/front.pem" --api-tls-key "$dir/open.key" >"$dir/k.out" 2>"$dir/k.err" || rc=$?
[ "$rc" -ne 0 ] || fail "vx scheduler served its API with a key of mode 0644"
grep -q "open.key is open to group or others" "$dir/k.err" || fail "key mode: $(cat "$dir/k.err")"

# beyond loopback: refused without TLS, served with it
if [ -n "$gaddr" ]; then
	rc=0
	timeout 20 "$vx" scheduler --listen 127.0.0.1:0 --db "$dir/g.db" --api "$gaddr:0" \
		>"$dir/g.out" 2>"$dir/g.err" || rc=$?
	[ "$rc" = 2 ] || fail "a plaintext API on $gaddr: exit $rc, want 2 (refused)"
	grep -q -- "--api-tls-cert" "$dir/g.err" || fail "the refusal does not name --api-tls-cert: $(cat "$dir/g.err")"
	sched_start --api "$gaddr:0" --api-tls-cert "$dir/front.pem" --api-tls-key "$dir/front.key"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" --max-time 10 \
		"https://$gaddr:$api_port/healthy") || true
	[ "$code" = 200 ] || fail "GET /healthy over HTTPS on $gaddr answered $code"
	echo "$name: API on $gaddr: refused in plaintext, served over HTTPS"
else
	echo "$name: this host has no global IPv4 address: the non-loopback refusal is not run"
fi

# the registry mirror over HTTPS
fake_upstream_start
{
	printf 'proxy:\n  listen: 127.0.0.2:0\n  upstreams: ["%s"]\n' "$fake_url"
	printf '  tls:\n    cert: %s\n    key: %s\n' "$dir/front.pem" "$dir/front.key"
} >"$dir/m.yaml"
serve_start m --no-scheduler --config "$dir/m.yaml"
mp=$(mirror_port m)
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" --max-time 10 \
	"https://127.0.0.2:$mp/v2/") || true
[ "$code" = 200 ] || fail "GET /v2/ through the HTTPS mirror answered $code"
grep -q "GET $fake_url/v2/ repo -: passed through" "$dir/m.log" ||
	fail "the HTTPS mirror did not pass /v2/ through: $(grep proxy "$dir/m.log")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.2:$mp/v2/") || true
[ "$code" = 000 ] || fail "plain HTTP to the HTTPS mirror answered $code"
curl -s -o /dev/null --max-time 10 "https://127.0.0.2:$mp/v2/" &&
	fail "curl without the CA accepted the mirror's certificate"
# vx init containerd writes the https mirror with its CA (containerd's hosts.toml "ca")
"$vx" init containerd --mirror "https://127.0.0.2:$mp" --mirror-ca "$dir/ca.pem" \
	--upstream "$fake_url" --config-dir "$dir/certs.d" >/dev/null
ht="$dir/certs.d/127.0.0.1:$(cat "$dir/fake.port")/hosts.toml"
grep -qx "\[host.\"https://127.0.0.2:$mp\"\]" "$ht" || fail "hosts.toml: no https mirror: $(cat "$ht")"
grep -qx "  ca = \"$dir/ca.pem\"" "$ht" || fail "hosts.toml: no ca: $(cat "$ht")"
"$vx" init containerd --mirror "http://127.0.0.2:$mp" --mirror-ca "$dir/ca.pem" \
	--config-dir "$dir/certs2.d" 2>/dev/null && fail "vx init took --mirror-ca for an http mirror"
serve_stop m
if [ -n "$gaddr" ]; then
	printf 'proxy:\n  listen: %s:0\n  upstreams: ["%s"]\n' "$gaddr" "$fake_url" >"$dir/g.yaml"
	rc=0
	timeout 20 "$vx" serve --config "$dir/g.yaml" --data-dir "$dir/gd" \
		--listen 127.0.0.1:0 --socket "$dir/gd.sock" >"$dir/gd.out" 2>"$dir/gd.err" || rc=$?
	[ "$rc" = 2 ] || fail "a plaintext mirror on $gaddr: exit $rc, want 2 (refused)"
	grep -q "proxy.tls.cert" "$dir/gd.err" || fail "the refusal does not name proxy.tls.cert: $(cat "$dir/gd.err")"
	printf '  tls:\n    cert: %s\n    key: %s\n' "$dir/front.pem" "$dir/front.key" >>"$dir/g.yaml"
	serve_start g --no-scheduler --config "$dir/g.yaml"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" --max-time 10 \
		"https://$gaddr:$(mirror_port g)/v2/") || true
	[ "$code" = 200 ] || fail "GET /v2/ through the HTTPS mirror on $gaddr answered $code"
	serve_stop g
	echo "$name: mirror on $gaddr: refused in plaintext, served over HTTPS"
fi
echo "PASS: $name"
