#!/usr/bin/env bash
# cache_replicas.sh VX: `vx cache import` with --replicas 3 on host A places two more copies in
# the background; a full host (storage.disk_limit below the file) refuses its replica and
# another host is chosen once one joins; when A dies, `vx cache export` on a further host
# still works (piece by piece over Vortex from the remaining holders, checked against the
# import's digests, written to the output as the pieces arrive), its sha256 matches, and the scheduler brings the replicas back to 3.
# Security list (shared/reference/dragonfly-behaviour.md 5.5): 16 (a full host refuses),
# 17 (digests from the import, never from the sender).
set -euo pipefail
vx=$1
name=cache_replicas
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init

sched_start
printf 'storage:\n  disk_limit: 1MiB\n' >"$dir/full.yaml"
serve_start A
serve_start B --config "$dir/full.yaml"
serve_start C
head -c $((6 * 1024 * 1024 + 123)) /dev/urandom >"$dir/f.bin"
want=$(sha256sum <"$dir/f.bin" | cut -d' ' -f1)

# 1. import on A: the id is the content's (spec/vortex.md 7), B refuses, C takes one
cache A import "$dir/f.bin" --replicas 3 --piece-length 1MiB
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
id=$out
[ "$id" = "$("$vx" task-id --file "$dir/f.bin" --piece-length 1MiB)" ] ||
	fail "the import's id $id is not the persistent cache id of the file"
wait_holders A "$id" 2
for i in $(seq 100); do
	grep -q "replica of ${id:0:12} refused or failed" "$dir/B.log" && break
	sleep 0.2
done
grep -q "replica of ${id:0:12} refused or failed: cannot store .*no room" "$dir/B.log" ||
	fail "the full host B did not refuse its replica"
[ "$(content_files B)" -eq 0 ] || fail "the full host B kept part of the task"
# 2. another host joins: it is chosen in B's place
serve_start D
wait_holders A "$id" 3
[ "$(stores_holding "$id" A C D)" -eq 3 ] || fail "A, C and D do not all hold the task"
[ "$(stores_holding "$id" B)" -eq 0 ] || fail "the full host B holds the task"
# a file kept once (--replicas 1: nobody is asked for a copy) exported on D: D fetches it from
# C and writes its file from the receive buffers during the fetch, not by a second copy from
# the store after it (only a tail O_DIRECT cannot take is copied)
head -c $((3 * 1024 * 1024 + 5)) /dev/urandom >"$dir/g.bin"
cache C import "$dir/g.bin" --replicas 1 --piece-length 1MiB
[ "$rc" -eq 0 ] || fail "import of g.bin on C: exit $rc: $err"
gid=$out
cache D export "$gid" -O "$dir/out/g.bin"
[ "$rc" -eq 0 ] || fail "export of g.bin on D: exit $rc: $err"
cmp -s "$dir/g.bin" "$dir/out/g.bin" || fail "D's export of g.bin differs"
early=$(sed -n 's/.*store: output g\.bin: \([0-9]*\) of 4 pieces written during the download.*/\1/p' \
	"$dir/D.log")
[ "${early:-0}" -ge 3 ] || fail "D's export was copied after the fetch (${early:-no} pieces early)"

# 3. A dies; E exports: from C and D, checked, and the replicas come back to 3
serve_kill A
serve_start E
cache E export "$id" -O "$dir/out/e.bin"
[ "$rc" -eq 0 ] || fail "export on E after A died: exit $rc: $err"
[ "$(sha256sum <"$dir/out/e.bin" | cut -d' ' -f1)" = "$want" ] || fail "export: sha256 differs"
wait_holders C "$id" 3
[ "$(stores_holding "$id" C D E)" -eq 3 ] || fail "C, D and E do not all hold the task"
# (E's export makes it a holder at once: the count can reach 3 a tick before A is pruned)
wait_line "$dir/sched.log" "holder .* is gone" "$sched_pid" "the scheduler seeing A go" >/dev/null
echo "$name: ok"
