#!/usr/bin/env bash
# control_tls.sh: TLS 1.3 with mutual authentication on the control channel (spec/control.md
# section 10), real `vx scheduler` and `vx serve` on loopback, certificates made here by the
# openssl CLI (tls_lib.sh), attacks by a fake host (tls_hello.py):
#   1. a download through a scheduler over TLS: a seed configured by tls.cert:, tls.key:,
#      tls.ca:, tls.crl: keys and two peers by DATA_DIR/tls/ files, hosts named by their
#      certificates; the origin sends the file once
#   2. refused on the channel: no client certificate (nothing but JOIN is allowed), a
#      certificate of another CA, an expired one, a revoked one (in the CRL), a peer certificate
#      claiming seed (the fake host and a real `vx serve --seed`), a hello naming another host
#      id than its certificate, plaintext to the TLS scheduler; a valid fake host is accepted
#   3. a CRL renewed on disk is reloaded: a host revoked afterwards is refused on its next
#      connection
#   4. secure by default: `vx serve` and `vx scheduler` on an address that is not loopback,
#      without TLS files, refuse to start naming the fix; --insecure-plaintext (also
#      tls.insecure_plaintext: in the config) starts with a warning; a key file open to group
#      or others is refused; `vx config check` takes tls.* only together; the key never shows
#      in a log; with TLS files and an upload listener beyond loopback the daemon says that
#      the data plane has no TLS on this branch
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): 20 (mTLS by default,
# certificates bound to identity), 19 (a forged seed claim is refused), 11 (key files 0600),
# 2 (no secret in a log line).
# Every wait is bounded; nothing depends on how long something took.
set -euo pipefail
vx=$1
name=control_tls
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/tls_lib.sh"
peer_lib_init
command -v openssl >/dev/null || {
	echo "$name: needs openssl, skipping" >&2
	exit 77
}
hello=$(dirname "$(realpath "$0")")/tls_hello.py

tls_ca ca
tls_ca other
tls_cert ca sched scheduler "URI:urn:vx:role:scheduler,IP:127.0.0.1"
tls_host ca seed seed-00000000000000a1 seed
tls_host ca p1 p1-00000000000000b1 peer
tls_host ca p2 p2-00000000000000b2 peer
tls_host ca fake fake-00000000000000c1 peer
tls_host ca late late-00000000000000c2 peer
tls_host other alien alien-00000000000000d1 peer
tls_cert ca old old-00000000000000e1 \
	"URI:urn:vx:host:old-00000000000000e1,URI:urn:vx:role:peer,IP:127.0.0.1" \
	-startdate 20200101000000Z -enddate 20200102000000Z
tls_host ca rev rev-00000000000000f1 peer
tls_revoke ca rev
tls_crl ca "$dir/crl.pem"
ca=$dir/ca/ca.pem

origin_start
sched_start --tls-cert "$dir/sched.pem" --tls-key "$dir/sched.key" --tls-ca "$ca" \
	--tls-crl "$dir/crl.pem"

# 1. a download through the scheduler over TLS
cat >"$dir/seed.yaml" <<YAML
tls:
  cert: $dir/seed.pem
  key: $dir/seed.key
  ca: $ca
  crl: $dir/crl.pem
YAML
serve_start seed --seed --config "$dir/seed.yaml"
for n in p1 p2; do
	tls_install "$n" "$ca" "$dir/crl.pem"
	serve_start "$n"
	grep -q "^vx serve: ready: $n-00000000000000b" "$dir/$n.out" ||
		fail "$n: the host id is not its certificate's: $(cat "$dir/$n.out")"
done
grep -q '^vx serve: ready: seed-00000000000000a1, .*, seed$' "$dir/seed.out" ||
	fail "seed: not named by its certificate: $(cat "$dir/seed.out")"
make_file f1 3000000
for n in p1 p2; do
	get "$n" "$base/f1" "$dir/out/$n.f1"
	[ "$rc" -eq 0 ] || fail "($n) download over TLS failed: $err"
	same_file "$dir/www/f1" "$dir/out/$n.f1" "($n)"
done
sent=$(origin_body_bytes /f1)
[ "$sent" -eq 3000000 ] ||
	fail "the origin sent $sent bytes for 3000000: the hosts did not share through the scheduler"

# 2. what the channel refuses; the fake host with a valid certificate is the control
try() { # try CERT HOST_ID ROLE [plain]: tls_hello.py's line in $res
	res=$(timeout 30 python3 "$hello" "$sched_port" "$ca" "$dir/$1.pem" "$dir/$1.key" "$2" \
		"$3" ${4:+"$4"} 2>&1) || fail "tls_hello.py: $res"
}
refused() { # refused WHAT: $res is a refusal (no accepted hello)
	case "$res" in
	"answer -13" | closed* | tls-error*) ;;
	*) fail "$1: not refused: '$res'" ;;
	esac
}
try fake fake-00000000000000c1 0
[ "$res" = "answer 0 then 0" ] || fail "a valid certificate: '$res', want 'answer 0 then 0'"
# no certificate, even with a valid join token (tokens are the --insecure-plaintext path)
res=$(VX_JOIN_TOKEN=$sched_peer_token timeout 30 python3 "$hello" "$sched_port" "$ca" - - \
	fake-00000000000000c1 0 2>&1)
