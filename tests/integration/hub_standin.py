#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""hub_standin.py ROOT TOKEN LOG: a local stand-in for the Hugging Face hub and ModelScope,
answering like their public APIs (the parts vx uses), and a "storage" server behind them.

ROOT holds repositories as plain directories:
  ROOT/hf/{models,datasets,spaces}/OWNER/REPO/REV/<files>     Hugging Face
  ROOT/ms/models/OWNER/REPO/REV/<files>                        ModelScope
A repository with a file named .private (next to its REV directories) needs
"Authorization: Bearer TOKEN": none is 401, another token 403; one with .evil-link sends its
next listing page to the storage's origin (which must not be followed).

Hub (Hugging Face):
  GET /api/{models|datasets|spaces}/O/R/tree/REV[/PATH]?recursive=1   JSON array, 2 entries a
      page, Link: <...&cursor=N>; rel="next"; files >= 4096 bytes carry "lfs": {"oid": sha256}
  GET /[datasets/|spaces/]O/R/resolve/REV/PATH   small files: the bytes (ranges honoured);
      LFS files: 302 to the storage with a freshly signed URL (Expires, Signature)
ModelScope:
  GET /api/v1/models/O/R/repo/files?Revision=REV&Recursive=true[&Root=P]
      {"Code": 200, "Data": {"Files": [{"Path", "Name", "Type": blob|tree, "Size", "Sha256"}]}}
  GET /api/v1/models/O/R/repo?Revision=REV&FilePath=P   302 to the storage (every file)
Storage:
  GET /blob/<sha256>?Expires=T&Signature=S   403 on a bad signature or past expiry, 400 (and a
      LEAK line in LOG) when an Authorization header arrives; ranges honoured.

