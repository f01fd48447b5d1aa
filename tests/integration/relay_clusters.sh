#!/usr/bin/env bash
# relay_clusters.sh VX: clusters of clusters (issue 21; spec/sources.md "Upstream cluster").
# Cluster A on this side of a shaped veth (tc tbf), with the origin (nginx on A's veth address):
# a scheduler, a seed and a daemon whose forward proxy listens on the veth address and asks a
# token (proxy.forward_token_file). Cluster B in a network namespace: its own scheduler, a seed
# whose back-to-source goes through A's proxy (source.upstream_cluster.proxy/token_file), and
# three peers that never go to the source themselves.
# - a peer of A and the three peers of B download one file at once: each byte-exact;
# - the origin sent one copy for both clusters (nginx's log), and the veth carried about one copy towards B
#   (its tx counter, at most 1.2 copies: the file crossed the link once, through A's swarm);
# - a wrong token: B's download fails naming the upstream cluster and 407, and neither A's
#   proxy nor the origin served it; an unreachable upstream fails naming it, the origin
#   untouched; with source.upstream_cluster.fallback: true the same download comes from the
#   origin itself; a URL source.upstream_cluster.rules do not take goes to the origin;
# - an https:// upstream (a TLS relay in front of A's proxy): refused without
#   source.upstream_cluster.ca, fetched with it;
# - config refused by name: a token file open to others, an upstream that is not
#   http[s]://HOST:PORT, upstream keys without a proxy; A's proxy refuses CONNECT.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 2 (a client without the
# token is refused by the proxy), 8 (the proxy's outbound policy applies to the other
# cluster's requests: A's proxy, not B, decides where to connect).
set -euo pipefail
vx=$1
name=relay_clusters
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && command -v tc >/dev/null || {
	echo "$name: needs root, ip(8) and tc(8), skipping" >&2
	exit 77
}
peer_lib_init
netns_pair vxr
# the inter-cluster link: 80 Mbit/s each way
tc qdisc add dev "$v0" root tbf rate 80mbit burst 64kb latency 200ms
ip netns exec "$ns" tc qdisc add dev "$v1" root tbf rate 80mbit burst 64kb latency 200ms

size=6000000
make_file data.tar "$size"
make_file other.tar 500000
origin_addr=$net.1
origin_start

# cluster A: scheduler, seed, and the proxy daemon other clusters use
sched_start
serve_start aseed --seed
serve_start a1
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/relay.token"
chmod 600 "$dir/relay.token"
# a relay waits for its swarm (fallback_after: the stall fallback to the origin would send a
# second copy on a loaded machine) and runs each task to its end (prefetch: the other
# cluster's stat probe, a one-byte Range, would otherwise cancel the task it started)
printf 'proxy:\n  forward: true\n  listen: %s:0\n  forward_token_file: %s\n  fallback_after: 60s\n  prefetch: true\n' \
	"$net.1" "$dir/relay.token" >"$dir/apx.yaml"
serve_start apx --config "$dir/apx.yaml" --insecure-plaintext
pa=$(mirror_port apx)
upstream=http://$net.1:$pa

# A's proxy: no token is 407, CONNECT is refused
code=$(curl -s -o /dev/null -w '%{http_code}' -x "$upstream" "$base/other.tar")
[ "$code" = 407 ] || fail "A's proxy without a token answered $code, want 407"
code=$(curl -s -o /dev/null -w '%{http_code}' -x "$upstream" --proxy-header \
	"Proxy-Authorization: Bearer wrong-token-0123456789" "$base/other.tar")
[ "$code" = 407 ] || fail "A's proxy with a wrong token answered $code, want 407"
code=$(curl -s -o /dev/null -w '%{http_connect}' -p -x "$upstream" "https://$net.1:$origin_port/" ||
	true)
[ "$code" = 403 ] || fail "A's proxy (token set) answered CONNECT $code, want 403"
[ "$(origin_body_bytes /other.tar)" = 0 ] || fail "a refused request reached the origin"

# cluster B in the namespace: its scheduler, its seed through A, three peers
ip netns exec "$ns" "$vx" scheduler --listen 127.0.0.1:0 --db "$dir/schedb.db" \
	--log-level info >"$dir/schedb.out" 2>"$dir/schedb.log" &
