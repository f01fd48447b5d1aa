#!/usr/bin/env bash
# tls_members.sh VX: members mode over mutual TLS (issue 21; spec/peer.md "Members"): three
# daemons with no `vx scheduler`, each given a certificate of one cluster CA (tls.cert, tls.key,
# tls.ca, tls.crl). The scheduling messages between members open with STARTTLS on the member's
# Vortex port and run the embedded scheduler's mutual TLS handshake; pieces move over the data
# plane's TLS.
# 1. The three pull one multi-piece file at once: each byte-exact, the origin sent one copy,
#    and the pieces went from member to member (bytes from peers) over TLS (every member's
#    upload port counted TLS handshakes and pieces, /metrics).
# 2. A control connection to a member (from a member's address, 127.0.0.1): with STARTTLS and a
#    certificate of the cluster naming its host, the hello is answered; with no certificate,
#    another CA's certificate or a revoked one it is refused in the handshake; a plaintext
#    hello (no STARTTLS, as a plaintext member would send) is closed unanswered, and so is
#    STARTTLS followed by plaintext.
# 3. A daemon with another CA's certificate named in the members' list: the members refuse its
#    control connections and its pieces (its pull gets no byte from them).
# dragonfly-behaviour.md 5.5 items: 10 (no piece to a host without a cluster certificate),
# 12 (plaintext refused where TLS is on), 19/20 (identities from certificates).
set -euo pipefail
vx=$1
name=tls_members
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
. "$here/tls_lib.sh"
tls_need_openssl

tls_ca ca
tls_ca other
N=3
ports=()
list=
for i in $(seq 1 $N); do
	tls_host ca "m$i" "m$i-00000000000000f$i" peer
	ports[i]=$(free_port)
	list+="${list:+,}127.0.0.1:${ports[i]}"
done
tls_host other x "x-00000000000000e1" peer   # another CA
tls_host ca rv "rv-00000000000000e2" peer    # revoked below
tls_host ca tool "tool-00000000000000e3" peer # a valid cluster certificate
tls_revoke ca rv
tls_crl ca "$dir/crl.pem"
ca=$dir/ca/ca.pem

# member NAME CERT_NAME CA_PEM PORT LIST: a member's config and start
member() {
	cat >"$dir/$1.yaml" <<YAML
tls:
  cert: $dir/$2.pem
  key: $dir/$2.key
  ca: $3
  crl: $dir/crl.pem
members_heartbeat_misses: 4
YAML
	serve_start "$1" --no-scheduler --config "$dir/$1.yaml" --listen "127.0.0.1:$4" \
		--members "$5" --members-heartbeat 500ms --metrics 127.0.0.1:0
}
origin_start
for i in $(seq 1 $N); do
	member "m$i" "m$i" "$ca" "${ports[i]}" "$list"
done
members_wait_up $N

# 1. three first pulls at once, 1 MiB pieces
size=$((6 * 1024 * 1024 + 7))
make_file f.bin "$size"
get_pids=()
for i in $(seq 1 $N); do
	get_bg "m$i" "$base/f.bin" "$dir/out/f$i" "g$i" --timeout 50s --piece-length 1MiB
done
wait_gets
peers=0
for i in $(seq 1 $N); do
	rc=$(cat "$dir/g$i.rc")
	out=$(cat "$dir/g$i.json")
	err=$(cat "$dir/g$i.err")
	expect_rc 0 "first pull through m$i"
	same_file "$dir/www/f.bin" "$dir/out/f$i" "m$i"
	peers=$((peers + $(json bytes_from_peers)))
done
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq "$size" ] || fail "three first pulls cost the origin $sent bytes, want $size (one copy)"
[ "$peers" -ge $((2 * size)) ] || fail "the members took $peers bytes from each other, want two copies"
# the data plane: pieces went out over TLS (handshakes ok and pieces counted by upload ports)
tls_ok=0
for i in $(seq 1 $N); do
	mp=$(grep -o 'metrics on port [0-9]*' "$dir/m$i.out" | grep -o '[0-9]*$')
	m=$(curl -s "http://127.0.0.1:$mp/metrics")
	h=$(echo "$m" | awk '/^vx_tls_handshakes_total\{result="ok"/ { s += $2 } END { print s + 0 }')
	tls_ok=$((tls_ok + h))
done
[ "$tls_ok" -ge 2 ] || fail "the upload ports made $tls_ok TLS handshakes, want the swarm's"

# 2. control connections to m1 by hand (tls_hello.py; from 127.0.0.1, a member's address)
hello() { # CERT KEY HOST_ID [plain]: one hello to m1 with STARTTLS
	VX_STARTTLS=1 python3 "$here/tls_hello.py" "${ports[1]}" "$ca" "$1" "$2" "$3" 0 ${4:+"$4"}
}
r=$(hello "$dir/tool.pem" "$dir/tool.key" tool-00000000000000e3)
case $r in "answer 0 then 0") ;; *) fail "a cluster certificate's hello to a member: $r" ;; esac
for c in "- - nocert-00000000000000e4" "$dir/x.pem $dir/x.key x-00000000000000e1" \
	"$dir/rv.pem $dir/rv.key rv-00000000000000e2"; do
	set -- $c
	r=$(hello "$1" "$2" "$3")
	case $r in "tls-error "* | "closed"*) ;; *) fail "a hello with $3's certificate was not refused: $r" ;; esac
done
r=$(hello "$dir/tool.pem" "$dir/tool.key" tool-00000000000000e3 plain)
case $r in "closed"*) ;; *) fail "STARTTLS then plaintext: $r" ;; esac
r=$(python3 "$here/tls_hello.py" "${ports[1]}" "$ca" - - plain-00000000000000e5 0 plain)
case $r in "closed"*) ;; *) fail "a plaintext hello to a member on TLS: $r" ;; esac
grep -q "scheduler: TLS refused a certificate from 127.0.0.1" "$dir/m1.log" ||
	fail "m1 did not log a refused certificate"

# 3. a daemon holding another CA's certificate, named by the members' list
xport=$(free_port)
member x x "$dir/other/ca.pem" "$xport" "$list,127.0.0.1:$xport"
get x "$base/f.bin" "$dir/out/x" --timeout 30s --piece-length 1MiB
[ "$rc" -ne 0 ] || [ "$(json bytes_from_peers)" -eq 0 ] ||
	fail "a host of another CA got $(json bytes_from_peers) bytes from the members"
grep -q "sched client: 127.0.0.1:${ports[1]}: .*TLS" "$dir/x.log" ||
	fail "x's client was not refused by m1: $(grep 'sched client' "$dir/x.log" | tail -3)"
echo "$name: ok"
