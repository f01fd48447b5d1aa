#!/usr/bin/env python3
# tcp_failover.py BACKEND...: "several control planes behind one address" for tests. Listens
# on a loopback port (printed as "port N"), and hands each connection to the first backend
# (HOST:PORT) that accepts it, copying bytes both ways until either side closes. When a backend
# dies its connections close, and clients that reconnect land on the next one that lives.
import socket
import sys
import threading


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(c, backends):
    for host, port in backends:
        try:
            u = socket.create_connection((host, port), 2)
        except OSError:
            continue
        u.settimeout(None)
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
        return
    c.close()


def main():
    backends = []
    for a in sys.argv[1:]:
        h, p = a.rsplit(":", 1)
        backends.append((h, int(p)))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print("port", ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, backends), daemon=True).start()


main()