bg_pids+=($!)
line=$(wait_line "$dir/schedb.out" 'listening on port [0-9]+' "$!" "vx scheduler B")
b_port=${line##* }
for role in peer seed; do
	(umask 077 && awk -v r=$role '$1 == r { print $2 }' "$dir/schedb.db.tokens" >"$dir/tokb.$role")
done
a_port=$sched_port
sched_port=$b_port
serve_wrap=(ip netns exec "$ns")
(umask 077 && cp "$dir/relay.token" "$dir/b.token")
printf 'source:\n  upstream_cluster:\n    proxy: %s\n    token_file: %s\n' "$upstream" \
	"$dir/b.token" >"$dir/bseed.yaml"
serve_start bseed --seed --token-file "$dir/tokb.seed" --config "$dir/bseed.yaml"
printf 'download:\n  back_to_source: false\n  parent_wait: 20s\n' >"$dir/bpeer.yaml"
for i in 1 2 3; do
	serve_start "b$i" --token-file "$dir/tokb.peer" --config "$dir/bpeer.yaml"
done

tx0=$(cat "/sys/class/net/$v0/statistics/tx_bytes")
get_pids=()
serve_wrap=()
get_bg a1 "$base/data.tar" "$dir/out/a1.tar" ga
serve_wrap=(ip netns exec "$ns")
for i in 1 2 3; do
	get_bg "b$i" "$base/data.tar" "$dir/out/b$i.tar" "g$i"
done
wait_gets
[ "$(cat "$dir/ga.rc")" = 0 ] || fail "a1: vx get failed: $(cat "$dir/ga.err")"
same_file "$dir/www/data.tar" "$dir/out/a1.tar" "a1"
for i in 1 2 3; do
	[ "$(cat "$dir/g$i.rc")" = 0 ] || fail "b$i: vx get failed: $(cat "$dir/g$i.err")"
	same_file "$dir/www/data.tar" "$dir/out/b$i.tar" "b$i"
done
tx=$(($(cat "/sys/class/net/$v0/statistics/tx_bytes") - tx0))
sent=$(origin_body_bytes /data.tar)
echo "$name: origin sent $sent bytes, the link carried $tx bytes towards B, file $size" >&2
[ "$sent" -eq "$size" ] || fail "the origin sent $sent bytes, want one copy ($size)"
[ "$tx" -le $((size * 12 / 10)) ] || fail "the link carried $tx bytes, over 1.2 copies of $size"
grep -qE "proxy: $net.2:[0-9]+ GET $base/data.tar repo - task [0-9a-f]{12}: " "$dir/apx.log" ||
	fail "B's seed did not fetch through A's proxy as a P2P task"

# the errors: a wrong token, an unreachable upstream, and the fallback when asked
sched_port=$a_port
# upstream_fails NAME WHAT WANT YAML: a daemon NAME in B with config YAML, alone; its
# download fails with WANT (a glob) in the message, leaves no output file (not even a
# partial one), and the origin sent nothing
upstream_fails() {
	printf '%b' "$4" >"$dir/$1.yaml"
	serve_start "$1" --no-scheduler --config "$dir/$1.yaml"
	get "$1" "$base/other.tar" "$dir/out/$1.tar"
	[ "$rc" -ne 0 ] || fail "$2: the download succeeded"
	# shellcheck disable=SC2254 # WANT is a pattern
	case "$err" in
	$3) ;;
	*) fail "$2: not named in '$err'" ;;
	esac
	[ -z "$(find "$dir/out" -name "*$1.tar*")" ] ||
		fail "$2: left $(find "$dir/out" -name "*$1.tar*") behind"
	[ "$(origin_body_bytes /other.tar)" = 0 ] || fail "$2: the origin was used"
}
(umask 077 && echo "wrong-token-0123456789abcdef" >"$dir/bad.token")
upstream_fails bw "a wrong upstream token" "*through upstream cluster $upstream*407*" \
	"source:\n  upstream_cluster:\n    proxy: $upstream\n    token_file: $dir/bad.token\n"
dead=http://$net.2:$(free_port)
upstream_fails bd "an unreachable upstream" "*through upstream cluster $dead*" \
	"source:\n  upstream_cluster:\n    proxy: $dead\n"
# an https:// upstream (a TLS terminator in front of A's proxy): refused without its CA,
# fetched with source.upstream_cluster.ca
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=relay.test -addext "subjectAltName=IP:$net.1" -keyout "$dir/relay.key" \
	-out "$dir/relay.pem" 2>/dev/null