[ "$res" = "answer -13" ] || fail "no client certificate: '$res', want 'answer -13'"
try alien alien-00000000000000d1 0
refused "a certificate of another CA"
try old old-00000000000000e1 0
refused "an expired certificate"
try rev rev-00000000000000f1 0
refused "a revoked certificate"
try fake fake-00000000000000c1 1
[ "$res" = "answer -13" ] || fail "a peer certificate claiming seed: '$res', want 'answer -13'"
try fake p1-00000000000000b1 0
[ "$res" = "answer -13" ] || fail "a hello naming another host id: '$res', want 'answer -13'"
try fake fake-00000000000000c1 0 plain
case "$res" in closed*) ;; *) fail "plaintext to the TLS scheduler: '$res', want closed" ;; esac
grep -q "certificate refused: certificate has expired" "$dir/sched.log" ||
	fail "the scheduler did not say why it refused the expired certificate"
grep -q "certificate refused: certificate revoked" "$dir/sched.log" ||
	fail "the scheduler did not say why it refused the revoked certificate"

# a real daemon with a peer certificate asking for the seed role does not start
cat >"$dir/fakeseed.yaml" <<YAML
tls:
  cert: $dir/fake.pem
  key: $dir/fake.key
  ca: $ca
YAML
rc=0
timeout 30 "$vx" serve --data-dir "$dir/fakeseed" --listen 127.0.0.1:0 --socket "$dir/fs.sock" \
	--scheduler "127.0.0.1:$sched_port" --seed --config "$dir/fakeseed.yaml" \
	>"$dir/fakeseed.out" 2>"$dir/fakeseed.err" || rc=$?
[ "$rc" -eq 1 ] || fail "vx serve --seed with a peer certificate: exit $rc, want 1"
grep -q "refused our certificate or the role" "$dir/fakeseed.err" ||
	fail "vx serve --seed with a peer certificate said: $(cat "$dir/fakeseed.err")"

# 3. the CRL is reloaded when it changes: late is accepted, revoked, then refused
try late late-00000000000000c2 0
[ "$res" = "answer 0 then 0" ] || fail "late before revocation: '$res'"
tls_revoke ca late
tls_crl ca "$dir/crl.new"
mv "$dir/crl.new" "$dir/crl.pem"
for i in $(seq 60); do
	try late late-00000000000000c2 0
	[ "$res" != "answer 0 then 0" ] && break
	sleep 0.5
done
refused "a certificate revoked after the start (CRL reload)"
grep -q "TLS certificate files changed: reloaded" "$dir/sched.log" ||
	fail "the scheduler did not log the reload"

# 4. secure by default
rc=0
timeout 20 "$vx" serve --data-dir "$dir/open" --listen 0.0.0.0:0 --socket "$dir/open.sock" \
	>"$dir/open.out" 2>"$dir/open.err" || rc=$?
