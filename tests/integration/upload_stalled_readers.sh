#!/usr/bin/env bash
# Upload server under stalled readers (issue 18, "Abuse and exhaustion" 1; security test list
# of shared/reference/dragonfly-behaviour.md 5.5, items 13 and 15). The attack itself: 8 raw
# connections to a seed's plaintext upload port each pipeline DownloadPiece for pieces 0..2
# with a 4 KiB receive buffer and never read. io_uring runs splices in its bounded io-wq pool
# and a splice blocked in a full socket pinned a worker: 4 such peers stalled every other
# upload of the seed until its send stall limit (a 9 MiB download went to the origin after
# 20 s). Measured here: a second daemon, whose fetcher gives a parent 3 s without a byte
# (download.piece_timeout), gets the whole file from peers (bytes_from_peers == size) while the
# 8 stall, within its own `--timeout 10s`; the seed's send stall (upload.send_stall_timeout)
# is 12 s, so without the fix the stalled readers hold every send slot past that bound (the
# download took 20 s and came from the origin). The bound is a hang guard 50 times the 0.2 s it
# takes. Then the seed closes the 8 stalled connections once their send stall passes (all gone
# within 30 s of the attack).
set -euo pipefail
vx=$1
name=upload_stalled_readers
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
command -v ss >/dev/null || { echo "skip: ss (iproute2) missing"; exit 77; }

size=$((9 << 20))
make_file f.bin $size
origin_start
sched_start
printf 'metrics_listen: ""\nupload:\n  send_stall_timeout: 12s\n' >"$dir/seed.yaml"
printf 'metrics_listen: ""\ndownload:\n  piece_timeout: 3s\n' >"$dir/p1.yaml"
serve_start seed --seed --config "$dir/seed.yaml"
serve_start p1 --config "$dir/p1.yaml"
get seed "$base/f.bin" "$dir/o0" --json
expect_rc 0 "seed warm-up"
tid=$(json task_id)
port=${serve_port[seed]}

# The stalled readers: connect, ask, never read. Prints "ready" once all 8 asked.
python3 - "$port" "$tid" 8 "$(dirname "$0")" >"$dir/stall.out" 2>&1 <<'PY' &
import socket, struct, sys, time
port, tid, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from vx_wire import frame
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    for k in range(3):
        s.sendall(frame(0x00, tid + struct.pack(">I", k)))
    socks.append(s)
print("ready", flush=True)
time.sleep(60)
PY
bg_pids+=($!)
wait_line "$dir/stall.out" '^ready' "${bg_pids[-1]}" "stalled readers" >/dev/null
sleep 1 # let the seed fill their sockets

# the seed's established upload connections (its side)
seed_conns() { ss -Htn state established "( sport = :$port )" | wc -l; }
[ "$(seed_conns)" -ge 8 ] || fail "the 8 stalled connections are not open at the seed ($(seed_conns))"

# the file from peers while the 8 stall
get p1 "$base/f.bin" "$dir/o1" --json --timeout 10s
expect_rc 0 "download next to stalled readers"
same_file "$dir/www/f.bin" "$dir/o1" "download next to stalled readers"
from_peers=$(json bytes_from_peers)
echo "p1: $(json bytes_from_peers) bytes from peers, $(json bytes_from_source) from source"
[ "$from_peers" -eq $size ] ||
	fail "stalled readers kept the seed from serving: $from_peers of $size bytes from peers"

# the seed closes the stalled connections (its side) once their send stall passes
for _ in $(seq 1 120); do
	[ "$(seed_conns)" -eq 0 ] && break
	sleep 0.25
done
[ "$(seed_conns)" -eq 0 ] || fail "$(seed_conns) stalled connections still open at the seed"
echo "PASS $name"
