#!/usr/bin/env bash
# tls_cluster.sh VX: a cluster that joins by token and speaks TLS on both planes, as an operator
# runs it (spec/control.md sections 10-11, spec/dataplane.md section 10, spec/peer.md "TLS").
# A scheduler with its own CA on 0.0.0.0 (not loopback: TLS only), a seed joined with a seed
# token, two peers joined with peer tokens, an nginx origin. dragonfly-behaviour.md section
# 5.5 items: 10 (TLS on the data plane: no piece to a host without a cluster certificate), 12
# (plaintext refused where TLS is on), 15 (revocation reaches the data plane), 19/20
# (identities from certificates), 3 (a join token's secret never reaches a man in the middle).
#   1. the daemons join by token and come up on TLS without a restart
#   2. two peers download a multi-piece file at once: byte for byte, from peers, the origin
#      sends it once
#   3. the upload ports speak TLS only: a plaintext Vortex request, a TLS client without a
#      certificate and one of another CA get nothing; a cluster certificate gets the piece
#   4. the scheduler beyond loopback refuses a plaintext hello even with a valid token
#   5. a JOIN to a server whose chain does not lead to the token's pinned CA fails the start
#      and sends nothing (no token secret) to it
#   6. revoking a peer: once the CRL reaches the others their upload ports refuse its
#      certificate (and still serve valid ones), and it cannot come back on the control channel
#   7. a renewed certificate is presented by the upload port without a restart
#   (and p1's /metrics counts its TLS handshakes: vx_tls_handshakes_total{result}, and the
#   piece it sent over TLS in vx_upload_bytes_total and vx_upload_pieces_total)
set -euo pipefail
vx=$1
name=tls_cluster
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
. "$(dirname "$0")/tls_lib.sh"
tls_need_openssl
here=$(dirname "$0")

size=$((12 * 1024 * 1024 + 5)) # 4 MiB pieces by default: several pieces
make_file f.bin "$size"
origin_start
sched_start 0.0.0.0:0 --cert-ttl 30s # renewed at 20 s, CRL every 10 s
ca=$dir/sched.db.pki/ca.pem
token() { "$vx" token create --role "$1" --db "$dir/sched.db" "${@:2}" 2>>"$dir/cli.log"; }
seed_tok=$(token seed)
peer_tok=$(token peer --uses 3)

# 1. joins; each daemon's certificate names the host id it came up as; the --join token is
#    blanked in its command line
serve_start seed --seed --join "$seed_tok"
serve_start p1 --join "$peer_tok" --metrics 127.0.0.1:0
serve_start p2 --join "$peer_tok"
for n in seed p1 p2; do
	id=$(grep -o 'ready: [^,]*' "$dir/$n.out" | cut -d' ' -f2)
	openssl x509 -in "$dir/$n/tls/cert.pem" -noout -subject | grep -q "CN = $id" ||
		fail "$n came up as $id, not as its certificate's host"
	! grep -q 'no TLS in this build' "$dir/$n.log" || fail "$n: a data plane without TLS"
	# the token given with --join is blanked in the daemon's command line once read
	! tr '\0' ' ' <"/proc/${serve_pid[$n]}/cmdline" | grep -qF -e "$seed_tok" -e "$peer_tok" ||
		fail "$n's command line still shows its join token (ps)"
done

p1_serial=$(openssl x509 -in "$dir/p1/tls/cert.pem" -noout -serial | cut -d= -f2)

# 2. the swarm over TLS
get_pids=()
for i in 1 2; do
	get_bg "p$i" "$base/f.bin" "$dir/out/f$i" "g$i" --timeout 40s
done
wait_gets
for i in 1 2; do
	rc=$(cat "$dir/g$i.rc")
	out=$(cat "$dir/g$i.json")
	err=$(cat "$dir/g$i.err")
	expect_rc 0 "vx get through p$i"
	same_file "$dir/www/f.bin" "$dir/out/f$i" "TLS swarm copy of p$i"
	[ "$(json bytes_from_peers)" -gt 0 ] || fail "p$i got nothing from peers: $out"
