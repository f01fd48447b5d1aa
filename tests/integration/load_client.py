"""load_client.py PORT MANIFEST OUT: many Vortex connections against one daemon's upload port
(issue 18, "Load": 1,000 concurrent Vortex connections), written for peer_load.sh.

MANIFEST is a JSON object: {"small": [[task_id, path, size], ...], "big": [task_id, path, size],
"conns": N, "stall": S, "idle": I, "slow": L, "per_addr": P, "seconds": T, "bound": B}.
N connections are opened, P per source address (127.0.1.1, 127.0.1.2, ...: loopback takes any
127/8 source, and the daemon limits connections per address), all before any is used:
  stall  HELLO, then DownloadPiece for pieces 0..2 of the big file with a 4 KiB receive
         buffer, never read (a client that holds a send slot: upload.send_stall_timeout)
  idle   HELLO, then nothing (upload.idle_timeout)
  slow   a frame header one byte every 0.5 s (a slowloris: the upload server's header timeout)
  fetch  the rest: for T seconds (at least one piece), DownloadPiece of a random piece of a
         random small file, each body compared with the file's bytes, a random pause of up to
         0.2 s between requests
Each stall, idle and slow connection must be closed by the daemon within B seconds of the start;
then as many new fetch connections as were closed each get one correct piece (the slots were
freed: peer_load.sh sets upload.max_connections to N). OUT gets a JSON object of counts; the
exit code is 0 when the run itself worked (the shell test judges the counts)."""
import asyncio
import json
import random
import resource
import socket
import struct
import sys
import time

port, manifest, out = int(sys.argv[1]), json.load(open(sys.argv[2])), sys.argv[3]
PIECE = 4 << 20
counts = {"opened": 0, "open_failed": 0, "fetch_ok": 0, "fetch_bad": 0, "fetch_err": 0,
          "stall_closed": 0, "idle_closed": 0, "slow_closed": 0, "fresh_ok": 0, "fresh_failed": 0}
errors = []
data = {}


def hdr(tag, n):
    return bytes([0, tag]) + struct.pack(">I", n)


def frame(tag, value):
    return hdr(tag, len(value)) + value


HELLO = frame(0x40, b"VX" + struct.pack(">HIII", 1, 1, 4, 65536))


def source(i):
    a = i // manifest["per_addr"]
    return "127.0.%d.%d" % (1 + a // 250, 1 + a % 250)


async def connect(i, rcvbuf=0):
    s = socket.socket()
    s.setblocking(False)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source(i), 0))
    await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=s)


async def read_frame(r):
    h = await r.readexactly(6)
    return h[1], await r.readexactly(struct.unpack(">I", h[2:6])[0])


async def hello(r, w):
    w.write(HELLO)
    await w.drain()
    tag, _ = await read_frame(r)
    if tag != 0x40:
        raise ValueError("answer to HELLO: tag %#x" % tag)


async def one_piece(r, w):
    """Asks for a random piece of a random small file; True when the bytes are right."""
    tid, path, size = random.choice(manifest["small"])
    n = random.randrange((size + PIECE - 1) // PIECE)
    w.write(frame(0x00, tid.encode() + struct.pack(">I", n)))
    await w.drain()
    tag, v = await read_frame(r)
    if tag != 0x01:
        raise ValueError("answer to DownloadPiece: tag %#x %r" % (tag, v[:64]))
    mlen = struct.unpack(">I", v[:4])[0]
    num, off, blen = struct.unpack(">IQQ", v[4:4 + mlen][:20])
    body = await r.readexactly(blen)
    return num == n and body == data[path][off:off + blen] and off == n * PIECE


async def until_closed(r, w, deadline):
    """Reads (and throws away) until the daemon closes; True when that was before deadline."""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not await asyncio.wait_for(r.read(65536), left):
                return True
    except (ConnectionError, OSError):
        return True
    except asyncio.TimeoutError:
        return False


async def stall(i, t0):
    r, w = await connect(i, 4096)
    await hello(r, w)
    tid = manifest["big"][0].encode()
    w.write(b"".join(frame(0x00, tid + struct.pack(">I", k)) for k in range(3)))
    await w.drain()
    await asyncio.sleep(manifest["seconds"])  # reads nothing meanwhile
    if await until_closed(r, w, t0 + manifest["bound"]):
        counts["stall_closed"] += 1
    w.close()


async def idle(i, t0):
    r, w = await connect(i)
    await hello(r, w)
    if await until_closed(r, w, t0 + manifest["bound"]):
        counts["idle_closed"] += 1
    w.close()


async def slow(i, t0):
    r, w = await connect(i)
    try:
        for b in HELLO * 100:  # never completes within the bound (100 HELLOs at 2 bytes/s)
            if time.monotonic() > t0 + manifest["bound"]:
                break
            w.write(bytes([b]))
            await w.drain()
            if await until_closed(r, w, time.monotonic() + 0.5):
                counts["slow_closed"] += 1
                break
    except (ConnectionError, OSError):
        counts["slow_closed"] += 1
    w.close()


async def fetch(i, t0):
    r, w = await connect(i)
    await hello(r, w)
    try:
        first = True  # at least one piece, however late the loaded machine lets it start
        while first or time.monotonic() < t0 + manifest["seconds"]:
            first = False
            if await one_piece(r, w):
                counts["fetch_ok"] += 1
            else:
                counts["fetch_bad"] += 1
            await asyncio.sleep(random.random() * 0.2)
    except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError) as e:
        counts["fetch_err"] += 1
        errors.append("fetch %d: %r" % (i, e))
    w.close()


async def fresh(i, deadline):
    """A new connection once others were freed: retried (refused while the slots are full)."""
    last = None
    while time.monotonic() < deadline:
        try:
            r, w = await connect(i)
            await hello(r, w)
            ok = await one_piece(r, w)
            w.close()
            counts["fresh_ok" if ok else "fresh_failed"] += 1
            return
        except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError) as e:
            last = e
            await asyncio.sleep(0.25)
    counts["fresh_failed"] += 1
    errors.append("fresh %d: %r" % (i, last))


async def guarded(coro, what):
    try:
        await coro
    except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError) as e:
        counts["open_failed"] += 1
        errors.append("%s: %r" % (what, e))


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = manifest["conns"] * 2 + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    for _, path, _ in manifest["small"]:
        data[path] = open(path, "rb").read()
    n, s, d, l = manifest["conns"], manifest["stall"], manifest["idle"], manifest["slow"]
    kinds = ["stall"] * s + ["idle"] * d + ["slow"] * l
    kinds += ["fetch"] * (n - len(kinds))
    t0 = time.monotonic()
    fn = {"stall": stall, "idle": idle, "slow": slow, "fetch": fetch}
    tasks = [asyncio.ensure_future(guarded(fn[k](i, t0), "%s %d" % (k, i)))
             for i, k in enumerate(kinds)]
    counts["opened"] = n
    await asyncio.gather(*tasks)
    freed = counts["stall_closed"] + counts["idle_closed"] + counts["slow_closed"]
    await asyncio.gather(*[fresh(n + i, time.monotonic() + 10) for i in range(freed)])
    counts["seconds"] = round(time.monotonic() - t0, 1)
    counts["errors"] = errors[:5]
    json.dump(counts, open(out, "w"))


asyncio.run(main())
