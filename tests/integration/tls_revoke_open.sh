#!/usr/bin/env bash
# tls_revoke_open.sh VX: revocation reaches connections already open (spec/control.md section
# 10, spec/dataplane.md section 10). A scheduler with its own CA, two daemons joined by token
# (p1, p2) on loopback, an nginx origin.
#   1. a fetcher holding p2's certificate takes a piece from p1's upload port and keeps the
#      connection open; p2's daemon keeps its control connection open
#   2. `vx cert revoke p2`: once the new CRL is loaded, p1 closes the fetcher's open
#      connection and the scheduler closes p2's open control connection; a connection with
#      p1's own certificate, opened before the revocation, stays open (the control)
#   3. the fetching side: p1 downloads a file from p2 (p2's upload held to 1 MiB/s, so the
#      download is still running) when p2 is revoked: p1's fetcher takes the new CRL, closes
#      its connections to p2 and never dials it again; the download still completes (the
#      scheduler then has p1 fetch it from the origin); a `vx cache export` on p1 of a file only
#      p2 holds, running on its own thread, drops p2 too (and fails: no other holder)
# Before this, only new connections were refused: a revoked host kept what it held open.
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): 3 (revocation immediate, on
# the serving and the fetching side), 20 (certificates bound to identity).
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
printf 'upload:\n  rate_limit: 1048576\n' >"$dir/slow-upload.yaml"
serve_start p1 --join "$peer_tok"
serve_start p2 --join "$peer_tok" --config "$dir/slow-upload.yaml" --metrics 127.0.0.1:0
p2_id=$(grep -o 'ready: [^,]*' "$dir/p2.out" | cut -d' ' -f2)
get p1 "$base/f.bin" "$dir/out/f1"
expect_rc 0 "p1's download"
task=$(json task_id)

# 1. open connections: p2's certificate and (the control) p1's own, each after one piece
# each asks for its own piece: every daemon super-seeds, so a piece sent to one connection is
# answered BUSY to another for a while
hold() { # NAME CERT-DIR PIECE: vortex_piece.py held open on p1's upload port, lines in $dir/NAME.hold
	cp "$dir/$2/tls/cert.pem" "$dir/$1.pem"
	cp "$dir/$2/tls/key.pem" "$dir/$1.key"
	VX_HOLD=60 python3 "$here/vortex_piece.py" "${serve_port[p1]}" "$task" "$3" "$ca" \
		"$dir/$1.pem" "$dir/$1.key" >"$dir/$1.hold" 2>&1 &
	bg_pids+=($!)
	for i in $(seq 100); do
		grep -q '^piece ' "$dir/$1.hold" && return 0
		sleep 0.1
	done
	fail "$1: no piece on the held connection: $(cat "$dir/$1.hold")"
}
hold revoked p2 0
hold kept p1 1
grep -q "^piece $((4 * 1024 * 1024))$" "$dir/revoked.hold" || fail "p2's certificate got no piece"

# 3 (set up): p2 holds h.bin (from the origin), p1 fetches it from p2, slowly
make_file h.bin $((9 * 1024 * 1024))
get p2 "$base/h.bin" "$dir/out/h2"
expect_rc 0 "p2's download of h.bin"
# and a persistent cache file only p2 holds, which p1 exports (a cache fetch: its own thread)
head -c $((9 * 1024 * 1024)) /dev/urandom >"$dir/c.bin"
cid=$("$vx" cache import "$dir/c.bin" --replicas 1 --piece-length 1MiB --socket "$dir/p2.sock" \
	2>>"$dir/cli.log") || fail "p2's cache import failed: $(tail -3 "$dir/cli.log")"
timeout -k 5 120 "$vx" cache export "$cid" -O "$dir/out/c1" --socket "$dir/p1.sock" \
	>"$dir/c1.out" 2>"$dir/c1.err" &
export_pid=$!
get_bg p1 "$base/h.bin" "$dir/out/h1" h1
mport=$(sed -n 's/^vx serve: metrics on port //p' "$dir/p2.out")
[ -n "$mport" ] || fail "p2 printed no metrics port"
conns() { curl -fsS "http://127.0.0.1:$mport/metrics" |
	awk '$1 == "vx_upload_connections" { print int($2) }'; }
for i in $(seq 200); do
	[ "$(conns)" -gt 1 ] && break
	sleep 0.1
done
[ "$(conns)" -gt 1 ] ||
	fail "p1 is not fetching both h.bin and c.bin from p2 ($(conns) connections): the fetcher test tests nothing"

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
# log_within FILE PATTERN: whether PATTERN appears in FILE within 30 s
log_within() {
	for _ in $(seq 300); do
		grep -q "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
log_within "$dir/sched.log" "closing the connection of $p2_id (.*): its certificate no longer verifies" ||
	fail "the scheduler kept p2's open control connection"
# the control: p1's own certificate, held open as long, is still served
[ "$(sed -n 2p "$dir/kept.hold")" = "" ] ||
	fail "the connection of a valid certificate ended too: $(cat "$dir/kept.hold")"
! grep -q "closing the connection of $(grep -o 'ready: [^,]*' "$dir/p1.out" | cut -d' ' -f2) " \
	"$dir/sched.log" || fail "the scheduler closed p1's valid connection"

# 3. p1's fetcher dropped p2 once its client context took the CRL (with the upload port's),
#    and its download still completes, partly from the origin
log_within "$dir/p1.log" "fetcher: parent [0-9]* ($p2_id): its certificate no longer verifies (revoked or expired): its connections are closed" ||
	fail "p1's fetcher kept its open connections to revoked p2: $(grep fetcher "$dir/p1.log" | tail -5)"
# the cache export's fetcher too (it runs on a thread of its own): it drops p2, its only
# holder, so the export fails rather than finishing from a revoked host
wait "$export_pid" && fail "p1's export finished from revoked p2: $(cat "$dir/c1.out")"
[ "$(grep -c "fetcher: parent [0-9]* ($p2_id): its certificate no longer verifies" "$dir/p1.log")" -ge 2 ] ||
	fail "p1's cache fetch kept its connections to revoked p2: $(grep -i 'cache\|fetcher' "$dir/p1.log" | tail -5)"
[ ! -e "$dir/out/c1" ] || fail "the failed export left an output"
for i in $(seq 600); do
	[ -s "$dir/h1.rc" ] && break
	sleep 0.1
done
[ "$(cat "$dir/h1.rc" 2>/dev/null)" = 0 ] || fail "p1's download of h.bin failed: $(cat "$dir/h1.err" 2>/dev/null)"
same_file "$dir/www/h.bin" "$dir/out/h1" "p1 (h.bin)"
grep -q '"bytes_from_source": [1-9]' "$dir/h1.json" ||
	fail "p1 took all of h.bin from p2: revoked too late (inconclusive): $(cat "$dir/h1.json")"

serve_stop p1
echo "$name: ok"
