#!/usr/bin/env bash
# cache_ttl_rm.sh VX: a persistent cache task leaves every holder when its TTL passes, and
# when its importer runs `vx cache rm`; another host may not remove it everywhere.
set -euo pipefail
vx=$1
name=cache_ttl_rm
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init

sched_start
serve_start A
serve_start B
serve_start C
head -c $((2 * 1024 * 1024 + 7)) /dev/urandom >"$dir/t.bin"
head -c $((2 * 1024 * 1024 + 9)) /dev/urandom >"$dir/r.bin"

# 1. TTL: 10 s after the import every holder has dropped it and the scheduler forgot it
cache A import "$dir/t.bin" --replicas 3 --ttl 10s
[ "$rc" -eq 0 ] || fail "import with --ttl: exit $rc: $err"
tid=$out
cache A import "$dir/r.bin" --replicas 3
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
rid=$out
wait_holders A "$tid" 3
wait_holders A "$rid" 3
left=$(cache A stat "$tid" && awk '/^ttl_left_s:/ { print $2 }' <<<"$out")
[ "$left" -le 10 ] && [ "$left" -gt 0 ] || fail "ttl_left_s is '$left' right after a 10 s import"
wait_gone "$tid" A B C
cache B stat "$tid"
[ "$rc" -eq 1 ] || fail "stat after the TTL: exit $rc, want 1"
grep -q "TTL passed" "$dir/sched.log" || fail "the scheduler did not expire the task"
[ "$(stores_holding "$rid" A B C)" -eq 3 ] || fail "the TTL of one task dropped another"

# 2. rm: refused from a host that did not import it, done everywhere from the importer
cache B rm "$rid"
[ "$rc" -eq 1 ] || fail "rm from B: exit $rc, want 1"
case $err in *"only the host that imported"*) ;; *) fail "rm from B: message '$err'" ;; esac
[ "$(stores_holding "$rid" A B C)" -eq 3 ] || fail "a refused rm removed a copy"
cache A rm "$rid"
[ "$rc" -eq 0 ] || fail "rm from the importer: exit $rc: $err"
wait_gone "$rid" A B C
cache C stat "$rid"
[ "$rc" -eq 1 ] || fail "stat after rm: exit $rc, want 1"
for n in A B C; do
	[ "$(content_files "$n")" -eq 0 ] || fail "$n still has content files"
done
echo "$name: ok"
