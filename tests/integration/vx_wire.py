"""vx_wire.py: the framing and CBOR of vx's control protocol (spec/control.md, spec/vortex.md)
for the python test peers and fake schedulers: definite lengths only, no tags or floats."""
import struct


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError("integer too large")


def cbor_enc(v):
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return cbor_head(3, len(b)) + b
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor_enc(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor_enc(k) + cbor_enc(x) for k, x in v.items())
    raise TypeError(type(v))


def cbor_dec(b, i=0):
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        n = ai
    elif ai <= 27:
        size = 1 << (ai - 24)
        n = int.from_bytes(b[i:i + size], "big")
        i += size
    else:
        raise ValueError("indefinite length")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2:
        return bytes(b[i:i + n]), i + n
    if major == 3:
        return bytes(b[i:i + n]).decode(), i + n
    if major == 4:
        out = []
        for _ in range(n):
            x, i = cbor_dec(b, i)
            out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = cbor_dec(b, i)
            out[k], i = cbor_dec(b, i)
        return out, i
    if major == 7 and ai in (20, 21):
        return ai == 21, i
    raise ValueError("unsupported item %#x" % ib)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            return None
        buf += d
    return buf


def recv_frame(s):
    h = recv_exact(s, 6)
    if h is None:
        return None, None
    n = struct.unpack(">I", h[2:6])[0]
    v = recv_exact(s, n)
    return (h[1], v) if v is not None else (None, None)


def frame(tag, value):
    return bytes([0, tag]) + struct.pack(">I", len(value)) + value


def serve_control(c, on_request, after_hello=None):
    """A fake scheduler's side of one control connection: reads requests until it closes,
    answers hello (any token) itself, then calls after_hello(c) if given (to push events), and
    sends the response on_request(req, resp) filled in (resp holds rid, type, version, status
    0); on_request returns False when it sent it."""
    while True:
        tag, v = recv_frame(c)
        if tag is None:
            return
        req, _ = cbor_dec(v)
        rid, typ = req.get(0, 0), req.get(1, 0)
        resp = {0: rid, 1: typ, 2: 1, 3: 0}
        if typ == 1:
            resp[42] = 10000
            c.sendall(frame(0x61, cbor_enc(resp)))
            if after_hello:
                after_hello(c)
            continue
        if on_request(req, resp) is False:
            continue
        c.sendall(frame(0x61, cbor_enc(resp)))


def ctl_call(s, rid, typ, m):
    """A client's request on control connection s and its response (events skipped)."""
    s.sendall(frame(0x60, cbor_enc({0: rid, 1: typ, 2: 1, **m})))
    while True:
        tag, v = recv_frame(s)
        if tag is None:
            raise SystemExit("the scheduler closed the connection")
        r, _ = cbor_dec(v)
        if tag == 0x61 and r.get(0) == rid:
            return r
