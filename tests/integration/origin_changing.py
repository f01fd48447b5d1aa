#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An HTTP origin whose object changes in the middle of a download, or that frames its
replies badly (issue 18, "Abuse and exhaustion"). Serves ranges (206 with Content-Range) of a
generated object of SIZE bytes. From the (AFTER+1)-th GET of a path on, it serves version B
instead of version A (other bytes, ETag "vB" instead of "vA", a later Last-Modified).

  /honour/NAME     answers If-Range as RFC 9110 says (a stale validator: 200, whole object)
  /ignore/NAME     ignores If-Range: 206 with the right Content-Range and the new bytes
  /lm/NAME         no ETag, only Last-Modified; ignores If-Range
  /blind/NAME      no validators at all: 206 of the new bytes (nothing in HTTP can tell)
  /dupcl/NAME      two different Content-Length headers on every reply (never changes)

usage: origin_changing.py PORT SIZE AFTER   (PORT 0: prints "port N" once listening)
"""
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIZE = int(sys.argv[2])
AFTER = int(sys.argv[3])
COUNTS = {}
LOCK = threading.Lock()
LM = {"A": "Mon, 07 Dec 2026 01:00:00 GMT", "B": "Mon, 07 Dec 2026 02:00:00 GMT"}


def body(version):
    seed = b"version A " if version == "A" else b"VERSION B!"
    return (seed * (SIZE // len(seed) + 1))[:SIZE]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.path, self.headers.get("Range", "-")))

    def do_GET(self):
        mode = self.path.split("/")[1]
        with LOCK:
            n = COUNTS.get(self.path, 0) + 1
            COUNTS[self.path] = n
        version = "B" if n > AFTER and mode != "dupcl" else "A"
        data = body(version)
        etag = '"v%s"' % version
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if mode == "honour" and rng and if_range and if_range != etag:
            rng = None  # stale: the whole current object
        first, last = 0, len(data) - 1
        status = 200
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            first = int(m.group(1))
            if m.group(2):
                last = min(int(m.group(2)), len(data) - 1)
            status = 206
        part = data[first:last + 1]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(data)))
        if mode in ("honour", "ignore"):
            self.send_header("ETag", etag)
        if mode in ("honour", "ignore", "lm"):
            self.send_header("Last-Modified", LM[version])
        self.send_header("Content-Length", str(len(part)))
        if mode == "dupcl":
            self.send_header("Content-Length", str(len(part) + 7))
        self.end_headers()
        self.wfile.write(part)


srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("port %d" % srv.server_address[1], flush=True)
srv.serve_forever()
