#!/usr/bin/env python3
"""api_rate.py SOCKET SECONDS: one local API client making task-list requests one after another
as fast as the daemon answers, for SECONDS; prints "ok limited elapsed" (status 0 answers,
-EAGAIN answers, seconds). Any other status fails."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vx_wire  # noqa: E402

EAGAIN = 11
TASK_LIST = 14


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    ok = limited = 0
    rid = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        rid += 1
        r = vx_wire.ctl_call(s, rid, TASK_LIST, {})
        st = r.get(3, 0)
        if st == 0:
            ok += 1
        elif st == -EAGAIN:
            limited += 1
        else:
            sys.exit("api_rate: status %d: %s" % (st, r.get(4)))
    elapsed = time.monotonic() - start
    print("%d %d %.3f" % (ok, limited, elapsed))


if __name__ == "__main__":
    main()
