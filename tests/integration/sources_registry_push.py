#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pushes a small multi-platform image to a distribution registry with its plain HTTP API, for
the sources/ oci tests: per platform (linux/amd64, linux/arm64) a config and two layers, an
image manifest, then an OCI index under the tag "multi" and the amd64 manifest under "single".
Also one extra blob ("spare") that the test may corrupt on disk.

usage: sources_registry_push.py REGISTRY_URL REPO OUT_DIR
Writes OUT_DIR/expect.json (digests, sizes) and OUT_DIR/blobs/<hex> (the bytes).
"""
import hashlib
import json
import os
import random
import sys
import urllib.request

BASE, REPO, OUT = sys.argv[1], sys.argv[2], sys.argv[3]


def req(method, url, body=None, headers=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(r, timeout=30) as resp:
        return resp.status, resp.headers, resp.read()


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def push_blob(data):
    d = digest(data)
    _, h, _ = req("POST", "%s/v2/%s/blobs/uploads/" % (BASE, REPO))
    loc = h["Location"]
    if loc.startswith("/"):
        loc = BASE + loc
    sep = "&" if "?" in loc else "?"
    st, _, _ = req("PUT", "%s%sdigest=%s" % (loc, sep, d), data,
                   {"Content-Type": "application/octet-stream"})
    assert st == 201, st
    with open(os.path.join(OUT, "blobs", d[7:]), "wb") as f:
        f.write(data)
    return d


def push_manifest(ref, doc, media_type):
    body = json.dumps(doc, separators=(",", ":")).encode()
    st, _, _ = req("PUT", "%s/v2/%s/manifests/%s" % (BASE, REPO, ref), body,
                   {"Content-Type": media_type})
    assert st == 201, st
    with open(os.path.join(OUT, "blobs", digest(body)[7:]), "wb") as f:
        f.write(body)
    return digest(body), len(body)


def main():
    os.makedirs(os.path.join(OUT, "blobs"), exist_ok=True)
    rnd = random.Random(42)
    expect = {"platforms": {}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": []}
    for arch, sizes in (("amd64", (1048576 + 17, 3000)), ("arm64", (70000, 123))):
        layers = []
        for n in sizes:
            data = bytes(rnd.getrandbits(8) for _ in range(n))
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": push_blob(data), "size": n})
        cfg = json.dumps({"architecture": arch, "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        config = {"mediaType": "application/vnd.oci.image.config.v1+json",
                  "digest": push_blob(cfg), "size": len(cfg)}
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": config, "layers": layers}
        md, ml = push_manifest(digest(json.dumps(man, separators=(",", ":")).encode()), man,
                               man["mediaType"])
        index["manifests"].append({"mediaType": man["mediaType"], "digest": md, "size": ml,
                                   "platform": {"architecture": arch, "os": "linux"}})
        expect["platforms"][arch] = {"manifest": md, "manifest_size": ml, "config": config,
                                     "layers": layers}
        if arch == "amd64":
            push_manifest("single", man, man["mediaType"])
    idx, _ = push_manifest("multi", index, index["mediaType"])
    expect["index"] = idx
    spare = bytes(rnd.getrandbits(8) for _ in range(5000))
    expect["spare"] = push_blob(spare)
    with open(os.path.join(OUT, "expect.json"), "w") as f:
        json.dump(expect, f)
    # A flat form the C test reads with sscanf: one "key value" a line.
    with open(os.path.join(OUT, "expect.txt"), "w") as f:
        for arch, p in expect["platforms"].items():
            f.write("%s_manifest %s\n" % (arch, p["manifest"]))
            f.write("%s_config %s %d\n" % (arch, p["config"]["digest"], p["config"]["size"]))
            for i, l in enumerate(p["layers"]):
                f.write("%s_layer%d %s %d\n" % (arch, i, l["digest"], l["size"]))
        f.write("index %s\n" % idx)
        f.write("spare %s\n" % expect["spare"])


if __name__ == "__main__":
    main()
