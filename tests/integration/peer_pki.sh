#!/usr/bin/env bash
# peer_pki.sh VX: cluster identity (spec/control.md section 11) with a real scheduler and
# daemons on loopback, every certificate checked with the openssl CLI. dragonfly-behaviour.md
# section 5.5 items: 2 (no token or key in any log), 3 (join tokens: 128-bit secrets stored
# hashed, expiry and use counts enforced, an unknown token refused), 11 (key files 0600, a
# loosened CA key refuses the start), 19 (a peer certificate cannot act as a seed), 20
# (certificates bound to identity: host id and role come from the scheduler, never the CSR).
#   1. the scheduler makes its CA and server certificate (0600 keys, chaining to the CA)
#   2. a seed token gives a seed certificate, a peer token (--join-file, and the config key
#      scheduler.join_file) a peer certificate, naming the daemon's host id
#   3. a used-up, an expired, an unknown and a foreign-CA token are refused
#   4. a CSR with a wrong signature, an RSA or a P-384 key is refused (and spends no use); a
#      CSR whose subject claims another host id and role still gets the scheduler's identity
#   5. a peer certificate started as --seed is refused
#   6. renewal replaces the certificate before it expires (--cert-ttl 12s)
#   7. revoke puts the serial in crl.pem and another daemon's crl.pem picks it up; a revoked
#      host can neither renew nor say hello (its TLS handshake is refused)
#   8. a group-readable ca.key refuses the scheduler's start
set -euo pipefail
vx=$1
name=peer_pki
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
command -v openssl >/dev/null || {
	echo "$name: needs openssl, skipping" >&2
	exit 77
}
client=$(dirname "$0")/pki_join_client.py

sched_start --cert-ttl 12s
pki=$dir/sched.db.pki
ca=$pki/ca.pem

# token ROLE [vx token args...]: a join token, printed once on stdout
token() {
	local role=$1
	shift
	"$vx" token create --role "$role" --db "$dir/sched.db" "$@" 2>>"$dir/cli.log"
}
# san FILE: the certificate's URI SANs, one per line
san() { openssl x509 -in "$1" -noout -ext subjectAltName | grep -o 'URI:[^,]*' | sed 's/URI://'; }
# expect_cert DIR ROLE NAME: DIR/tls holds a certificate for NAME's host id and ROLE
expect_cert() {
	local t=$1/tls id
	id=$(grep -o 'ready: [^,]*' "$dir/$3.out" | cut -d' ' -f2)
	openssl verify -CAfile "$ca" "$t/cert.pem" >/dev/null || fail "$3: cert.pem does not chain to the CA"
	[ "$(san "$t/cert.pem" | sort | tr '\n' ' ')" = "urn:vx:host:$id urn:vx:role:$2 " ] ||
		fail "$3: wrong identity: $(san "$t/cert.pem" | tr '\n' ' ')"
	openssl x509 -in "$t/cert.pem" -noout -subject | grep -q "CN = $id" || fail "$3: CN is not $id"
	[ "$(stat -c %a "$t/key.pem")" = 600 ] || fail "$3: key.pem is not 0600"
	openssl x509 -in "$t/cert.pem" -noout -ext extendedKeyUsage |
		grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' ||
		fail "$3: extendedKeyUsage is not serverAuth + clientAuth"
	openssl x509 -in "$t/cert.pem" -noout -text | grep -q 'ASN1 OID: prime256v1' ||
		fail "$3: not a P-256 key"
	openssl pkey -in "$t/key.pem" -pubout | cmp -s - <(openssl x509 -in "$t/cert.pem" -noout -pubkey) ||
		fail "$3: key.pem is not the certificate's key"
	cmp -s "$t/ca.pem" "$ca" || fail "$3: ca.pem is not the scheduler's CA"
	[ -s "$t/crl.pem" ] || fail "$3: no crl.pem"
}

# 1. the CA
[ "$(stat -c %a "$pki/ca.key")" = 600 ] || fail "ca.key is not 0600"
[ "$(stat -c %a "$pki/server.key")" = 600 ] || fail "server.key is not 0600"
openssl verify -CAfile "$ca" "$pki/server.pem" >/dev/null || fail "server.pem does not chain"
openssl x509 -in "$ca" -noout -ext basicConstraints | grep -q 'CA:TRUE' || fail "ca.pem is no CA"
san "$pki/server.pem" | grep -qx 'urn:vx:role:scheduler' || fail "server.pem has no scheduler role"
openssl x509 -in "$pki/server.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' ||
	fail "server.pem does not name 127.0.0.1"
openssl crl -in "$pki/crl.pem" -noout -verify -CAfile "$ca" 2>&1 | grep -q 'verify OK' ||
	fail "crl.pem is not signed by the CA"

