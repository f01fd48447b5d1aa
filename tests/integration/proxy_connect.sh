#!/usr/bin/env bash
# proxy_connect.sh: CONNECT tunnels of the forward proxy in `vx serve` (proxy.forward,
# proxy.connect.*), used as HTTPS_PROXY clients do (curl -p -x), against a real nginx HTTPS
# origin with a self-signed certificate on loopback.
# - a tunnel works: curl verifies the origin's own certificate through it, byte-exact, and the
#   tunnel is logged with bytes each way; plain requests on the same listener still reach
#   libmicrohttpd (the front door hands them over);
# - the port allow-list: a port not in proxy.connect.ports is 403, nothing connected;
# - the outbound policy: with source.deny_outbound 127.0.0.0/8 a CONNECT to the origin is 403
#   and the origin sees no connection;
# - the rate limit: with proxy.client_rate_limit 1, three CONNECTs at once get a 429;
# - slowloris: a head dripped a byte at a time is closed at proxy.connect.header_timeout (the
#   client gives up after 40 bytes, well past it, and fails the test if still open);
# - the idle timeout: a tunnel where nobody sends is closed at proxy.connect.idle_timeout;
# - the tunnel limit: with proxy.connect.max_tunnels 2, two open tunnels and the third is 503;
#   once one closes, a new one is 200;
# - malformed heads are 400 and bad config is refused by `vx config check`, by name.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 8 (SSRF: deny-listed
# targets), 12 (malformed input), 13 (per-connection limits), 15 (slow-loris).
set -euo pipefail
vx=$1
name=proxy_connect
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
peer_lib_init
command -v openssl >/dev/null && command -v curl >/dev/null || {
	echo "$name: needs openssl and curl, skipping" >&2
	exit 77
}

# the HTTPS origin: nginx with a self-signed certificate for 127.0.0.1, on two ports
tls_origin_start
make_file blob.bin 1048583
origin=https://127.0.0.1:$tls_port
tls_lines() { wc -l <"$dir/tls-access.log"; }

# cstart NAME [YAML LINES]: vx serve NAME with the forward proxy on, CONNECT to $tls_port
# allowed (and YAML LINES of config); its proxy port in $fp
cstart() {
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  connect:\n    ports: ["%s"]\n%b' \
		"$tls_port" "${2:-}" >"$dir/$1.yaml"
	serve_start "$1" --no-scheduler --config "$dir/$1.yaml"
	fp=$(mirror_port "$1")
}
# connect_code PORT TARGET: the status of a CONNECT to TARGET (curl's %{http_connect})
connect_code() {
	curl -s -o /dev/null -p -x "http://127.0.0.1:$1" --cacert "$dir/origin.pem" \
		-w '%{http_connect}' --max-time 20 "https://$2/blob.bin" || true
}

cstart c '    max_tunnels: 2\n    header_timeout: 1s\n'
pc=$fp

# the tunnel: curl checks the origin's own certificate end to end
curl -sf -p -x "http://127.0.0.1:$pc" --cacert "$dir/origin.pem" --max-time 20 \
	-o "$dir/out/blob.bin" "$origin/blob.bin" || fail "GET through the tunnel"
cmp -s "$dir/out/blob.bin" "$dir/www/blob.bin" || fail "tunnel: wrong bytes"
line=$(wait_line "$dir/c.log" "CONNECT 127.0.0.1:[0-9]+ -> 127.0.0.1:$tls_port: tunnel" \
	"${serve_pid[c]}" "the tunnel's log line")
grep -qE "tunnel closed, [1-9][0-9]* bytes up, [0-9]{7,} bytes down" <<<"$line" ||
	fail "tunnel log line: $line"
# the same listener still serves plain forward-proxy requests (libmicrohttpd)
code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$pc" \
	"http://127.0.0.1:1/x.txt") || true
[ "$code" = 502 ] || [ "$code" = 403 ] || [ "$code" = 504 ] ||
	fail "a plain forward request answered '$code' (the HTTP server did not get it)"

# the port allow-list: another port of the same origin is refused before any connection
before=$(tls_lines)
code=$(connect_code "$pc" "127.0.0.1:$tls_port2")
[ "$code" = 403 ] || fail "CONNECT to a port not in proxy.connect.ports answered '$code'"
grep -q "port $tls_port2 is not in proxy.connect.ports" "$dir/c.log" ||
	fail "the refused port was not logged"

# malformed heads: 400, nothing connected
python3 - "$pc" "$tls_port" <<'PY' || fail "malformed CONNECT heads"
import socket, sys
port, tls = int(sys.argv[1]), sys.argv[2]
for head in (b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",            # no port
             b"CONNECT u@127.0.0.1:%s HTTP/1.1\r\n\r\n" % tls.encode(),
             b"CONNECT 127.0.0.1:%s HTTP/2\r\n\r\n" % tls.encode(),
             b"CONNECT 127.0.0.1:%s HTTP/1.1\r\nBad header\r\n\r\n" % tls.encode(),
             b"CONNECT 127.0.0.1:%s HTTP/1.1\nHost: x\n\n" % tls.encode()):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.settimeout(10)
    s.sendall(head)
    r = s.recv(100)
    if not r.startswith(b"HTTP/1.1 400"):
        sys.exit("head %r answered %r" % (head, r))
    s.close()
PY
[ "$(tls_lines)" = "$before" ] || fail "a refused CONNECT reached the origin"

