#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""download.py: the driver of `vx-bench download`, the real download path of issue 19 goal 4.

One file goes from one `vx serve` (the seed, which first gets it from an nginx origin under a
new name each run, so a new task: not timed) to another `vx serve` through `vx get URL -O FILE --socket SOCK`, written to a file on
the disk the data directories are on. In the same run, for the bound:

  iperf3   one stream over loopback, memory to memory (the network's rate)
  fio      the disk's write rate with the store's write mode: sequential 4 MiB writes with
           O_DIRECT and an fsync at the end (--direct=1 --end_fsync=1), the same size

The figure is the vx get's wall time (from its start to its exit, the output in place) over
the file size, and its ratio to min(iperf3, fio). Each daemon's peak RSS (VmHWM) is read from
/proc before it stops. Every output is checked against the file's sha256. Each run starts a new
receiving daemon with an empty data directory; the seed stays. With --perf DIR, `perf record
-g` runs on both daemons during the timed get of the first run (DIR/seed.data, DIR/peer.data).

Exit: 0 ran and verified, 1 a step failed, 2 bad command line.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from swarm import Fail, make_file, parse_size, sha256_of  # noqa: E402  (shared helpers)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def log(msg):
    print("download: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_line(path, pattern, proc, what, timeout=30):
    end = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise Fail("%s exited %s before it was ready" % (what, proc.returncode))
        try:
            with open(path) as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return m
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise Fail("%s not ready within %d s" % (what, timeout))


def peak_rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


class Bed:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="vxdl.", dir=args.dir)
        os.chmod(self.dir, 0o755)
        self.procs = []

    def spawn(self, name, cmd):
        out = open(os.path.join(self.dir, name + ".out"), "w")
        err = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
        out.close()
        err.close()
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log("kept " + self.dir)


def start_origin(bed, www, http_extra="", server_extra=""):
    port = free_port()
    conf = os.path.join(bed.dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write("daemon off; worker_processes 1; pid %s/nginx.pid; error_log %s/nginx.err;\n"
                "events { worker_connections 256; }\n"
                "http { access_log off; sendfile on; %s\n"
                "  server { listen 127.0.0.1:%d; root %s; %s } }\n"
                % (bed.dir, bed.dir, http_extra, port, www, server_extra))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    p = bed.spawn("nginx", [nginx, "-c", conf, "-p", bed.dir])
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return port
        except OSError:
            if p.poll() is not None:
                raise Fail("nginx exited %s" % p.returncode)
            time.sleep(0.05)
    raise Fail("nginx not listening")


def start_sched(bed):
    vx = bed.args.vx
    p = bed.spawn("sched", [vx, "scheduler", "--listen", "127.0.0.1:0", "--db",
                            os.path.join(bed.dir, "sched.db"), "--log-level", "warn"])
    port = int(wait_line(os.path.join(bed.dir, "sched.out"), r"listening on port (\d+)", p,
                         "vx scheduler").group(1))
    toks = {}
    with open(os.path.join(bed.dir, "sched.db.tokens")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                toks[parts[0]] = parts[1]
    for role in ("peer", "seed"):
        path = os.path.join(bed.dir, "token." + role)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (toks[role] + "\n").encode())
        os.close(fd)
    return p, port


def start_serve(bed, name, sched_port, seed):
    d = bed.dir
    sock = os.path.join(d, name + ".sock")
    # a receiver logs at info at least: its export's line says how much of the output was
    # written during the download (output_pieces())
    level = bed.args.log_level
    if not seed and level in ("warn", "error"):
        level = "info"
    cmd = [bed.args.vx, "serve", "--data-dir", os.path.join(d, name), "--listen", "127.0.0.1:0",
           "--socket", sock, "--log-level", level, "--scheduler", "127.0.0.1:%d" % sched_port,
           "--token-file", os.path.join(d, "token.seed" if seed else "token.peer")]
    if seed:
        cmd.append("--seed")
    p = bed.spawn(name, cmd)
    wait_line(os.path.join(d, name + ".out"), r"^vx serve: ready: ", p, "vx serve " + name)
    return p, sock


def vx_get(bed, url, out, sock, timeout):
    cmd = [bed.args.vx, "get", url, "-O", out, "--socket", sock, "--no-progress", "--json"]
    cmd += get_opts(bed.args)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    t = time.monotonic() - t0
    if r.returncode != 0:
        raise Fail("vx get failed (%d): %s" % (r.returncode, r.stderr.strip()[-400:]))
    return t


def get_opts(args):
    """vx get options every get of a run shares (they are part of the task's id)."""
    return ["--piece-length", args.piece_length] if args.piece_length else []


def vx_get_stream(bed, url, sock, timeout):
    """vx get -O - into a pipe read here: the time to the first byte and to the last, and the
    digest of what came out."""
    cmd = [bed.args.vx, "get", url, "-O", "-", "--socket", sock, "--no-progress"]
    cmd += get_opts(bed.args)
    h = hashlib.sha256()
    ttfb = None
    t0 = time.monotonic()
    g = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while True:
        b = g.stdout.read1(1 << 20)
        if not b:
            break
        if ttfb is None:
            ttfb = time.monotonic() - t0
        h.update(b)
    err = g.communicate(timeout=timeout)[1]
    t = time.monotonic() - t0
    if g.returncode != 0:
        raise Fail("vx get -O - failed (%d): %s" % (g.returncode, err.decode()[-400:]))
    return t, ttfb, h.hexdigest()


def make_sparse(path, size):
    """Goal 6's big files: a hole of @size bytes (zeros: vx does not compress, so the bytes
    cost the same), which takes no disk and no time to write; its sha256 is computed."""
    with open(path, "wb") as f:
        f.truncate(size)
    h = hashlib.sha256()
    z = bytes(8 << 20)
    left = size
    while left:
        n = min(left, len(z))
        h.update(z[:n] if n < len(z) else z)
        left -= n
    return h.hexdigest()


def pick_us(bed, name):
    """The receiving fetcher's picking time per piece (us), from its log, or None."""
    rx = re.compile(r"fetcher: \S+: (\d+) pieces, picking ([0-9.]+) us per piece")
    try:
        with open(os.path.join(bed.dir, name + ".log")) as f:
            for line in f:
                m = rx.search(line)
                if m:
                    return float(m.group(2))
    except OSError:
        pass
    return None


def output_pieces(bed, name):
    """(pieces written to the output during the download, pieces) from daemon @name's log,
    (0, 0) when the export reflinked the store's file, or None: an older vx, or a stream."""
    rx = re.compile(r"output \S+: (\d+) of (\d+) pieces written during the download")
    for ext in (".log", ".out"):
        try:
            with open(os.path.join(bed.dir, name + ext)) as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return int(m.group(1)), int(m.group(2))
                    if "the filesystem reflinks it at the export" in line:
                        return 0, 0
        except OSError:
            pass
    return None


def iperf3_rate(bed, size):
    port = free_port()
    s = bed.spawn("iperf3-s", ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)])
    time.sleep(0.3)
    r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", str(size), "-J"],
                       capture_output=True, text=True, timeout=120)
    bed.stop(s)
    if r.returncode != 0:
        raise Fail("iperf3 failed: " + r.stderr.strip()[-300:])
    j = json.loads(r.stdout)
    return j["end"]["sum_received"]["bits_per_second"] / 8.0


