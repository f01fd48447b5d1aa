#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""mirror.py: the driver of `vx-bench mirror`, the registry mirror of `vx serve --proxy` side
by side with direct pulls from the registry, on the testbed of swarm.py (its namespaces,
shaping, counters, processes and clean-up are reused, not copied).

Part 1, a cluster: a registry (Debian's docker-registry) on the origin node holding a generated
multi-layer image, `vx scheduler` on the control node, N peers with shaped uplinks. Each peer
pulls the image the way a runtime does (the OCI GETs: the manifest, then every blob at once,
with curl): first all N straight from the registry at once ("direct"), then all N through their
own daemon's mirror (`vx serve --proxy 127.0.0.1:4001 --upstream http://REGISTRY`) at once
("vx"). Registry bytes come from the origin's htb counters (TCP payload), the bound is
T_min = max(F/u_registry, N*F/(u_registry + N*u)) with the registry as the only source.

Part 2, one client on loopback (a namespace of its own with only lo): a direct pull, a cold
pull through a fresh vx daemon, a warm pull through the same daemon; --runs rounds, medians.
With --tls the mirror serves HTTPS (proxy.tls, a certificate of a CA made for the run) and the
client verifies it against that CA; the direct pull stays plain HTTP (the registry's own).

Part 3, instead of both with --preheat (`vx-bench preheat --image`): the cluster's image
pulled cold through every peer's mirror at once, then, with a new scheduler and empty daemons,
preheated to all peers by the job API (`vx preheat MANIFEST_URL --scope all_peers --wait`),
then pulled through every mirror again: what that costs the registry.

Run as root. Exit: 0 ran and every blob verified, 1 failed, 2 bad command line, 77 no
namespaces here.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarm as sw  # noqa: E402  (the testbed)

# Names of this run: "vxm<pid>-..." (swarm.py's own are "vxb<pid>-..."; a swarm.py that knows
# only those never takes a running mirror.py's namespaces for a killed run's)
sw.PREFIX = "vxm%d" % os.getpid()

PORT_REGISTRY = 5000
PORT_MIRROR = 4001
REPO = "bench/app"
TAG = "v1"
ACCEPT = ("application/vnd.oci.image.manifest.v1+json,"
          "application/vnd.docker.distribution.manifest.v2+json")


# ---------------------------------------------------------------------------------------------
# Helpers run inside a namespace (subcommands of this script)


def http(method, url, body=None, headers=None):
    import urllib.request
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(r, timeout=120) as resp:
        return resp.status, resp.headers, resp.read()


def push_main(argv):
    """push REGISTRY_URL IMAGE_DIR: pushes the blobs of IMAGE_DIR/image.json and its
    manifest under REPO:TAG."""
    base, d = argv
    with open(os.path.join(d, "image.json")) as f:
        img = json.load(f)
    for b in [img["config"]] + img["layers"]:
        _, h, _ = http("POST", "%s/v2/%s/blobs/uploads/" % (base, REPO))
        loc = h["Location"]
        loc = base + loc if loc.startswith("/") else loc
        with open(os.path.join(d, b["digest"][7:]), "rb") as f:
            data = f.read()
        st, _, _ = http("PUT", "%s%sdigest=%s" % (loc, "&" if "?" in loc else "?", b["digest"]),
                        data, {"Content-Type": "application/octet-stream"})
        assert st == 201, st
    with open(os.path.join(d, "manifest.json"), "rb") as f:
        man = f.read()
    st, _, _ = http("PUT", "%s/v2/%s/manifests/%s" % (base, REPO, TAG), man,
                    {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert st == 201, st
    return 0


def pull_main(argv):
    """pull BASE_URL OUT_DIR [CA]: the OCI GETs of a runtime: the manifest, then every blob at
    once (curl --parallel), each into OUT_DIR/<hex>, an https BASE_URL verified against CA.
    Each blob's time to its first byte (from its request, curl's time_starttransfer) goes to
    OUT_DIR.ttfb, "<hex> <seconds>" a line. Verification of the blobs is the driver's (not
    timed)."""
    base, out = argv[:2]
    ca = ["--cacert", argv[2]] if len(argv) > 2 else []
    os.makedirs(out, exist_ok=True)
    r = subprocess.run(["curl", "-sS", "-f", "--max-time", "600", "-H", "Accept: " + ACCEPT] +
                       ca + ["%s/v2/%s/manifests/%s" % (base, REPO, TAG)],
                       stdout=subprocess.PIPE, check=True)
    man = json.loads(r.stdout)
    cmd = ["curl", "-sS", "-f", "--max-time", "600", "--parallel", "--parallel-immediate",
           "--parallel-max", "8", "-w", "%{url_effective} %{time_starttransfer}\\n"] + ca
    for b in [man["config"]] + man["layers"]:
        cmd += ["-o", os.path.join(out, b["digest"][7:]),
                "%s/v2/%s/blobs/%s" % (base, REPO, b["digest"])]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    with open(out + ".ttfb", "w") as f:
        for line in r.stdout.splitlines():
            url, _, secs = line.rpartition(" ")
            f.write("%s %s\n" % (url.rsplit(":", 1)[-1], secs))
    return r.returncode


# ---------------------------------------------------------------------------------------------
# The image


def make_image(d, sizes):
    """Random (incompressible) layers of @sizes and a config; writes IMAGE_DIR/<hex> per blob,
    manifest.json and image.json. Returns (image dict, total blob bytes)."""
    os.makedirs(d, exist_ok=True)
    blobs = []
    for n in sizes:
        tmp = os.path.join(d, "tmp")
        hexd = sw.make_file(tmp, n)
        os.rename(tmp, os.path.join(d, hexd))
        blobs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": "sha256:" + hexd, "size": n})
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cd = hashlib.sha256(cfg).hexdigest()
    with open(os.path.join(d, cd), "wb") as f:
        f.write(cfg)
    img = {"config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": "sha256:" + cd, "size": len(cfg)}, "layers": blobs}
    man = dict(schemaVersion=2, mediaType="application/vnd.oci.image.manifest.v1+json", **img)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, separators=(",", ":"))
    with open(os.path.join(d, "image.json"), "w") as f:
        json.dump(img, f)
    return img, len(cfg) + sum(sizes)


def verify_pull(out, img):
    """True when OUT holds every blob of the image, each matching its digest."""
    paths = [os.path.join(out, b["digest"][7:]) for b in [img["config"]] + img["layers"]]
    sums = sw.verify_all(paths)
    return all(s == os.path.basename(p) for s, p in zip(sums, paths))


# ---------------------------------------------------------------------------------------------
# Pieces of a run


def start_registry(node, ip, port):
    root = os.path.join(node.dir, "registry")
    os.makedirs(root, exist_ok=True)
    conf = os.path.join(node.dir, "registry.yml")
    with open(conf, "w") as f:
        f.write("""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s:%d
  secret: vx-bench-secret
""" % (root, ip, port))
    p = node.proc("registry", ["docker-registry", "serve", conf])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = node.run(["ss", "-Hltn"], check=False, quiet=True).stdout
        if ("%s:%d " % (ip, port)) in out:
            return p
        if not p.alive():
            break
        time.sleep(0.05)
    raise sw.Fail("docker-registry did not listen on %s:%d: %s" % (ip, port, p.stderr_tail()))


def push_image(node, base, img_dir):
    node.run([sys.executable, os.path.abspath(__file__), "push", base, img_dir], timeout=300)


def start_sched(vx, node, ip, api=None, extra=()):
    """vx scheduler on @node (a new database: one left by an earlier start is removed), with
    its job API on @api (HOST:PORT) or none, and @extra flags."""
    addr = "%s:%d" % (ip, sw.PORT_SCHED)
    db = os.path.join(node.dir, "scheduler.db")
    for suffix in ("", "-wal", "-shm", ".tokens"):
        sw.rm(db + suffix)
    p = node.proc("vx-scheduler", [vx, "scheduler", "--listen", addr, "--db", db,
                                   "--insecure-plaintext"] +
                  (["--api", api] if api else ["--no-api"]) + list(extra))
    deadline = time.monotonic() + 15
    while not os.path.exists(os.path.join(node.dir, "scheduler.db.tokens")):
        if not p.alive() or time.monotonic() > deadline:
            raise sw.Fail("vx scheduler did not start: %s" % p.stderr_tail())
        time.sleep(0.05)
    sw.wait_listen(node, sw.PORT_SCHED, "vx scheduler", p)
    return p, addr, sw.write_token_files(node)


def start_mirror(vx, node, ip, sched_addr, token, upstream, tag, extra, log=False):
    d = os.path.join(node.dir, "vx-" + tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "data"))
    sock = os.path.join(d, "vx.sock")
    cmd = [vx, "serve", "--data-dir", os.path.join(d, "data"), "--listen",
           "%s:%d" % (ip, sw.PORT_VORTEX), "--socket", sock, "--scheduler", sched_addr,
           "--token-file", token, "--proxy", "127.0.0.1:%d" % PORT_MIRROR,
           "--upstream", upstream, "--log-level", "warn", "--insecure-plaintext"] + extra
    if log:
        cmd = ["sh", "-c", 'exec "$0" "$@" 2>>%s' % os.path.join(d, "serve.log")] + cmd
    p = node.proc("vx-serve", cmd)
    deadline = time.monotonic() + 20
    while True:
        out = node.run(["ss", "-Hltn"], check=False, quiet=True).stdout
        if ("127.0.0.1:%d " % PORT_MIRROR) in out and os.path.exists(sock):
            return p, d
        if not p.alive() or time.monotonic() > deadline:
            raise sw.Fail("vx serve did not start: %s" % p.stderr_tail())
        time.sleep(0.05)


def pull_procs(nodes, base_of, tag, ca=None):
    outs, procs = [], []
    for node in nodes:
        out = os.path.join(node.dir, "pull-" + tag)
        shutil.rmtree(out, ignore_errors=True)
        outs.append(out)
        procs.append(node.proc("pull", [sys.executable, os.path.abspath(__file__), "pull",
                                        base_of(node), out] + ([ca] if ca else [])))
    return outs, procs


def largest_ttfb(out, img):
    """The time to the first byte of the image's largest layer in one pull (pull_main), or
    None."""
    hexes = [b["digest"][7:] for b in sorted(img["layers"], key=lambda b: b["size"])]
    try:
        with open(out + ".ttfb") as f:
            got = dict(line.split() for line in f if len(line.split()) == 2)
        return float(got[hexes[-1]])
    except (OSError, KeyError, ValueError):
        return None


def timed_pulls(bed, nodes, base_of, tag, img, deadline, ca=None, ttfb=None):
    """Pulls the image on @nodes at once: (seconds each took, the phase's traffic). With a list
    @ttfb, appends each pull's time to the first byte of the largest layer."""
    ph = sw.Phase(bed) if "origin" in bed.nodes else None
    t0 = time.monotonic()
    outs, procs = pull_procs(nodes, base_of, tag, ca)
    try:
        sw.wait_all(procs, deadline, tag)
    finally:
        for p in procs:
            p.stop()
    sent = ph.sent() if ph else None
    times = []
    for p, out in zip(procs, outs):
        if p.status != 0 or not verify_pull(out, img):
            raise sw.Fail("%s: %s failed (%s): %s" % (tag, p.name, p.status, p.stderr_tail()))
        times.append(p.end - t0)
        if ttfb is not None:
            ttfb.append(largest_ttfb(out, img))
        shutil.rmtree(out, ignore_errors=True)
    return times, sent


# ---------------------------------------------------------------------------------------------
# Part 1: N peers in namespaces


def cluster_up(bed, args, img_dir, size):
    """The registry on the origin node holding the image of @img_dir: (control node, peer
    nodes, registry process, its URL, the bound)."""
    origin, ctl = bed.nodes["origin"], bed.nodes["control"]
    peers = [bed.nodes["peer%d" % (i + 1)] for i in range(args.peers)]
    reg = start_registry(origin, origin.ip, PORT_REGISTRY)
    upstream = "http://%s:%d" % (origin.ip, PORT_REGISTRY)
    push_image(origin, upstream, img_dir)
    bnd = sw.bounds(size, args.peers, args.origin_link, args.link, args.origin_link)
    return ctl, peers, reg, upstream, bnd


def run_cluster(bed, args, img_dir, img, size, deadline):
    vx, n = args.vx, args.peers
    ctl, peers, reg, upstream, bnd = cluster_up(bed, args, img_dir, size)
    res = {"bound": bnd}

    sw.log("cluster: %d direct pulls from the registry at once" % n)
    fb_direct, fb_vx = [], []
    t, sent = timed_pulls(bed, peers, lambda _: upstream, "direct", img, deadline,
                          ttfb=fb_direct)
    res["direct"] = {"times_s": t, "last_s": max(t), "ratio_t_min": max(t) / bnd["t_min"],
                     "registry_payload": sent["origin"]["payload_bytes"],
                     "registry_copies": sent["origin"]["payload_bytes"] / size,
                     "first_byte_s": fb_direct}

    sched, sched_addr, tok = start_sched(vx, ctl, ctl.ip, extra=args.sched_arg)
    daemons = start_mirrors(args, peers, sched_addr, tok, upstream, "cluster")
    sw.log("cluster: %d pulls through their vx mirrors at once" % n)
    try:
        t, sent = timed_pulls(bed, peers, lambda _: MIRROR_URL, "vx", img, deadline,
                              ttfb=fb_vx)
    finally:
        stop_mirrors(args, sched, daemons)
    res["vx"] = mirror_result(t, sent, size, bnd)
    res["vx"]["first_byte_s"] = fb_vx
    # goal 9's bound: one piece (4 MiB, the task's first) over a peer's uplink, plus a round
    # trip; the registry's uplink is the peers' here
    res["piece_time_s"] = PIECE_BYTES * 8 / args.link
    reg.stop()
    return res


MIRROR_URL = "http://127.0.0.1:%d" % PORT_MIRROR
PIECE_BYTES = 4 << 20  # a blob's pieces under 512 MiB (Dragonfly's piece length rule)
# What N pulls through preheated mirrors may cost the registry: their manifest GETs (a
# manifest by tag is not a blob: the mirror asks the registry each time), far below a layer
AFTER_PREHEAT_MAX = 65536


def start_mirrors(args, peers, sched_addr, tok, upstream, tag):
    return [start_mirror(args.vx, p, p.ip, sched_addr, tok["peer"], upstream, tag,
                         args.serve_arg, args.keep) for p in peers]


def stop_mirrors(args, sched, daemons):
    for p, _ in daemons:
        p.stop(grace=10)
        if args.verbose:
            sw.log("%s: %s" % (p.name, p.stderr_tail()))
    sched.stop(grace=10)


def mirror_result(t, sent, size, bnd):
    """The figures of N pulls through the mirrors: times, bytes each node sent (htb)."""
    return {"times_s": t, "last_s": max(t), "ratio_t_min": max(t) / bnd["t_min"],
            "registry_payload": sent["origin"]["payload_bytes"],
            "registry_copies": sent["origin"]["payload_bytes"] / size,
            "peers_payload": sum(sent[k]["payload_bytes"] for k in sent
                                 if k.startswith("peer") and sent[k]),
            "sent_copies": {k: round(v["payload_bytes"] / size, 3) for k, v in sent.items()
                            if isinstance(v, dict) and k != "control"}}


# ---------------------------------------------------------------------------------------------
# Image preheat (`vx-bench preheat --image`): the same cluster; the baseline is the image pulled
# cold through every peer's mirror at once, then, with a new scheduler and empty daemons, the
# management plane's preheat job of the image to all peers, then a pull through every mirror


def run_preheat(bed, args, img_dir, img, size, deadline):
    vx, n = args.vx, args.peers
    ctl, peers, reg, upstream, bnd = cluster_up(bed, args, img_dir, size)
    api = "%s:%d" % (ctl.ip, sw.PORT_API)
    res = {"bound": bnd}

    sw.log("preheat: %d cold pulls through their vx mirrors at once" % n)
    sched, sched_addr, tok = start_sched(vx, ctl, ctl.ip, api)
    daemons = start_mirrors(args, peers, sched_addr, tok, upstream, "cold")
    try:
        t, sent = timed_pulls(bed, peers, lambda _: MIRROR_URL, "cold", img, deadline)
    finally:
        stop_mirrors(args, sched, daemons)
    res["cold"] = mirror_result(t, sent, size, bnd)

    # a new scheduler (database removed) and daemons with empty stores: nothing is warm
    sched, sched_addr, tok = start_sched(vx, ctl, ctl.ip, api)
    daemons = start_mirrors(args, peers, sched_addr, tok, upstream, "preheat")
    manifest = "%s/v2/%s/manifests/%s" % (upstream, REPO, TAG)
    try:
        sw.wait_listen(ctl, sw.PORT_API, "vx scheduler api", sched)
        tokf = sw.api_token_file(vx, ctl, os.path.join(ctl.dir, "scheduler.db"))
        out = os.path.join(ctl.dir, "preheat.json")
        sw.log("preheat: vx preheat %s --scope all_peers --wait" % manifest)
        ph = sw.Phase(bed)
        t0 = time.monotonic()
        with open(out, "wb") as o:
            job = ctl.proc("vx-preheat", [
                vx, "preheat", manifest, "--scope", "all_peers", "--wait", "--json",
                "--timeout", str(int(max(1, deadline - time.monotonic()))),
                "--api", "http://" + api, "--token-file", tokf], stdout=o)
            sw.wait_all([job], deadline, "preheat")
        sent = ph.sent()
        if job.status != 0:
            raise sw.Fail("vx preheat failed (%s): %s" % (job.status, job.stderr_tail()))
        with open(out) as f:
            r = json.load(f)
        res["preheat"] = preheat_result(r, img, peers, job.end - t0, sent, size, bnd)
        sw.log("preheat: %d pulls through their vx mirrors at once after it" % n)
        t, sent = timed_pulls(bed, peers, lambda _: MIRROR_URL, "after", img, deadline)
        res["after"] = mirror_result(t, sent, size, bnd)
    finally:
        stop_mirrors(args, sched, daemons)
    reg.stop()
    res["preheat_speed_vs_cold"] = res["cold"]["last_s"] / res["preheat"]["time_s"]
    res["mirrors_warm"] = res["after"]["registry_payload"] <= AFTER_PREHEAT_MAX
    return res


def preheat_result(job, img, peers, t, sent, size, bnd):
    """The job's figures; a Fail unless it ended SUCCESS with every blob of the image on every
    peer (the hosts' addresses in its success_tasks)."""
    if job.get("state") != "SUCCESS":
        raise sw.Fail("preheat job %s: %s" % (job.get("state"), json.dumps(job)[:600]))
    got, ids = {}, {}
    for st in job["result"]["job_states"]:
        for r in st["results"]:
            if r.get("failure_tasks"):
                raise sw.Fail("preheat failures: %s" % json.dumps(r["failure_tasks"])[:600])
            for task in r.get("success_tasks") or []:
                got.setdefault(task["url"].rsplit("/", 1)[1], set()).add(task["ip"])
                ids[task["url"].rsplit("/", 1)[1]] = task.get("task_id")
    want = {b["digest"] for b in [img["config"]] + img["layers"]}
    ips = {p.ip for p in peers}
    if set(got) != want or any(not ips <= h for h in got.values()):
        raise sw.Fail("preheat: not every blob on every peer: %s" % {
            k: sorted(v) for k, v in got.items()})
    return {"time_s": t, "ratio_t_min": t / bnd["t_min"], "tasks": sum(map(len, got.values())),
            "task_ids": ids,
            "registry_payload": sent["origin"]["payload_bytes"],
            "registry_copies": sent["origin"]["payload_bytes"] / size,
            "peers_payload": sum(sent[k]["payload_bytes"] for k in sent
                                 if k.startswith("peer") and sent[k])}


# ---------------------------------------------------------------------------------------------
# Part 2: one client on loopback


def mirror_tls(d):
    """A CA and a certificate for 127.0.0.1 signed by it in @d, and a vx config file that
    makes the mirror serve HTTPS with them: (CA file, config file)."""
    def ossl(*a):
        sw.run(["openssl"] + list(a), quiet=True)
    os.makedirs(d, exist_ok=True)
    ca, key, csr, crt = (os.path.join(d, n) for n in ("ca.pem", "ca.key", "m.csr", "m.pem"))
    mkey, ext, conf = (os.path.join(d, n) for n in ("m.key", "ext.cnf", "tls.yaml"))
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "2", "-subj", "/CN=vx-bench mirror CA", "-addext",
         "basicConstraints=critical,CA:TRUE", "-keyout", key, "-out", ca)
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
         "/CN=mirror", "-keyout", mkey, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key, "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", crt)
    os.chmod(mkey, 0o600)
    with open(conf, "w") as f:
        f.write("proxy:\n  tls:\n    cert: %s\n    key: %s\n" % (crt, mkey))
    return ca, conf


