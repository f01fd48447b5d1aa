#!/usr/bin/env bash
# proxy_connect_tls.sh: the forward proxy of `vx serve` on its TLS listener (proxy.tls), used
# as HTTPS_PROXY clients with an https:// proxy do (curl -p -x https://... --proxy-cacert),
# against a real nginx HTTPS origin on loopback: the TLS to the proxy ends in the proxy, and
# what is inside works as on the plaintext listener (proxy_connect.sh, proxy_hijack.sh).
# - a CONNECT tunnel inside the proxy's TLS: curl verifies the proxy against the test CA and
#   the origin's own certificate through the tunnel, byte-exact; the tunnel is logged with
#   bytes each way;
# - the port allow-list: a port not in proxy.connect.ports is 403;
# - interception (proxy.hijack) inside the proxy's TLS: a CONNECT to a listed host gets a leaf
#   of the interception CA, and the GET inside is served by the forward path, byte-exact;
# - a CONNECT in plaintext to the TLS listener gets no HTTP answer;
# - a head dripped inside TLS is answered 408 at proxy.header_timeout (1 s here), as in
#   plaintext, and the listener serves the next client.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 10 (TLS verification),
# 15 (slow-loris).
set -euo pipefail
vx=$1
name=proxy_connect_tls
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

tls_origin_start
make_file blob.bin 1048583
printf 'small text\n' >"$dir/www/small.txt"
front_cert "IP:127.0.0.1,DNS:localhost"
# the interception CA (its own, key 0600)
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=vx test interception CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$dir/hca.key" -out "$dir/hca.pem" 2>/dev/null)
{
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  header_timeout: 1s\n'
	printf '  connect:\n    ports: ["%s"]\n' "$tls_port"
	printf '  tls:\n    cert: %s\n    key: %s\n' "$dir/front.pem" "$dir/front.key"
	printf '  hijack:\n    hosts: ["^localhost$"]\n    ca_cert: %s\n    ca_key: %s\n' \
		"$dir/hca.pem" "$dir/hca.key"
	printf '    upstream_ca: %s\n' "$dir/origin.pem"
} >"$dir/t.yaml"
serve_start t --no-scheduler --config "$dir/t.yaml"
fp=$(mirror_port t)
px=(-x "https://127.0.0.1:$fp" --proxy-cacert "$dir/ca.pem")

# a tunnel inside the proxy's TLS: the origin's own certificate, its bytes
curl -sS -f -p "${px[@]}" --cacert "$dir/origin.pem" --max-time 20 \
	-o "$dir/out/blob.bin" "https://127.0.0.1:$tls_port/blob.bin" 2>"$dir/curl.err" ||
	fail "GET through a tunnel over the TLS listener: $(cat "$dir/curl.err")"
cmp -s "$dir/out/blob.bin" "$dir/www/blob.bin" || fail "tunnel over TLS: wrong bytes"
line=$(wait_line "$dir/t.log" "CONNECT 127.0.0.1:[0-9]+ -> 127.0.0.1:$tls_port: tunnel" \
	"${serve_pid[t]}" "the tunnel's log line")
grep -qE "tunnel closed, [1-9][0-9]* bytes up, [0-9]{7,} bytes down" <<<"$line" ||
	fail "tunnel log line: $line"

# the port allow-list holds inside TLS
code=$(curl -s -o /dev/null -p "${px[@]}" --cacert "$dir/origin.pem" -w '%{http_connect}' \
	--max-time 20 "https://127.0.0.1:$tls_port2/blob.bin" || true)
[ "$code" = 403 ] || fail "CONNECT over TLS to a port not in proxy.connect.ports answered '$code'"

# interception inside the proxy's TLS: the interception CA's leaf, the forward path's bytes
curl -sS -f -p "${px[@]}" --cacert "$dir/hca.pem" --max-time 20 -o "$dir/out/small.txt" \
	"https://localhost:$tls_port/small.txt" 2>"$dir/curl.err" ||
	fail "intercepted GET over the TLS listener: $(cat "$dir/curl.err")"
cmp -s "$dir/out/small.txt" "$dir/www/small.txt" || fail "intercepted over TLS: wrong bytes"
grep -q "GET https://localhost:$tls_port/small.txt repo -: passed through" "$dir/t.log" ||
	fail "the intercepted GET was not served by the forward path: $(grep proxy "$dir/t.log")"

# plaintext to the TLS listener: no HTTP answer
code=$(curl -s -o /dev/null -p -x "http://127.0.0.1:$fp" --cacert "$dir/origin.pem" \
	-w '%{http_connect}' --max-time 20 "https://127.0.0.1:$tls_port/blob.bin" || true)
[ "$code" = 000 ] || fail "a plaintext CONNECT to the TLS listener answered '$code'"

# a head dripped inside TLS: 408 at the header timeout (1 s); the client gives up after 10 s
python3 - "$fp" "$dir/ca.pem" <<'PY' || fail "slow head over TLS"
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10), server_hostname="127.0.0.1")
s.settimeout(0.25)
head = b"GET /v2/ HTTP/1.1\r\nX-Pad: " + b"a" * 64
start = time.monotonic()
for i in range(40):
    try:
        s.send(head[i:i + 1])
        r = s.recv(100)
    except socket.timeout:
        continue
    except OSError:
        sys.exit("closed without an answer")
    if r.startswith(b"HTTP/1.1 408"):
        sys.exit(0)
    sys.exit("answered %r" % r)
sys.exit("a head dripped for 10 s over TLS was never closed")
PY
curl -sS -f -p "${px[@]}" --cacert "$dir/origin.pem" --max-time 20 -o /dev/null \
	"https://127.0.0.1:$tls_port/blob.bin" || fail "no tunnel after the slow head"
serve_stop t
echo "PASS: $name"
