#!/usr/bin/env bash
# peer_pki_flood.sh VX: JOINs from someone without a join token (spec/control.md section 11)
# against a real scheduler. dragonfly-behaviour.md section 5.5 items 3 (an unknown token
# refused) and 13 (per-connection limits).
#   An attacker pipelines JOINs on one connection, each with a made-up token and a CSR whose
#   signature is broken. The scheduler checked the CSR first (a full ECDSA verification on its
#   one thread) and answered -EBADMSG with the connection kept open, so one connection could
#   keep it verifying signatures. Now the token is looked at first (without spending a use):
#   one -EACCES, then the connection is closed. A good token with a bad CSR still keeps its use.
set -euo pipefail
vx=$1
name=peer_pki_flood
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
need_py_cryptography
sched_start
tok=$("$vx" token create --role peer --db "$dir/sched.db" 2>>"$dir/cli.log")

# flood PORT TOKEN N: N JOINs with TOKEN and a broken CSR on one connection; prints the
# statuses answered before the scheduler closed it
flood() {
	python3 - "$@" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[4])
from vx_wire import cbor_dec, cbor_enc, frame, recv_frame
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import base64
port, tok, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
k = ec.generate_private_key(ec.SECP256R1())
der = bytearray(x509.CertificateSigningRequestBuilder().subject_name(
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(k, hashes.SHA256())
    .public_bytes(serialization.Encoding.DER))
der[-5] ^= 1  # inside the ECDSA signature
b64 = base64.b64encode(bytes(der)).decode()
csr = ("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(
    b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n-----END CERTIFICATE REQUEST-----\n").encode()
s = socket.create_connection(("127.0.0.1", port), 5)
s.settimeout(10)
s.sendall(b"".join(frame(0x60, cbor_enc({0: i + 1, 1: 15, 2: 1, 8: "flood-%d" % i, 19: "k" * 64,
                                          16: tok, 67: csr})) for i in range(n)))
out = []
try:
    while len(out) < n:
        tag, val = recv_frame(s)
        out.append(str(cbor_dec(val)[0].get(3, 0)))
except Exception:
    pass  # closed by the scheduler
print(" ".join(out))
PY
}
lib=$(dirname "$(realpath "$0")")
got=$(flood "$sched_port" "vxj1.0123456789ab.0123456789abcdef0123456789abcdef.${tok##*.}" 20 "$lib")
[ "$got" = "-13" ] || fail "a JOIN without a valid token was answered '$got', not one -13 then a close"
# a valid token with a broken CSR: -EBADMSG, the use kept (the next good join works)
got=$(flood "$sched_port" "$tok" 1 "$lib")
[ "$got" = "-74" ] || fail "a broken CSR with a good token was answered '$got', not -74"
(umask 077 && printf '%s\n' "$tok" >"$dir/join.tok")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ok.key" \
	-subj /CN=x -out "$dir/ok.csr" 2>/dev/null
st=$(python3 "$lib/pki_join_client.py" "$sched_port" join "$dir/join.tok" "ok-1" "$dir/ok.csr")
[ "$st" = 0 ] || fail "the token's one use was spent by a refused CSR ($st)"
echo "$name: ok"