def cpu_s(pid):
    """CPU seconds (user + system) process @pid has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_loopback(bed, args, img_dir, img, size, deadline):
    vx = args.vx
    ca, extra, scheme = None, list(args.serve_arg), "http"
    if args.tls:
        ca, conf = mirror_tls(os.path.join(bed.work, "tls"))
        extra += ["--config", conf]
        scheme = "https"
    ns = sw.PREFIX + "-lo"
    sw.run(["ip", "netns", "add", ns])
    bed.ns_made.append(ns)
    sw.run(["ip", "-n", ns, "link", "set", "lo", "up"])
    node = sw.Node(bed, "lo", 1, None)
    node.ns, node.ip = ns, "127.0.0.1"
    reg = start_registry(node, "127.0.0.1", PORT_REGISTRY)
    upstream = "http://127.0.0.1:%d" % PORT_REGISTRY
    push_image(node, upstream, img_dir)
    sched, sched_addr, tok = start_sched(vx, node, "127.0.0.1", extra=args.sched_arg)
    runs = {"direct": [], "vx_cold": [], "vx_warm": []}
    fb = {"direct": [], "vx_cold": [], "vx_warm": []}  # first byte of the largest layer
    cpu = {"vx_cold": [], "vx_warm": []}  # the daemon's CPU seconds per pull
    try:
        for i in range(args.runs):
            sw.log("loopback: round %d of %d" % (i + 1, args.runs))
            t, _ = timed_pulls(bed, [node], lambda _: upstream, "direct", img, deadline,
                               ttfb=fb["direct"])
            runs["direct"].append(t[0])
            d, _ = start_mirror(vx, node, "127.0.0.1", sched_addr, tok["peer"], upstream,
                                "lo", extra)
            try:
                mirror = "%s://127.0.0.1:%d" % (scheme, PORT_MIRROR)
                for k in ("vx_cold", "vx_warm"):
                    c0 = cpu_s(d.pid)
                    t, _ = timed_pulls(bed, [node], lambda _: mirror, k, img, deadline, ca,
                                       ttfb=fb[k])
                    cpu[k].append(cpu_s(d.pid) - c0)
                    runs[k].append(t[0])
            finally:
                d.stop(grace=10)
    finally:
        sched.stop(grace=10)
        reg.stop()
    res = {"runs": runs, "tls": bool(args.tls), "daemon_cpu_s": cpu, "first_byte_s": fb}
    for k, v in runs.items():
        res[k + "_median_s"] = statistics.median(v)
        res[k + "_MBps"] = size / statistics.median(v) / 1e6
    for k, v in cpu.items():
        res[k + "_daemon_cpu_median_s"] = statistics.median(v)
    res["cold_speed_vs_direct"] = res["direct_median_s"] / res["vx_cold_median_s"]
    res["warm_speed_vs_direct"] = res["direct_median_s"] / res["vx_warm_median_s"]
    return res


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="vx-bench mirror",
        description="The vx registry mirror vs direct pulls from a registry: N peers in "
                    "namespaces with shaped uplinks, and one client on loopback.")
    ap.add_argument("--peers", type=int, default=4, help="N peers (4)")
    ap.add_argument("--layers",
                    help="layer sizes of the generated image (48M,16M,4M; with --preheat "
                         "512M,256M,192M,64M: 1 GiB)")
    ap.add_argument("--link", type=sw.parse_rate, default=sw.parse_rate("100mbit"),
                    help="uplink of every peer (100mbit)")
    ap.add_argument("--origin-link", type=sw.parse_rate,
                    help="uplink of the registry (default --link)")
    ap.add_argument("--lo-layers", default="192M,64M",
                    help="layer sizes for the loopback part (192M,64M)")
    ap.add_argument("--runs", type=int, default=3, help="loopback rounds (3)")
    ap.add_argument("--tls", action="store_true",
                    help="loopback: the mirror serves HTTPS (proxy.tls), verified by the client")
    ap.add_argument("--only", choices=("cluster", "loopback"), help="run one part")
    ap.add_argument("--preheat", action="store_true",
                    help="instead of both parts (vx-bench preheat --image): the image pulled "
                         "cold through every peer's mirror at once, then preheated to all "
                         "peers by the job API (vx preheat MANIFEST_URL --scope all_peers "
                         "--wait), then pulled through every mirror again")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for the run (900)")
    ap.add_argument("--vx", help="the vx binary")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra argument for every vx serve (repeatable)")
    ap.add_argument("--sched-arg", action="append", default=[],
                    help="extra argument for the vx scheduler (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--verbose", action="store_true", help="print the daemons' last log lines")
    a = ap.parse_args(argv)
    a.origin_link = a.origin_link or a.link
    a.loopback = False
    if a.preheat and a.only:
        ap.error("--preheat runs a part of its own: no --only")
    a.layers = a.layers or ("512M,256M,192M,64M" if a.preheat else "48M,16M,4M")
    a.sizes = [sw.parse_size(s) for s in a.layers.split(",")]
    a.lo_sizes = [sw.parse_size(s) for s in a.lo_layers.split(",")]
    if not 1 <= a.peers <= 100:
        ap.error("--peers must be 1..100")
    return a


def fmt_times(ts):
    return " ".join("-" if t is None else "%.3f" % t for t in ts)


def report(res, out):
    w = out.write
    c = res.get("cluster")
    if c:
        b = c["bound"]
        w("cluster: %d peers, image %s, peer uplink %s, registry uplink %s\n" % (
            res["config"]["peers"], sw.fmt_bytes(res["config"]["image_bytes"]),
            sw.fmt_rate(res["config"]["link_bps"]), sw.fmt_rate(res["config"]["origin_link_bps"])))
        w("bound: T_min = %.2f s (registry as the only source); direct N*F/u = %.2f s\n" % (
            b["t_min"], b["t_http"]))
        w("%-7s %8s %8s %8s %16s\n" % ("pull", "first", "last", "xT_min", "registry copies"))
        for k in ("direct", "vx"):
            r = c[k]
            w("%-7s %8.2f %8.2f %8.2f %16.3f\n" % (k, min(r["times_s"]), r["last_s"],
                                                  r["ratio_t_min"], r["registry_copies"]))
        w("vx: copies sent per node: %s; times %s\n" % (
            " ".join("%s %.2f" % kv for kv in sorted(c["vx"]["sent_copies"].items())),
            " ".join("%.2f" % t for t in c["vx"]["times_s"])))
        w("first byte of the largest layer: direct %s s; vx %s s; one piece over a peer "
          "uplink %.3f s\n" % (fmt_times(c["direct"]["first_byte_s"]),
                               fmt_times(c["vx"]["first_byte_s"]), c["piece_time_s"]))
    p = res.get("preheat")
    if p:
        report_preheat(res, p, w)
    lo = res.get("loopback")
    if lo:
        w("loopback: image %s, median of %d rounds%s\n" % (
            sw.fmt_bytes(res["config"]["lo_image_bytes"]), len(lo["runs"]["direct"]),
            ", the mirror over HTTPS" if lo["tls"] else ""))
        for k in ("direct", "vx_cold", "vx_warm"):
            w("  %-8s %7.3f s %8.0f MB/s  %s\n" % (k, lo[k + "_median_s"], lo[k + "_MBps"],
                                                    " ".join("%.3f" % t for t in lo["runs"][k])))
        for k in ("vx_cold", "vx_warm"):
            w("  %-8s daemon CPU %.2f s (median)  %s\n" % (
                k, lo[k + "_daemon_cpu_median_s"],
                " ".join("%.2f" % c for c in lo["daemon_cpu_s"][k])))
        w("  vx cold %.2fx, warm %.2fx the speed of a direct pull\n" % (
            lo["cold_speed_vs_direct"], lo["warm_speed_vs_direct"]))
        w("  first byte of the largest layer: direct %s s; vx cold %s s; warm %s s\n" % (
            fmt_times(lo["first_byte_s"]["direct"]), fmt_times(lo["first_byte_s"]["vx_cold"]),
            fmt_times(lo["first_byte_s"]["vx_warm"])))


def report_preheat(res, p, w):
    b = p["bound"]
    w("preheat: %d peers, image %s in %d blobs, peer uplink %s, registry uplink %s\n" % (
        res["config"]["peers"], sw.fmt_bytes(res["config"]["image_bytes"]),
        len(res["config"]["layers"]) + 1, sw.fmt_rate(res["config"]["link_bps"]),
        sw.fmt_rate(res["config"]["origin_link_bps"])))
    w("bound: T_min = %.2f s (registry as the only source)\n" % b["t_min"])
    w("%-22s %8s %8s %16s %14s\n" % ("", "last s", "xT_min", "registry copies",
                                      "peers copies"))
    for k, name in (("cold", "cold pull via mirrors"), ("preheat", "preheat all_peers")):
        r = p[k]
        w("%-22s %8.2f %8.2f %16.3f %14.3f\n" % (
            name, r.get("last_s", r.get("time_s")), r["ratio_t_min"], r["registry_copies"],
            r["peers_payload"] / res["config"]["image_bytes"]))
    a = p["after"]
    w("preheat: %.2fx the speed of the cold pull (%d blob tasks SUCCESS)\nthe pull through "
      "every mirror after it: last %.2f s, the registry sent %d payload bytes (%.4f copies)\n"
      % (p["preheat_speed_vs_cold"], p["preheat"]["tasks"], a["last_s"], a["registry_payload"],
         a["registry_copies"]))
    if not p["mirrors_warm"]:
        w("FAIL: the mirrors did not serve the preheated blobs: the pull after the preheat cost "
          "the registry more than its manifests (%d bytes)\n" % AFTER_PREHEAT_MAX)


def main(argv):
    if argv and argv[0] == "push":
        return push_main(argv[1:])
    if argv and argv[0] == "pull":
        return pull_main(argv[1:])
    if argv and argv[0] == "cleanup":
        sw.remove_stale()
        return sw.EXIT_OK
    if argv and argv[0] == "run":
        argv = argv[1:]
    args = parse_args(argv)
    if os.geteuid() != 0:
        sw.log("skipping: network namespaces and tc need root")
        return sw.EXIT_SKIP
    for tool in ("ip", "tc", "curl", "ss", "docker-registry"):
        if not (shutil.which(tool) or os.path.exists("/usr/sbin/" + tool)):
            sw.log("missing tool '%s' (scripts/install-deps)" % tool)
            return sw.EXIT_FAIL
    ok, why = sw.vx_serve_available(args.vx)
    if not ok:
        sw.log("vx: " + why)
        return sw.EXIT_FAIL
    guard = sw.RunGuard(args.timeout)
    deadline = time.monotonic() + args.timeout
    rc = sw.EXIT_OK
    res = {"config": {"peers": args.peers, "link_bps": args.link,
                      "origin_link_bps": args.origin_link, "layers": args.sizes,
                      "lo_layers": args.lo_sizes, "nproc": os.cpu_count(),
                      "prefix": sw.PREFIX, "loadavg": os.getloadavg()}}
    try:
        sw.remove_stale()
        bed = guard.bed = sw.Testbed(args)
        if args.preheat or args.only != "loopback":
            specs = [("origin", 2, args.origin_link), ("control", 3, None)]
            specs += [("peer%d" % (i + 1), 11 + i, args.link) for i in range(args.peers)]
            bed.build(specs)
            img_dir = os.path.join(bed.work, "image")
            sw.log("generating the image")
            img, size = make_image(img_dir, args.sizes)
            res["config"]["image_bytes"] = size
            part, run_part = ("preheat", run_preheat) if args.preheat else ("cluster",
                                                                             run_cluster)
            res[part] = run_part(bed, args, img_dir, img, size, deadline)
        if args.only != "cluster" and not args.preheat:
            img_dir = os.path.join(bed.work, "lo-image")
            img, size = make_image(img_dir, args.lo_sizes)
            res["config"]["lo_image_bytes"] = size
            res["loopback"] = run_loopback(bed, args, img_dir, img, size, deadline)
        report(res, sys.stderr if args.json else sys.stdout)
        if args.json:
            json.dump(res, sys.stdout, indent=1)
            sys.stdout.write("\n")
        if "preheat" in res and not res["preheat"]["mirrors_warm"]:
            rc = sw.EXIT_FAIL
    except sw.Skip as e:
        sw.log("skipping: %s" % e)
        rc = sw.EXIT_SKIP
    except sw.Fail as e:
        sw.log("failed: %s" % e)
        rc = sw.EXIT_FAIL
    except sw.Interrupted as e:
        sw.log("interrupted (%s): cleaning up" % e)
        rc = sw.EXIT_FAIL
    finally:
        guard.finish()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
