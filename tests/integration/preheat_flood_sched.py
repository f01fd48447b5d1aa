#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""preheat_flood_sched.py: a scheduler that, right after a daemon's hello, pushes N preheat
events (event 5) at once, each for its own URL, more than the daemon's task table holds; it
answers every register with back-to-source and writes the number of distinct task ids
registered to COUNT_FILE after each one. For peer_preheat_queue.sh.

usage: preheat_flood_sched.py PORT_FILE COUNT_FILE BASE_URL N
"""
import hashlib
import os
import socket
import sys
import threading

from vx_wire import cbor_enc, frame, serve_control

seen = set()
lock = threading.Lock()


def task_id(url):
    """The task id of a plain URL (no tag, application or piece length: spec/vortex.md 7):
    sha256 of the normalized URL and "STANDARD"; these URLs are normalized already."""
    return hashlib.sha256((url + "STANDARD").encode()).hexdigest()


def serve(c, count_file, base, n):
    def flood(c):
        c.sendall(b"".join(
            frame(0x62, cbor_enc({0: 0, 1: 12, 2: 1, 38: 5, 20: task_id(url), 21: url}))
            for url in ("%s/f%d" % (base, i) for i in range(n))))

    def on_request(req, resp):
        if req.get(1, 0) == 3:
            resp[28] = 1  # back-to-source
            with lock:
                seen.add(req.get(20))
                with open(count_file + ".tmp", "w") as f:
                    f.write("%d\n" % len(seen))
                os.replace(count_file + ".tmp", count_file)
        return True

    serve_control(c, on_request, flood)


def main():
    port_file, count_file, base, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.replace(port_file + ".tmp", port_file)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, count_file, base, n), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
