#!/usr/bin/env bash
# peer_config.sh VX: the daemon's config keys that had no effect before (issue 16, "Fix first"
# item 7) are measured on a running `vx serve`, each from the outside, by counts and states:
#   upload.idle_timeout          a raw client that sends nothing is closed by the daemon
#   upload.max_inflight_per_conn the HELLO announces N and the N+1th pipelined request is BUSY
#   upload.max_connections       with 1 slot, a second connection is closed at once
#   download.work_threads        2 and 6 threads: the second daemon has 4 threads more
#   host.hostname, host.ip       the host id in the ready line is IP-HOSTNAME-PORT
#   log_level                    `error` leaves out the info line a daemon writes at start
#   storage.task_ttl, storage.gc_interval
#                                a downloaded task unused for longer than the TTL is evicted
#   download.back_to_source      false: a download with no peer fails, the origin sends nothing
#   storage.disk_limit, storage.gc_high_percent, storage.gc_low_percent
#                                three 8 MiB tasks in a 40 MiB store at 50/30 %: GC evicts
#                                the two least recently used, down to the low mark
# and the keys not built yet stop `vx serve` (exit 2) with a message naming them.
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): a half-given tls.* stops the
# daemon (a daemon configured for TLS never falls back to plaintext; control_tls.sh has TLS).
# Every wait is bounded; nothing depends on how long something took.
set -euo pipefail
vx=$1
name=peer_config
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

# raw_client PORT MODE: a Vortex client on loopback; prints what it measured.
raw_client() {
	python3 - "$@" <<'PY'
import socket, struct, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]

def frame(tag, value):
    return struct.pack(">BBI", 0x5A, tag, len(value)) + value

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def read_frame(s):
    h = recv_exact(s, 6)
    _, tag, n = struct.unpack(">BBI", h)
    return tag, recv_exact(s, n)

def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

if mode == "idle":
    # Sends nothing: the daemon must close it (bounded wait, far below the 60 s default).
    s = socket.create_connection(("127.0.0.1", port), 5)
    print("closed" if closed_within(s, 20) else "open")
elif mode == "inflight":
    s = socket.create_connection(("127.0.0.1", port), 5)
    hello = b"VX" + struct.pack(">HIII", 1, 0b1001, 64, 1 << 20)
    task = b"ab" * 32
    reqs = b"".join(frame(0x00, task + struct.pack(">I", i)) for i in range(3))
    s.sendall(frame(0x40, hello) + reqs)  # one write: the three arrive together
    s.settimeout(20)
    tag, v = read_frame(s)
    assert tag == 0x40, tag
    announced = struct.unpack(">I", v[8:12])[0]
    codes = []
    for _ in range(3):
        tag, v = read_frame(s)
        assert tag == 0xFF, tag
        codes.append(v[0])
    print("announced=%d codes=%s" % (announced, ",".join(str(c) for c in codes)))
elif mode == "conns":
    a = socket.create_connection(("127.0.0.1", port), 5)
    a.sendall(frame(0x40, b"VX" + struct.pack(">HIII", 1, 0b1001, 4, 1 << 20)))
    a.settimeout(20)
    read_frame(a)  # the first connection holds the only slot
    b = socket.create_connection(("127.0.0.1", port), 5)
    print("second=" + ("closed" if closed_within(b, 20) else "open"))
PY
}

# 1. upload.idle_timeout
# (metrics_listen off in both: the default one, busy when another daemon holds it, would make
# the thread counts differ by its server's thread)
printf 'metrics_listen: ""\nupload:\n  idle_timeout: 1s\ndownload:\n  work_threads: 2\n' >"$dir/idle.yaml"
serve_start idle --no-scheduler --config "$dir/idle.yaml"
got=$(raw_client "${serve_port[idle]}" idle)
[ "$got" = closed ] || fail "upload.idle_timeout 1s: an idle connection stayed $got for 20 s"

# 2. upload.max_inflight_per_conn and upload.max_connections
printf 'metrics_listen: ""\nupload:\n  max_inflight_per_conn: 2\n  max_connections: 1\ndownload:\n  work_threads: 6\n' \
	>"$dir/inflight.yaml"
serve_start inflight --no-scheduler --config "$dir/inflight.yaml"
# download.work_threads: the work pool starts its threads with the daemon
threads() { find "/proc/${serve_pid[$1]}/task" -mindepth 1 -maxdepth 1 | wc -l; }
[ $(($(threads inflight) - $(threads idle))) -eq 4 ] ||
	fail "download.work_threads 2 and 6: $(threads idle) and $(threads inflight) threads"
