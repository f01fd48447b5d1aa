#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An origin that checks presigned URLs, for peer_private.sh (python3 http.server).

GET and HEAD of /NAME serve ROOT/NAME (Range: bytes=A-B or A- honoured) only when the query has
X-Amz-Expires=E and X-Amz-Signature=hex(HMAC-SHA256(KEY, "/NAME\\nE")), or auth_key or cdn_tok
is hex(HMAC-SHA256(KEY, "/NAME\\ncdn")) (a CDN token), or when the request
has HTTP Basic credentials USER:PASSWORD; anything else is 403 with no body. Every request is
logged to LOG as "METHOD PATH STATUS BODY_BYTES RANGE", one line each, flushed at once.

usage: signed_origin.py PORT_FILE ROOT LOG KEY USER:PASSWORD
       signed_origin.py --sign KEY PATH EXPIRES   (prints the signature)
"""
import base64
import hashlib
import hmac
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def sign(key, path, expires):
    return hmac.new(key.encode(), ("%s\n%s" % (path, expires)).encode(),
                    hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, status, nbytes):
        with LOCK, open(self.server.log, "a") as f:
            f.write("%s %s %d %d %s\n" % (self.command, urllib.parse.urlsplit(self.path).path,
                                          status, nbytes, self.headers.get("Range", "-")))

    def allowed(self, path, query):
        q = urllib.parse.parse_qs(query)
        exp, sig = q.get("X-Amz-Expires", [""])[0], q.get("X-Amz-Signature", [""])[0]
        if exp and sig and hmac.compare_digest(sig, sign(self.server.key, path, exp)):
            return True
        # a CDN-style token (Alibaba auth_key, or a key only the request's filter list names)
        for k in ("auth_key", "cdn_tok"):
            tok = q.get(k, [""])[0]
            if tok and hmac.compare_digest(tok, sign(self.server.key, path, "cdn")):
                return True
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(self.server.userpass.encode()).decode()
        return hmac.compare_digest(auth, want)

    def deny(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.record(status, 0)

    def serve(self, body_wanted):
        u = urllib.parse.urlsplit(self.path)
        name = u.path.lstrip("/")
        full = os.path.join(self.server.root, name)
        if "/" in name or not os.path.isfile(full):
            return self.deny(404)
        if not self.allowed(u.path, u.query):
            # a slow refusal (the test's own header, at most 10 s): a probe that takes a while
            time.sleep(min(float(self.headers.get("X-Test-Slow-Deny", "0") or 0), 10.0))
            return self.deny(403)
        with open(full, "rb") as f:
            data = f.read()
        size, status, first, last = len(data), 200, 0, len(data) - 1
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m:
            first = int(m.group(1))
            last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if first >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return self.record(416, 0)
            status = 206
        body = data[first:last + 1]
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.end_headers()
        if body_wanted:
            self.wfile.write(body)
        self.record(status, len(body) if body_wanted else 0)

    def do_GET(self):
        self.serve(True)

    def do_HEAD(self):
        self.serve(False)


def main():
    if sys.argv[1] == "--sign":
        print(sign(sys.argv[2], sys.argv[3], sys.argv[4]))
        return
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root, srv.log, srv.key, srv.userpass = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
