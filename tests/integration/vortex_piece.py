"""vortex_piece.py PORT TASK_ID PIECE [CA CERT|- KEY|-]: asks a daemon's upload port for one
piece the way any host can (spec/vortex.md: a plain DownloadPiece, tag 0x00, 64-byte task id,
piece number) and prints what came back: "piece BYTES" with the body's length, or "error TAG"
for another frame, or "closed". A raw client, no daemon of ours: what an attacker on the
network sees. With CA, over TLS 1.3 (the server checked against CA; CERT "-": no client
certificate); "closed" then also stands for a refused handshake or certificate.
With $VX_HOLD=SECONDS, the request goes after a vx HELLO (spec/vortex.md 5.1: the connection
stays open), after the piece the connection is kept open (nothing more is sent) and a second
line tells how it ended within SECONDS: "held-closed" (the server closed it) or "held-open"."""
import os
import socket
import ssl
import struct
import sys

from vx_wire import frame, recv_exact, recv_frame

port, task, number = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = raw
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the daemon's certificate names its host id, not an address
    ctx.load_verify_locations(sys.argv[4])
    if sys.argv[5] != "-":
        ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    try:
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError):
        print("closed")
        sys.exit(0)
with s:
    try:
        hold = float(os.environ.get("VX_HOLD", "0"))
        if hold:  # HELLO: magic, version 1, PIPELINE, max_inflight 4, max_value_len 64 KiB
            s.sendall(frame(0x40, b"VX" + struct.pack(">HIII", 1, 1, 4, 65536)))
        s.sendall(frame(0x00, task + struct.pack(">I", number)))
        tag, v = recv_frame(s)
        while hold and tag == 0x40:  # the server's HELLO comes first
            tag, v = recv_frame(s)
    except (ssl.SSLError, OSError):
        tag = None
    if tag is None:
        print("closed")
    elif tag != 0x01:
        print("error 0x%02x" % tag)
    else:
        mlen = struct.unpack(">I", v[:4])[0]
        blen = struct.unpack(">IQQ", v[4 : 4 + mlen][:20])[2]
        body = recv_exact(s, blen)
        print("piece %d" % (len(body) if body else 0), flush=True)
        if hold and body:
            s.settimeout(hold)
            try:
                end = s.recv(1) == b""
            except socket.timeout:
                end = False
            except (ssl.SSLError, OSError):
                end = True
            print("held-closed" if end else "held-open", flush=True)
