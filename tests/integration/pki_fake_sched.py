#!/usr/bin/env python3
"""pki_fake_sched.py DATA_DIR HOST_ID: a fake scheduler against a joined daemon's renewal
thread (spec/control.md section 11). It first writes DATA_DIR/tls as a join would have: a CA
the daemon trusts, a key, a certificate for HOST_ID already past 2/3 of its life (so the
thread renews at once) and a CRL of that CA with CRL number 100. Then it listens on three
loopback ports, prints them on one line, and answers the thread's requests over TLS 1.3 with a
server certificate of the trusted CA (role scheduler, 127.0.0.1), as the real scheduler would
(the daemon speaks TLS once it holds a certificate); the scheduler client's hello is refused:
  port 1: CRL -> a list the trusted CA signed earlier (CRL number 50: a rollback past a revoke)
          RENEW -> a certificate for the daemon's key and HOST_ID from a rogue CA, with that CA
  port 2: CRL -> a list of the rogue CA under the trusted CA's name (fails every handshake)
  port 3: CRL -> bytes that are no CRL
Each answer is logged on stderr ("answered crl 1", ...)."""
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(__file__))
from vx_wire import cbor_dec, cbor_enc, frame, recv_frame  # noqa: E402

data_dir, host_id = sys.argv[1:3]
now = datetime.datetime.now(datetime.timezone.utc)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vx cluster CA")])


def make_ca():
    k = ec.generate_private_key(ec.SECP256R1())
    c = (x509.CertificateBuilder().subject_name(CA_NAME).issuer_name(CA_NAME)
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=10))
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(k.public_key()), critical=False)
         .sign(k, hashes.SHA256()))
    return k, c


def issue(ca_key, ca, pub, before, after, host_id=host_id):
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_id)]))
            .issuer_name(ca.subject).public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(before).not_valid_after(after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier("urn:vx:host:" + host_id),
                x509.UniformResourceIdentifier("urn:vx:role:peer")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))


def crl(ca_key, number):
    return (x509.CertificateRevocationListBuilder().issuer_name(CA_NAME)
            .last_update(now - datetime.timedelta(minutes=1))
            .next_update(now + datetime.timedelta(days=7))
            .add_extension(x509.CRLNumber(number), critical=False)
            .sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


pem = serialization.Encoding.PEM  # keys: 67 csr, 68 cert, 69 ca, 70 crl
ca_key, ca = make_ca()
rogue_key, rogue = make_ca()
key = ec.generate_private_key(ec.SECP256R1())
cert = issue(ca_key, ca, key.public_key(), now - datetime.timedelta(seconds=100),
             now + datetime.timedelta(seconds=20))
tls = os.path.join(data_dir, "tls")
os.makedirs(tls, mode=0o700, exist_ok=True)
fd = os.open(os.path.join(tls, "key.pem"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()))
os.close(fd)
for name, body in (("ca.pem", ca.public_bytes(pem)), ("crl.pem", crl(ca_key, 100)),
                   ("cert.pem", cert.public_bytes(pem))):
    with open(os.path.join(tls, name), "wb") as f:
        f.write(body)

# the fake's server certificate: the trusted CA's, as a scheduler's (spec/control.md section 10)
srv_key = ec.generate_private_key(ec.SECP256R1())
srv_cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scheduler")]))
            .issuer_name(ca.subject).public_key(srv_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier("urn:vx:host:scheduler"),
                x509.UniformResourceIdentifier("urn:vx:role:scheduler"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
srv_pem = os.path.join(data_dir, "..", "fake-srv.pem")
fd = os.open(srv_pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()) + srv_cert.public_bytes(pem))
os.close(fd)
tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
tls_ctx.load_cert_chain(srv_pem)

crls = {1: crl(ca_key, 50), 2: crl(rogue_key, 200),
        3: b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"}


def answer(n, conn):
    try:
        conn.settimeout(10)
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] == 0x16:
            conn = tls_ctx.wrap_socket(conn, server_side=True)
        tag, val = recv_frame(conn)
        req, _ = cbor_dec(val)
        resp = {0: req[0], 1: req[1], 2: req[2], 3: 0}  # rid, type, version, status
        if req[1] == 17:
            resp[70] = crls[n]
            what = "crl"
        elif req[1] == 16 and n == 1:
            csr = x509.load_pem_x509_csr(req[67])
            c = issue(rogue_key, rogue, csr.public_key(), now - datetime.timedelta(seconds=1),
                      now + datetime.timedelta(hours=1), req[8])  # the id it renews as
            resp[68] = c.public_bytes(pem)
            resp[69] = rogue.public_bytes(pem)
            resp[70] = crl(rogue_key, 300)
            what = "renew"
        else:
            resp[3] = -13
            what = "refuse"
        conn.sendall(frame(0x61, cbor_enc(resp)))
        print("answered %s %d for %s" % (what, n, req[8]), file=sys.stderr, flush=True)
    except Exception as e:  # noqa: BLE001 - a fake: say it, keep serving
        print("fake %d: %r" % (n, e), file=sys.stderr, flush=True)
    finally:
        conn.close()


def serve(n, s):
    while True:
        conn, _ = s.accept()
        threading.Thread(target=answer, args=(n, conn), daemon=True).start()


socks = []
for n in (1, 2, 3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    socks.append(s)
    threading.Thread(target=serve, args=(n, s), daemon=True).start()
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
threading.Event().wait()
