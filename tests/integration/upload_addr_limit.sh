#!/usr/bin/env bash
# Per-address connection limit of the upload port (issue 18, "Abuse and exhaustion" 2; security
# test list of shared/reference/dragonfly-behaviour.md 5.5, item 13). The attack itself: one
# address opens connections and keeps them (1,024 of them used to lock every other fetcher
# out). With upload.max_conns_per_addr 4, measured: 4 connections from 127.0.0.1 are open and
# answered; the 5th from 127.0.0.1 is closed by the daemon before any byte; one from 127.0.0.2
# still gets in and is answered; once one of the 4 hangs up, 127.0.0.1 gets a slot again.
# Loopback is not exempt.
set -euo pipefail
vx=$1
name=upload_addr_limit
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

printf 'metrics_listen: ""\nupload:\n  max_conns_per_addr: 4\n' >"$dir/lim.yaml"
serve_start lim --no-scheduler --config "$dir/lim.yaml"
got=$(python3 - "${serve_port[lim]}" "$(dirname "$0")" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
sys.path.insert(0, sys.argv[2])
from vx_wire import frame, recv_frame

def conn(src):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def answered(s):
    # a request for a piece the daemon does not have: an Error frame comes back
    try:
        s.sendall(frame(0x00, b"ab" * 32 + struct.pack(">I", 0)))
        tag, _ = recv_frame(s)
        return tag == 0xFF
    except (OSError, EOFError):
        return False

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

held = [conn("127.0.0.1") for _ in range(4)]
out = []
fifth = conn("127.0.0.1")
out.append("fifth=" + ("closed" if closed(fifth) else "open"))
other = conn("127.0.0.2")
out.append("other=" + ("answered" if answered(other) else "refused"))
# one of the 4 asks and is answered; the daemon then closes it (one answer without a HELLO)
out.append("held=" + ("answered" if answered(held[0]) else "refused"))
held[0].close()
again = None
import time
for _ in range(50):  # the daemon releases the slot after its close completes: bounded retry
    s = conn("127.0.0.1")
    if answered(s):
        again = "answered"
        break
    s.close()
    time.sleep(0.1)
out.append("again=" + (again or "refused"))
print(" ".join(out))
PY
)
echo "$got"
[ "$got" = "fifth=closed other=answered held=answered again=answered" ] ||
	fail "upload.max_conns_per_addr 4: got '$got'"
echo "PASS $name"