done
task=$(json task_id "$(cat "$dir/g1.json")")
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq "$size" ] || fail "the origin sent $sent body bytes of f.bin, want $size (once)"

# 3. the upload ports: TLS with a cluster certificate only
piece() { python3 "$here/vortex_piece.py" "$1" "$task" 0 "${@:2}"; }
want_piece="piece $((4 * 1024 * 1024))"
for n in seed p1; do
	port=${serve_port[$n]}
	res=$(piece "$port")
	[ "$res" = closed ] || fail "$n's upload port answered plaintext Vortex: $res"
	res=$(piece "$port" "$ca" - -)
	[ "$res" = closed ] || fail "$n's upload port served a TLS client without certificate: $res"
	res=$(piece "$port" "$ca" "$dir/p2/tls/cert.pem" "$dir/p2/tls/key.pem")
	[ "$res" = "$want_piece" ] || fail "$n did not serve p2's certificate: $res"
done
tls_ca other
tls_host other intruder intruder-0000000000000001 peer
res=$(piece "${serve_port[p1]}" "$ca" "$dir/intruder.pem" "$dir/intruder.key")
[ "$res" = closed ] || fail "p1 served a certificate of another CA: $res"
# p1's /metrics counts the handshakes of both planes by result (spec/metrics.md)
mport=$(sed -n 's/^vx serve: metrics on port //p' "$dir/p1.out")
[ -n "$mport" ] || fail "p1 printed no metrics port"
hs() { curl -fsS "http://127.0.0.1:$mport/metrics" | awk -v r="$1" \
	'$1 == "vx_tls_handshakes_total{result=\"" r "\"}" { print $2 }'; }
[ "$(hs ok)" -ge 1 ] 2>/dev/null || fail "p1 counted no good TLS handshake: '$(hs ok)'"
[ "$(hs refused)" -ge 2 ] 2>/dev/null || fail "p1 counted $(hs refused) refused handshakes, want >= 2"
# ... and the piece it sent p2's certificate above in its upload counters (TLS bodies count)
upm() { curl -fsS "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m { print int($2) }'; }
[ "$(upm vx_upload_bytes_total)" -ge $((4 * 1024 * 1024)) ] 2>/dev/null ||
	fail "p1's vx_upload_bytes_total is '$(upm vx_upload_bytes_total)' after a piece over TLS"
[ "$(upm vx_upload_pieces_total)" -ge 1 ] 2>/dev/null ||
	fail "p1's vx_upload_pieces_total is '$(upm vx_upload_pieces_total)' after a piece over TLS"

# 4. plaintext hello to the scheduler beyond loopback, with a valid role token
res=$(VX_JOIN_TOKEN=$sched_peer_token python3 "$here/tls_hello.py" "$sched_port" "$ca" - - \
	intruder-0000000000000002 0 plain)
case "$res" in closed*) ;; *) fail "plaintext hello beyond loopback: '$res', want closed" ;; esac

# 5. a man in the middle of a JOIN: a scheduler certificate of another CA for 127.0.0.1
tls_cert other mitm scheduler "URI:urn:vx:role:scheduler,IP:127.0.0.1"
python3 "$here/tls_mitm.py" "$dir/mitm.txt" "$dir/mitm.pem" "$dir/mitm.key" &
bg_pids+=($!)
for i in $(seq 100); do
	grep -q '^port ' "$dir/mitm.txt" 2>/dev/null && break
	sleep 0.1
done
mport=$(sed -n 's/^port //p' "$dir/mitm.txt")
[ -n "$mport" ] || fail "the fake scheduler did not start"
mitm_tok=$(token peer)
rc=0
timeout 30 "$vx" serve --data-dir "$dir/m1" --listen 127.0.0.1:0 --socket "$dir/m1.sock" \
	--scheduler "127.0.0.1:$mport" --join "$mitm_tok" >"$dir/m1.out" 2>"$dir/m1.log" || rc=$?
[ "$rc" = 1 ] || fail "a join to the man in the middle: exit $rc, want 1"
for i in $(seq 100); do
	grep -q '^got ' "$dir/mitm.txt" && break
	sleep 0.1
