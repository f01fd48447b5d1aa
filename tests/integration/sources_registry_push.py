#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pushes a small multi-platform image to a distribution registry with its plain HTTP API, for
the sources/ oci tests: per platform (linux/amd64, linux/arm64) a config and two layers, an
image manifest, then an OCI index under the tag "multi" and the amd64 manifest under "single".
Also one extra blob ("spare") that the test may corrupt on disk.

usage: sources_registry_push.py REGISTRY_URL REPO OUT_DIR
Writes OUT_DIR/expect.json (digests, sizes) and OUT_DIR/blobs/<hex> (the bytes).

usage: sources_registry_push.py REGISTRY_URL REPO OUT_DIR --image [--big]
For the registry mirror tests (registry_lib.sh): instead, a runnable single-platform image
(the host's architecture) under the tag "latest" that containerd can unpack: gzip'd tar layers
of random file content (a 1 MiB + 17 file, a 3000-byte file, an empty tar: the "0-byte content"
layer; with --big also one 64 MiB file), a config with the right diff_ids, an OCI manifest.
Also two loose blobs, one of 0 bytes and one of 1 byte. Writes OUT_DIR/image.txt, one
"kind digest size" a line (kind: manifest, config, layer, empty, one), and OUT_DIR/blobs/.
"""
import gzip
import io
import platform
import tarfile
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


def tar_gz(name, data):
    """A reproducible gzip'd tar holding one file NAME (no file when NAME is None)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        if name is not None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=1, mtime=0) as g:
        g.write(tar)
    return gz.getvalue(), digest(tar)


def main_image(big):
    os.makedirs(os.path.join(OUT, "blobs"), exist_ok=True)
    rnd = random.Random(13)
    files = [("a.bin", rnd.randbytes(1048576 + 17)), ("b.bin", rnd.randbytes(3000)),
             (None, b"")]
    if big:
        files.append(("big.bin", os.urandom(64 << 20)))
    lines, layers, diff_ids = [], [], []
    for name, data in files:
        gz, diff_id = tar_gz(name, data)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": push_blob(gz), "size": len(gz)})
        diff_ids.append(diff_id)
        lines.append("layer %s %d" % (layers[-1]["digest"], len(gz)))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    cfg = json.dumps({"architecture": arch, "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": push_blob(cfg), "size": len(cfg)}
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": config, "layers": layers}
    md, ml = push_manifest("latest", man, man["mediaType"])
    lines.insert(0, "config %s %d" % (config["digest"], config["size"]))
    lines.insert(0, "manifest %s %d" % (md, ml))
    lines.append("empty %s 0" % push_blob(b""))
    lines.append("one %s 1" % push_blob(b"\x2a"))
    with open(os.path.join(OUT, "image.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if "--image" in sys.argv[4:]:
        main_image("--big" in sys.argv[4:])
    else:
        main()
