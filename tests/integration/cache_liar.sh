#!/usr/bin/env bash
# cache_liar.sh VX: a lying holder of a persistent cache task (cache_liar.py: listed by the real
# scheduler, it serves the right length of wrong bytes with a CRC-32 that matches them) is
# detected against the digests recorded at import and not used: with an honest holder beside
# it the export is exact; with only the liar left the export fails with a clear message,
# writes no output and keeps nothing in the store.
# Security list (shared/reference/dragonfly-behaviour.md 5.5): 17.
set -euo pipefail
vx=$1
name=cache_liar
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init

sched_start
serve_start A
serve_start D
serve_start E
head -c $((32 * 64 * 1024 + 5)) /dev/urandom >"$dir/f.bin"
want=$(sha256sum <"$dir/f.bin" | cut -d' ' -f1)
cache A import "$dir/f.bin" --replicas 1 --piece-length 64KiB
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
id=$out

# the liar joins and is listed as a holder
sched_peer_token=$sched_peer_token PYTHONPATH="$(dirname "$0")" python3 \
	"$(dirname "$0")/cache_liar.py" "$sched_port" "$id" "$dir/liar.json" 2>"$dir/liar.log" &
liar=$!
bg_pids+=("$liar")
for i in $(seq 100); do
	[ -s "$dir/liar.json" ] && break
	kill -0 "$liar" 2>/dev/null || fail "the liar exited: $(cat "$dir/liar.log")"
	sleep 0.1
done
wait_holders A "$id" 2

# 1. honest A and the liar: the export is exact whoever was asked
cache D export "$id" -O "$dir/out/d.bin"
[ "$rc" -eq 0 ] || fail "export beside the liar: exit $rc: $err"
[ "$(sha256sum <"$dir/out/d.bin" | cut -d' ' -f1)" = "$want" ] || fail "export: sha256 differs"

# D keeps what it exported: a holder from now on (spec/control.md section 14)
wait_holders D "$id" 3

# 2. only the liar holds it: detected, nothing written, nothing kept
serve_kill A
serve_kill D
wait_holders E "$id" 1
cache E export "$id" -O "$dir/out/e.bin"
[ "$rc" -eq 1 ] || fail "export from the liar alone: exit $rc, want 1 ($err)"
case $err in *"do not match the import's digests"*) ;; *) fail "message: '$err'" ;; esac
[ ! -e "$dir/out/e.bin" ] || fail "an export from the liar wrote its output"
[ "$(ls -A "$dir/out" | grep -c '^e')" -eq 0 ] || fail "a temporary output was left"
[ "$(content_files E)" -eq 0 ] || fail "E kept the liar's bytes in its store"
served=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["served"])' "$dir/liar.json")
[ "$served" -ge 1 ] || fail "the liar was never asked: the test proves nothing"
grep -q "does not match the digests recorded at import" "$dir/E.log" ||
	fail "E did not say which holder lied"
echo "$name: ok"
