#!/usr/bin/env bash
# tls_revoke_open.sh VX: revocation reaches connections already open (spec/control.md section
# 10, spec/dataplane.md section 10). A scheduler with its own CA, two daemons joined by token
# (p1, p2) on loopback, an nginx origin.
#   1. a fetcher holding p2's certificate takes a piece from p1's upload port and keeps the
#      connection open; p2's daemon keeps its control connection open
#   2. `vx cert revoke p2`: once the new CRL is loaded, p1 closes the fetcher's open
#      connection and the scheduler closes p2's open control connection; a connection with
#      p1's own certificate, opened before the revocation, stays open (the control)
# Before this, only new connections were refused: a revoked host kept what it held open.
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): 3 (revocation immediate),
# 20 (certificates bound to identity).
# Every wait is bounded; nothing depends on how long something took.
set -euo pipefail
vx=$1
name=tls_revoke_open
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
. "$(dirname "$0")/tls_lib.sh"
tls_need_openssl
here=$(dirname "$0")

make_file f.bin $((5 * 1024 * 1024))
origin_start
sched_start 0.0.0.0:0 # certificates of a day: none expires or is renewed during the test
ca=$dir/sched.db.pki/ca.pem
peer_tok=$("$vx" token create --role peer --uses 2 --db "$dir/sched.db" 2>>"$dir/cli.log")
serve_start p1 --join "$peer_tok"
serve_start p2 --join "$peer_tok"
p2_id=$(grep -o 'ready: [^,]*' "$dir/p2.out" | cut -d' ' -f2)
get p1 "$base/f.bin" "$dir/out/f1"
expect_rc 0 "p1's download"
task=$(json task_id)

# 1. open connections: p2's certificate and (the control) p1's own, each after one piece
hold() { # NAME CERT-DIR: vortex_piece.py held open on p1's upload port, lines in $dir/NAME.hold
	cp "$dir/$2/tls/cert.pem" "$dir/$1.pem"
	cp "$dir/$2/tls/key.pem" "$dir/$1.key"
	VX_HOLD=60 python3 "$here/vortex_piece.py" "${serve_port[p1]}" "$task" 0 "$ca" \
		"$dir/$1.pem" "$dir/$1.key" >"$dir/$1.hold" 2>&1 &
	bg_pids+=($!)
	for i in $(seq 100); do
		grep -q '^piece ' "$dir/$1.hold" && return 0
		sleep 0.1
	done
	fail "$1: no piece on the held connection: $(cat "$dir/$1.hold")"
}
hold revoked p2
hold kept p1
grep -q "^piece $((4 * 1024 * 1024))$" "$dir/revoked.hold" || fail "p2's certificate got no piece"

# 2. revoke p2; p1 and the scheduler load the new CRL and drop what p2 holds open. The
#    scheduler signs it at once; p1 is handed it as its CRL poll would (that poll runs a third
#    of a certificate's life apart: the tls_cluster test has it)
"$vx" cert revoke "$p2_id" --db "$dir/sched.db" >/dev/null
cp "$dir/sched.db.pki/crl.pem" "$dir/p1/tls/crl.new"
mv "$dir/p1/tls/crl.new" "$dir/p1/tls/crl.pem"
for i in $(seq 400); do
	grep -q '^held-' "$dir/revoked.hold" && break
	sleep 0.1
done
[ "$(sed -n 2p "$dir/revoked.hold")" = held-closed ] ||
	fail "p1 kept a revoked certificate's open connection: $(cat "$dir/revoked.hold")"
openssl x509 -in "$dir/revoked.pem" -noout -checkend 0 >/dev/null ||
	fail "p2's certificate expired before it was revoked (inconclusive)"
grep -q 'upload: closing a connection whose client certificate no longer verifies' \
	"$dir/p1.log" || fail "p1 did not say why it closed the connection"
for i in $(seq 300); do
	grep -q "closing the connection of $p2_id (.*): its certificate no longer verifies" \
		"$dir/sched.log" && break
	sleep 0.1
done
grep -q "closing the connection of $p2_id (.*): its certificate no longer verifies" \
	"$dir/sched.log" || fail "the scheduler kept p2's open control connection"
# the control: p1's own certificate, held open as long, is still served
[ "$(sed -n 2p "$dir/kept.hold")" = "" ] ||
	fail "the connection of a valid certificate ended too: $(cat "$dir/kept.hold")"
! grep -q "closing the connection of $(grep -o 'ready: [^,]*' "$dir/p1.out" | cut -d' ' -f2) " \
	"$dir/sched.log" || fail "the scheduler closed p1's valid connection"

serve_stop p1
echo "$name: ok"
