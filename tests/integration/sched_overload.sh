#!/usr/bin/env bash
# sched_overload.sh VX [PEERS]: scheduler overload (issue 18, "Fault tests: Scheduler overload";
# shared/reference/dragonfly-behaviour.md 5.5, the resource-exhaustion items). PEERS simulated
# peers (default 500; the long form is a bench figure, bench/RESULTS.md "sched overload")
# connect at once over the real control protocol (tests/integration/sched_load.py), all say
# hello, then all register for one of 10 tasks asking for parents. Asserted: every peer gets
# both answers (none starved; each wait bounded by 60 s) and the scheduler's peak RSS (VmHWM)
# grows by less than 48 MiB over its RSS before the burst. The latency p50/p99 is printed, not
# asserted.
set -euo pipefail
vx=$1
peers=${2:-500}
name=sched_overload
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((peers + 64)) ] ||
	fail "need $((peers + 64)) file descriptors for $peers peers, have $(ulimit -n)"

asan_frees_honoured
# every simulated peer comes from 127.0.0.1: the per-address limits (256 connections, 4,000
# requests a second) would refuse them
sched_start --conns-per-addr 0 --addr-requests-per-s 0
before=$(proc_kib "$sched_pid" VmRSS)
timeout 150 python3 "$here/sched_load.py" "$sched_port" "$sched_peer_token" --peers "$peers" \
	>"$dir/load.json" || fail "peers starved or refused: $(cat "$dir/load.json")"
cat "$dir/load.json"
after=$(proc_kib "$sched_pid" VmHWM)
bound=$((before + 48 * 1024))
echo "scheduler RSS before ${before} KiB, peak ${after} KiB, bound ${bound} KiB;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
kill -0 "$sched_pid" || fail "the scheduler died under the load"
[ "$after" -le "$bound" ] || fail "the scheduler's peak RSS ${after} KiB is over ${bound} KiB"
echo "PASS: $name"
