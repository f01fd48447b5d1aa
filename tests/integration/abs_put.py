#!/usr/bin/env python3
# abs_put.py ENDPOINT ACCOUNT KEY CMD ARGS [-- CMD ARGS]...: Azure Blob Storage set-up for sources_abs.sh, signed
# with Shared Key here (written from Azure's documentation, independent of sources/src/abs.c).
#   mkcontainer NAME [public]   create a container (public: blobs readable anonymously)
#   put CONTAINER BLOB FILE     upload FILE as a block blob
#   sas CONTAINER PERMS         print a service SAS for the container (e.g. "rl"), valid 1 h
import base64
import datetime
import hashlib
import hmac
import sys
import urllib.parse
import urllib.request

endpoint, account, key = sys.argv[1].rstrip("/"), sys.argv[2], base64.b64decode(sys.argv[3])
VERSION = "2021-08-06"


def sign(s):
    return base64.b64encode(hmac.new(key, s.encode(), hashlib.sha256).digest()).decode()


def request(method, path, query, body=b"", headers=None):
    headers = dict(headers or {})
    if method == "PUT":  # urllib would add a form Content-Type of its own
        headers.setdefault("Content-Type", "application/octet-stream")
    headers["x-ms-date"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%a, %d %b %Y %H:%M:%S GMT")
    headers["x-ms-version"] = VERSION
    upath = urllib.parse.urlsplit(endpoint).path + path
    canon_h = "".join(f"{k.lower()}:{v}\n" for k, v in sorted(headers.items())
                      if k.lower().startswith("x-ms-"))
    canon_q = "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    length = str(len(body)) if body else ""
    sts = (f"{method}\n\n\n{length}\n\n{headers.get('Content-Type', '')}\n\n\n\n\n\n\n"
           f"{canon_h}/{account}{upath}{canon_q}")
    headers["Authorization"] = f"SharedKey {account}:{sign(sts)}"
    url = endpoint + path + ("?" + urllib.parse.urlencode(query) if query else "")
    req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.status




def run(a):
    cmd = a[0]
    if cmd == "mkcontainer":
        h = {"x-ms-blob-public-access": "blob"} if a[2:3] == ["public"] else {}
        request("PUT", "/" + a[1], {"restype": "container"}, headers=h)
    elif cmd == "put":
        with open(a[3], "rb") as f:
            data = f.read()
        request("PUT", "/" + a[1] + "/" + urllib.parse.quote(a[2]), {}, data,
                {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})
    elif cmd == "sas":
        container, perms = a[1], a[2]
        now = datetime.datetime.now(datetime.timezone.utc)
        st = (now - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        se = (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # service SAS string to sign, version 2020-12-06 and later
        sts = "\n".join([perms, st, se, f"/blob/{account}/{container}", "", "", "https,http",
                         VERSION, "c", "", "", "", "", "", "", ""])
        q = {"sv": VERSION, "st": st, "se": se, "sr": "c", "sp": perms, "spr": "https,http",
             "sig": sign(sts)}
        print(urllib.parse.urlencode(q))
    else:
        sys.exit(f"abs_put.py: unknown command {cmd}")


args, cur = [], []
for w in sys.argv[4:]:
    if w == "--":
        args.append(cur)
        cur = []
    else:
        cur.append(w)
args.append(cur)
for a in args:
    run(a)
