#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_fetch_conn (tests/fuzz/corpus/fetch_conn/): parent streams
that a fetcher configured by the first 4 bytes takes to the end (see fuzz_fetch_conn.c for
the input format). Pieces become available one at a time (BITFIELD with piece 0, then HAVE),
so the order of the requests, and of the answers, is known.

Usage: gen_fetch_conn_corpus.py [OUT_DIR]
"""
import os
import struct
import sys
import zlib

SEP = b"\n--next--\n"
TASK = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
LENGTHS = [100, 1000, 5000, 9000]


def frame(tag, value):
    return struct.pack(">BBI", 0x5A, tag, len(value)) + value


def hello(features=0b1011, max_inflight=4):
    return frame(0x40, b"VX" + struct.pack(">HIII", 1, features, max_inflight, 1 << 20))


def lz4_len(n):
    """An LZ4 length continuation: 255s, then the rest."""
    return b"\xff" * (n // 255) + bytes([n % 255])


def lz4_block(body):
    """One LZ4 block of @body (spec/vortex.md 5.5) written by hand: piece bytes repeat every
    256, so a body long enough is 256 literals, one match at offset 256, then the 5 literals
    the format ends with; a shorter one is literals only."""
    if len(body) < 256 + 12:
        lit = len(body)
        return bytes([min(lit, 15) << 4]) + (lz4_len(lit - 15) if lit >= 15 else b"") + body
    ml = len(body) - 256 - 5
    out = bytes([0xF0 | min(ml - 4, 15)]) + lz4_len(256 - 15) + body[:256]
    out += struct.pack("<H", 256) + (lz4_len(ml - 4 - 15) if ml - 4 >= 15 else b"")
    return out + bytes([5 << 4]) + body[-5:]


def bitfield(count, have):
    bits = bytearray((count + 7) // 8)
    for i in have:
        bits[i // 8] |= 0x80 >> (i % 8)
    return frame(0x42, TASK + struct.pack(">I", count) + bytes(bits))


def have(*numbers):
    return frame(0x43, TASK + b"".join(struct.pack(">I", n) for n in numbers))


def error(code, msg=b""):
    return frame(0xFF, bytes([code]) + msg)


def close():
    return frame(0xFE, b"")


class Plan:
    def __init__(self, cfg):
        self.cfg = cfg
        self.count = 1 + (cfg[0] & 7)
        self.piece = LENGTHS[cfg[3] & 3]
        short = self.piece // 3 if cfg[0] & 0x20 else 0
        self.length = self.count * self.piece - short

    def body(self, n):
        off = n * self.piece
        end = min(off + self.piece, self.length)
        return bytes(((k * 131 + 7) & 0xFF) for k in range(off, end))

    def content(self, n, body=None, crate=False, tag=0x01):
        right = self.body(n)
        body = right if body is None else body
        digest = b"crc32:%d" % zlib.crc32(right)
        parent = b"seed-peer"
        meta = struct.pack(">IQQ", n, n * self.piece, len(right))
        meta += struct.pack(">I", len(digest)) + digest
        meta += struct.pack(">I", len(parent)) + parent
        meta += struct.pack(">BQq", 1, 0, 1700000000)
        value = struct.pack(">I", len(meta)) + meta
        length = len(value) + (len(body) if crate else 0)
        return struct.pack(">BBI", 0x17, tag, length) + value + body

    def content_lz4(self, n, block=None, say=None):
        """COMPRESSED_PIECE_CONTENT: the PieceContent value, u8 1, u32 compressed length."""
        block = lz4_block(self.body(n)) if block is None else block
        head = self.content(n, b"")
        value = head[6:] + b"\x01" + struct.pack(">I", len(block) if say is None else say)
        return frame(0x45, value) + block


def cfg(pieces=1, depth=1, short=False, write_error=False, half=False, trusted=0xFF, local=0,
        length=1, buffers=2, endgame=0):
    b0 = (pieces - 1) | ((depth - 1) << 3) | (0x20 if short else 0)
    b0 |= (0x40 if write_error else 0) | (0x80 if half else 0)
    return bytes([b0, trusted, local, length | ((buffers - 1) << 2) | (endgame << 4)])


def vx_in_order(p, bodies=None):
    """HELLO, then piece i offered (BITFIELD / HAVE) and answered, one after another."""
    s = hello() + bitfield(p.count, [0])
    for n in range(p.count):
        if n:
            s += have(n)
        s += p.content(n, None if bodies is None else bodies.get(n))
    return s


def seeds():
    out = {}
    c = cfg(pieces=3, short=True)
    p = Plan(c)
    out["vx_three_pieces"] = c + vx_in_order(p)
    out["vx_wrong_body"] = c + vx_in_order(p, {1: b"\x00" * len(p.body(1))})
    c = cfg(pieces=2, length=3, buffers=1, half=True)
    out["vx_multi_chunk_half_writes"] = c + vx_in_order(Plan(c))
    c = cfg(pieces=2, length=2, depth=4, endgame=2)
    out["vx_bitfield_all_pipelined"] = c + hello() + bitfield(2, [0, 1]) + b"".join(
        Plan(c).content(n) for n in range(2))  # which piece comes first is the picker's
    c = cfg(pieces=1, write_error=True)
    out["vx_write_error"] = c + vx_in_order(Plan(c))
    c = cfg(pieces=2, trusted=0x02)
    p = Plan(c)
    out["vx_partly_trusted"] = c + hello() + bitfield(2, [0, 1]) + p.content(1)
    c = cfg(pieces=1)
    p = Plan(c)
    out["vx_busy"] = c + hello() + bitfield(1, [0]) + error(0x41, b"busy")
    out["vx_not_found"] = c + hello() + bitfield(1, [0]) + error(2, b"piece not found")
    out["vx_internal_error"] = c + hello() + bitfield(1, [0]) + error(3, b"disk")
    out["vx_close"] = c + hello() + bitfield(1, [0]) + close()
    out["vx_idle_close_reconnect"] = c + hello() + bitfield(1, []) + SEP + hello() + \
        bitfield(1, [0]) + p.content(0)
    out["vx_have_out_of_range"] = c + hello() + bitfield(1, []) + have(7)
    out["vx_crate_framing"] = c + hello() + bitfield(1, [0]) + p.content(0, crate=True)
    out["vx_no_availability"] = c + hello(features=0b0001) + p.content(0)
    # lz4 bodies (HELLO with LZ4): exact ones, a match reaching before the start, a length
    # above LZ4_compressBound, a block one byte short, and a parent that never offered LZ4
    lz4 = 0b1111
    c = cfg(pieces=3, length=1, short=True)
    p = Plan(c)
    out["vx_lz4_pieces"] = c + hello(features=lz4) + bitfield(3, [0]) + p.content_lz4(0) + \
        have(1) + p.content_lz4(1) + have(2) + p.content_lz4(2)
    c = cfg(pieces=1, length=1)
    p = Plan(c)
    out["vx_lz4_bad_block"] = c + hello(features=lz4) + bitfield(1, [0]) + \
        p.content_lz4(0, b"\x0f" + lz4_block(p.body(0))[1:])
    out["vx_lz4_over_bound"] = c + hello(features=lz4) + bitfield(1, [0]) + \
        p.content_lz4(0, say=1 << 20)
    out["vx_lz4_short"] = c + hello(features=lz4) + bitfield(1, [0]) + \
        p.content_lz4(0, lz4_block(p.body(0)[:-1]))
    out["vx_lz4_not_offered"] = c + hello() + bitfield(1, [0]) + p.content_lz4(0)
    # A Dragonfly peer: it closes on HELLO; the next connection is plain, one answer each.
    c = cfg(pieces=2, local=0x80)
    p = Plan(c)
    out["plain_answer"] = c + SEP + p.content(1)
    out["plain_wrong_body"] = c + SEP + p.content(1, b"\xff" * len(p.body(1)))
    out["plain_not_found"] = c + SEP + error(2, b"not found") + SEP + p.content(1)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fetch_conn")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
