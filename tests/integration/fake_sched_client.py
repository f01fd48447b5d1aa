#!/usr/bin/env python3
# fake_sched_client.py: a hostile scheduler client speaking the control protocol
# (spec/control.md: 6-byte Vortex frame header, one CBOR map with small integer keys).
#   fake_sched_client.py PORT SRC_IP HOST_ID ACTION TASK_ID URL [PIECES [SECONDS]]
# ACTION register or register-bts (with need_bts): hello, register, print the answer as JSON,
#   then (with PIECES) serve PIECES pieces of 1 MiB of the attacker's bytes ("EVIL...") as a
#   plain Vortex parent on SRC_IP, report them all held with their CRC-32 digests and the
#   attacker's geometry, say FINISHED, and print {"bogus": [digests]}; stay connected for
#   SECONDS (default 3), printing each event pushed to it as {"event": N, "answer": A}.
# Sends ctl key 16 (token) in hello when $sched_peer_token is set, and a random host key (19).
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib

from vx_wire import cbor_dec as dec, cbor_enc as enc  # noqa: E402

PIECE = 1 << 20


class Conn:
    def __init__(self, port, src):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                          source_address=(src, 0))
        self.rid = 0

    def send(self, typ, m):
        self.rid += 1
        m = {0: self.rid, 1: typ, 2: 1, **m}
        v = enc(m)
        self.s.sendall(struct.pack(">BBI", 0, 0x60, len(v)) + v)
        return self.rid

    def recv(self):
        h = self._read(6)
        _, tag, n = struct.unpack(">BBI", h)
        return tag, dec(self._read(n))[0]

    def response(self, rid):
        while True:
            tag, m = self.recv()
            if tag == 0x61 and m.get(0) == rid:
                return m

    def _read(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("scheduler closed the connection")
            b += c
        return b


def peer_hello(port, name, token):
    """A connection from 127.0.0.1 that said hello as peer @name with @token (answered 0)."""
    c = Conn(port, "127.0.0.1")
    hello = {8: name, 9: "127.0.0.1", 10: 9, 13: 0, 16: token, 19: os.urandom(32).hex()}
    r = c.response(c.send(1, hello))
    assert r.get(3, 0) == 0, r
    return c


def evil_piece(n):
    return (b"EVIL%08d" % n) * (PIECE // 12) + b"E" * (PIECE % 12)


def serve_vortex(ls, pieces):
    # plain Vortex (spec/vortex.md 3, 4): drop a HELLO (the downloader then reconnects
    # without it), answer one DownloadPiece with PieceContent, close
    while True:
        conn, _ = ls.accept()
        try:
            conn.settimeout(5)
            h = b""
            while len(h) < 6:
                c = conn.recv(6 - len(h))
                if not c:
                    raise EOFError
                h += c
            _, tag, n = struct.unpack(">BBI", h)
            v = b""
            while len(v) < n:
                c = conn.recv(n - len(v))
                if not c:
                    raise EOFError
                v += c
            if tag == 0x00 and n == 68:
                num = struct.unpack(">I", v[64:68])[0]
                body = evil_piece(num) if num < pieces else b""
                dg = b"crc32:%d" % zlib.crc32(body)
                meta = (struct.pack(">IQQ", num, num * PIECE, len(body)) +
                        struct.pack(">I", len(dg)) + dg + struct.pack(">I", 0) +
                        struct.pack(">BQq", 1, 0, int(time.time())))
                val = struct.pack(">I", len(meta)) + meta
                conn.sendall(struct.pack(">BBI", 0, 0x01, len(val)) + val + body)
        except (OSError, EOFError):
            pass
        finally:
            conn.close()


def main():
    port, src, host_id, action, task, url = sys.argv[1:7]
    pieces = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    stay = float(sys.argv[8]) if len(sys.argv) > 8 else 3
    c = Conn(int(port), src)
    ls = socket.socket()
    ls.bind((src, 0))
    ls.listen(16)
    threading.Thread(target=serve_vortex, args=(ls, pieces), daemon=True).start()
    hello = {8: host_id, 9: src, 10: ls.getsockname()[1], 13: 0}
    if os.environ.get("sched_peer_token"):
        hello[16] = os.environ["sched_peer_token"]
    hello[19] = os.urandom(32).hex()  # host_key: a fresh host id binds to a fresh key
    r = c.response(c.send(1, hello))
    if r.get(3, 0) != 0:
        sys.exit("hello refused: %r" % r)
    if action not in ("register", "register-bts"):
        sys.exit("unknown action " + action)
    reg = {20: task, 23: -1}
    if action == "register-bts":
        reg[27] = True
    if url:
        reg[21] = url
    a = c.response(c.send(3, reg))
    digests = a.get(30, {})
    print(json.dumps({"status": a.get(3, 0), "answer": a.get(28),
                      "digests": {str(k): v for k, v in digests.items()}}), flush=True)
    if pieces:
        bogus = {n: "crc32:%d" % zlib.crc32(evil_piece(n)) for n in range(pieces)}
        bits = bytearray((pieces + 7) // 8)
        for n in range(pieces):
            bits[n // 8] |= 0x80 >> (n % 8)
        p = c.response(c.send(4, {20: task, 33: bytes(bits), 30: bogus, 23: pieces * PIECE,
                                  22: PIECE}))
        f = c.response(c.send(7, {20: task}))
        print(json.dumps({"progress_status": p.get(3, 0), "finished_status": f.get(3, 0),
                          "bogus": sorted(bogus.values())}), flush=True)
    # stay 3 s, printing the events pushed to us (a back-to-source push is event 3)
    end = time.monotonic() + stay
    while time.monotonic() < end:
        c.s.settimeout(max(0.05, end - time.monotonic()))
        try:
            tag, m = c.recv()
        except (socket.timeout, EOFError):
            continue
        if tag == 0x62:
            print(json.dumps({"event": m.get(38), "answer": m.get(28)}), flush=True)


if __name__ == "__main__":
    main()