def fio_rate(bed, size, direct):
    path = os.path.join(bed.dir, "fio.dat")
    r = subprocess.run(["fio", "--name=vx", "--filename=" + path, "--rw=write", "--bs=4194304",
                        "--size=%d" % size, "--direct=%d" % direct, "--ioengine=psync",
                        "--fallocate=native", "--end_fsync=1", "--thread",
                        "--output-format=json"], capture_output=True, text=True, timeout=300)
    try:
        os.unlink(path)
    except OSError:
        pass
    if r.returncode != 0:
        raise Fail("fio failed: " + r.stderr.strip()[-300:])
    j = json.loads(r.stdout[r.stdout.index("{"):])
    return j["jobs"][0]["write"]["bw_bytes"]


def warm_seed_cache(data_dir, size):
    """Reads the seed's content files (the big ones) so it serves from the page cache, as
    iperf3 sends from memory: the figure is about the receiving side's path and disk."""
    for root, _, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(root, name)
            if os.path.getsize(path) >= size:
                with open(path, "rb") as f:
                    while f.read(8 << 20):
                        pass


def perf_start(bed, pid, out):
    return bed.spawn("perf-%d" % pid, ["perf", "record", "-g", "-o", out, "-p", str(pid)])


class XfsMount:
    """--xfs: an XFS with reflink on a loop device (direct I/O to its image, so the page cache
    of the filesystem under it does not flatter either vx or fio), in --dir or the system's
    temporary directory; the data directories, the output and fio's file go on it. Where the
    store and the output share a filesystem that reflinks, the export is a clone: every byte
    is written once."""

    def __init__(self, args):
        self.top = tempfile.mkdtemp(prefix="vxdl-xfs.", dir=args.dir)
        self.img = os.path.join(self.top, "xfs.img")
        self.mnt = os.path.join(self.top, "mnt")
        self.dev = None
        try:
            self._make(args)
        except BaseException:
            self.close()  # a loop device set up before a failed mount is not left behind
            raise
        log("an XFS with reflink on %s (direct I/O to its image)" % self.dev)

    def _make(self, args):
        os.chmod(self.top, 0o755)  # the origin's workers read the file through it
        os.mkdir(self.mnt)
        # the seed keeps a copy per run; the receiver's, fio's file and slack (a clone takes no room)
        with open(self.img, "wb") as f:
            f.truncate((args.runs + 3) * args.size + (1 << 30))
        subprocess.run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", self.img], check=True)
        self.dev = subprocess.run(["losetup", "--direct-io=on", "--find", "--show", self.img],
                                  check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["mount", self.dev, self.mnt], check=True)

    def close(self):
        if os.path.ismount(self.mnt):
            subprocess.run(["umount", self.mnt], check=False)
        if self.dev:
            subprocess.run(["losetup", "-d", self.dev], check=False)
        shutil.rmtree(self.top, ignore_errors=True)


