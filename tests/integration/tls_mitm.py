#!/usr/bin/env python3
"""tls_mitm.py OUT CERT KEY: a man in the middle of a daemon's JOIN. A TLS 1.3 server with a
certificate that is not the one the join token pins (another CA's, even with the scheduler
role and the right address) that takes connections until killed, and counts the application
bytes each one sent (a JOIN carries the token's secret). Writes "port N" to OUT when
listening, then after each connection a line "got BYTES"."""
import socket
import ssl
import sys

out, cert, key = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
with open(out, "a") as f:
    f.write("port %d\n" % ls.getsockname()[1])
while True:
    raw, _ = ls.accept()
    raw.settimeout(10)
    got = 0
    try:
        s = ctx.wrap_socket(raw, server_side=True)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
    except (ssl.SSLError, OSError):
        pass
    raw.close()
    with open(out, "a") as f:
        f.write("got %d\n" % got)