[ "$rc" -eq 2 ] || fail "vx serve on 0.0.0.0 without TLS: exit $rc, want 2"
grep -q "refusing plaintext on 0.0.0.0:0 (not loopback): give tls.cert, tls.key and tls.ca" \
	"$dir/open.err" || fail "vx serve on 0.0.0.0 said: $(cat "$dir/open.err")"
grep -q -- "--insecure-plaintext" "$dir/open.err" || fail "the refusal does not name the flag"
rc=0
timeout 20 "$vx" serve --data-dir "$dir/open" --listen 127.0.0.1:0 --socket "$dir/open.sock" \
	--scheduler 192.0.2.1:8002 >"$dir/open.out" 2>"$dir/open.err" || rc=$?
[ "$rc" -eq 2 ] || fail "vx serve dialling 192.0.2.1 without TLS: exit $rc, want 2"
rc=0
timeout 20 "$vx" scheduler --listen 0.0.0.0:0 --db "$dir/open.db" --no-api --no-pki \
	>"$dir/sopen.out" 2>"$dir/sopen.err" || rc=$?
[ "$rc" -eq 2 ] || fail "vx scheduler on 0.0.0.0 without TLS: exit $rc, want 2"
grep -q "refusing plaintext on 0.0.0.0:0 (not loopback): give --tls-cert" "$dir/sopen.err" ||
	fail "vx scheduler on 0.0.0.0 said: $(cat "$dir/sopen.err")"
# tls.insecure_plaintext: in the config, and --insecure-plaintext: both start, warned
printf 'tls:\n  insecure_plaintext: true\n' >"$dir/insecure.yaml"
serve_start ins1 --no-scheduler --listen 0.0.0.0:0 --config "$dir/insecure.yaml"
grep -q "warning: --insecure-plaintext" "$dir/ins1.log" || fail "no warning for plaintext"
serve_stop ins1
serve_start ins2 --no-scheduler --listen 0.0.0.0:0 --insecure-plaintext
grep -q "warning: --insecure-plaintext" "$dir/ins2.log" || fail "no warning for the flag"
serve_stop ins2
# TLS files and a listener beyond loopback: starts, with TLS on the data plane too
serve_start dp --no-scheduler --listen 0.0.0.0:0 --config "$dir/fakeseed.yaml"
! grep -q "no TLS in this build" "$dir/dp.log" || fail "the data plane says it has no TLS"
serve_stop dp
# a key file open to group or others is refused, naming the fix
cp "$dir/p1.key" "$dir/open.key"
chmod 644 "$dir/open.key"
printf 'tls:\n  cert: %s\n  key: %s\n  ca: %s\n' "$dir/p1.pem" "$dir/open.key" "$ca" \
	>"$dir/openkey.yaml"
rc=0
timeout 20 "$vx" serve --data-dir "$dir/ok" --listen 127.0.0.1:0 --socket "$dir/ok.sock" \
	--config "$dir/openkey.yaml" >"$dir/ok.out" 2>"$dir/ok.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a key file of mode 644: exit $rc, want 1"
grep -q "open.key is open to group or others (mode 644): chmod 600 it" "$dir/ok.err" ||
	fail "a key file of mode 644: $(cat "$dir/ok.err")"
# vx config check: the three together, the CRL only with them
printf 'tls:\n  cert: c.pem\n  crl: r.pem\n' >"$dir/half.yaml"
rc=0
out=$("$vx" config check "$dir/half.yaml" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [ "$out" = "vx config: $dir/half.yaml: tls.cert, tls.key and tls.ca go together: set all three or none" ] ||
	fail "vx config check of half the tls keys: exit $rc, '$out'"
"$vx" config check "$dir/seed.yaml" >/dev/null 2>&1 || fail "vx config check of seed.yaml failed"
# the private keys never show in a log
for n in sched seed p1 p2; do
	k=$(sed -n 2p "$dir/$n.key")
	! grep -rqF -- "$k" "$dir"/*.log "$dir"/*.out || fail "$n's key shows in a log"
done
echo "$name: ok"
