#!/usr/bin/env bash
# peer_pki_fake.sh VX: a joined daemon against fake schedulers (tests/integration/
# pki_fake_sched.py) that answer its renewal thread with a rogue CA and with CRLs it must not
# take (spec/control.md section 11). dragonfly-behaviour.md section 5.5 items 10 (a fake
# scheduler cannot make a daemon trust another CA) and 20 (certificates bound to identity).
#   1. RENEW answered with a certificate for our key and host id from another CA, shipped with
#      that CA: refused; ca.pem, cert.pem and key.pem stay as they were
#   2. CRL answered with an older list of our own CA (a rollback past a revoke), a list signed
#      by another key under our CA's name (it would fail every handshake), and no CRL at all:
#      each refused; crl.pem stays as it was
set -euo pipefail
vx=$1
name=peer_pki_fake
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
need_py_cryptography
id=fake-0123456789abcdef
mkdir -p "$dir/d"
python3 "$(dirname "$0")/pki_fake_sched.py" "$dir/d" "$id" >"$dir/fake.out" 2>"$dir/fake.log" &
bg_pids+=("$!")
ports=$(wait_line "$dir/fake.out" '^[0-9]+ [0-9]+ [0-9]+$' "$!" "fake scheduler")
read -r p1 p2 p3 <<<"$ports"
t=$dir/d/tls
for f in ca.pem cert.pem key.pem crl.pem; do cp "$t/$f" "$dir/$f.before"; done

"$vx" serve --data-dir "$dir/d" --listen 127.0.0.1:0 --socket "$dir/d.sock" --log-level info \
	--scheduler "127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3" >"$dir/d.out" 2>"$dir/d.log" &
serve_pid[d]=$!
# the thread asks for the CRL first, then renews (its certificate is past 2/3 of its life):
# the renewal's outcome is logged either way
wait_line "$dir/d.log" 'certificate renew' "${serve_pid[d]}" "vx serve" >/dev/null
grep -q 'answered renew 1' "$dir/fake.log" || fail "the fake was never asked to renew"
grep -q 'answered crl' "$dir/fake.log" || fail "the fake was never asked for the CRL"

# 1. the rogue CA was not taken
cmp -s "$t/ca.pem" "$dir/ca.pem.before" || fail "a fake scheduler's RENEW answer replaced ca.pem"
cmp -s "$t/cert.pem" "$dir/cert.pem.before" || fail "a rogue CA's certificate replaced cert.pem"
cmp -s "$t/key.pem" "$dir/key.pem.before" || fail "key.pem replaced by a refused renewal"
grep -q 'renewal failed: the scheduler.s CA is not the one we hold' "$dir/d.log" ||
	fail "the refusal does not say why"
# 2. no CRL was taken
cmp -s "$t/crl.pem" "$dir/crl.pem.before" || fail "crl.pem replaced by a fake scheduler's list"
grep -q 'CRL that is older than ours' "$dir/d.log" || fail "the rollback is not said"
grep -q "CRL that is not our CA's" "$dir/d.log" || fail "a foreign list is not said"
echo "$name: ok"