done
grep -q '^got ' "$dir/mitm.txt" || fail "the daemon never reached the fake scheduler"
! grep -v '^got 0$' "$dir/mitm.txt" | grep -q '^got ' ||
	fail "the daemon sent bytes to the man in the middle: $(cat "$dir/mitm.txt")"
[ ! -e "$dir/m1/tls/cert.pem" ] || fail "a certificate from the man in the middle"
grep -q 'is not the one the join token names' "$dir/m1.log" ||
	fail "no word of the wrong CA: $(cat "$dir/m1.log")"

# 6. revocation reaches the data plane of the others, and the control plane
p2_serial=$(openssl x509 -in "$dir/p2/tls/cert.pem" -noout -serial | cut -d= -f2)
cp "$dir/p2/tls/cert.pem" "$dir/p2-revoked.pem"
cp "$dir/p2/tls/key.pem" "$dir/p2-revoked.key"
p2_id=$(grep -o 'ready: [^,]*' "$dir/p2.out" | cut -d' ' -f2)
serve_stop p2
"$vx" cert revoke "$p2_id" --db "$dir/sched.db" >/dev/null
for n in seed p1; do
	for i in $(seq 300); do
		openssl crl -in "$dir/$n/tls/crl.pem" -noout -text | grep -qi "Serial Number: $p2_serial" &&
			break
		sleep 0.1
	done
	openssl crl -in "$dir/$n/tls/crl.pem" -noout -text | grep -qi "Serial Number: $p2_serial" ||
		fail "$n's crl.pem did not pick up p2's revocation"
	# the upload port loads the new CRL within its next look at the files (a second)
	for i in $(seq 100); do
		res=$(piece "${serve_port[$n]}" "$ca" "$dir/p2-revoked.pem" "$dir/p2-revoked.key")
		[ "$res" = closed ] && break
		sleep 0.1
	done
	[ "$res" = closed ] || fail "$n still serves p2's revoked certificate: $res"
	# refused as revoked: not expired, and a valid certificate is still served
	openssl x509 -in "$dir/p2-revoked.pem" -noout -checkend 0 >/dev/null ||
		fail "p2's certificate expired before the test saw it revoked (inconclusive)"
	res=$(piece "${serve_port[$n]}" "$ca" "$dir/p1/tls/cert.pem" "$dir/p1/tls/key.pem")
	[ "$res" = "$want_piece" ] || fail "$n no longer serves p1's certificate: $res"
done
rc=0
timeout 30 "$vx" serve --data-dir "$dir/p2" --listen 127.0.0.1:0 --socket "$dir/p2b.sock" \
	--scheduler "127.0.0.1:$sched_port" >"$dir/p2b.out" 2>"$dir/p2b.log" || rc=$?
[ "$rc" = 1 ] || fail "a revoked host came back on the control channel: exit $rc"
# p1's certificate is renewed, and its upload port presents the new one (loaded again)
served() {
	openssl s_client -connect "127.0.0.1:${serve_port[p1]}" -CAfile "$ca" \
		-cert "$dir/seed/tls/cert.pem" -key "$dir/seed/tls/key.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
for i in $(seq 300); do
	[ "$(openssl x509 -in "$dir/p1/tls/cert.pem" -noout -serial | cut -d= -f2)" != "$p1_serial" ] &&
		break
	sleep 0.1
done
now=$(openssl x509 -in "$dir/p1/tls/cert.pem" -noout -serial | cut -d= -f2)
[ "$now" != "$p1_serial" ] || fail "p1's certificate was not renewed"
for i in $(seq 50); do
	[ "$(served)" = "$now" ] && break
	sleep 0.1
done
[ "$(served)" = "$now" ] || fail "p1's upload port still presents its old certificate"
res=$(piece "${serve_port[p1]}" "$ca" "$dir/seed/tls/cert.pem" "$dir/seed/tls/key.pem")
[ "$res" = "$want_piece" ] || fail "p1 no longer serves the seed: $res"

for n in seed p1; do serve_stop "$n"; done
echo "$name: ok"