def run(args):
    xfs = XfsMount(args) if args.xfs else None
    if xfs:
        args.dir = xfs.mnt
    try:
        return run_bed(args)
    finally:
        if xfs:
            xfs.close()


def run_bed(args):
    bed = Bed(args)
    try:
        www = os.path.join(bed.dir, "www")
        os.mkdir(www)
        src = os.path.join(www, "f.bin")
        log("making a %d MiB file%s" % (args.size >> 20, " (sparse)" if args.sparse else ""))
        want = make_sparse(src, args.size) if args.sparse else make_file(src, args.size)
        oport = start_origin(bed, www)
        _, sport = start_sched(bed)
        seed, seed_sock = start_serve(bed, "seed", sport, True)
        rows = []
        for i in range(args.runs):
            # A new name (a hard link: the same bytes) and so a new task per run: a seed
            # answers BUSY for a piece it sent to another peer within 8 s (it spares itself
            # for the swarm), which would hold up the next run's first pieces.
            os.link(src, os.path.join(www, "f%d.bin" % i))
            url = "http://127.0.0.1:%d/f%d.bin" % (oport, i)
            log("run %d: the seed gets the file from the origin (not timed)" % (i + 1))
            # into a pipe, so no export file is written and deleted (1 GiB of writes and, on
            # a filesystem mounted with discard, of discards) just before the timed run
            vx_get_stream(bed, url, seed_sock, args.timeout)
            if not args.cold_seed:
                warm_seed_cache(os.path.join(bed.dir, "seed"), args.size)
            os.sync()  # the previous steps' writeback is not the timed run's
            name = "peer%d" % i
            peer, peer_sock = start_serve(bed, name, sport, False)
            out = os.path.join(bed.dir, "out%d.bin" % i)
            perfs = []
            if args.perf and i == 0:
                os.makedirs(args.perf, exist_ok=True)
                perfs = [perf_start(bed, seed.pid, os.path.join(args.perf, "seed.data")),
                         perf_start(bed, peer.pid, os.path.join(args.perf, "peer.data"))]
                time.sleep(1.0)
            c0 = cpu_s(seed.pid)
            if args.stream:
                t, ttfb, got = vx_get_stream(bed, url, peer_sock, args.timeout)
            else:
                t, ttfb = vx_get(bed, url, out, peer_sock, args.timeout), None
                got = sha256_of(out)
            for p in perfs:
                bed.stop(p, signal.SIGINT)
            row = {"run": i + 1, "seconds": t, "vx_Bps": args.size / t, "stream": args.stream,
                   "first_byte_s": ttfb,
                   "peer_rss_mib": peak_rss_mib(peer.pid), "seed_rss_mib": peak_rss_mib(seed.pid),
                   "peer_cpu_s": cpu_s(peer.pid), "seed_cpu_s": cpu_s(seed.pid) - c0}
            if got != want:
                raise Fail("run %d: the output's sha256 differs from the file's" % (i + 1))
            op = None if args.stream else output_pieces(bed, name)
            if op:
                row["output_pieces_early"], row["pieces"] = op
            pu = pick_us(bed, name)
            if pu is not None:
                row["pick_us_per_piece"] = pu
            if not args.stream:
                os.unlink(out)
            bed.stop(peer)
            shutil.rmtree(os.path.join(bed.dir, name), ignore_errors=True)
            if not args.only_vx:
                row["iperf3_Bps"] = iperf3_rate(bed, args.size)
                row["fio_Bps"] = fio_rate(bed, args.size, 1)
                row["ratio"] = row["vx_Bps"] / min(row["iperf3_Bps"], row["fio_Bps"])
            rows.append(row)
            report_row(row)
        report(args, rows)
        return EXIT_OK
    finally:
        bed.close()


