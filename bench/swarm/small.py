#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""small.py: the driver of `vx-bench small`, many small files (issue 19 goal 7).

An nginx origin serves N files of SIZE bytes (default 1,000 of 64 KiB) in one directory with
an index listing. In the same run, each timed to its exit with every file in place:

  curl        one curl process, every URL in one config file, one after the other on one
              kept-alive connection (the batch form that matches vx get -r)
  curl -Z     the same with --parallel (--parallel-max JOBS, default 8)
  vx get -r   one `vx get -r URL/ -O DIR --socket SOCK` through one `vx serve` (a fresh data
              directory, so every file is a new task fetched from the origin): the listing,
              then one download after the other through the daemon
  --jobs      the same with `--jobs JOBS` (JOBS files at once), beside curl -Z

The figure is files per second, vx get -r's ratio to curl and --jobs's to curl -Z. Every output is compared with its
file. With --perf DIR, `perf record -g` runs on the daemon during the first vx run.

Exit: 0 ran and verified, 1 a step failed, 2 bad command line.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import download  # noqa: E402
from download import Bed, peak_rss_mib, cpu_s, perf_start, start_sched, start_serve  # noqa: E402
from swarm import Fail, parse_size  # noqa: E402

EXIT_OK = 0


def log(msg):
    print("small: " + msg, file=sys.stderr, flush=True)


def start_origin(bed, www):
    """nginx with autoindex: `vx get -r` lists the directory as a user's would."""
    return download.start_origin(bed, www, "keepalive_requests 100000;", "autoindex on;")


def make_files(d, n, size):
    names = []
    os.makedirs(d)
    for i in range(n):
        name = "f%05d.bin" % i
        with open(os.path.join(d, name), "wb") as f:
            f.write(os.urandom(size))
        names.append(name)
    return names


def check(src, out, names):
    for name in names:
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(out, name), "rb") as b:
            if a.read() != b.read():
                raise Fail("%s differs from the origin's file" % os.path.join(out, name))


def run_curl(bed, base, names, out, parallel, timeout):
    os.makedirs(out)
    cfg = os.path.join(bed.dir, "curl.cfg")
    with open(cfg, "w") as f:
        for name in names:
            f.write('url = "%s%s"\noutput = "%s"\n' % (base, name, os.path.join(out, name)))
    cmd = ["curl", "-sS", "--fail", "-K", cfg]
    if parallel:
        cmd += ["-Z", "--parallel-max", str(parallel)]
    return timed(cmd, "curl", timeout)


def run_vx(bed, base, out, sock, jobs, timeout):
    cmd = [bed.args.vx, "get", "-r", base, "-O", out, "--socket", sock, "--no-progress"]
    if jobs > 1:
        cmd += ["--jobs", str(jobs)]
    return timed(cmd, "vx get -r", timeout)


def timed(cmd, what, timeout):
    """Runs @cmd to its exit: its wall time, or Fail."""
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    t = time.monotonic() - t0
    if r.returncode != 0:
        raise Fail("%s failed (%d): %s" % (what, r.returncode, r.stderr.strip()[-400:]))
    return t


def run(args):
    bed = Bed(args)
    try:
        www = os.path.join(bed.dir, "www")
        src = os.path.join(www, "small")
        os.makedirs(www)
        log("making %d files of %d bytes" % (args.files, args.size))
        names = make_files(src, args.files, args.size)
        oport = start_origin(bed, www)
        base = "http://127.0.0.1:%d/small/" % oport
        _, sport = start_sched(bed)
        rows = []
        for i in range(args.runs):
            row = {"run": i + 1, "files": args.files, "size": args.size, "jobs": args.jobs}
            if not args.only_vx:
                for key, par in (("curl", 0), ("curl_parallel", args.jobs)):
                    if key == "curl_parallel" and args.jobs < 2:
                        continue
                    out = os.path.join(bed.dir, "%s%d" % (key, i))
                    t = run_curl(bed, base, names, out, par, args.timeout)
                    check(src, out, names)
                    shutil.rmtree(out)
                    row[key + "_fps"] = args.files / t
            for key, jobs in (("vx", 1), ("vx_jobs", args.jobs)):
                if jobs < 2 and key == "vx_jobs":
                    continue
                name = "%s%d" % (key, i)
                peer, sock = start_serve(bed, name, sport, False)
                perf = None
                if args.perf and i == 0:
                    os.makedirs(args.perf, exist_ok=True)
                    perf = perf_start(bed, peer.pid, os.path.join(args.perf, name + ".data"))
                    time.sleep(1.0)
                out = os.path.join(bed.dir, "out-" + name)
                t = run_vx(bed, base, out, sock, jobs, args.timeout)
                if perf:
                    bed.stop(perf, signal.SIGINT)
                check(src, out, names)
                shutil.rmtree(out)
                row[key + "_fps"] = args.files / t
                row[key + "_rss_mib"] = peak_rss_mib(peer.pid)
                row[key + "_cpu_s"] = cpu_s(peer.pid)
                bed.stop(peer)
                shutil.rmtree(os.path.join(bed.dir, name), ignore_errors=True)
            if "curl_fps" in row:
                row["ratio_curl"] = row["vx_fps"] / row["curl_fps"]
                if "vx_jobs_fps" in row:
                    row["ratio_jobs_curl_parallel"] = (row["vx_jobs_fps"] /
                                                       row["curl_parallel_fps"])
            rows.append(row)
            report_row(row)
        report(args, rows)
        return EXIT_OK
    finally:
        bed.close()


def report_row(r):
    s = "run %d: %d files of %d bytes: vx get -r %7.1f files/s" % (
        r["run"], r["files"], r["size"], r["vx_fps"])
    if "curl_fps" in r:
        s += " (%.2fx curl %.1f)" % (r["ratio_curl"], r["curl_fps"])
    if "vx_jobs_fps" in r:
        s += "   vx get -r --jobs %d %7.1f files/s" % (r["jobs"], r["vx_jobs_fps"])
        if "curl_parallel_fps" in r:
            s += " (%.2fx curl -Z %.1f)" % (r["ratio_jobs_curl_parallel"],
                                             r["curl_parallel_fps"])
    s += "   daemon rss %.1f MiB cpu %.2f s" % (r["vx_rss_mib"], r["vx_cpu_s"])
    s += "   load %.1f" % os.getloadavg()[0]
    print(s, flush=True)


def report(args, rows):
    if args.json:
        print(json.dumps({"runs": rows}), flush=True)
    if "ratio_curl" in rows[0]:
        s = "vx get -r / curl: median %.2fx" % statistics.median(r["ratio_curl"] for r in rows)
        if "ratio_jobs_curl_parallel" in rows[0]:
            s += "; vx get -r --jobs / curl -Z: median %.2fx" % statistics.median(
                r["ratio_jobs_curl_parallel"] for r in rows)
        print(s + " over %d runs" % len(rows))


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="vx-bench small")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--size", type=parse_size, default=64 << 10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=8,
                    help="vx get -r --jobs, and curl -Z --parallel-max (1: sequential only)")
    ap.add_argument("--dir", default=None, help="where the data directories go (a disk)")
    ap.add_argument("--only-vx", action="store_true", help="skip curl")
    ap.add_argument("--perf", metavar="DIR", help="perf record -g the daemon in run 1")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--log-level", default="warn", help="of the daemon (kept with --keep)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--vx", default="vx")
    args = ap.parse_args(argv)
    if args.files < 1:
        ap.error("--files must be at least 1")
    return args


def main(argv):
    return download.main(argv, "small", parse_args, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