Prints "hub PORT" and "storage PORT" on stdout. Every request goes to LOG as one line with
its headers (the tests grep it: the token must reach the hub and nothing else).
"""
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import ThreadingHTTPServer

import sources_origin

ROOT, TOKEN, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
KEY = secrets.token_bytes(32)
PAGE = 2
LFS_MIN = 4096
log_lock = threading.Lock()
blobs = {}  # sha256 -> path
storage_port = 0


def log(line):
    with log_lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def sha_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def safe_join(base, rel):
    p = os.path.realpath(os.path.join(base, rel))
    if p != base and not p.startswith(base + os.sep):
        return None
    return p


def sign(sha, expires):
    return hmac.new(KEY, f"{sha}:{expires}".encode(), hashlib.sha256).hexdigest()


class Handler(sources_origin.Handler):
    """reply() and ranged() (Range honoured) come from sources_origin.py."""

    def log_message(self, fmt, *args):
        pass

    def err(self, code, msg):
        self.reply(code, json.dumps({"error": msg}).encode(), "application/json")

    def send_file(self, path):
        with open(path, "rb") as f:
            self.ranged(f.read())


class Hub(Handler):
    def do_GET(self):
        log("hub %s %s" % (self.path, json.dumps(dict(self.headers.items()))))
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = [urllib.parse.unquote(p) for p in u.path.split("/")[1:]]
        try:
            if parts[:3] == ["api", "v1", "models"] and len(parts) >= 6:
                return self.ms(parts[3], parts[4], parts[5:], q)
            if parts[0] == "api" and len(parts) >= 6 and parts[4] == "tree":
                return self.hf_tree(parts[1], parts[2], parts[3], parts[5], parts[6:], q)
            kind = "models"
            if parts[0] in ("datasets", "spaces"):
                kind, parts = parts[0], parts[1:]
            if len(parts) >= 5 and parts[2] == "resolve":
                return self.hf_resolve(kind, parts[0], parts[1], parts[3], parts[4:])
        except (ValueError, IndexError):
            return self.err(400, "bad request")
        self.err(404, "no such route")

    def repo(self, hub, kind, owner, name, rev):
        """The revision directory, or None after answering an error."""
        base = os.path.realpath(os.path.join(ROOT, hub, kind))
        repo = safe_join(base, os.path.join(owner, name))
        if not repo or not os.path.isdir(repo):
            self.err(404, "Repository not found")
            return None
        if os.path.exists(os.path.join(repo, ".private")):
            auth = self.headers.get("Authorization")
            if not auth:
                self.err(401, "Invalid credentials in Authorization header")
                return None
            if not hmac.compare_digest(auth, "Bearer " + TOKEN):
                self.err(403, "token refused")
                return None
        d = safe_join(repo, rev)
        if not d or not os.path.isdir(d):
            self.err(404, "Revision not found")
            return None
        return d

    def walk(self, d, root):
        top = safe_join(d, root) if root else d
        if not top or not os.path.exists(top):
            return None
        out = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for n in dirnames:
                out.append((os.path.relpath(os.path.join(dirpath, n), d), None))
            for n in sorted(filenames):
                p = os.path.join(dirpath, n)
                out.append((os.path.relpath(p, d), p))
        return out

    def hf_tree(self, kind, owner, name, rev, rest, q):
        d = self.repo("hf", kind, owner, name, rev)
        if d is None:
            return
        entries = self.walk(d, "/".join(rest))
        if entries is None:
            return self.err(404, "path not found")
        cursor = int(q.get("cursor", ["0"])[0])
        page = []
        for rel, p in entries[cursor:cursor + PAGE]:
            if p is None:
                page.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": rel})
                continue
            e = {"type": "file", "oid": "1" * 40, "size": os.path.getsize(p), "path": rel}
            if e["size"] >= LFS_MIN:
                e["lfs"] = {"oid": sha_file(p), "size": e["size"], "pointerSize": 134}
            page.append(e)
        headers = {}
        if cursor + PAGE < len(entries):
            nq = dict((k, v[0]) for k, v in q.items())
            nq["cursor"] = str(cursor + PAGE)
            host = self.headers.get("Host")
            if os.path.exists(os.path.join(d, "..", ".evil-link")):
                host = "127.0.0.1:%d" % storage_port  # a next page on another origin
            headers["Link"] = '<http://%s%s?%s>; rel="next"' % (
                host, urllib.parse.urlsplit(self.path).path, urllib.parse.urlencode(nq))
        self.reply(200, json.dumps(page).encode(), "application/json", headers)

    def redirect(self, p):
        sha = sha_file(p)
        blobs[sha] = p
        expires = int(time.time()) + 300
        loc = "http://127.0.0.1:%d/blob/%s?Expires=%d&Signature=%s&n=%s" % (
            storage_port, sha, expires, sign(sha, expires), secrets.token_hex(4))
        self.reply(302, b"", headers={"Location": loc, "X-Linked-Etag": '"%s"' % sha,
                                     "ETag": '"hub-%s"' % sha[:8]})

    def hf_resolve(self, kind, owner, name, rev, rest):
        d = self.repo("hf", kind, owner, name, rev)
        if d is None:
            return
        p = safe_join(d, "/".join(rest))
        if not p or not os.path.isfile(p):
            return self.err(404, "Entry not found")
        if os.path.getsize(p) >= LFS_MIN:
            return self.redirect(p)
        self.send_file(p)

    def ms(self, owner, name, rest, q):
        rev = q.get("Revision", ["master"])[0]
        d = self.repo("ms", "models", owner, name, rev)
        if d is None:
            return
        if rest == ["repo", "files"]:
            entries = self.walk(d, q.get("Root", [""])[0])
            if entries is None:
                return self.err(200, "no path")  # a listing error: Code absent
            files = []
            for rel, p in entries:
                f = {"Name": os.path.basename(rel), "Path": rel, "Revision": rev,
                     "Type": "tree" if p is None else "blob",
                     "Size": 0 if p is None else os.path.getsize(p)}
                if p is not None:
                    f["Sha256"] = sha_file(p)
                files.append(f)
            body = json.dumps({"Code": 200, "Data": {"Files": files}}).encode()
            return self.reply(200, body, "application/json")
        if rest == ["repo"]:
            p = safe_join(d, q.get("FilePath", [""])[0])
            if not p or not os.path.isfile(p):
                return self.err(404, "file not found")
            return self.redirect(p)
        self.err(404, "no such route")


class Storage(Handler):
    def do_GET(self):
        log("storage %s %s" % (self.path, json.dumps(dict(self.headers.items()))))
        if self.headers.get("Authorization"):
            log("LEAK: Authorization sent to the storage")
            return self.err(400, "no Authorization expected here")
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        sha = u.path.rpartition("/")[2]
        try:
            expires = int(q["Expires"][0])
            good = hmac.compare_digest(q["Signature"][0], sign(sha, expires))
        except (KeyError, ValueError):
            good = False
        if not good or expires < time.time() or sha not in blobs:
            return self.err(403, "bad or expired signature")
        self.send_file(blobs[sha])


def main():
    global storage_port
    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    st = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
    storage_port = st.server_address[1]
    for s in (hub, st):
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("hub %d" % hub.server_address[1], flush=True)
    print("storage %d" % storage_port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
