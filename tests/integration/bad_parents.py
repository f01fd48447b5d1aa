#!/usr/bin/env python3
# bad_parents.py: a hostile scheduler and the bad parents it names, for peer_bad_parents.sh.
#
# The scheduler speaks the control protocol of spec/control.md (Vortex frames, tag 0x60 in and
# 0x61 out, one CBOR map each): it accepts any hello (any token), and answers every register
# and reschedule of a task with the geometry, the trusted manifest (the CRC-32 of each piece of
# the file in --www) and the same candidate parents, every time ("same"), or the parents once
# and then "wait" ("wait"). Each case (a file name) has its own parents, of these kinds:
#   closed   a port nothing listens on
#   garbage  accepts, sends a frame with a reserved tag, then reads until the peer closes
#   silent   accepts and never writes a byte
#   stall    speaks vx (spec/vortex.md): HELLO with AVAILABILITY, a BITFIELD with every piece,
#            then answers the first DownloadPiece with the PieceContent header and half the
#            body, and nothing more
# Every accept is counted, and the most DownloadPiece requests a case's stall parents held at
# once (never answered whole, so out until their connection ends: the daemon's pieces in
# flight); the counts, the answers given and the task ids are rewritten to
# --state (JSON, replaced atomically) after each change. The scheduler's port goes to --port-file.
#
# With --join PORT --task ID --kinds K1,K2,... (peer_liars.sh) there is no fake scheduler: each
# kind joins the real scheduler at PORT as host liar-KIND (hello with $sched_peer_token),
# registers task ID, reports every piece held and FINISHED, and serves as a parent:
#   stall      as above (on the scheduler's geometry, zero bytes)
#   wrong      HELLO, BITFIELD, then every DownloadPiece answered with wrong bytes of the right
#              length under a CRC-32 that matches them (only the trusted manifest can tell)
#   lack       HELLO, BITFIELD with every piece, then every request answered Error 2 (not found)
#   othertask  HELLO, then a BITFIELD naming another task id
# --state then holds "joined" (kind -> host id once listed), "accepts" and "asked" per kind.
#
# Usage: bad_parents.py --www DIR --piece-len N --cases '{"a.bin": [["closed"], "same"], ...}'
#        --state FILE --port-file FILE
import argparse
import json
import os
import socket
import struct
import sys
import threading
import zlib

import vx_wire  # noqa: E402
from vx_wire import frame, recv_frame, serve_control  # noqa: E402

lock = threading.Lock()
state = {"accepts": {}, "answers": {}, "tasks": {}, "max_out": {}, "asked": {}, "joined": {}}
out_now = {}  # case -> DownloadPiece requests received on its stall parents' open connections
state_path = None


def save():
    tmp = state_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, state_path)


def bump(group, key):
    with lock:
        state[group][key] = state[group].get(key, 0) + 1
        save()


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass


def serve_garbage(c, ctx):
    c.sendall(frame(0x20, b"GARBAGE!"))  # 0x20 is a reserved tag (spec/vortex.md section 2)
    drain(c)


def serve_silent(c, ctx):
    drain(c)


def requests_out(name, delta):
    with lock:
        out_now[name] = out_now.get(name, 0) + delta
        if out_now[name] > state["max_out"].get(name, 0):
            state["max_out"][name] = out_now[name]
            save()


def serve_stall(c, ctx):
    try:
        stall_conn(c, ctx)
    finally:
        with lock:
            n = ctx.setdefault("asked", {}).pop(id(c), 0)
        requests_out(ctx["name"], -n)


