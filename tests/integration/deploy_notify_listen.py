#!/usr/bin/env python3
# deploy_notify_listen.py SOCKET OUT: a service manager's end of sd_notify for the deploy
# tests: binds the datagram socket SOCKET (a path, or @name for an abstract one) and appends
# every message it receives to OUT, one per line, flushed at once; stops on SIGTERM.
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
with open(out, "a", encoding="utf-8") as f:
    f.write("listening\n")
    f.flush()
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        f.write(msg.replace("\n", " ") + "\n")
        f.flush()
