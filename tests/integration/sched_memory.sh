#!/usr/bin/env bash
# sched_memory.sh VX: the scheduler's memory is bounded in total, not only per connection
# (issue 18, "Abuse and exhaustion"; shared/reference/dragonfly-behaviour.md 5.5, the
# resource-exhaustion items). The attack itself: 300 unauthenticated connections each announce
# a 1 MiB control frame and send all of it but its last byte, round by round. Before, each
# reader held the declared length and every byte arrived stayed: ~300 MB resident. Now the
# receive buffers together stay under --recv-mem-max (16 MiB here): the scheduler's peak RSS
# (VmHWM) must stay under its RSS before the attack plus that budget plus 24 MiB of slack, the
# log must say it closed connections over the budget, and a real client must still get its
# hello answered afterwards.
set -euo pipefail
vx=$1
name=sched_memory
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init

budget_mib=16
asan_frees_honoured
# --conns-per-addr 0: the 300 attackers share 127.0.0.1; the memory budget alone must hold
sched_start --recv-mem-max $budget_mib --conns-per-addr 0
before=$(proc_kib "$sched_pid" VmRSS)

timeout 60 python3 - "$sched_port" <<'PY' || fail "the attacker failed"
import fcntl, socket, struct, sys, time
port = int(sys.argv[1])
N, LEN, CHUNK = 300, 1 << 20, 64 << 10
conns = []
for _ in range(N):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack(">BBI", 0, 0x60, LEN))  # a request frame announcing 1 MiB
    conns.append(s)
sent = 0
for off in range(0, LEN - 1, CHUNK):
    part = b"\xa0" * min(CHUNK, LEN - 1 - off)  # never the last byte: no frame completes
    for s in conns:
        if s is None:
            continue
        try:
            s.sendall(part)
            sent += len(part)
        except OSError:  # closed over the budget
            conns[conns.index(s)] = None
# wait (bounded) until the scheduler has read what the kernel still holds for it
for _ in range(400):
    left = 0
    for i, s in enumerate(conns):
        if s is None:
            continue
        try:
            if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                conns[i] = None  # closed by the scheduler: what it held is gone
                continue
        except BlockingIOError:
            pass
        except OSError:
            conns[i] = None
            continue
        left += struct.unpack("i", fcntl.ioctl(s, 0x5411, b"\0" * 4))[0]  # TIOCOUTQ
    if left == 0:
        break
    time.sleep(0.05)
else:
    sys.exit("the scheduler did not read the attack's bytes within 20 s")
print("attacker sent %d MiB, %d connections left open" % (sent >> 20, N - conns.count(None)))
PY

after=$(proc_kib "$sched_pid" VmHWM)
bound=$((before + (budget_mib + 24) * 1024))
echo "scheduler RSS before ${before} KiB, peak ${after} KiB, bound ${bound} KiB"
kill -0 "$sched_pid" || fail "the scheduler died under the attack"
[ "$after" -le "$bound" ] ||
	fail "the scheduler's peak RSS ${after} KiB is over ${bound} KiB (budget ${budget_mib} MiB)"
grep -q "receive buffers over their budget" "$dir/sched.log" ||
	fail "the scheduler did not say it closed connections over the budget"

# a real client is still served
sched_peer_token=$sched_peer_token timeout 30 python3 - "$sched_port" "$here" <<'PY' ||
import os, sys
sys.path.insert(0, sys.argv[2])
from fake_sched_client import peer_hello
peer_hello(int(sys.argv[1]), "after-attack", os.environ["sched_peer_token"])
PY
	fail "a real client's hello was not answered after the attack"
echo "PASS: $name"