# a mistyped --db makes no CA of its own
! "$vx" token create --role peer --db "$dir/typo.db" >/dev/null 2>&1 || fail "a token for no CA"
[ ! -e "$dir/typo.db.pki" ] || fail "vx token create made a CA"

# 2. joins: seed (--join), peer (--join-file), peer (config scheduler.join_file)
seed_tok=$(token seed)
peer_tok=$(token peer --uses 3)
serve_start s1 --seed --join "$seed_tok"
expect_cert "$dir/s1" seed s1
(umask 077 && printf '%s\n' "$peer_tok" >"$dir/join.peer")
serve_start p1 --join-file "$dir/join.peer"
expect_cert "$dir/p1" peer p1
printf 'scheduler:\n  join_file: %s\n' "$dir/join.peer" >"$dir/p2.yaml"
"$vx" serve --config "$dir/p2.yaml" --data-dir "$dir/p2" --listen 127.0.0.1:0 \
	--socket "$dir/p2.sock" --scheduler "127.0.0.1:$sched_port" >"$dir/p2.out" 2>"$dir/p2.log" &
serve_pid[p2]=$!
wait_line "$dir/p2.out" '^vx serve: ready: ' "${serve_pid[p2]}" "vx serve p2" >/dev/null
expect_cert "$dir/p2" peer p2

# try_join NAME TOKEN [args]: vx serve must fail to start (exit 1) and write no certificate
try_join() {
	local n=$1 t=$2 rc=0
	shift 2
	timeout 30 "$vx" serve --data-dir "$dir/$n" --listen 127.0.0.1:0 --socket "$dir/$n.sock" \
		--scheduler "127.0.0.1:$sched_port" --join "$t" "$@" >"$dir/$n.out" 2>"$dir/$n.log" ||
		rc=$?
	[ "$rc" = 1 ] || fail "$n: vx serve exited $rc, not 1"
	[ ! -e "$dir/$n/tls/cert.pem" ] || fail "$n: a refused join wrote a certificate"
}
# 3. refused tokens
try_join x1 "$seed_tok" --seed # its one use is spent
grep -q 'refused the join' "$dir/x1.log" || fail "x1: no refusal in the log"
old_tok=$(token peer --ttl 1s)
sleep 2 # let it expire: the refusal, not a time, is what is checked
try_join x2 "$old_tok"
try_join x3 "vxj1.0123456789ab.0123456789abcdef0123456789abcdef.${seed_tok##*.}"
# the right id and secret, but pinning another CA: refused before any CSR is sent
pin_tok=$(token peer)
try_join x4 "${pin_tok%.*}.$(printf '0%.0s' $(seq 64))"
grep -q 'not the one the join token names\|refused the join' "$dir/x4.log" || fail "x4: no reason"

# 4. CSRs from a fake daemon
csr_tok=$(token peer)
(umask 077 && printf '%s\n' "$csr_tok" >"$dir/join.csr")
openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/rsa.key" -subj /CN=x -out "$dir/rsa.csr" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$dir/p384.key" \
	-subj /CN=x -out "$dir/p384.csr" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ok.key" \
	-subj "/CN=evil-0000000000000000" -addext "subjectAltName=URI:urn:vx:role:seed" \
	-out "$dir/ok.csr" 2>/dev/null
# the same CSR with one byte of its signature flipped
python3 - "$dir/ok.csr" "$dir/badsig.csr" <<'EOF'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
der[-5] ^= 0x01  # inside the ECDSA signature, at the end of the DER
b64 = base64.b64encode(bytes(der)).decode()
body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + body +
                             "\n-----END CERTIFICATE REQUEST-----\n")
EOF
for c in rsa p384 badsig; do
	st=$(python3 "$client" "$sched_port" join "$dir/join.csr" "fake-00000000000000aa" "$dir/$c.csr")
	[ "$st" -lt 0 ] || fail "a $c CSR was accepted (status $st)"
done
# none of them spent the token's one use: a good CSR still joins, with our identity only
st=$(python3 "$client" "$sched_port" join "$dir/join.csr" "fake-00000000000000aa" "$dir/ok.csr")
[ "$st" = 0 ] || fail "a good CSR after refused ones was refused ($st)"
[ "$(san "$dir/ok.csr.crt" | sort | tr '\n' ' ')" = "urn:vx:host:fake-00000000000000aa urn:vx:role:peer " ] ||
	fail "the CSR's subject or SAN reached the certificate"
openssl x509 -in "$dir/ok.csr.crt" -noout -subject | grep -q 'CN = fake-00000000000000aa' ||
	fail "the CSR's CN reached the certificate"
# RENEW with the host key of another host id is refused
st=$(python3 "$client" "$sched_port" renew - "fake-00000000000000aa" "$dir/ok.csr" "$(printf 'w%.0s' $(seq 64))")
[ "$st" -lt 0 ] || fail "a renew with a wrong host key was accepted"