cat >"$dir/tlsrelay.py" <<'PY'
import socket, ssl, sys, threading
host, port, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[4], sys.argv[5])
ls = socket.create_server((host, port))
def pump(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except (OSError, ssl.SSLError):
        return c.close()
    u = socket.create_connection((host, to), timeout=10)
    u.settimeout(None)
    threading.Thread(target=pump, args=(u, t), daemon=True).start()
    pump(t, u)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
tport=$(free_port)
python3 "$dir/tlsrelay.py" "$net.1" "$tport" "$pa" "$dir/relay.pem" "$dir/relay.key" \
	2>"$dir/tlsrelay.log" &
bg_pids+=($!)
wait_port "$tport" "$net.1"
tup=https://$net.1:$tport
upstream_fails bn "an https upstream not verified" "*through upstream cluster $tup*" \
	"source:\n  upstream_cluster:\n    proxy: $tup\n    token_file: $dir/b.token\n"
printf 'source:\n  upstream_cluster:\n    proxy: %s\n    token_file: %s\n    ca: %s\n' \
	"$tup" "$dir/b.token" "$dir/relay.pem" >"$dir/bt.yaml"
serve_start bt --no-scheduler --config "$dir/bt.yaml"
get bt "$base/other.tar" "$dir/out/bt.tar"
[ "$rc" -eq 0 ] || fail "an https upstream with its CA: the download failed: $err"
same_file "$dir/www/other.tar" "$dir/out/bt.tar" "https upstream"
grep -qE "proxy: $net.1:[0-9]+ GET $base/other.tar repo - task " "$dir/apx.log" ||
	fail "the https upstream did not reach A's proxy"
printf 'source:\n  upstream_cluster:\n    proxy: %s\n    fallback: true\n' "$dead" >"$dir/bf.yaml"
serve_start bf --no-scheduler --config "$dir/bf.yaml"
get bf "$base/other.tar" "$dir/out/bf.tar"
[ "$rc" -eq 0 ] || fail "fallback: the download failed: $err"
same_file "$dir/www/other.tar" "$dir/out/bf.tar" "fallback"
grep -q "source.upstream_cluster.fallback" "$dir/bf.log" || fail "fallback: not logged"
# source.upstream_cluster.rules: a URL they do not take goes to its origin, the upstream unused
printf 'source:\n  upstream_cluster:\n    proxy: %s\n    rules: ["[.]iso$"]\n' "$dead" \
	>"$dir/br.yaml"
serve_start br --no-scheduler --config "$dir/br.yaml"
get br "$base/other.tar" "$dir/out/br.tar"
[ "$rc" -eq 0 ] || fail "a URL the upstream rules do not take: the download failed: $err"
same_file "$dir/www/other.tar" "$dir/out/br.tar" "rules"
! grep -q "upstream cluster" "$dir/br.log" || fail "rules: the upstream was tried"
! grep -rqF "$(cat "$dir/relay.token")" "$dir"/*.log "$dir"/*.out || fail "a token was logged"

# config refused by name
refused() { # WHY YAML
	local rc=0
	printf '%b' "$2" >"$dir/r.yaml"
	timeout 20 "$vx" serve --config "$dir/r.yaml" --data-dir "$dir/r" --listen 127.0.0.1:0 \
		--socket "$dir/r.sock" >"$dir/r.out" 2>"$dir/r.err" || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "'$2': vx serve started (rc $rc)"
	grep -qF "$1" "$dir/r.err" || fail "'$2' refused without naming $1: $(cat "$dir/r.err")"
}
chmod 644 "$dir/bad.token"
refused source.upstream_cluster.token_file \
	"source:\n  upstream_cluster:\n    proxy: $upstream\n    token_file: $dir/bad.token\n"
refused proxy.forward_token_file \
	"proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  forward_token_file: $dir/bad.token\n"
refused source.upstream_cluster.proxy "source:\n  upstream_cluster:\n    proxy: ftp://h:1\n"
refused source.upstream_cluster.proxy \
	"source:\n  upstream_cluster:\n    proxy: http://u@h:1/x\n"
refused source.upstream_cluster.proxy "source:\n  upstream_cluster:\n    fallback: true\n"
refused "source.upstream_cluster.rules[0]" \
	"source:\n  upstream_cluster:\n    proxy: $upstream\n    rules: [\"a[b\"]\n"
echo "PASS: $name"
