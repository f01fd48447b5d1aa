#!/usr/bin/env bash
# cache_reannounce.sh VX: the scheduler keeps persistent cache tasks in memory only, so a
# restarted scheduler knows no holder, and a restarted daemon was dropped from the holders when
# it went. Each daemon tells the schedulers again of the complete copies it holds whenever a
# scheduler answers its hello (a cache-import of its own copy, TTL left and replicas as asked):
# after a scheduler restart another host still finds and exports the task, and a daemon that
# restarts counts as a holder again.
set -euo pipefail
vx=$1
name=cache_reannounce
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init

sched_start
serve_start A
serve_start B
head -c $((3 * 1024 * 1024 + 77)) /dev/urandom >"$dir/f.bin"
want=$(sha256sum <"$dir/f.bin" | cut -d' ' -f1)
cache A import "$dir/f.bin" --replicas 1 --piece-length 1MiB
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
id=$out
wait_holders B "$id" 1

# 1. the scheduler restarts on its port: A tells it again, B finds and exports the task
kill -KILL "$sched_pid"
wait "$sched_pid" 2>/dev/null || true
sched_start "127.0.0.1:$sched_port"
wait_holders B "$id" 1
wait_line "$dir/A.log" 'told the scheduler of 1 persistent cache task held here' \
	"${serve_pid[A]}" "A's re-announce" >/dev/null
cache B export "$id" -O "$dir/out/b.bin"
[ "$rc" -eq 0 ] || fail "export on B after the scheduler restarted: exit $rc: $err"
[ "$(sha256sum <"$dir/out/b.bin" | cut -d' ' -f1)" = "$want" ] || fail "export: sha256 differs"

# 2. A restarts with its data dir: gone from the holders while down, a holder again once back
before=$(holders B "$id")
serve_stop A
for i in $(seq 100); do
	[ "$(holders B "$id")" != "$before" ] && break
	sleep 0.2
done
[ "$(holders B "$id")" != "$before" ] || fail "the scheduler still counts A after it stopped"
serve_start A
wait_holders B "$id" "$before"

echo "$name: ok"