# slowloris: a head dripped slowly is closed at the header timeout (1 s here), whatever the
# drip rate; the client sends at most 40 bytes 0.25 s apart (10 s) before it gives up
python3 - "$pc" "$tls_port" <<'PY' || fail "slowloris"
import socket, sys, time
port, tls = int(sys.argv[1]), sys.argv[2]
head = b"CONNECT 127.0.0.1:%s HTTP/1.1\r\nX-Pad: " % tls.encode() + b"a" * 64
s = socket.create_connection(("127.0.0.1", port), 10)
s.settimeout(0.25)
for i in range(40):
    try:
        s.send(head[i:i + 1])
    except OSError:
        sys.exit(0)  # reset: closed
    try:
        r = s.recv(100)
        if r == b"" or r.startswith(b"HTTP/1.1 408"):
            sys.exit(0)
        sys.exit("answered %r" % r)
    except socket.timeout:
        pass
    except OSError:
        sys.exit(0)
sys.exit("a head dripped for 10 s was never closed")
PY
grep -q "408 Request Timeout" "$dir/c.log" || fail "the slow head was not logged as a timeout"

# the tunnel limit: two tunnels held open, the third is 503; after one closes, 200 again
python3 - "$pc" "$tls_port" <<'PY' || fail "tunnel limit"
import socket, sys
port, tls = int(sys.argv[1]), sys.argv[2]
head = b"CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n" % (tls.encode(), tls.encode())
def tunnel():
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.settimeout(10)
    s.sendall(head)
    r = b""
    while b"\r\n\r\n" not in r:
        d = s.recv(100)
        if not d:
            break
        r += d
    return s, r.split(b"\r\n")[0]
held = [tunnel(), tunnel()]
for s, st in held:
    if b" 200 " not in st:
        sys.exit("tunnel %r" % st)
s3, st3 = tunnel()
if b" 503 " not in st3:
    sys.exit("the third tunnel answered %r, want 503" % st3)
s3.close()
held[0][0].close()
# the slot frees when the relay sees the close; the next ones wait for it (bounded)
for i in range(100):
    s, st = tunnel()
    s.close()
    if b" 200 " in st:
        break
    import time
    time.sleep(0.1)
else:
    sys.exit("no tunnel after one closed: %r" % st)
held[1][0].close()
PY
serve_stop c

# the outbound policy: a deny-listed origin is never connected to
cstart d 'source:\n  deny_outbound: [127.0.0.0/8]\n'
before=$(tls_lines)
code=$(connect_code "$fp" "127.0.0.1:$tls_port")
[ "$code" = 403 ] || fail "deny_outbound: CONNECT answered '$code', want 403"
grep -q "refused by policy" "$dir/d.log" || fail "deny_outbound: the refusal was not logged"
[ "$(tls_lines)" = "$before" ] || fail "deny_outbound: the origin was reached"
serve_stop d

# the rate limit per client address: 1/s, three CONNECTs at once, one at least is 429
cstart r '    idle_timeout: 1s\n  client_rate_limit: 1\n'
python3 - "$fp" "$tls_port" <<'PY' || fail "rate limit"
import socket, sys
port, tls = int(sys.argv[1]), sys.argv[2]
head = b"CONNECT 127.0.0.1:%s HTTP/1.1\r\n\r\n" % tls.encode()
socks = [socket.create_connection(("127.0.0.1", port), 10) for _ in range(3)]
for s in socks:
    s.sendall(head)
codes = []
for s in socks:
    s.settimeout(10)
    codes.append(s.recv(100).split(b" ")[1])
if b"429" not in codes:
    sys.exit("no 429 among %r" % codes)
PY
# the idle timeout (1 s here): a tunnel where nobody sends is closed by the proxy; the client
# waits at most 15 s (nginx itself would wait 60 s for a TLS ClientHello)
python3 - "$fp" "$tls_port" <<'PY' || fail "idle timeout"
import socket, sys, time
port, tls = int(sys.argv[1]), sys.argv[2]
for attempt in range(50):  # the rate limit's bucket refills at 1/s
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.settimeout(15)
    s.sendall(b"CONNECT 127.0.0.1:%s HTTP/1.1\r\n\r\n" % tls.encode())
    r = s.recv(100)
    if r.startswith(b"HTTP/1.1 200"):
        break
    s.close()
    time.sleep(0.2)
else:
    sys.exit("no tunnel: %r" % r)
try:
    if s.recv(100) != b"":
        sys.exit("data on an idle tunnel")
except socket.timeout:
    sys.exit("an idle tunnel was not closed")
PY
grep -q "tunnel idle timeout" "$dir/r.log" || fail "the idle close was not logged"
serve_stop r

# config refused by name
for bad in 'ports: ["0443"]|proxy.connect.ports' 'ports: ["65536"]|proxy.connect.ports' \
	'max_tunnels: 0|proxy.connect.max_tunnels' 'header_timeout: 1ms|proxy.connect.header_timeout'; do
	printf 'proxy:\n  forward: true\n  connect:\n    %s\n' "${bad%%|*}" >"$dir/bad.yaml"
	rc=0
	"$vx" config check "$dir/bad.yaml" >"$dir/bad.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "config check took '${bad%%|*}'"
	grep -qF "${bad#*|}" "$dir/bad.out" || fail "config '${bad%%|*}': $(cat "$dir/bad.out")"
done
echo "PASS: $name"
