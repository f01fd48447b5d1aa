#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""swarm.py: the driver of `vx-bench swarm`, a whole swarm side by side with its baselines.

One run builds a private network out of network namespaces: a hub namespace holding a bridge,
and one namespace per node (origin, control, seed, peer 1..N), each joined to the bridge by a
veth pair whose ends live only inside those namespaces (nothing is created in the caller's
namespace, nothing is routed off the machine). Each node's upload (the egress of its veth) is
shaped with an htb class; downloads are not shaped. The same generated file is then distributed
to N peers by each system asked for, one after another on the same network:

  http  every peer fetches the file from the origin (nginx) with curl
  bt    libtorrent peers (Debian's python3-libtorrent), an opentracker tracker and a libtorrent
        seed; the torrent is made with mktorrent
  vx    `vx scheduler`, a `vx serve --seed` seed peer and N `vx serve` peers; each peer runs
        `vx get URL -O FILE --socket SOCK`; plaintext (--insecure-plaintext, role tokens)
  vx-tls  the same cluster as an operator runs it beyond loopback: the scheduler's CA serves
        TLS, each daemon joins with a join token (`vx token create`, `vx serve --join-file`)
        and speaks TLS 1.3 on both planes (asked for by name: not part of "all")
  vx-members  the same daemons with no scheduler: `vx serve --members` naming the seed's and
        every peer's Vortex address, each daemon scheduling the tasks it owns (asked for by
        name; `--vs vx,vx-members` runs both in one run)

For bt and vx the seed first obtains the file from the origin (not timed: the bound assumes a
seed that holds the file), then every peer starts at once; the time of a system is the time
until the last peer holds the file, and every output is checked against the file's sha256.
Bytes are measured from the htb statistics of each node's interface (the wire), never from the
programs under test. Everything is removed on exit, on error, on timeout and on Ctrl-C; a
later run also removes what a killed run left behind.

Run as root (namespaces, tc). Exit: 0 every system ran and verified, 1 a system failed,
2 bad command line, 77 network namespaces or htb are not available here.
"""

import argparse
import atexit
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SELF = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(SELF))
import compressible  # noqa: E402 (this folder): content lz4 compresses 3:1

PREFIX = "vxb%d" % os.getpid()
NET = "10.77.0"  # only ever configured inside the run's namespaces
PORT_ORIGIN = 8080
PORT_TRACKER = 6969
PORT_SCHED = 8002
PORT_VORTEX = 4005
PORT_API = 8081
PORT_BT = 6881

# Overhead model. A full TCP segment carries MSS = 1500 - 20 (IP) - 20 (TCP) - 12 (timestamps)
# = 1448 payload bytes in a 1514-byte frame (14 bytes Ethernet); htb meters the frame (GSO
# packets are accounted per segment), so payload moves at ETA = 1448/1514 of the shaped rate.
# ACKs are not in the bound (they only make it looser); they are in the measured wire bytes.
HDR = 14 + 20 + 20 + 12
MSS = 1448
ETA = MSS / (MSS + HDR)

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_SKIP = 0, 1, 2, 77


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class Interrupted(Exception):
    pass


def log(msg):
    sys.stderr.write("swarm: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Units


def parse_size(s):
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgG]?)(i?[bB])?\s*", s)
    if not m:
        raise argparse.ArgumentTypeError("size wants e.g. 8M, 256MiB, 1G, 4096; got '%s'" % s)
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    v = int(float(m.group(1)) * mult)
    if v <= 0:
        raise argparse.ArgumentTypeError("size must be positive: '%s'" % s)
    return v


def parse_rate(s):
    """tc's units: bit, kbit, mbit, gbit are bits/s; bps, kbps, mbps, gbps are bytes/s.
    Returns bits per second."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgG]?)(bit|bps)\s*", s, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(
            "rate wants tc units, e.g. 100mbit or 12.5mbps (bytes/s); got '%s'" % s)
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    v = float(m.group(1)) * mult * (8 if m.group(3).lower() == "bps" else 1)
    if v < 8000:
        raise argparse.ArgumentTypeError("rate too small: '%s'" % s)
    return v


def fmt_rate(bps):
    return "%gmbit" % (bps / 1e6)


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


def bounds(f, n, u_seed, u_peer, u_origin, ups=None, downs=None, racks=None, rack_link=None):
    """Lower bounds on the time until all n peers hold f bytes (seconds), with the payload
    rates corrected by ETA.

    ups, downs: per peer uplink and downlink (bits/s; downs None: unshaped); the fluid bound
    is then max(F/u_seed, F/min d_i, N F/(u_seed + sum u_i)). racks: peers per rack, the seed
    in rack 0, every other rack joined to rack 0 by a link of rack_link each way. A rack r > 0
    of n_r peers needs every byte over its link and its n_r copies from the link or its own
    uplinks: F/c and n_r F/(c + sum of its u_i); rack 0 gets at most c per link from outside:
    n_0 F/(u_seed + sum of its u_i + (R-1) c). T_min is the largest of all terms; t_min_flat
    the bound without the racks."""
    def pay(bps):
        return bps / 8 * ETA
    us, uo = pay(u_seed), pay(u_origin)
    ups = [pay(u) for u in ups] if ups else [pay(u_peer)] * n
    flat = max(f / us, n * f / (us + sum(ups)))
    if downs:
        flat = max(flat, f / pay(min(downs)))
    t, terms = flat, {}
    if racks and len(racks) > 1:
        c, k = pay(rack_link), 0
        for r, nr in enumerate(racks):
            u_r = sum(ups[k:k + nr])
            k += nr
            if r == 0:
                terms["rack0"] = nr * f / (us + u_r + (len(racks) - 1) * c) if nr else 0
            else:
                terms["rack%d" % r] = max(f / c, nr * f / (c + u_r)) if nr else 0
        t = max([flat] + list(terms.values()))
    return {
        "t_min": t,
        "t_min_flat": flat,
        "rack_terms": terms,
        "t_http": n * f / uo,
        "eta": ETA,
        "model": "payload = rate * %d/%d (1514-byte frames carry 1448 bytes: Ethernet 14, "
                 "IPv4 20, TCP 20, timestamps 12); ACKs not counted" % (MSS, MSS + HDR),
    }


# ---------------------------------------------------------------------------------------------
# Processes