def stall_conn(c, ctx):
    data, piece_len, task_id = ctx["data"], ctx["piece_len"], None
    answered = False
    while True:
        tag, v = recv_frame(c)
        if tag is None:
            return
        if tag == 0x00:  # never answered whole: out until the connection ends
            with lock:
                asked = ctx.setdefault("asked", {})
                asked[id(c)] = asked.get(id(c), 0) + 1
            requests_out(ctx["name"], 1)
        if tag == 0x40:  # HELLO: ours, then every piece claimed
            c.sendall(frame(0x40, b"VX" + struct.pack(">HIII", 1, 0x3, 4, 1 << 20)))
        elif tag == 0x41 and task_id is None:  # INTEREST: the BITFIELD of that task
            task_id = v[:64]
            count = (len(data) + piece_len - 1) // piece_len
            bits = bytearray((count + 7) // 8)
            for i in range(count):
                bits[i // 8] |= 0x80 >> (i % 8)
            c.sendall(frame(0x42, task_id + struct.pack(">I", count) + bytes(bits)))
        elif tag == 0x00 and not answered:  # DownloadPiece: a header and half a body
            answered = True
            n = struct.unpack(">I", v[64:68])[0]
            body = data[n * piece_len:(n + 1) * piece_len]
            digest = ("crc32:%d" % zlib.crc32(body)).encode()
            meta = (struct.pack(">IQQ", n, n * piece_len, len(body)) +
                    struct.pack(">I", len(digest)) + digest + struct.pack(">I", 0) +
                    struct.pack(">BQq", 1, 0, 0))
            value = struct.pack(">I", len(meta)) + meta
            c.sendall(frame(0x01, value) + body[:len(body) // 2])
        # anything else (more requests, CANCEL, Close): read and never answer


def piece_meta(n, offset, body):
    digest = ("crc32:%d" % zlib.crc32(body)).encode()  # consistent with the body it heads
    meta = (struct.pack(">IQQ", n, offset, len(body)) + struct.pack(">I", len(digest)) +
            digest + struct.pack(">I", 0) + struct.pack(">BQq", 1, 0, 0))
    return struct.pack(">I", len(meta)) + meta


def serve_liar(c, ctx):
    """wrong, lack, othertask: HELLO, a BITFIELD with every piece (of another task for
    othertask), then each DownloadPiece answered in order: wrong bytes of the right length
    under their own CRC-32 (wrong), Error 2 "not found" (lack)."""
    kind, plen, clen = ctx["kind"], ctx["piece_len"], ctx["size"]
    while True:
        tag, v = recv_frame(c)
        if tag is None:
            return
        if tag == 0x40:
            c.sendall(frame(0x40, b"VX" + struct.pack(">HIII", 1, 0x3, 4, 1 << 20)))
        elif tag == 0x41 and len(v) >= 64:
            task_id = v[:64]
            if kind == "othertask":  # the same id with its first digit changed
                task_id = (b"e" if task_id[:1] == b"f" else b"f") + task_id[1:]
            count = (clen + plen - 1) // plen
            bits = bytearray((count + 7) // 8)
            for i in range(count):
                bits[i // 8] |= 0x80 >> (i % 8)
            c.sendall(frame(0x42, task_id + struct.pack(">I", count) + bytes(bits)))
        elif tag == 0x00 and len(v) == 68:
            n = struct.unpack(">I", v[64:68])[0]
            bump("asked", ctx["key"])
            if kind == "lack":
                c.sendall(frame(0xFF, b"\x02not found"))
                continue
            size = max(0, min(plen, clen - n * plen))
            body = ((b"LIE%09d" % n) * (size // 12 + 1))[:size]
            c.sendall(frame(0x01, piece_meta(n, n * plen, body)) + body)


SERVE = {"garbage": serve_garbage, "silent": serve_silent, "stall": serve_stall,
         "wrong": serve_liar, "lack": serve_liar, "othertask": serve_liar}


def run_parent(s, key, kind, ctx):
    while True:
        c, _ = s.accept()
        bump("accepts", key)
        threading.Thread(target=SERVE[kind], args=(c, ctx), daemon=True).start()


# ---- the scheduler


def answer(case, first):
    cfg = case["cfg"]
    m = {28: 0 if first or case["mode"] == "same" else 3}
    if m[28] == 0:
        m[29] = [[p["id"], "127.0.0.1", p["port"], case["count"], True] for p in cfg]
    m[30] = case["digests"]
    m[31] = case["count"]
    m[22] = case["piece_len"]
    m[23] = case["size"]
    return m


def serve_sched(c, cases, by_task):
    def on_request(req, resp):
        typ = req.get(1, 0)
        if typ not in (3, 5):  # register, reschedule
            return True
        tid = req.get(20, "")
        name = by_task.get(tid)
        if name is None and typ == 3:
            name = os.path.basename(req.get(21, ""))
            if name in cases:
                by_task[tid] = name
                with lock:
                    state["tasks"][name] = tid
                    save()
        if name in cases:
            case = cases[name]
            resp.update(answer(case, not case["answered"]))
            case["answered"] = True
            bump("answers", name)
        else:
            resp[28] = 1  # not a case of this test: the origin
        return True

    serve_control(c, on_request)


# ---- --join: the parents join a real scheduler as hosts claiming a full copy of a task


def ctl_call(s, rid, typ, m):
    r = vx_wire.ctl_call(s, rid, typ, m)
    if r.get(3, 0) != 0:
        sys.exit("request %d refused: %r" % (typ, r))
    return r


def join_one(port, task, kind):
    """One liar: listens, says hello as host liar-KIND, registers the task, reports every
    piece held and finished; then holds the connection (reading events) so it stays listed."""
    ls = listener()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    hello = {8: "liar-" + kind, 9: "127.0.0.1", 10: ls.getsockname()[1], 13: 0,
             19: os.urandom(32).hex()}
    if os.environ.get("sched_peer_token"):
        hello[16] = os.environ["sched_peer_token"]
    ctl_call(s, 1, 1, hello)
    a = ctl_call(s, 2, 3, {20: task, 23: -1})
    if 22 not in a:
        sys.exit("register answer without geometry: %r" % a)
    plen, clen = a[22], a[23]
    count = (clen + plen - 1) // plen
    bits = bytearray((count + 7) // 8)
    for i in range(count):
        bits[i // 8] |= 0x80 >> (i % 8)
    ctl_call(s, 3, 4, {20: task, 33: bytes(bits)})
    ctl_call(s, 4, 7, {20: task})
    ctx = {"kind": kind, "key": kind, "piece_len": plen, "size": clen, "name": kind,
           "data": bytes(clen)}
    state["accepts"][kind] = 0
    threading.Thread(target=run_parent, args=(ls, kind, kind, ctx), daemon=True).start()
    s.settimeout(None)
    with lock:
        state["joined"][kind] = "liar-" + kind
        save()
    while recv_frame(s)[0] is not None:
        pass


def join_or_exit(port, task, kind):
    try:
        join_one(port, task, kind)
    except BaseException as e:  # a thread's SystemExit is silent: say it and end the process
        print("liar-%s: %s" % (kind, e), file=sys.stderr, flush=True)
        os._exit(1)


def main_join(a):
    for kind in a.kinds.split(","):
        threading.Thread(target=join_or_exit, args=(a.join, a.task, kind), daemon=True).start()
    while True:
        threading.Event().wait(3600)


def main():
    global state_path
    ap = argparse.ArgumentParser()
    ap.add_argument("--join", type=int, help="a real scheduler's port: join it as liars")
    ap.add_argument("--task", help="--join: the task id the liars claim")
    ap.add_argument("--kinds", help="--join: liar kinds, comma separated")
    ap.add_argument("--www")
    ap.add_argument("--piece-len", type=int)
    ap.add_argument("--cases")
    ap.add_argument("--state", required=True)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    state_path = a.state
    if a.join:
        return main_join(a)
    cases = {}
    for name, (kinds, mode) in json.loads(a.cases).items():
        with open(os.path.join(a.www, name), "rb") as f:
            data = f.read()
        count = (len(data) + a.piece_len - 1) // a.piece_len
        ctx = {"data": data, "piece_len": a.piece_len, "name": name}
        cfg = []
        for kind in kinds:
            s = listener()
            port = s.getsockname()[1]
            key = "%s/%s" % (name, kind)
            if kind == "closed":
                s.close()  # nothing listens there now (and the kernel does not hand it out)
            else:
                threading.Thread(target=run_parent, args=(s, key, kind, ctx),
                                 daemon=True).start()
            state["accepts"][key] = 0
            cfg.append({"id": "127.0.0.1-bad-%s-%s-%d" % (name, kind, port), "port": port})
        digests = {i: "crc32:%d" % zlib.crc32(data[i * a.piece_len:(i + 1) * a.piece_len])
                   for i in range(count)}
        cases[name] = {"cfg": cfg, "mode": mode, "count": count, "size": len(data),
                       "piece_len": a.piece_len, "digests": digests, "answered": False}
        state["answers"][name] = 0
    save()
    s = listener()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.replace(a.port_file + ".tmp", a.port_file)
    by_task = {}
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_sched, args=(c, cases, by_task), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