def mbs(bps):
    return bps / 1e6


def report_row(r):
    s = "run %d: vx get %7.0f MB/s (%.2f s)" % (r["run"], mbs(r["vx_Bps"]), r["seconds"])
    if r.get("stream"):
        s = s.replace("vx get", "vx get -O -") + ", first byte after %.3f s" % r["first_byte_s"]
    if "ratio" in r:
        s += "   iperf3 %6.0f MB/s   fio O_DIRECT write %6.0f MB/s   %.2fx min" % (
            mbs(r["iperf3_Bps"]), mbs(r["fio_Bps"]), r["ratio"])
    s += "   peer rss %.1f MiB cpu %.2f s   seed rss %.1f MiB cpu %.2f s" % (
        r["peer_rss_mib"], r["peer_cpu_s"], r["seed_rss_mib"], r["seed_cpu_s"])
    if "pick_us_per_piece" in r:
        s += "   picking %.2f us/piece" % r["pick_us_per_piece"]
    if r.get("pieces"):
        s += "   output written during the download: %d of %d pieces" % (
            r["output_pieces_early"], r["pieces"])
    elif "pieces" in r:
        s += "   output reflinked at the export"
    print(s, flush=True)


def report(args, rows):
    if args.json:
        print(json.dumps({"size": args.size, "runs": rows}), flush=True)
    if "ratio" in rows[0]:
        rs = [r["ratio"] for r in rows]
        print("ratio to min(iperf3, fio): median %.2fx, min %.2fx, max %.2fx over %d runs" % (
            statistics.median(rs), min(rs), max(rs), len(rs)))
    print("peak RSS: peer %.1f MiB, seed %.1f MiB (max over runs)" % (
        max(r["peer_rss_mib"] for r in rows), max(r["seed_rss_mib"] for r in rows)))


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="vx-bench download")
    ap.add_argument("--size", type=parse_size, default=1 << 30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the data directories go (a disk)")
    ap.add_argument("--xfs", action="store_true",
                    help="the data directories on an XFS with reflink made in --dir (root)")
    ap.add_argument("--only-vx", action="store_true", help="skip iperf3 and fio")
    ap.add_argument("--piece-length", default=None,
                    help="vx get --piece-length (default: the piece plan's)")
    ap.add_argument("--sparse", action="store_true",
                    help="the origin file is a hole (zeros): big files without the disk")
    ap.add_argument("--perf", metavar="DIR", help="perf record -g both daemons in run 1")
    ap.add_argument("--cold-seed", action="store_true",
                    help="leave the seed's content out of the page cache (it wrote it O_DIRECT)")
    ap.add_argument("--stream", action="store_true",
                    help="vx get -O - into a pipe (sha256sum) instead of -O FILE")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--log-level", default="warn", help="of the daemons (kept with --keep)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--vx", default="vx")
    return ap.parse_args(argv)


def main(argv, name="download", parse=None, body=None):
    """The driver's entry (shared by small.py): `run [options]` or `cleanup`."""
    parse, body = parse or parse_args, body or run
    if not argv or argv[0] not in ("run", "cleanup"):
        print("usage: %s.py run [options]" % name, file=sys.stderr)
        return EXIT_USAGE
    if argv[0] == "cleanup":
        return EXIT_OK
    args = parse(argv[1:])

    def on_signal(sig, _frame):
        raise Fail("stopped by signal %d" % sig)  # the finally clauses stop every process

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return body(args)
    except (Fail, subprocess.TimeoutExpired) as e:
        print("%s: failed: %s" % (name, e), file=sys.stderr, flush=True)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