got=$(raw_client "${serve_port[inflight]}" inflight)
# two answered "not found" (2), the third over the limit "busy" (0x41 = 65)
[ "$got" = "announced=2 codes=2,2,65" ] ||
	fail "upload.max_inflight_per_conn 2: got '$got', want announced=2 codes=2,2,65"
got=$(raw_client "${serve_port[inflight]}" conns)
[ "$got" = second=closed ] || fail "upload.max_connections 1: the second connection stayed open"

# 3. host.hostname, host.ip, log_level (the ready line and the log of a daemon started here,
# since serve_start sets --log-level itself)
printf 'log_level: error\nhost:\n  hostname: cfg-host\n  ip: 127.0.0.1\n' >"$dir/host.yaml"
"$vx" serve --config "$dir/host.yaml" --data-dir "$dir/host" --listen 127.0.0.1:0 \
	--socket "$dir/host.sock" --no-resume >"$dir/host.out" 2>"$dir/host.log" &
serve_pid[host]=$!
line=$(wait_line "$dir/host.out" '^vx serve: ready: ' "${serve_pid[host]}" "vx serve host")
case "$line" in
"vx serve: ready: 127.0.0.1-cfg-host-"*) ;;
*) fail "host.hostname/host.ip: ready line '$line'" ;;
esac
serve_stop host
grep -qE 'Z info ' "$dir/host.log" && fail "log_level error: info lines in the log: $(head -3 "$dir/host.log")"

# 4. storage.task_ttl with storage.gc_interval
origin_start
make_file ttl.bin $((1 << 20))
printf 'storage:\n  task_ttl: 1s\n  gc_interval: 1s\n' >"$dir/ttl.yaml"
serve_start ttl --no-scheduler --config "$dir/ttl.yaml"
get ttl "$base/ttl.bin" "$dir/out/ttl.bin"
expect_rc 0 "download before the TTL"
same_file "$dir/www/ttl.bin" "$dir/out/ttl.bin" "ttl.bin"
for i in $(seq 200); do
	[ "$(task_files ttl)" -eq 0 ] && break
	sleep 0.1
done
[ "$(task_files ttl)" -eq 0 ] || fail "storage.task_ttl 1s: the task is still in the store after 20 s"

# 4b. download.back_to_source: false: nothing comes from the origin, the download fails
printf 'download:\n  back_to_source: false\n' >"$dir/nobts.yaml"
serve_start nobts --no-scheduler --config "$dir/nobts.yaml"
make_file nobts.bin 4096
get nobts "$base/nobts.bin" "$dir/out/nobts.bin"
[ "$rc" -ne 0 ] || fail "download.back_to_source false: the download succeeded"
[ "$(origin_body_bytes /nobts.bin)" -eq 0 ] || fail "download.back_to_source false: origin sent bytes"

# 5. storage.disk_limit with the watermarks: LRU second granularity, so the three downloads are
# a second apart (order, not timing, is what the test relies on)
printf 'storage:\n  disk_limit: 40MiB\n  gc_high_percent: 50\n  gc_low_percent: 30\n  gc_interval: 1s\n' \
	>"$dir/wm.yaml"
serve_start wm --no-scheduler --config "$dir/wm.yaml"
for f in a b c; do
	make_file "wm-$f.bin" $((8 << 20))
	get wm "$base/wm-$f.bin" "$dir/out/wm-$f.bin"
	expect_rc 0 "download wm-$f.bin"
	sleep 1.1
done
for i in $(seq 200); do
	[ "$(task_files wm)" -le 1 ] && break
	sleep 0.1
done
[ "$(task_files wm)" -eq 1 ] ||
	fail "watermarks 50/30 of 40 MiB: $(task_files wm) of 3 tasks left after 20 s, want 1"
last=$("$vx" task-id "$base/wm-c.bin")
[ -n "$(find "$dir/wm/content/tasks" -name "$last" -type f)" ] ||
	fail "watermarks: the task left is not the most recently used one"

# 6. keys not built yet stop the daemon before it serves anything
for kv in "tls:\n  cert: c.pem\n  key: k.pem|tls.cert, tls.key and tls.ca go together" \
	"proxy:\n  listen: 127.0.0.1:0|proxy.listen needs proxy.upstreams"; do
	printf "${kv%%|*}\n" >"$dir/no.yaml"
	rc=0
	timeout 20 "$vx" serve --config "$dir/no.yaml" --data-dir "$dir/no" --listen 127.0.0.1:0 \
		--socket "$dir/no.sock" >"$dir/no.out" 2>"$dir/no.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "'${kv%%|*}': vx serve exit $rc, want 2"
	grep -qF "${kv#*|}" "$dir/no.err" || fail "'${kv%%|*}': message $(cat "$dir/no.err")"
	[ ! -s "$dir/no.out" ] || fail "'${kv%%|*}': the daemon said ready"
done
echo "$name: ok"
