#!/usr/bin/env python3
"""pki_join_client.py PORT TYPE TOKEN_FILE HOST_ID CSR_FILE [HOST_KEY]: a fake daemon that
sends one JOIN (TYPE join) or RENEW (TYPE renew) request to a scheduler with the given CSR and
prints the response's status (0, or a negative errno); with status 0 it writes the issued
certificate to CSR_FILE.crt. TOKEN_FILE "-" sends no token."""
import socket
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from vx_wire import cbor_dec, cbor_enc, frame, recv_frame  # noqa: E402

port, kind, tok_file, host_id, csr_file = sys.argv[1:6]
host_key = sys.argv[6] if len(sys.argv) > 6 else "k" * 64
msg = {0: 7, 1: 15 if kind == "join" else 16, 2: 1, 8: host_id, 19: host_key,
       67: open(csr_file, "rb").read()}
if tok_file != "-":
    msg[16] = open(tok_file).read().strip()
s = socket.create_connection(("127.0.0.1", int(port)), 5)
s.settimeout(10)
s.sendall(frame(0x60, cbor_enc(msg)))
tag, val = recv_frame(s)
if tag != 0x61:
    print("no response")
    sys.exit(1)
resp, _ = cbor_dec(val)
assert resp[0] == 7, resp
st = resp.get(3, 0)
if st == 0:
    open(csr_file + ".crt", "wb").write(resp[68])
print(st)
