#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""fake_vx.py: a stand-in for the `vx` binary with the command-line surface of the end-to-end
issue, so the vx path of the swarm testbed is exercised before `vx serve` exists. It does no
P2P at all: `get` fetches from the origin with curl. Never use its figures.

  fake_vx.py scheduler --listen HOST:PORT --db PATH
  fake_vx.py serve --data-dir DIR --listen HOST:PORT --socket PATH --scheduler HOST:PORT [--seed]
  fake_vx.py get URL -O FILE [--socket PATH | --scheduler HOST:PORT] [--piece-length N]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys


def listen_tcp(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    return s


def serve_forever(socks, cleanup=None):
    def stop(*_):
        if cleanup:
            cleanup()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


def main(argv):
    if not argv:
        print("usage: fake_vx.py scheduler|serve|get ...", file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "scheduler":
        ap = argparse.ArgumentParser(prog="vx scheduler")
        ap.add_argument("--listen", required=True)
        ap.add_argument("--db", required=True)
        a = ap.parse_args(rest)
        serve_forever([listen_tcp(a.listen)])
    elif cmd == "serve":
        ap = argparse.ArgumentParser(prog="vx serve")
        ap.add_argument("--data-dir", required=True)
        ap.add_argument("--listen", required=True)
        ap.add_argument("--socket", required=True)
        ap.add_argument("--scheduler", required=True)
        ap.add_argument("--seed", action="store_true")
        ap.add_argument("--config")
        a = ap.parse_args(rest)
        t = listen_tcp(a.listen)
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind(a.socket)
        u.listen(8)
        serve_forever([t, u], cleanup=lambda: os.path.exists(a.socket) and os.unlink(a.socket))
    elif cmd == "get":
        ap = argparse.ArgumentParser(prog="vx get")
        ap.add_argument("url")
        ap.add_argument("-O", dest="output", required=True)
        ap.add_argument("--socket")
        ap.add_argument("--scheduler")
        ap.add_argument("--piece-length")
        a = ap.parse_args(rest)
        tmp = a.output + ".part"
        r = subprocess.run(["curl", "-sS", "-f", "-o", tmp, a.url])
        if r.returncode != 0:
            return 1
        os.rename(tmp, a.output)
        return 0
    else:
        print("vx: '%s' is not a vx command." % cmd, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
