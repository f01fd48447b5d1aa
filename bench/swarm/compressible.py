#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Content lz4 compresses about 3:1 (issue 19 goal 8), for `vx-bench swarm --content
compressible` and tests/integration/peer_lz4.sh.

Every 256-byte run is 70 fresh random bytes followed by 186 bytes copied from a random place
of the 32 KiB before it: lz4 keeps the fresh bytes and turns the copy into one match (3.0:1
with `lz4 -1`), and a compressor with an entropy stage can do little better (the fresh bytes
are random). Above 32 KiB the content is random, so every piece compresses alike.

    compressible.py FILE SIZE     writes SIZE bytes to FILE
"""
import os
import random
import sys

RUN = 256
FRESH = 70
WINDOW = 32 << 10


def write(path, size):
    rnd = random.Random(os.urandom(16))
    with open(path, "wb") as f:
        buf = bytearray(os.urandom(min(size, WINDOW)))
        done = 0  # bytes written out of buf
        while done + len(buf) < size:
            buf += os.urandom(FRESH)
            start = len(buf) - rnd.randrange(RUN - FRESH, min(WINDOW, len(buf)) + 1)
            buf += buf[start:start + RUN - FRESH]
            if len(buf) >= 4 << 20:
                # keep memory flat: write out what no later copy reaches
                f.write(buf[:-WINDOW])
                done += len(buf) - WINDOW
                del buf[:-WINDOW]
        f.write(buf[:size - done])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: compressible.py FILE SIZE\n")
        return 2
    write(argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
