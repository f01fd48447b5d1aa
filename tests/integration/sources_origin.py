#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small misbehaving HTTP origin for the sources/ integration tests (python3 http.server),
for the cases nginx cannot play: a stall after the headers, a body cut short once and then
served with ranges, a server that fails N times before answering, and a chunked reply with no
length. Also the WebHDFS test endpoint (there is no Hadoop here: this speaks the small part of
the WebHDFS REST API that vx uses: GETFILESTATUS, LISTSTATUS, OPEN with offset/length and a
307 redirect to a "datanode" path, delegation tokens) and a registry token service.

usage: sources_origin.py PORT ROOT
Files under ROOT are the content. Counters are per path and per process.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError:  # only the registry token service needs it
    hashes = padding = None

ROOT = ""
COUNTS = {}
LOCK = threading.Lock()
DELEGATION = "vx-delegation-token"
S3_KEYS = {"VXTESTKEY": "vx/test+secret"}
TOKEN_KEY = None
REDIRECT_TO = os.environ.get("VX_ORIGIN_REDIRECT_TO", "")
TOKEN_X5C = ""


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("origin: " + (fmt % args) + "\n")

    def reply(self, code, body=b"", ctype="application/octet-stream", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_file(self, name):
        path = os.path.join(ROOT, name.lstrip("/"))
        with open(path, "rb") as f:
            return f.read()

    def ranged(self, data):
        """Answers with Range support (206) or the whole body (200)."""
        rng = self.headers.get("Range")
        if not rng or not rng.startswith("bytes="):
            return self.reply(200, data)
        first, _, last = rng[6:].partition("-")
        first = int(first)
        last = int(last) if last else len(data) - 1
        last = min(last, len(data) - 1)
        if first >= len(data):
            return self.reply(416, b"", headers={"Content-Range": "bytes */%d" % len(data)})
        body = data[first:last + 1]
        self.reply(206, body, headers={"Content-Range": "bytes %d-%d/%d" % (first, last, len(data))})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")
        if url.path.startswith("/webhdfs/v1") or url.path.startswith("/datanode/"):
            return self.webhdfs(url, q)
        if url.path == "/token":
            return self.token(q)
        if url.path.startswith("/vxsig/"):
            return self.s3_signed(url)
        if url.path.startswith("/v2/redir/"):
            return self.redirecting_registry(url)
        if url.path.startswith("/blobstore/"):
            return self.blobstore(url)
        if len(parts) >= 3 and parts[1] == "stall":
            # Headers, a few bytes, then nothing for a long time.
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            time.sleep(30)
            return
        if len(parts) >= 4 and parts[1] == "flaky":
            # /flaky/<n>/<file>: 503 for the first n requests of this path, then the file.
            n = int(parts[2])
            if bump(url.path) <= n:
                return self.reply(503, b"try later")
            return self.ranged(self.read_file("/".join(parts[3:])))
        if len(parts) >= 4 and parts[1] == "later":
            # /later/<n>/<file>: 503 with "Retry-After: 1" n times; a retry that comes back
            # sooner than asked gets 400 (a client that does not listen fails).
            now = time.monotonic()
            with LOCK:
                last = COUNTS.get("at:" + url.path)
                COUNTS["at:" + url.path] = now
            if last is not None and now - last < 0.95:
                return self.reply(400, b"came back before Retry-After")
            if bump(url.path) <= int(parts[2]):
                return self.reply(503, b"busy", headers={"Retry-After": "1"})
            return self.ranged(self.read_file("/".join(parts[3:])))
        if len(parts) >= 3 and parts[1] == "cut":
            # /cut/<file>: the first request gets half the asked range and a closed socket.
            data = self.read_file("/".join(parts[2:]))
            if bump(url.path) == 1:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            return self.ranged(data)
        if len(parts) >= 3 and parts[1] == "count":
            return self.reply(200, str(COUNTS.get("/" + "/".join(parts[2:]), 0)).encode())
        if len(parts) >= 3 and parts[1] == "chunked":
            data = self.read_file("/".join(parts[2:]))
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7000):
                chunk = data[i:i + 7000]
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        return self.reply(404, b"no such thing")

    # ---- an S3 object store that checks SigV4 (s3rver does not verify V4 signatures) ----
    def s3_signed(self, url):
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
        if not m or m.group(1) not in S3_KEYS:
            return self.reply(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        ak, date, region, signed, sig = m.groups()
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return self.reply(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        query = "&".join(sorted(url.query.split("&"))) if url.query else ""
        hdrs = "".join("%s:%s\n" % (n, (self.headers.get(n) or "").strip()) for n in names)
        creq = "\n".join(["GET", url.path, query, hdrs, signed,
                          self.headers.get("x-amz-content-sha256", "")])
        scope = "%s/%s/s3/aws4_request" % (date, region)
        sts = "\n".join(["AWS4-HMAC-SHA256", self.headers.get("x-amz-date"), scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        key = ("AWS4" + S3_KEYS[ak]).encode()
        for part in (date, region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return self.reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>",
                              "application/xml")
        path = os.path.join(ROOT, "s3", urllib.parse.unquote(url.path).lstrip("/"))
        if not os.path.isfile(path):
            return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return self.ranged(self.read_file(os.path.relpath(path, ROOT)))

    # ---- a registry that keeps its blobs elsewhere (like S3-backed registries) ----
    def redirecting_registry(self, url):
        """/v2/redir/app/blobs/<digest>: bearer-token protected; answers 307 to a blob store
        on another loopback address (REDIRECT_TO), which must not see our Authorization."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) < 20 or self.token_expired(auth[7:]):
            realm = "http://127.0.0.1:%d/token" % self.server.server_port
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', "application/json",
                              {"WWW-Authenticate": 'Bearer realm="%s",service="redir",'
                               'scope="repository:redir/app:pull"' % realm})
        digest = url.path.rsplit("/", 1)[-1]
        self.send_response(307)
        self.send_header("Location", "%s/blobstore/%s" % (REDIRECT_TO, digest[7:]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    @staticmethod
    def token_expired(tok):
        """Tokens of this fake registry live VX_TOKEN_TTL seconds (from their iat claim)."""
        ttl = os.environ.get("VX_TOKEN_TTL")
        if not ttl:
            return False
        try:
            seg = tok.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
            return time.time() - claims["iat"] > float(ttl)
        except (IndexError, ValueError, KeyError):
            return True

    def blobstore(self, url):
        if self.headers.get("Authorization"):
            return self.reply(400, b"credentials leaked to the blob store")
        return self.ranged(self.read_file("blobstore/" + url.path.rsplit("/", 1)[-1]))

    # ---- registry token service (bearer flow) ----
    def token(self, q):
        """A docker/distribution token server: RS256 JWTs with an x5c chain of one
        self-signed certificate, which the registry trusts through its rootcertbundle.
        Anonymous requests get pull; Basic credentials must be vx:s3cret."""
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) != ("vx", "s3cret"):
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                  "application/json")
        scope = q.get("scope", [""])[0]
        service = q.get("service", [""])[0]
        access = []
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": parts[1],
                           "actions": [a for a in parts[2].split(",") if a == "pull"]})
        if TOKEN_KEY is None:
            return self.reply(500, b"no token key")
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [TOKEN_X5C]}
        claims = {"iss": "vx-test-issuer", "sub": user, "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": "%d-%d" % (now, bump("jti")),
                  "access": access}

        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        sig = TOKEN_KEY.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        tok = signing + "." + b64(sig)
        self.reply(200, json.dumps({"token": tok, "access_token": tok, "expires_in": 300,
                                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                               time.gmtime(now))}).encode(),
                   "application/json")

    # ---- WebHDFS ----
    def hdfs_path(self, url):
        p = urllib.parse.unquote(url.path[len("/webhdfs/v1"):]) or "/"
        return os.path.join(ROOT, "hdfs", p.lstrip("/"))

    def hdfs_auth_ok(self, q):
        if "delegation" in q:
            return q["delegation"][0] == DELEGATION
        return "user.name" in q

    def status_of(self, path, name):
        st = os.stat(path)
        return {
            "accessTime": int(st.st_atime * 1000), "blockSize": 134217728, "group": "supergroup",
            "length": 0 if os.path.isdir(path) else st.st_size,
            "modificationTime": int(st.st_mtime * 1000), "owner": "vx", "pathSuffix": name,
            "permission": "644", "replication": 1,
            "type": "DIRECTORY" if os.path.isdir(path) else "FILE",
        }

    def hdfs_error(self, code, exc, msg):
        body = json.dumps({"RemoteException": {"exception": exc, "javaClassName": "x." + exc,
                                               "message": msg}}).encode()
        self.reply(code, body, "application/json")

    def webhdfs(self, url, q):
        if url.path.startswith("/datanode/"):
            # The "datanode": serves OPEN after the namenode's redirect.
            path = os.path.join(ROOT, "hdfs", urllib.parse.unquote(url.path[len("/datanode/"):]))
            off = int(q.get("offset", ["0"])[0])
            length = int(q["length"][0]) if "length" in q else None
            with open(path, "rb") as f:
                f.seek(off)
                data = f.read() if length is None else f.read(length)
            return self.reply(200, data)
        if not self.hdfs_auth_ok(q):
            return self.hdfs_error(401, "SecurityException", "no user.name or delegation token")
        op = q.get("op", [""])[0].upper()
        path = self.hdfs_path(url)
        if not os.path.exists(path):
            return self.hdfs_error(404, "FileNotFoundException", "File does not exist: " + url.path)
        if op == "GETFILESTATUS":
            body = json.dumps({"FileStatus": self.status_of(path, "")}).encode()
            return self.reply(200, body, "application/json")
        if op == "LISTSTATUS":
            if not os.path.isdir(path):
                items = [self.status_of(path, "")]
            else:
                items = [self.status_of(os.path.join(path, n), n) for n in sorted(os.listdir(path))]
            body = json.dumps({"FileStatuses": {"FileStatus": items}}).encode()
            return self.reply(200, body, "application/json")
        if op == "OPEN":
            rel = urllib.parse.unquote(url.path[len("/webhdfs/v1"):]).lstrip("/")
            loc = "http://127.0.0.1:%d/datanode/%s?%s" % (self.server.server_port,
                                                          urllib.parse.quote(rel), url.query)
            self.send_response(307)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        return self.hdfs_error(400, "IllegalArgumentException", "Invalid value for webhdfs parameter \"op\"")


def load_token_key(key_path, cert_path):
    """The registry token signing key (optional; needs python3-cryptography)."""
    global TOKEN_KEY, TOKEN_X5C
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(key_path, "rb") as f:
        TOKEN_KEY = serialization.load_pem_private_key(f.read(), None)
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    TOKEN_X5C = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def main():
    global ROOT
    port = int(sys.argv[1])
    ROOT = sys.argv[2]
    if len(sys.argv) > 4:
        load_token_key(sys.argv[3], sys.argv[4])
    srv = ThreadingHTTPServer((os.environ.get("VX_ORIGIN_ADDR", "127.0.0.1"), port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
