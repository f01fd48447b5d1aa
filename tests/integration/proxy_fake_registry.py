#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A registry that lies, for proxy_fallback.sh. Blob paths /v2/lie/<kind>/blobs/<digest>:
  wrongbytes  64 KiB of bytes whose sha256 is not the digest it is asked for, honest length
  shortbody   Content-Length 65536, but 1000 bytes sent and the connection closed
Ranges are honoured (the peer's source stats with bytes=0-0).

usage: proxy_fake_registry.py PORT_FILE      serve; writes the port to PORT_FILE
       proxy_fake_registry.py --digest KIND  print the digest the test asks for
"""
import hashlib
import http.server
import re
import sys

BODY = bytes(range(256)) * 256


def digest(kind):
    return "sha256:" + hashlib.sha256(kind.encode()).hexdigest()  # never BODY's


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        m = re.match(r"^/v2/lie/(\w+)/blobs/(sha256:[0-9a-f]{64})$", self.path)
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        if not m:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        kind = m.group(1)
        start, end = 0, len(BODY) - 1
        r = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if r:
            start = int(r.group(1))
            end = min(int(r.group(2)), end) if r.group(2) else end
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(BODY)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if head:
            return
        data = BODY[start:end + 1]
        if kind == "shortbody":
            data = data[:1000]
            self.close_connection = True
        self.wfile.write(data)


def main():
    if sys.argv[1] == "--digest":
        print(digest(sys.argv[2]))
        return
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
