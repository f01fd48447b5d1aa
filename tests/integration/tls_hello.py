#!/usr/bin/env python3
# tls_hello.py: a fake host on a scheduler's control channel over TLS (spec/control.md 10), to
# try what a real daemon would not: no certificate, a certificate of another CA, an expired or
# revoked one, a seed claim with a peer certificate, another host id than the certificate's,
# and plaintext to a TLS scheduler. With $VX_STARTTLS set, the connection opens with the
# STARTTLS header (a member's Vortex port, spec/peer.md "Members") before the ClientHello.
#   tls_hello.py PORT CA CERT|- KEY|- HOST_ID ROLE [plain]
# CERT "-": no client certificate. ROLE 0 normal, 1 seed. "plain": no TLS at all. With
# $VX_JOIN_TOKEN set, the hello carries it (a token must not stand in for a certificate).
# Prints one line: "answer STATUS" (the hello's status; then a second request's status after
# it as "then STATUS" when the hello was accepted), "closed" (no answer, the scheduler closed),
# or "tls-error REASON". Exit 0 whatever the scheduler did; 2 on a usage or local error.
# With $VX_REGISTER_TASK set (a task id), the second request is a register of that task
# claiming every piece (bitmap all ones) instead of an announce: a host of another tenant trying
# to join, and be offered as a parent of, a task it may not read.
import os
import socket
import ssl
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vx_wire import cbor_dec, cbor_enc, recv_frame  # noqa: E402


def request(s, rid, typ, m):
    v = cbor_enc({0: rid, 1: typ, 2: 1, **m})
    s.sendall(struct.pack(">BBI", 0, 0x60, len(v)) + v)
    while True:
        tag, v = recv_frame(s)
        if tag is None:
            return None
        r, _ = cbor_dec(v)
        if tag == 0x61 and r.get(0) == rid:
            return r.get(3, 0)


def main():
    if len(sys.argv) < 7:
        sys.exit(2)
    port, ca, cert, key, host_id, role = sys.argv[1:7]
    plain = len(sys.argv) > 7 and sys.argv[7] == "plain"
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    if os.environ.get("VX_STARTTLS"):
        raw.sendall(struct.pack(">BBI", 0, 0x60, 0))
    if plain:
        s = raw
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(ca)
        if cert != "-":
            ctx.load_cert_chain(cert, key)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    hello = {8: host_id, 9: "127.0.0.1", 10: 4005, 13: int(role), 19: os.urandom(32).hex()}
    if os.environ.get("VX_JOIN_TOKEN"):
        hello[16] = os.environ["VX_JOIN_TOKEN"]
    try:
        st = request(s, 1, 1, hello)
        if st is None:
            print("closed")
            return
        if st != 0:
            print("answer %d" % st)
            return
        task = os.environ.get("VX_REGISTER_TASK")
        if task:  # register: task_id, piece_len, content_len, bitmap
            st2 = request(s, 2, 3, {20: task, 22: 4 << 20, 23: 9 << 20, 33: b"\xff"})
        else:
            st2 = request(s, 2, 2, {17: 0})  # announce: uploads
        print("answer 0 then %s" % ("closed" if st2 is None else st2))
    except ssl.SSLError as e:
        print("tls-error %s" % (e.reason or e))
    except (ConnectionError, socket.timeout) as e:
        print("closed (%s)" % e.__class__.__name__)


main()