def run(cmd, check=True, timeout=30, quiet=False, **kw):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           text=True, **kw)
    except subprocess.TimeoutExpired:
        raise Fail("timed out after %ds: %s" % (timeout, " ".join(cmd)))
    if check and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()[-500:]))
    if not quiet and r.returncode != 0:
        log("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()[-300:]))
    return r


class Proc:
    """One child process in its own process group. A waiter thread reaps it with wait4(), so
    its CPU time and peak RSS come from the kernel, and records when it ended."""

    def __init__(self, name, role, cmd, ns=None, stdout=None, stdin=None, cwd=None):
        self.name, self.role, self.cmd = name, role, cmd
        full = (["ip", "netns", "exec", ns] if ns else []) + cmd
        self.logpath = None
        self.p = subprocess.Popen(full, stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, stdin=stdin, cwd=cwd,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.start = time.monotonic()
        self.end = None
        self.status = None
        self.cpu = None
        self.err = b""
        self.hwm_kib = 0
        self.done = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        threading.Thread(target=self._wait, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample_once(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.hwm_kib = max(self.hwm_kib, int(line.split()[1]))
                        return
        except (OSError, ValueError):
            pass

    def _sample(self):
        # Peak RSS from VmHWM of the program's own image, sampled until it exits. wait4()'s
        # ru_maxrss cannot be used: it keeps the RSS of the forking Python driver, which the
        # child shares until it execs.
        wait = 0.005
        while not self.done.wait(wait):
            self._sample_once()
            wait = min(0.2, wait * 2)

    def _drain(self):
        buf = b""
        fd = self.p.stderr.fileno()
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError:
                break
            if not b:
                break
            buf = (buf + b)[-8192:]
        self.err = buf

    def _wait(self):
        _, status, ru = os.wait4(self.pid, 0)
        self.end = time.monotonic()
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self.status = self.p.returncode
        self.cpu = ru.ru_utime + ru.ru_stime
        self.done.set()

    def alive(self):
        return not self.done.is_set()

    def stderr_tail(self):
        time.sleep(0.05)
        return self.err.decode(errors="replace").strip()[-600:]

    def stop(self, grace=5.0):
        if self.alive():
            self._sample_once()
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not self.done.wait(grace):
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.done.wait(5)

    def report(self):
        return {"name": self.name, "role": self.role, "cpu_s": self.cpu,
                "peak_rss_kib": self.hwm_kib or None, "exit": self.status}


# ---------------------------------------------------------------------------------------------
# Cleanup, including what a killed earlier run left behind


def pid_is_driver(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
        return b"swarm.py" in cmd or b"mirror.py" in cmd
    except OSError:
        return False


def netns_list():
    r = run(["ip", "netns", "list"], check=False, quiet=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def kill_netns_pids(ns):
    r = run(["ip", "netns", "pids", ns], check=False, quiet=True)
    for tok in r.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


def delete_netns(names):
    for ns in names:
        kill_netns_pids(ns)
    if names:
        time.sleep(0.2)
    for ns in names:
        for _ in range(20):
            if run(["ip", "netns", "del", ns], check=False, quiet=True).returncode == 0:
                break
            kill_netns_pids(ns)
            time.sleep(0.1)


def kill_by_marker(marker, exclude=()):
    """SIGKILLs every process whose command line mentions @marker (a run's own directory)."""
    mb = marker.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if mb in f.read():
                    os.kill(int(d), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def remove_stale():
    """Removes namespaces and directories of runs whose driver is gone."""
    stale = []
    for ns in netns_list():
        m = re.fullmatch(r"vx[bm](\d+)-.*", ns)
        if m and int(m.group(1)) != os.getpid() and not pid_is_driver(int(m.group(1))):
            stale.append(ns)
    if stale:
        log("removing %d namespace(s) left by a killed run: %s" % (len(stale), " ".join(stale)))
        delete_netns(stale)
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        m = re.fullmatch(r"vx[bm](\d+)-[A-Za-z0-9_]+", d)
        if m and int(m.group(1)) != os.getpid() and not pid_is_driver(int(m.group(1))):
            path = os.path.join(tmp, d)
            log("removing %s left by a killed run" % path)
            kill_by_marker(path, exclude=(os.getpid(),))
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The testbed: namespaces, bridge, shaping, addresses


def htb(ns, dev, rate):
    """An htb root on @dev (class 1:1 at @rate bits/s, pfifo of 300 packets as leaf): its
    counters are the measurement."""
    run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default",
         "1"])
    run(["tc", "-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb",
         "rate", "%dbit" % rate, "ceil", "%dbit" % rate, "quantum", "1514"])
    run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "pfifo",
         "limit", "300"])


def htb_counters(ns, dev):
    r = run(["tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", dev])
    for q in json.loads(r.stdout):
        if q.get("kind") == "htb" and q.get("root"):
            return {"bytes": q["bytes"], "packets": q["packets"]}
    raise Fail("no htb statistics on %s %s" % (ns, dev))


class Node:
    def __init__(self, bed, name, idx, rate_bps, rack=0, down_bps=None):
        self.bed, self.name, self.idx, self.rate = bed, name, idx, rate_bps
        self.rack, self.down = rack, down_bps
        self.declared = None  # --liars: the upload rate it declares (bits/s)
        self.ns = None if bed.loopback else "%s-%s" % (PREFIX, name)
        self.ip = bed.addr(idx)
        self.dir = os.path.join(bed.work, name)
        os.makedirs(self.dir, exist_ok=True)

    def proc(self, role, cmd, **kw):
        p = Proc(self.name + ":" + role, role, cmd, ns=self.ns, **kw)
        self.bed.procs.append(p)
        return p

    def run(self, cmd, **kw):
        return run((["ip", "netns", "exec", self.ns] if self.ns else []) + cmd, **kw)

    def counters(self):
        """Wire bytes and segments sent by this node (its htb root), or None in loopback."""
        if self.bed.loopback:
            return None
        return htb_counters(self.ns, "eth0")


class Testbed:
    def __init__(self, args):
        self.args = args
        self.loopback = args.loopback
        self.procs = []
        self.nodes = {}
        self.links = {}  # inter-rack link name -> device in the hub (its egress is the link)
        self.ns_made = []
        self.work = tempfile.mkdtemp(prefix=PREFIX + "-")
        os.chmod(self.work, 0o755)
        if self.loopback:
            # Own addresses inside 127/8 per run, so parallel runs never share a port.
            self.lo_net = "127.%d.%d" % (77 + (os.getpid() >> 8) % 100, os.getpid() % 250 + 1)

    def addr(self, idx):
        return ("%s.%d" % (self.lo_net, idx)) if self.loopback else ("%s.%d" % (NET, idx))

    def probe(self):
        """Exit 77 (via Skip) when namespaces or htb cannot be used here."""
        ns = PREFIX + "-probe"
        r = run(["ip", "netns", "add", ns], check=False, quiet=True)
        if r.returncode != 0:
            raise Skip("cannot create network namespaces (needs root / CAP_SYS_ADMIN): " +
                       r.stderr.strip())
        try:
            r = run(["ip", "-n", ns, "link", "add", "name", "pa", "type", "veth", "peer", "name", "pb"],
                    check=False, quiet=True)
            if r.returncode != 0:
                raise Skip("cannot create veth pairs: " + r.stderr.strip())
            r = run(["tc", "-n", ns, "qdisc", "add", "dev", "pa", "root", "handle", "1:", "htb"],
                    check=False, quiet=True)
            if r.returncode != 0:
                raise Skip("tc htb is not available: " + r.stderr.strip())
        finally:
            run(["ip", "netns", "del", ns], check=False, quiet=True)

    def build(self, specs, racks=1, rack_link=None):
        """@specs: (name, idx, rate_bps or None for unshaped[, rack[, downlink_bps]]). With
        @racks > 1, each rack r > 0 has its own bridge joined to rack 0's (br0) by a veth pair
        shaped to @rack_link at both ends (xa<r>: rack 0 to r, xb<r>: r to rack 0)."""
        hub = PREFIX + "-hub"
        if not self.loopback:
            self.probe()
            run(["ip", "netns", "add", hub])
            self.ns_made.append(hub)
            run(["ip", "-n", hub, "link", "set", "lo", "up"])
            for r in range(racks):
                run(["ip", "-n", hub, "link", "add", "br%d" % r, "type", "bridge"])
                run(["ip", "-n", hub, "link", "set", "br%d" % r, "up"])
            for r in range(1, racks):
                a, b = "xa%d" % r, "xb%d" % r
                run(["ip", "-n", hub, "link", "add", a, "type", "veth", "peer", "name", b])
                run(["ip", "-n", hub, "link", "set", a, "master", "br0"])
                run(["ip", "-n", hub, "link", "set", b, "master", "br%d" % r])
                for dev in (a, b):
                    htb(hub, dev, rack_link)
                    run(["ip", "-n", hub, "link", "set", dev, "up"])
                self.links["to_rack%d" % r] = a
                self.links["from_rack%d" % r] = b
        for spec in specs:
            name, idx, rate = spec[:3]
            rack = spec[3] if len(spec) > 3 else 0
            down = spec[4] if len(spec) > 4 else None
            node = Node(self, name, idx, rate, rack, down)
            self.nodes[name] = node
            if self.loopback:
                continue
            run(["ip", "netns", "add", node.ns])
            self.ns_made.append(node.ns)
            v = "v%d" % idx
            run(["ip", "-n", hub, "link", "add", v, "type", "veth", "peer", "name", "eth0",
                 "netns", node.ns])
            run(["ip", "-n", hub, "link", "set", v, "master", "br%d" % rack])
            if down:
                htb(hub, v, down)  # the node's downlink: the hub's egress towards it
            run(["ip", "-n", hub, "link", "set", v, "up"])
            run(["ip", "-n", node.ns, "link", "set", "lo", "up"])
            run(["ip", "-n", node.ns, "addr", "add", node.ip + "/24", "dev", "eth0"])
            run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
            # Every node gets an htb root (its counters are the measurement); shaped nodes get
            # their rate, the control node a rate no test reaches.
            htb(node.ns, "eth0", rate if rate else 10e9)

    def teardown(self):
        for p in self.procs:
            try:
                p.stop(grace=3)
            except Exception:
                pass
        if not self.loopback:
            delete_netns(list(reversed(self.ns_made)))
            self.ns_made = []
        kill_by_marker(self.work, exclude=(os.getpid(),))
        if self.args.keep:
            log("kept %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def wait_listen(node, port, what, proc=None, timeout=15):
    deadline = time.monotonic() + timeout
    want = "%s:%d" % (node.ip, port)
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise Fail("%s exited (%s): %s" % (what, proc.status, proc.stderr_tail()))
        out = node.run(["ss", "-Hltn"], check=False, quiet=True).stdout
        if re.search(r"(%s|\*:%d|0\.0\.0\.0:%d)\s" % (re.escape(want), port, port), out):
            return
        time.sleep(0.05)
    raise Fail("%s did not listen on %s within %ds" % (what, want, timeout))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verify_all(paths):
    """sha256 of each path (None when missing), two at a time."""
    out = [None] * len(paths)

    def one(i):
        try:
            out[i] = sha256_of(paths[i])
        except OSError:
            out[i] = None

    for i in range(0, len(paths), 2):
        ts = [threading.Thread(target=one, args=(j,)) for j in range(i, min(i + 2, len(paths)))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return out


def make_file(path, size, content="random"):
    """Incompressible content by default: a SHA-256 counter stream would be slow in Python;
    urandom is fast enough and the digest is computed once. "compressible": content lz4
    compresses 3:1 (compressible.py)."""
    if content == "compressible":
        compressible.write(path, size)
        return sha256_of(path)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(left, 4 << 20))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Origin


def start_origin(bed):
    o = bed.nodes["origin"]
    root = os.path.join(o.dir, "www")
    conf = os.path.join(o.dir, "nginx.conf")
    tmp = os.path.join(o.dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(conf, "w") as f:
        f.write("""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format swarm '$remote_addr $status $body_bytes_sent "$request"';
    access_log {d}/access.log swarm;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    server {{
        listen {ip}:{port};
        root {root};
        location / {{ }}
    }}
}}
""".format(d=o.dir, t=tmp, ip=o.ip, port=PORT_ORIGIN, root=root))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    p = o.proc("nginx", [nginx, "-p", o.dir, "-c", conf, "-e", os.path.join(o.dir, "error.log")])
    wait_listen(o, PORT_ORIGIN, "nginx", p)
    return p


def origin_log_bytes(bed):
    """Body bytes the origin's access log says it sent (a cross-check of the counters)."""
    total = 0
    try:
        with open(os.path.join(bed.nodes["origin"].dir, "access.log")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    total += int(parts[2])
    except OSError:
        return None
    return total


# ---------------------------------------------------------------------------------------------
# One measured phase


class SeedUplink(threading.Thread):
    """Samples the seed's htb byte counter every UPLINK_TICK s during a timed part, so a run
    slower than the bound tells where its time went: when the seed's uplink first and last ran
    at half its rate or more (first_s, last_s, from the phase's start), how long it ran below
    that in between (slow_s: a stall, or a late start of the swarm), and the tail after it
    (last peer - last_s: the peers trading the last pieces, a final sync, an export's copy)."""

    def __init__(self, node, rate_bps):
        super().__init__(daemon=True)
        self.node, self.rate = node, rate_bps
        self.samples = []
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()
        self.start()

    def run(self):
        while not self.stop_ev.is_set():
            a = time.monotonic()
            try:
                c = self.node.counters()
            except Exception:
                return
            self.samples.append(((a + time.monotonic()) / 2, c["bytes"]))
            self.stop_ev.wait(max(0.0, UPLINK_TICK - (time.monotonic() - a)))

    def profile(self):
        self.stop_ev.set()
        self.join()
        first = last = None
        slow = 0.0
        for (ta, ba), (tb, bb) in zip(self.samples, self.samples[1:]):
            if tb <= ta:
                continue
            if (bb - ba) * 8 / (tb - ta) >= self.rate / 2:
                if first is None:
                    first = ta
                elif last is not None:
                    slow += ta - last  # the slow stretch since the last busy interval
                last = tb
        if first is None:
            return None
        return {"first_s": round(first - self.t0, 2), "last_s": round(last - self.t0, 2),
                "slow_s": round(slow, 2), "samples": len(self.samples)}


UPLINK_TICK = 0.25


class Phase:
    """Snapshots the counters of every node before and after the timed part of a system; with
    uplink, also the seed's uplink over time (SeedUplink)."""

    def __init__(self, bed, uplink=False):
        self.bed = bed
        self.before = {n: node.counters() for n, node in bed.nodes.items()}
        self.links_before = {n: htb_counters(PREFIX + "-hub", d) for n, d in bed.links.items()}
        self.log_before = origin_log_bytes(bed)
        seed = bed.nodes.get("seed")
        self.uplink = (SeedUplink(seed, bed.args.seed_link)
                       if uplink and seed is not None and not bed.loopback else None)

    def sent(self):
        out = {}
        if self.uplink:
            out["seed_uplink"] = self.uplink.profile()
            self.uplink = None
        for n, node in self.bed.nodes.items():
            a, b = self.before[n], node.counters()
            if a is None or b is None:
                out[n] = None
                continue
            wire = b["bytes"] - a["bytes"]
            segs = b["packets"] - a["packets"]
            out[n] = {"wire_bytes": wire, "segments": segs,
                      "payload_bytes": max(0, wire - HDR * segs)}
        if self.bed.links:
            out["links"] = {}
        for n, d in self.bed.links.items():
            a, b = self.links_before[n], htb_counters(PREFIX + "-hub", d)
            segs = b["packets"] - a["packets"]
            out["links"][n] = max(0, b["bytes"] - a["bytes"] - HDR * segs)
        lb = origin_log_bytes(self.bed)
        out["origin_log_body_bytes"] = (lb - (self.log_before or 0)) if lb is not None else None
        return out


def summarize(bed, system, f, n, t0, ends, sums, want, sent, procs, bnd, extra=None):
    times = [(e - t0) if e is not None else None for e in ends]
    ok_peers = [t is not None and s == want for t, s in zip(times, sums)]
    done = sorted(t for t in times if t is not None)
    res = {
        "system": system,
        "ok": all(ok_peers) and len(ok_peers) == n,
        "peers": [{"peer": i + 1, "time_s": times[i], "sha256": sums[i], "ok": ok_peers[i]}
                  for i in range(n)],
        "first_s": done[0] if done else None,
        "median_s": statistics.median(done) if done else None,
        "last_s": done[-1] if len(done) == n else None,
        "processes": [p.report() for p in procs],
    }
    if sent is not None and sent.get("origin") is not None:
        peers_payload = sum(sent[k]["payload_bytes"] for k in sent
                            if k.startswith("peer") and sent[k] is not None)
        res["bytes"] = {
            "origin_payload": sent["origin"]["payload_bytes"],
            "seed_payload": sent["seed"]["payload_bytes"],
            "peers_payload": peers_payload,
            "origin_copies": sent["origin"]["payload_bytes"] / f,
            "seed_copies": sent["seed"]["payload_bytes"] / f,
            "peers_copies": peers_payload / f,
            "origin_log_body_bytes": sent["origin_log_body_bytes"],
            "per_node": {k: v for k, v in sent.items()
                         if k not in ("origin_log_body_bytes", "seed_uplink", "links")},
        }
        if sent.get("links"):
            res["bytes"]["links_payload"] = sent["links"]
            res["bytes"]["cross_rack_copies"] = sum(sent["links"].values()) / f
    elif sent is not None:
        res["bytes"] = {"origin_log_body_bytes": sent["origin_log_body_bytes"]}
    if sent is not None and sent.get("seed_uplink"):
        u = res["seed_uplink"] = dict(sent["seed_uplink"])
        if res["last_s"]:
            u["tail_s"] = round(res["last_s"] - u["last_s"], 2)
    if bnd and res["last_s"]:
        res["ratio_t_min"] = res["last_s"] / bnd["t_min"]
        res["ratio_t_http"] = res["last_s"] / bnd["t_http"]
    if extra:
        res.update(extra)
    return res


def wait_all(procs, deadline, what):
    for p in procs:
        left = deadline - time.monotonic()
        if left <= 0 or not p.done.wait(left):
            raise Fail("%s: not every peer finished before the timeout" % what)


# ---------------------------------------------------------------------------------------------
# http: every peer fetches from the origin


def run_http(bed, f, n, url, want, bnd, deadline):
    peers = [bed.nodes["peer%d" % (i + 1)] for i in range(n)]
    outs = [os.path.join(p.dir, "http.out") for p in peers]
    ph = Phase(bed)
    t0 = time.monotonic()
    procs = [p.proc("curl", ["curl", "-sS", "-f", "--max-time", str(int(deadline - t0) + 1),
                             "-o", out, url]) for p, out in zip(peers, outs)]
    try:
        wait_all(procs, deadline, "http")
    finally:
        for p in procs:
            p.stop()
    sent = ph.sent()
    for p in procs:
        if p.status != 0:
            log("http: %s failed (%s): %s" % (p.name, p.status, p.stderr_tail()))
    ends = [p.end if p.status == 0 else None for p in procs]
    sums = verify_all(outs)
    for o in outs:
        rm(o)
    return summarize(bed, "http", f, n, t0, ends, sums, want, sent, procs, bnd)


def rm(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# bt: libtorrent peers, opentracker, mktorrent


def bt_peer_main(argv):
    """One libtorrent node (seed or peer), run inside its namespace by the driver. Prints
    READY when listening with the torrent added (paused), waits for GO on stdin, then prints
    DONE <CLOCK_MONOTONIC> when every piece is verified and keeps seeding until SIGTERM."""
    import libtorrent as lt

    ap = argparse.ArgumentParser(prog="swarm.py bt-peer")
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--seed", action="store_true")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    s = lt.session({
        "listen_interfaces": a.listen,
        "outgoing_interfaces": a.listen.rsplit(":", 1)[0],
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False,
        # TCP only, like vx and curl: the overhead model and the shaping treat all alike.
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert_category.status | lt.alert_category.error,
        "announce_to_all_trackers": True,
    })
    ti = lt.torrent_info(a.torrent)
    p = lt.add_torrent_params()
    p.ti = ti
    p.save_path = a.save
    p.flags = (p.flags | lt.torrent_flags.paused) & ~lt.torrent_flags.auto_managed
    h = s.add_torrent(p)
    if a.seed:
        # Check the file the seed got from the origin, then seed it (and announce) before the
        # timed part starts.
        h.resume()
        while not h.status().is_seeding:
            st = h.status()
            if st.errc.value() != 0:
                print("ERROR %s" % st.errc.message(), flush=True)
                return 1
            time.sleep(0.05)
    print("READY", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "GO":
        return 1
    h.resume()
    done = False
    while True:
        st = h.status()
        if not done and st.is_seeding:
            print("DONE %.6f" % time.monotonic(), flush=True)
            done = True
        for al in s.pop_alerts():
            if isinstance(al, lt.torrent_error_alert):
                print("ERROR %s" % al.message(), flush=True)
        time.sleep(0.01 if not done else 0.5)


class LineReader:
    """Collects the stdout lines of a bt node with the time they arrived."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.p.stdout:
            line = raw.decode(errors="replace").strip()
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.lines.append("EOF")
            self.cv.notify_all()

    def wait_for(self, prefix, deadline):
        with self.cv:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                    if line.startswith("ERROR") or line == "EOF":
                        raise Fail("%s: %s %s" % (self.proc.name, line,
                                                  self.proc.stderr_tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("%s: no %s before the timeout" % (self.proc.name, prefix))
                self.cv.wait(min(left, 0.5))


def run_bt(bed, f, n, url, want, bnd, deadline, piece_length):
    ctl, seed = bed.nodes["control"], bed.nodes["seed"]
    peers = [bed.nodes["peer%d" % (i + 1)] for i in range(n)]
    tdir = os.path.join(ctl.dir, "tracker")
    os.makedirs(tdir, exist_ok=True)
    os.chmod(tdir, 0o755)
    sdir = os.path.join(seed.dir, "bt")
    os.makedirs(sdir, exist_ok=True)
    # The seed gets the file from the origin (not timed), like the vx seed does.
    seed.run(["curl", "-sS", "-f", "-o", os.path.join(sdir, "blob"), url],
             timeout=max(30, int(deadline - time.monotonic())))
    torrent = os.path.join(bed.work, "blob.torrent")
    announce = "http://%s:%d/announce" % (ctl.ip, PORT_TRACKER)
    run(["mktorrent", "-a", announce, "-l", str(int(math.log2(piece_length))), "-o", torrent,
         os.path.join(sdir, "blob")], timeout=120)
    ih = run([sys.executable, "-c", "import libtorrent as lt,sys; "
              "print(lt.torrent_info(sys.argv[1]).info_hash())", torrent]).stdout.strip()
    with open(os.path.join(tdir, "whitelist"), "w") as w:
        w.write(ih + "\n")
    os.chmod(os.path.join(tdir, "whitelist"), 0o644)
    # Debian's opentracker serves only whitelisted torrents; it chroots into -d.
    tr = ctl.proc("opentracker", ["opentracker", "-i", ctl.ip, "-p", str(PORT_TRACKER),
                                  "-P", str(PORT_TRACKER), "-d", tdir, "-w", "whitelist"])
    wait_listen(ctl, PORT_TRACKER, "opentracker", tr)
    py = sys.executable

    def node_proc(node, save, is_seed):
        # Own ports in loopback mode: the tracker may see every node as 127.0.0.1.
        port = PORT_BT + (node.idx if bed.loopback else 0)
        cmd = [py, SELF, "bt-peer", "--torrent", torrent, "--save", save,
               "--listen", "%s:%d" % (node.ip, port)] + (["--seed"] if is_seed else [])
        p = node.proc("libtorrent", cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        return p, LineReader(p)

    sp, sr = node_proc(seed, sdir, True)
    sr.wait_for("READY", deadline)
    sp.p.stdin.write(b"GO\n")
    sp.p.stdin.flush()
    pdirs = []
    nodes = []
    for p in peers:
        d = os.path.join(p.dir, "bt")
        os.makedirs(d, exist_ok=True)
        pdirs.append(d)
        nodes.append(node_proc(p, d, False))
    for _, r in nodes:
        r.wait_for("READY", deadline)
    ph = Phase(bed, uplink=True)
    t0 = time.monotonic()
    for p, _ in nodes:
        p.p.stdin.write(b"GO\n")
        p.p.stdin.flush()
    ends = []
    try:
        for p, r in nodes:
            try:
                ends.append(float(r.wait_for("DONE", deadline).split()[1]))
            except Fail as e:
                log("bt: %s" % e)
                ends.append(None)
    finally:
        sent = ph.sent()
        for p, _ in nodes:
            p.stop()
        sp.stop()
        tr.stop()
    sums = verify_all([os.path.join(d, "blob") for d in pdirs])
    for d in pdirs + [sdir]:
        shutil.rmtree(d, ignore_errors=True)
    return summarize(bed, "bt", f, n, t0, ends, sums, want, sent,
                     [sp] + [p for p, _ in nodes] + [tr], bnd,
                     {"piece_length": piece_length, "libtorrent_tcp_only": True})


# ---------------------------------------------------------------------------------------------
# vx: scheduler, seed peer, peers, all through the CLI surface of the end-to-end issue


def vx_serve_available(vx):
    if not vx or not os.access(vx, os.X_OK):
        return False, "no vx binary (pass --vx PATH)"
    r = run([vx, "serve", "--help"], check=False, quiet=True, timeout=10)
    if r.returncode != 0:
        return False, "vx serve is not available in this build (%s)" % (
            (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"])[0]
    return True, ""


def write_token_files(ctl):
    """The scheduler denies a hello without a token: it wrote its tokens (0600) next to its
    database (ctl.dir/scheduler.db); each daemon gets a one-token file of its role. Returns
    {role: path}."""
    token_files = {}
    with open(os.path.join(ctl.dir, "scheduler.db.tokens")) as tokens:
        for line in tokens:
            role, _, tok = line.strip().partition(" ")
            path = os.path.join(ctl.dir, "token." + role)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as t:
                t.write(tok + "\n")
            token_files[role] = path
    return token_files


def vx_join_files(vx, ctl, n):
    """Join tokens of the scheduler's CA (made on the CLI beside its database), one file each
    (0600): {"seed": path, "peer": path}; the peer token has a use per peer."""
    files = {}
    for role, uses in (("seed", 1), ("peer", n)):
        r = run([vx, "token", "create", "--role", role, "--uses", str(uses), "--db",
                 os.path.join(ctl.dir, "scheduler.db")], quiet=True)
        path = os.path.join(ctl.dir, "join." + role)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as t:
            t.write(r.stdout.strip() + "\n")
        files[role] = path
    return files


def node_config(node, d, args):
    """The --config of a node's vx serve: --vx-config, or with --racks or --links mixed a file
    of our own, sent in the scheduler hello: the node's rack (host.location
    "swarm|z1|rack<r>") and its declared upload rate (host.bandwidth, bytes/s: its uplink, or
    ten times it for a liar). Returns a path or None."""
    racks = getattr(args, "racks", 1) > 1
    declare = getattr(args, "links", "even") == "mixed" and not args.no_declare
    if not racks and not declare:
        return args.vx_config
    path = os.path.join(d, "vx.yaml")
    with open(path, "w") as c:
        c.write("host:\n")
        if racks:
            c.write("  location: \"swarm|z1|rack%d\"\n" % node.rack)
        if declare and node.rate:
            c.write("  bandwidth: %d\n" % int((node.declared or node.rate) // 8))
    return path


def vx_start(bed, n, args, sched_extra=(), serve_extra=(), tls=False, members=False):
    """The vx scheduler (with sched_extra flags), the seed's and every peer's vx serve, up and
    listening: returns (sched, daemons as (proc, socket, dir), seed node, peer nodes). With
    members: no scheduler (sched None), every daemon a member naming all of them."""
    ok, why = vx_serve_available(args.vx)
    if not ok:
        raise Fail(why)
    vx = args.vx
    ctl, seed = bed.nodes["control"], bed.nodes["seed"]
    peers = [bed.nodes["peer%d" % (i + 1)] for i in range(n)]
    sched_addr = "%s:%d" % (ctl.ip, PORT_SCHED)
    members_list = ",".join("%s:%d" % (node.ip, PORT_VORTEX) for node in [seed] + peers)
    sched, join_files, token_files = None, {}, {}
    if not members:
        # the testbed's namespaces are not loopback: plaintext is asked for, unless TLS is run
        sched = ctl.proc("vx-scheduler", [vx, "scheduler", "--listen", sched_addr,
                                          "--db", os.path.join(ctl.dir, "scheduler.db")] +
                         ([] if tls else ["--insecure-plaintext"]) + list(sched_extra))
        wait_listen(ctl, PORT_SCHED, "vx scheduler", sched)
        join_files = vx_join_files(vx, ctl, n) if tls else {}
        token_files = write_token_files(ctl)

    def serve(node, is_seed):
        d = os.path.join(node.dir, "vx")
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        sock = os.path.join(d, "vx.sock")
        config = node_config(node, d, args)
        cmd = [vx, "serve", "--data-dir", os.path.join(d, "data"), "--listen",
               "%s:%d" % (node.ip, PORT_VORTEX), "--socket", sock]
        role = "seed" if is_seed else "peer"
        if members:
            # the seed is a member that was warmed first (--seed: it super-seeds); the
            # member owning the task schedules it
            return node.proc("vx-serve", cmd + ["--members", members_list,
                                                "--insecure-plaintext"] +
                             (["--seed"] if is_seed else []) +
                             (["--config", config] if config else []) +
                             list(serve_extra)), sock, d
        cmd += ["--scheduler", sched_addr]
        if tls:
            cmd += ["--join-file", join_files[role]]
        else:
            cmd += ["--insecure-plaintext", "--token-file", token_files[role]]
        if is_seed:
            cmd.append("--seed")
        if config:
            cmd += ["--config", config]
        return node.proc("vx-serve", cmd + list(serve_extra)), sock, d

    daemons = [serve(seed, True)] + [serve(p, False) for p in peers]
    t_up = time.monotonic() + 20
    for p, sock, _ in daemons:
        while not os.path.exists(sock):
            if not p.alive():
                raise Fail("vx serve exited (%s): %s" % (p.status, p.stderr_tail()))
            if time.monotonic() > t_up:
                raise Fail("vx serve did not create %s within 20 s" % sock)
            time.sleep(0.05)
    for (p, _, _), node in zip(daemons, [seed] + peers):
        wait_listen(node, PORT_VORTEX, "vx serve", p)
    return sched, daemons, seed, peers


def vx_stop(sched, daemons):
    for p, _, _ in daemons:
        p.stop(grace=10)
    if sched:
        sched.stop(grace=10)


def run_vx(bed, f, n, url, want, bnd, deadline, args, system="vx"):
    vx = args.vx
    tls = system == "vx-tls"
    # vx-flat: the same daemons, the scheduler without its rack rule (the A/B of --racks);
    # vx-nolz4: the daemons with lz4 piece bodies off
    sched, daemons, seed, peers = vx_start(
        bed, n, args, tls=tls, members=system == "vx-members",
        sched_extra=["--rack-fetchers", "0"] if system == "vx-flat" else [],
        serve_extra=["--no-lz4"] if system == "vx-nolz4" else [])
    get_extra = ["--piece-length", str(args.piece_length)] if args.piece_length else []
    if not args.cold:
        # The seed obtains the file from the origin (not timed: the bound assumes it holds it).
        warm_out = os.path.join(daemons[0][2], "warm.out")
        w = seed.proc("vx-get", [vx, "get", url, "-O", warm_out, "--socket", daemons[0][1]] +
                      get_extra)
        if not w.done.wait(max(1, deadline - time.monotonic())) or w.status != 0:
            w.stop()
            raise Fail("vx get on the seed failed (%s): %s" % (w.status, w.stderr_tail()))
        if sha256_of(warm_out) != want:
            raise Fail("vx get on the seed produced a file with the wrong sha256")
        rm(warm_out)
    outs = [os.path.join(d, "out") for _, _, d in daemons[1:]]
    ph = Phase(bed, uplink=True)
    t0 = time.monotonic()
    gets = [node.proc("vx-get", [vx, "get", url, "-O", out, "--socket", sock] + get_extra)
            for node, out, (_, sock, _) in zip(peers, outs, daemons[1:])]
    try:
        wait_all(gets, deadline, "vx")
    finally:
        sent = ph.sent()
        for g in gets:
            g.stop()
        vx_stop(sched, daemons)
    for g in gets:
        if g.status != 0:
            log("vx: %s failed (%s): %s" % (g.name, g.status, g.stderr_tail()))
    ends = [g.end if g.status == 0 else None for g in gets]
    sums = verify_all(outs)
    for _, _, d in daemons:
        shutil.rmtree(d, ignore_errors=True)
    return summarize(bed, system, f, n, t0, ends, sums, want, sent,
                     ([sched] if sched else []) + [p for p, _, _ in daemons] + gets, bnd,
                     {"cold_seed": args.cold})


# ---------------------------------------------------------------------------------------------
# cache: the persistent cache (`vx cache`, Dragonfly's dfcache): the seed imports the file (not
# timed: the bound assumes it holds it), then every peer exports it at once


def run_cache(bed, f, n, url, want, bnd, deadline, args):
    vx = args.vx
    sched, daemons, seed, peers = vx_start(bed, n, args)
    src = os.path.join(bed.nodes["origin"].dir, "www", "blob")
    extra = {}
    try:
        cmd = [vx, "cache", "import", src, "--replicas", "1", "--ttl", "1h",
               "--socket", daemons[0][1]]
        if args.piece_length:
            cmd += ["--piece-length", str(args.piece_length)]
        imp = seed.proc("vx-cache-import", cmd)
        t_imp = time.monotonic()
        wait_all([imp], deadline, "vx cache import")
        extra["import_s"] = round(time.monotonic() - t_imp, 3)
        if imp.status != 0:
            raise Fail("vx cache import on the seed failed (%s): %s" %
                       (imp.status, imp.stderr_tail()))
        # the import's id is the content's (spec/vortex.md 7): the same as vx task-id --file
        tid = run([vx, "task-id", "--file", src] +
                  (["--piece-length", str(args.piece_length)] if args.piece_length else []),
                  quiet=True).stdout.strip()
        outs = [os.path.join(d, "out") for _, _, d in daemons[1:]]
        ph = Phase(bed, uplink=True)
        t0 = time.monotonic()
        exps = [node.proc("vx-cache-export", [vx, "cache", "export", tid, "-O", out,
                                              "--socket", sock])
                for node, out, (_, sock, _) in zip(peers, outs, daemons[1:])]
        try:
            wait_all(exps, deadline, "vx cache export")
        finally:
            sent = ph.sent()
            for e in exps:
                e.stop()
    finally:
        vx_stop(sched, daemons)
    for e in exps:
        if e.status != 0:
            log("cache: %s failed (%s): %s" % (e.name, e.status, e.stderr_tail()))
    ends = [e.end if e.status == 0 else None for e in exps]
    sums = verify_all(outs)
    for _, _, d in daemons:
        shutil.rmtree(d, ignore_errors=True)
    return summarize(bed, "cache", f, n, t0, ends, sums, want, sent,
                     [sched] + [p for p, _, _ in daemons] + exps + [imp], bnd, extra)


# ---------------------------------------------------------------------------------------------
# preheat: the manager's preheat job (scope all_peers) puts the file on the seed and every peer;
# then the job API's latency with JOBS jobs


API_LATENCY = r"""
import http.client, json, statistics, sys, time
host, port, tok, n = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read().strip(), int(sys.argv[4])
h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
c = http.client.HTTPConnection(host, port, timeout=30)
def call(method, path, body=None):
    t = time.monotonic()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return time.monotonic() - t, json.loads(data)
post, get, ids = [], [], []
for i in range(n):
    dt, j = call("POST", "/oapi/v1/jobs",
                 json.dumps({"type": "get_task", "args": {"url": "http://h/f%d" % i}}))
    post.append(dt)
    ids.append(j["id"])
for i in ids:
    get.append(call("GET", "/oapi/v1/jobs/%d" % i)[0])
lst = [call("GET", "/oapi/v1/jobs?per_page=100")[0] for _ in range(50)]
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))] * 1000
print(json.dumps({"jobs": n,
                  "post_ms": {"p50": q(post, 0.5), "p99": q(post, 0.99)},
                  "get_ms": {"p50": q(get, 0.5), "p99": q(get, 0.99)},
                  "list100_ms": {"p50": q(lst, 0.5), "p99": q(lst, 0.99)}}))
"""


def api_token_file(vx, ctl, db):
    """An admin token of the job API of the scheduler whose database is @db (`vx token create
    --bootstrap`), in a file (0600) of @ctl's directory: its path."""
    r = run([vx, "token", "create", "--bootstrap", "--db", db])
    tokf = os.path.join(ctl.dir, "api.token")
    fd = os.open(tokf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as t:
        t.write(r.stdout.strip().splitlines()[-1] + "\n")
    return tokf


def run_preheat(bed, f, n, url, want, bnd, deadline, args):
    vx = args.vx
    ctl = bed.nodes["control"]
    api = "%s:%d" % (ctl.ip, PORT_API)
    db = os.path.join(ctl.dir, "scheduler.db")
    # the origin is on a private range, which preheat URLs may name by default; loopback
    # must be allowed by name (to the manager and to the daemons fetching for it)
    lo = ["--allow-outbound", "127.0.0.0/8"] if bed.loopback else []
    sched, daemons, seed, peers = vx_start(bed, n, args, ["--api", api, "--api-jobs-per-min",
                                                          "100000"] + lo, lo)
    extra = {}
    try:
        wait_listen(ctl, PORT_API, "vx scheduler api", sched)
        tokf = api_token_file(vx, ctl, db)
        cmd = [vx, "preheat", url, "--scope", "all_peers", "--wait", "--json",
               "--timeout", str(int(max(1, deadline - time.monotonic()))),
               "--api", "http://" + api, "--token-file", tokf]
        if args.piece_length:
            cmd += ["--piece-length", str(args.piece_length)]
        ph = Phase(bed, uplink=True)
        t0 = time.monotonic()
        job = ctl.proc("vx-preheat", cmd, stdout=subprocess.PIPE)
        wait_all([job], deadline, "preheat")
        sent = ph.sent()
        if job.status != 0:
            raise Fail("vx preheat failed (%s): %s" % (job.status, job.stderr_tail()))
        # every peer holds it: a get through its daemon costs the origin nothing (not timed)
        outs = [os.path.join(d, "out") for _, _, d in daemons[1:]]
        before = origin_log_bytes(bed)
        gets = [node.proc("vx-get", [vx, "get", url, "-O", out, "--socket", sock])
                for node, out, (_, sock, _) in zip(peers, outs, daemons[1:])]
        wait_all(gets, deadline, "vx get after the preheat")
        extra["origin_bytes_after_preheat"] = origin_log_bytes(bed) - before
        sums = verify_all(outs)
        if n:
            lat = ctl.run([sys.executable, "-c", API_LATENCY, ctl.ip, str(PORT_API), tokf,
                           str(args.api_jobs)], timeout=max(30, deadline - time.monotonic()))
            extra["api_latency"] = json.loads(lat.stdout)
    finally:
        vx_stop(sched, daemons)
    ends = [job.end] * n
    for _, _, d in daemons:
        shutil.rmtree(d, ignore_errors=True)
    return summarize(bed, "preheat", f, n, t0, ends, sums, want, sent,
                     [sched] + [p for p, _, _ in daemons] + [job], bnd, extra)


# ---------------------------------------------------------------------------------------------
# Output


def print_report(cfg, bnd, results, out):
    w = out.write
    if cfg["loopback"]:
        w("swarm: %d peers, file %s, loopback (no namespaces, no shaping, no bound; bytes "
          "only from the origin's access log)\n" % (cfg["peers"], fmt_bytes(cfg["size"])))
    else:
        w("swarm: %d peers, file %s, peer uplink %s, seed uplink %s, origin uplink %s\n" % (
            cfg["peers"], fmt_bytes(cfg["size"]), fmt_rate(cfg["link_bps"]),
            fmt_rate(cfg["seed_link_bps"]), fmt_rate(cfg["origin_link_bps"])))
    if "vx" in cfg["systems"] and cfg.get("vx"):
        w("vx binary: %s\n" % cfg["vx"])
    if cfg.get("content") == "compressible":
        w("content: compressible (lz4 about 3:1)\n")
    if cfg.get("links") == "mixed":
        w("links (seeded): peer up/down Mbit/s %s; liars (declare 10x): %s\n" % (
            " ".join("%d:%d/%d" % (i + 1, u / 1e6, d / 1e6) for i, (u, d) in
                     enumerate(zip(cfg["uplinks_bps"], cfg["downlinks_bps"]))),
            ",".join(str(i) for i in cfg["liars"]) or "none"))
        if bnd:
            w("bound (fluid): max(F/u_seed, F/min d_i, N*F/(u_seed+sum u_i)) = %.2f s\n" %
              bnd["t_min_flat"])
    if len(cfg.get("racks") or []) > 1:
        w("racks: %s peers (the seed in rack 0), inter-rack links %s each way\n" % (
            "+".join(str(r) for r in cfg["racks"]), fmt_rate(cfg["rack_link_bps"])))
    if bnd and bnd.get("rack_terms"):
        w("bound: T_min = %.2f s, the largest of max(F/u_seed, N*F/(u_seed+N*u)) = %.2f s and "
          "per rack %s (rack r>0: max(F/c, n_r*F/(c+n_r*u)); rack 0: "
          "n_0*F/(u_seed+n_0*u+(R-1)*c)); HTTP N*F/u_origin = %.2f s\n" % (
              bnd["t_min"], bnd["t_min_flat"],
              ", ".join("%s %.2f s" % kv for kv in sorted(bnd["rack_terms"].items())),
              bnd["t_http"]))
        w("       %s\n" % bnd["model"])
    elif bnd:
        w("bound: T_min = max(F/u_seed, N*F/(u_seed+N*u)) = %.2f s; HTTP N*F/u_origin = %.2f s\n"
          % (bnd["t_min"], bnd["t_http"]))
        w("       %s\n" % bnd["model"])
    w("\n%-7s %-4s %8s %8s %8s %7s %7s %7s %7s %8s %9s\n" % (
        "sys", "ok", "first", "median", "last", "xT_min", "xT_http", "origin", "seed", "peers",
        "origin-log"))
    for r in results:
        if r.get("error"):
            w("%-7s FAIL %s\n" % (r["system"], r["error"]))
            continue
        b = r.get("bytes", {})

        def c(k):
            return ("%.2f" % b[k]) if b.get(k) is not None else "-"

        def t(v):
            return ("%.2f" % v) if v is not None else "-"

        w("%-7s %-4s %8s %8s %8s %7s %7s %7s %7s %8s %9s\n" % (
            r["system"], "yes" if r["ok"] else "NO", t(r["first_s"]), t(r["median_s"]),
            t(r["last_s"]), t(r.get("ratio_t_min")), t(r.get("ratio_t_http")),
            c("origin_copies"), c("seed_copies"), c("peers_copies"),
            fmt_bytes(b.get("origin_log_body_bytes"))))
    if cfg["loopback"]:
        w("\n(times in s from the start of all peers; loopback has no per-node counters: "
          "origin-log is the body bytes in nginx's access log)\n")
    else:
        w("\n(times in s from the start of all peers; copies = TCP payload bytes sent, measured "
          "from each node's htb counters as wire bytes - 66 * segments, divided by the file "
          "size)\n")
    for r in results:
        links = (r.get("bytes") or {}).get("links_payload")
        if r.get("error") or not links:
            continue
        w("%s: %.2f copies crossed the inter-rack links (%s)\n" % (
            r["system"], r["bytes"]["cross_rack_copies"],
            ", ".join("%s %s" % (k, fmt_bytes(v)) for k, v in sorted(links.items()))))
    for r in results:
        u = r.get("seed_uplink")
        if r.get("error") or not u:
            continue
        w("%s: the seed's uplink at half its rate or more from %.2f s to %.2f s, below it %.2f s "
          "in between; the last peer %s s after\n" % (
              r["system"], u["first_s"], u["last_s"], u["slow_s"],
              ("%.2f" % u["tail_s"]) if u.get("tail_s") is not None else "-"))
    for r in results:
        if r.get("error"):
            continue
        w("%s processes (cpu s / peak RSS MiB):" % r["system"])
        agg = {}
        for p in r["processes"]:
            node = p["name"].split(":")[0]
            key = ("peer " if node.startswith("peer") else node + " ") + p["role"]
            a = agg.setdefault(key, [0, 0.0, 0.0])
            a[0] += 1
            a[1] += p["cpu_s"] or 0
            a[2] = max(a[2], (p["peak_rss_kib"] or 0) / 1024)
        for role, (k, cpu, rss) in agg.items():
            w("  %s x%d %.2f / %.1f" % (role, k, cpu, rss))
        w("\n")
    for r in results:
        lat = r.get("api_latency")
        if r.get("error") or not lat:
            continue
        w("preheat: the origin sent %s to the gets after the preheat\n" %
          fmt_bytes(r.get("origin_bytes_after_preheat")))
        w("job API latency, %d get_task jobs (ms p50 / p99): POST %.2f / %.2f, GET one %.2f / "
          "%.2f, GET a page of 100 %.2f / %.2f\n" % (
              lat["jobs"], lat["post_ms"]["p50"], lat["post_ms"]["p99"], lat["get_ms"]["p50"],
              lat["get_ms"]["p99"], lat["list100_ms"]["p50"], lat["list100_ms"]["p99"]))


def write_chart(path, bnd, results, n, work):
    dat = os.path.join(work, "chart.dat")
    plots = []
    with open(dat, "w") as d:
        idx = 0
        for r in results:
            if r.get("error") or not r.get("peers"):
                continue
            times = sorted(p["time_s"] for p in r["peers"] if p["time_s"] is not None)
            d.write("# %s\n" % r["system"])
            for i, t in enumerate(times):
                d.write("%d %.4f\n" % (i + 1, t))
            d.write("\n\n")
            plots.append("'%s' index %d with linespoints lw 2 title '%s'" % (dat, idx,
                                                                              r["system"]))
            idx += 1
    if not plots:
        log("no completed system to chart")
        return
    if bnd:
        plots.append("%f with lines dt 2 lc rgb 'black' title 'T_{min}'" % bnd["t_min"])
        plots.append("%f with lines dt 3 lc rgb 'gray40' title 'HTTP bound'" % bnd["t_http"])
    gp = os.path.join(work, "chart.gp")
    with open(gp, "w") as g:
        g.write("set terminal pngcairo size 900,540\n")
        g.write("set output '%s'\n" % path)
        g.write("set title 'vx-bench swarm: completion time per peer'\n")
        g.write("set xlabel 'peers done (sorted by completion)'\nset ylabel 'seconds'\n")
        g.write("set xrange [0.5:%f]\nset yrange [0:*]\nset grid\nset key left top opaque box\n" %
                (n + 0.5))
        g.write("set xtics 1\n" if n <= 32 else "")
        g.write("plot " + ", ".join(plots) + "\n")
    run(["gnuplot", gp], timeout=60)


# ---------------------------------------------------------------------------------------------
# Main


class RunGuard:
    """Tears the run's testbed (self.bed, once set) down exactly once: at finish(), at exit, or
    after a signal (SIGINT, SIGTERM, SIGHUP, and a SIGALRM backstop 30 s after @timeout), which
    raises Interrupted in the main thread so the run's own error handling reports it."""

    def __init__(self, timeout):
        self.bed = None
        self.cleaned = False
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(s, self._on_signal)
        # A hard stop a little after the run's own deadline, whatever is blocking.
        signal.alarm(int(timeout) + 30)
        atexit.register(self.cleanup)

    @staticmethod
    def _on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    def cleanup(self):
        if self.bed is not None and not self.cleaned:
            self.cleaned = True
            self.bed.teardown()

    def finish(self):
        signal.alarm(0)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        self.cleanup()


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="vx-bench swarm",
        description="A whole swarm in network namespaces, vx side by side with BitTorrent "
                    "(libtorrent) and HTTP (curl from the origin). Rates use tc units "
                    "(100mbit = 100 Mbit/s, 12.5mbps = 12.5 MB/s).")
    ap.add_argument("--peers", type=int, required=True, help="N downloading peers")
    ap.add_argument("--size", type=parse_size, required=True, help="file size, e.g. 256M")
    ap.add_argument("--link", type=parse_rate, required=True, help="uplink of every peer")
    ap.add_argument("--seed-link", type=parse_rate, help="uplink of the seed (default --link)")
    ap.add_argument("--origin-link", type=parse_rate,
                    help="uplink of the origin (default --seed-link)")
    ap.add_argument("--piece-length", type=parse_size,
                    help="piece length for vx (passed to vx get) and bt (default 4M for bt; "
                         "vx's own rule otherwise)")
    ap.add_argument("--vs", default="all",
                    help="systems to run, comma separated: vx, vx-tls, bt, http, preheat, cache, "
                         "all "
                         "(= vx,bt,http); 'bt' or 'http' alone means vx and that baseline; "
                         "vx-tls: the vx cluster joined by token, TLS on both planes; "
                         "vx-members: the same daemons with no scheduler (--members); "
                         "vx-flat: the scheduler without its rack rule (--rack-fetchers 0); "
                         "vx-nolz4: vx with lz4 piece bodies off (vx serve --no-lz4)")
    ap.add_argument("--content", choices=("random", "compressible"), default="random",
                    help="the file: random (incompressible, default) or compressible (lz4 "
                         "about 3:1, bench/swarm/compressible.py)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the systems this many times, alternating (A B A B: a load "
                         "that changes during the run hits both alike)")
    ap.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    ap.add_argument("--chart", help="write a PNG chart of completion time per peer")
    ap.add_argument("--loopback", action="store_true",
                    help="no namespaces, no shaping: loopback addresses (CPU-bound runs)")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds for the whole run, set-up and tear-down included (900)")
    ap.add_argument("--vx", help="the vx binary")
    ap.add_argument("--vx-config", help="--config FILE passed to every vx serve")
    ap.add_argument("--only", action="store_true",
                    help="run exactly the systems in --vs (no implied vx)")
    ap.add_argument("--cold", action="store_true",
                    help="vx: do not warm the seed; the timed part includes the seed's fetch "
                         "from the origin (the bound still assumes a warm seed)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--racks", type=int, default=1,
                    help="racks: the origin, control node, seed and the first peers in rack 0, "
                         "the peers split evenly in peer order; every other rack joined to rack "
                         "0 by a link of --rack-link each way; vx daemons labelled with "
                         "host.location per rack (1)")
    ap.add_argument("--rack-link", type=parse_rate, help="rate of each inter-rack link")
    ap.add_argument("--links", choices=("even", "mixed"), default="even",
                    help="mixed: each peer's uplink drawn from 10, 100 and 1000 Mbit/s and its "
                         "downlink from 100 and 1000 Mbit/s (--links-seed); --link is then "
                         "only the default of --seed-link (even)")
    ap.add_argument("--links-seed", type=int, default=1, help="seed of --links mixed (1)")
    ap.add_argument("--no-declare", action="store_true",
                    help="with --links mixed: the daemons declare no upload rate (the scheduler "
                         "assumes 1 Gb/s until it measures)")
    ap.add_argument("--liars", type=int, default=0,
                    help="with --links mixed: this many peers (the slowest uplinks first) "
                         "declare ten times their uplink to the scheduler; the others declare "
                         "theirs (0)")
    ap.add_argument("--api-jobs", type=int, default=1000,
                    help="preheat: jobs made to measure the job API's latency (1000)")
    a = ap.parse_args(argv)
    if not 1 <= a.peers <= 200:
        ap.error("--peers must be 1..200")
    if not 1 <= a.racks <= 8 or (a.racks > 1 and (not a.rack_link or a.loopback)):
        ap.error("--racks wants 1..8, and with 2 or more --rack-link and namespaces")
    if (a.liars or a.no_declare) and (a.links != "mixed" or not 0 <= a.liars <= a.peers):
        ap.error("--liars and --no-declare want --links mixed (and at most --peers liars)")
    if (a.racks > 1 or a.links == "mixed") and a.vx_config:
        ap.error("--racks and --links mixed write each daemon's --config: no --vx-config")
    a.seed_link = a.seed_link or a.link
    a.origin_link = a.origin_link or a.seed_link
    want = []
    for s in a.vs.split(","):
        s = s.strip()
        if s == "all":
            want += ["vx", "bt", "http"]
        elif s == "preheat":
            want += ["vx", "preheat"]
        elif s == "cache":
            want += ["vx", "cache"]
        elif s in ("vx", "bt", "http", "vx-tls", "vx-members", "vx-flat", "vx-nolz4"):
            if not a.only and s != "vx" and "," not in a.vs:
                want.append("vx")
            want.append(s)
        else:
            ap.error("--vs wants vx, vx-tls, vx-members, vx-flat, vx-nolz4, bt, http, preheat, "
                     "cache or all, got '%s'" % s)
    # Baselines first: they need nothing from this build.
    order = ["http", "bt", "vx", "vx-flat", "vx-nolz4", "vx-members", "vx-tls", "preheat",
             "cache"]
    if not 1 <= a.rounds <= 20:
        ap.error("--rounds must be 1..20")
    a.systems = [s for s in order if s in want] * a.rounds
    if a.piece_length and a.piece_length & (a.piece_length - 1):
        ap.error("--piece-length must be a power of two")
    return a


def peer_links(args):
    """Per peer uplinks and downlinks (bits/s; downlinks None when unshaped) and the indices of
    the liars: --link for every uplink, or with --links mixed drawn by a seeded generator."""
    n = args.peers
    if args.links != "mixed":
        return [args.link] * n, None, []
    rng = random.Random(args.links_seed)
    ups = [rng.choice((10e6, 100e6, 1000e6)) for _ in range(n)]
    downs = [rng.choice((100e6, 1000e6)) for _ in range(n)]
    liars = sorted(range(n), key=lambda i: (ups[i], i))[:args.liars]
    return ups, downs, sorted(liars)


VX_SYSTEMS = ("vx", "vx-tls", "vx-members", "vx-flat", "vx-nolz4", "preheat", "cache")


def rack_of(i, n, racks):
    """The rack of peer i (0-based) of n: the peers split evenly in order, rack 0 first."""
    return i * racks // n


def main(argv):
    if len(argv) >= 1 and argv[0] == "bt-peer":
        return bt_peer_main(argv[1:])
    if len(argv) >= 1 and argv[0] == "cleanup":
        remove_stale()
        return EXIT_OK
    if len(argv) >= 1 and argv[0] == "run":
        argv = argv[1:]
    args = parse_args(argv)
    if os.geteuid() != 0 and not args.loopback:
        log("skipping: network namespaces and tc need root (try --loopback)")
        return EXIT_SKIP
    for tool in (["ip", "tc"] if not args.loopback else []) + ["curl", "nginx", "ss"]:
        if not (shutil.which(tool) or os.path.exists("/usr/sbin/" + tool)):
            log("missing tool '%s' (scripts/install-deps installs scripts/deps/bench.apt)" % tool)
            return EXIT_FAIL
    if "bt" in args.systems:
        for tool in ("opentracker", "mktorrent"):
            if not shutil.which(tool):
                log("missing tool '%s' (scripts/install-deps)" % tool)
                return EXIT_FAIL
        r = run([sys.executable, "-c", "import libtorrent"], check=False, quiet=True)
        if r.returncode != 0:
            log("%s cannot import libtorrent (Debian's python3-libtorrent; run with "
                "/usr/bin/python3)" % sys.executable)
            return EXIT_FAIL

    vx_missing = None
    if any(s in args.systems for s in VX_SYSTEMS):
        ok, why = vx_serve_available(args.vx)
        if not ok:
            vx_missing = why
            if set(args.systems) <= set(VX_SYSTEMS):
                log("vx: %s" % why)
                if args.json:
                    json.dump({"config": {"peers": args.peers, "size": args.size},
                               "bound": None, "ok": False,
                               "results": [{"system": "vx", "ok": False, "error": why}]},
                              sys.stdout, indent=1)
                    sys.stdout.write("\n")
                return EXIT_FAIL
            log("vx: %s; the vx run fails, the baselines still run" % why)

    guard = RunGuard(args.timeout)
    deadline = time.monotonic() + args.timeout
    n, f = args.peers, args.size
    results = []
    rc = EXIT_OK
    try:
        remove_stale()
        bed = guard.bed = Testbed(args)
        specs = [("origin", 2, args.origin_link), ("control", 3, None),
                 ("seed", 10, args.seed_link)]
        racks = [len([i for i in range(n) if rack_of(i, n, args.racks) == r])
                 for r in range(args.racks)]
        ups, downs, liars = peer_links(args)
        specs += [("peer%d" % (i + 1), 11 + i, ups[i], rack_of(i, n, args.racks),
                   downs[i] if downs else None) for i in range(n)]
        bed.build(specs, args.racks, args.rack_link)
        for i in liars:
            bed.nodes["peer%d" % (i + 1)].declared = ups[i] * 10
        bnd = None if args.loopback else bounds(f, n, args.seed_link, args.link,
                                                args.origin_link, ups=ups, downs=downs,
                                                racks=racks, rack_link=args.rack_link)
        www = os.path.join(bed.nodes["origin"].dir, "www")
        os.makedirs(www, exist_ok=True)
        log("generating %s" % fmt_bytes(f))
        want = make_file(os.path.join(www, "blob"), f, args.content)
        origin = start_origin(bed)
        url = "http://%s:%d/blob" % (bed.nodes["origin"].ip, PORT_ORIGIN)
        for system in args.systems:
            left = deadline - time.monotonic()
            if system in VX_SYSTEMS and vx_missing:
                results.append({"system": system, "ok": False, "error": vx_missing})
                rc = EXIT_FAIL
                continue
            if left <= 5:
                results.append({"system": system, "ok": False, "error": "no time left"})
                rc = EXIT_FAIL
                continue
            log("running %s" % system)
            before = Phase(bed)
            try:
                if system == "http":
                    r = run_http(bed, f, n, url, want, bnd, deadline)
                elif system == "bt":
                    r = run_bt(bed, f, n, url, want, bnd, deadline,
                               args.piece_length or (4 << 20))
                elif system == "preheat":
                    r = run_preheat(bed, f, n, url, want, bnd, deadline, args)
                elif system == "cache":
                    r = run_cache(bed, f, n, url, want, bnd, deadline, args)
                else:
                    r = run_vx(bed, f, n, url, want, bnd, deadline, args, system)
            except Fail as e:
                log("%s: %s" % (system, e))
                r = {"system": system, "ok": False, "error": str(e)}
            # Origin bytes over the whole system run, warm-up of the seed included.
            whole = before.sent()
            if whole.get("origin") is not None and not r.get("error"):
                r.setdefault("bytes", {})["origin_copies_with_seed_warmup"] = \
                    whole["origin"]["payload_bytes"] / f
            r.setdefault("bytes", {})["origin_log_body_bytes_with_seed_warmup"] = \
                whole.get("origin_log_body_bytes")
            if not r.get("ok"):
                rc = EXIT_FAIL
            results.append(r)
        # The origin serves every system; its CPU and peak RSS cover the whole run.
        origin.stop()
        cfg = {"peers": n, "size": f, "link_bps": args.link, "seed_link_bps": args.seed_link,
               "racks": racks, "rack_link_bps": args.rack_link, "links": args.links,
               "uplinks_bps": ups, "downlinks_bps": downs, "liars": [i + 1 for i in liars],
               "origin_link_bps": args.origin_link, "loopback": args.loopback,
               "piece_length": args.piece_length, "sha256": want, "prefix": PREFIX,
               "content": args.content,
               "systems": args.systems,
               "vx": os.path.basename(args.vx) if args.vx else None, "nproc": os.cpu_count(),
               "loadavg": os.getloadavg()}
        print_report(cfg, bnd, results, sys.stderr if args.json else sys.stdout)
        o = origin.report()
        (sys.stderr if args.json else sys.stdout).write(
            "origin nginx, whole run (cpu s / peak RSS MiB): %.2f / %.1f\n" %
            (o["cpu_s"] or 0, (o["peak_rss_kib"] or 0) / 1024))
        if args.chart:
            write_chart(os.path.abspath(args.chart), bnd, results, n, bed.work)
        if args.json:
            json.dump({"config": cfg, "bound": bnd, "results": results,
                       "origin_process": origin.report(), "ok": rc == EXIT_OK},
                      sys.stdout, indent=1)
            sys.stdout.write("\n")
    except Skip as e:
        log("skipping: %s" % e)
        rc = EXIT_SKIP
    except Fail as e:
        log("failed: %s" % e)
        rc = EXIT_FAIL
    except Interrupted as e:
        log("interrupted (%s): cleaning up" % e)
        rc = 130 if str(e) == "SIGINT" else EXIT_FAIL
    finally:
        guard.finish()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