# 5. a peer certificate cannot act as a seed
rc=0
timeout 30 "$vx" serve --data-dir "$dir/p1x" --listen 127.0.0.1:0 --socket "$dir/p1x.sock" \
	--scheduler "127.0.0.1:$sched_port" --join-file "$dir/join.peer" --seed \
	>"$dir/p1x.out" 2>"$dir/p1x.log" || rc=$?
[ "$rc" = 1 ] || fail "a peer certificate started as a seed: exit $rc"
grep -q 'refused our token' "$dir/p1x.log" || fail "p1x: the seed hello was not refused"

# 6. renewal before expiry
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f; }
first=$(serial "$dir/p1/tls/cert.pem")
first_end=$(date -d "$(openssl x509 -in "$dir/p1/tls/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
for i in $(seq 300); do
	[ "$(serial "$dir/p1/tls/cert.pem")" != "$first" ] && break
	sleep 0.1
done
cp "$dir/p1/tls/cert.pem" "$dir/revoked.pem" # the one revoked below, whatever p1 does next
now=$(serial "$dir/revoked.pem")
[ "$now" != "$first" ] || fail "p1's certificate was not renewed"
new_start=$(date -d "$(openssl x509 -in "$dir/revoked.pem" -noout -startdate | cut -d= -f2)" +%s)
[ "$new_start" -lt "$first_end" ] || fail "the renewal came after the old certificate expired"
expect_cert "$dir/p1" peer p1

# 7. revocation: by serial, then by host id
"$vx" cert revoke "$now" --db "$dir/sched.db" >/dev/null
openssl crl -in "$pki/crl.pem" -noout -text | grep -qi "Serial Number: $now" ||
	fail "the revoked serial is not in the scheduler's crl.pem"
# the CRL reaches the others (p1 itself, revoked, is refused its TLS CRL request)
for i in $(seq 300); do
	openssl crl -in "$dir/s1/tls/crl.pem" -noout -text | grep -qi "Serial Number: $now" && break
	sleep 0.1
done
openssl crl -in "$dir/s1/tls/crl.pem" -noout -text | grep -qi "Serial Number: $now" ||
	fail "s1's crl.pem did not pick up p1's revocation"
# OpenSSL itself now refuses the revoked certificate with that CRL (the TLS side's check)
! openssl verify -crl_check -CAfile "$ca" -CRLfile "$pki/crl.pem" "$dir/revoked.pem" \
	>"$dir/verify.txt" 2>&1 || fail "openssl accepted a revoked certificate"
grep -q 'certificate revoked' "$dir/verify.txt" || fail "not refused as revoked"
s1_id=$(grep -o 'ready: [^,]*' "$dir/s1.out" | cut -d' ' -f2)
"$vx" cert revoke "$s1_id" --db "$dir/sched.db" >/dev/null
serve_stop s1
rc=0
timeout 30 "$vx" serve --data-dir "$dir/s1" --listen 127.0.0.1:0 --socket "$dir/s1b.sock" \
	--scheduler "127.0.0.1:$sched_port" --seed >"$dir/s1b.out" 2>"$dir/s1b.log" || rc=$?
[ "$rc" = 1 ] || fail "a revoked host said hello: exit $rc"
"$vx" cert revoke "0123456789abcdef0123456789abcdef" --db "$dir/sched.db" >/dev/null 2>&1 &&
	fail "revoking an unknown serial succeeded"

# no token, secret or key in any log or output
for f in "$dir"/*.log "$dir"/*.out; do
	for t in "$seed_tok" "$peer_tok" "$csr_tok" "$pin_tok"; do
		sec=${t#vxj1.*.}
		sec=${sec%%.*}
		! grep -qF -e "$sec" "$f" || fail "$(basename "$f") holds a join token's secret"
	done
	for k in "$dir"/*/tls/key.pem "$pki/ca.key" "$pki/server.key"; do
		line=$(sed -n 2p "$k")
		! grep -qF -e "$line" "$f" || fail "$(basename "$f") holds a private key"
	done
done

# 8. a CA key others may read refuses the start
kill -TERM "$sched_pid"
wait "$sched_pid" || true
chmod 640 "$pki/ca.key"
rc=0
timeout 30 "$vx" scheduler --listen 127.0.0.1:0 --db "$dir/sched.db" --no-api \
	>"$dir/sched2.out" 2>"$dir/sched2.log" || rc=$?
[ "$rc" = 1 ] || fail "the scheduler started with a group-readable ca.key (exit $rc)"
grep -q 'ca.key must be a regular file that only its owner may read' "$dir/sched2.log" ||
	fail "no reason for the refusal"
echo "$name: ok"
