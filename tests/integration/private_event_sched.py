#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""private_event_sched.py: a scheduler that says "private" only in a pushed event, for
peer_private.sh (review 16 finding 10). It accepts any hello, answers every register with
"wait" (the file's geometry and manifest, no private flag), then pushes a PARENTS event
(tag 0x62) naming one parent (a daemon that holds the task) with private = true. A daemon that
reads the flag only from answers fetches the task from that parent for a client that never
proved its access.

usage: private_event_sched.py PORT_FILE FILE PIECE_LEN PARENT_PORT
"""
import os
import socket
import sys
import threading
import zlib

from vx_wire import cbor_enc, frame, serve_control


def serve(c, geo, parent_port):
    def on_request(req, resp):
        if req.get(1, 0) not in (3, 5):
            return True
        resp.update(geo)  # register, reschedule: wait, then the private event
        resp[28] = 3
        c.sendall(frame(0x61, cbor_enc(resp)))
        ev = {0: 0, 1: 12, 2: 1, 38: 1, 20: req.get(20, ""), 28: 0, 65: True,
              29: [["127.0.0.1-parent-%d" % parent_port, "127.0.0.1", parent_port,
                    geo[31], True]]}
        ev.update(geo)
        c.sendall(frame(0x62, cbor_enc(ev)))
        return False

    serve_control(c, on_request)


def main():
    port_file, path, piece_len, parent_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    data = open(path, "rb").read()
    count = (len(data) + piece_len - 1) // piece_len
    geo = {22: piece_len, 23: len(data), 31: count,
           30: {i: "crc32:%d" % zlib.crc32(data[i * piece_len:(i + 1) * piece_len])
                for i in range(count)}}
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.replace(port_file + ".tmp", port_file)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, geo, parent_port), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
