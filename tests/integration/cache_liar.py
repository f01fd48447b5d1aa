#!/usr/bin/env python3
# cache_liar.py: a lying holder of a persistent cache task, for cache_liar.sh.
#   cache_liar.py SCHED_PORT TASK_ID STATE_FILE
# Joins the real scheduler as a peer (hello with $sched_peer_token), asks it for the task
# (cache-stat: geometry and the digests recorded at import), claims to hold a copy
# (cache-import with those very digests, so the scheduler lists it among the holders), and
# serves DownloadPersistentCachePiece (0x04) with PersistentCachePieceContent (0x05) of the
# right length but wrong bytes, whose CRC-32 in the metadata matches the wrong bytes: only the
# import's digests can tell. Writes {"ready": true, "served": N} to STATE_FILE (replaced
# atomically) once it is listed and after each piece it serves.
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib

from vx_wire import ctl_call as call, frame, recv_frame  # noqa: E402

lock = threading.Lock()
state = {"ready": False, "served": 0}


def save(path):
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def serve(ls, task, plen, clen, path):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=conn, args=(c, task, plen, clen, path), daemon=True).start()


def conn(c, task, plen, clen, path):
    try:
        while True:
            tag, v = recv_frame(c)
            if tag != 0x04 or len(v) != 68 or v[:64].decode() != task:
                return  # a HELLO or anything else: close, the fetcher goes on plainly
            num = struct.unpack(">I", v[64:68])[0]
            n = max(0, min(plen, clen - num * plen))
            body = (b"LIE%07d" % num) * (n // 10 + 1)
            body = body[:n]
            dg = b"crc32:%d" % zlib.crc32(body)
            meta = (struct.pack(">IQQ", num, num * plen, n) + struct.pack(">I", len(dg)) + dg +
                    struct.pack(">I", 0) + struct.pack(">BQq", 1, 0, int(time.time())))
            val = struct.pack(">I", len(meta)) + meta
            c.sendall(struct.pack(">BBI", 0, 0x05, len(val)) + val + body)
            with lock:
                state["served"] += 1
                save(path)
    except (OSError, ValueError):
        pass
    finally:
        c.close()


def main():
    port, task, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    hello = {8: "liar-%s" % os.urandom(4).hex(), 9: "127.0.0.1", 10: ls.getsockname()[1],
             13: 0, 16: os.environ["sched_peer_token"], 19: os.urandom(32).hex()}
    r = call(s, 1, 1, hello)
    if r.get(3, 0) != 0:
        sys.exit("hello refused: %r" % r)
    st = call(s, 2, 20, {20: task})
    if st.get(3, 0) != 0:
        sys.exit("cache-stat refused: %r" % st)
    plen, clen = st[22], st[23]
    imp = call(s, 3, 18, {20: task, 23: clen, 22: plen, 30: st[30], 71: st[71], 72: st[72]})
    if imp.get(3, 0) != 0:
        sys.exit("cache-import refused: %r" % imp)
    threading.Thread(target=serve, args=(ls, task, plen, clen, path), daemon=True).start()
    with lock:
        state["ready"] = True
        save(path)
    s.settimeout(None)
    while recv_frame(s)[0] is not None:  # events: ignored; stay listed while connected
        pass


main()
