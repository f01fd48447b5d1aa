#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pushes a small multi-layer image for the registry mirror tests with the registry's plain
HTTP API: layers of 6 MiB + 5 bytes (crosses a piece boundary), 70000, 1 and 0 bytes, a
config, an image manifest under tag "v1" of REPO; the 6 MiB layer is also mounted under REPO2
(one blob, two names).

usage: proxy_registry_push.py REGISTRY_URL REPO REPO2 OUT_DIR [USER:PASSWORD]
Writes OUT_DIR/blobs/<hex> (the bytes) and OUT_DIR/layers (one "digest size" a line).
"""
import base64
import json
import os
import random
import sys

import sources_registry_push as srp  # its push_blob, with our registry, repo and credentials

BASE, REPO, REPO2, OUT = sys.argv[1:5]
AUTH = {}
if len(sys.argv) > 5:
    AUTH = {"Authorization": "Basic " + base64.b64encode(sys.argv[5].encode()).decode()}
_plain_req = srp.req


def req(method, url, body=None, headers=None):
    h = dict(AUTH)
    h.update(headers or {})
    return _plain_req(method, url, body, h)


srp.req, srp.BASE, srp.OUT = req, BASE, OUT


def push_blob(repo, data):
    srp.REPO = repo
    return srp.push_blob(data)


def digest(b):
    return srp.digest(b)


def main():
    os.makedirs(os.path.join(OUT, "blobs"), exist_ok=True)
    rnd = random.Random(13)
    layers = []
    for n in (6 * 1048576 + 5, 70000, 1, 0):
        data = rnd.randbytes(n)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": push_blob(REPO, data), "size": n})
    push_blob(REPO2, open(os.path.join(OUT, "blobs", layers[0]["digest"][7:]), "rb").read())
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": push_blob(REPO, cfg), "size": len(cfg)}
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": config, "layers": layers}
    body = json.dumps(man, separators=(",", ":")).encode()
    st, _, _ = req("PUT", "%s/v2/%s/manifests/v1" % (BASE, REPO), body,
                   {"Content-Type": man["mediaType"]})
    assert st == 201, st
    with open(os.path.join(OUT, "layers"), "w") as f:
        for l in layers + [config]:
            f.write("%s %d\n" % (l["digest"], l["size"]))


if __name__ == "__main__":
    main()
