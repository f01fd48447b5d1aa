#!/usr/bin/env bash
# peer_memtier.sh VX MEMTIER_FD: the memory tier with real daemons (issue 15; spec/peer.md
# "Memory tier"). Security (shared/reference/dragonfly-behaviour.md 5.5): item 11, content goes
# to a local reader only over the Unix socket, to a client whose access the daemon checked (a
# private task's bytes reach no client that has not proven access, also through fd passing);
# item 2, the presigned URL's signature appears in no log line of the daemon.
#
# 1. A preheat with load_to_cache (`vx preheat --memory`) puts f1 in seed A's memory tier;
#    peer B then downloads f1 from A, and A's vx_store_reads_total says the pieces came from
#    memory and none from disk.
# 2. Memory pressure: the budget (storage.memory_budget: in A's config file) holds one of the
#    two files, not both. Preheating f2 to memory drops f1's copy (f1 stays whole on disk): a
#    fresh peer C downloads f1 from A, now read from disk (the counter that proved 1 moves).
# 3. A restart keeps both content files; `vx get --memory` of f2 through A serves the stored
#    task (the origin sends no byte) from the memory tier again, to a file (-O FILE) and to a
#    stream reader (-O -), both the source's bytes; a file larger than the whole budget is
#    streamed from disk (the content file's fd), the download does not fail. `vx cache import
#    --memory` puts the imported copy in the tier; one above the budget stays on disk only and
#    the client is told so.
# 4. fd passing, with a root daemon D and unprivileged clients (setpriv nobody): a client with
#    a valid presigned URL gets, through libvx's vx_client_open_content(), a read-only sealed
#    memfd with the file's sha256; a client with a wrong signature gets no descriptor at all.
set -euo pipefail
vx=$1
memtier_fd=$(realpath "$2")
name=peer_memtier
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init

s1=$((1024 * 1024 + 5))
s2=$((1024 * 1024 + 7))
make_file f1 "$s1"
make_file f2 "$s2"
origin_start

# metric PORT NAME: the sample NAME (with its labels) of the daemon's /metrics, 0 when absent
metric() {
	python3 - "$1" "$2" <<'PY'
import sys, urllib.request
port, name = sys.argv[1], sys.argv[2]
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(name + " "):
        print(line.split()[-1])
        break
else:
    print(0)
PY
}
mport() { sed -n 's/^vx serve: metrics on port //p' "$dir/$1.out" | tail -n1; }
reads() { metric "$(mport A)" "vx_store_reads_total{tier=\"$1\"}"; }
tier_bytes() { metric "$(mport A)" vx_store_memory_tier_bytes; }
# wait_tier BYTES WHAT: A's memory tier holds BYTES (bounded: 20 s)
wait_tier() {
	local i
	for i in $(seq 200); do
		[ "$(tier_bytes)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "$2: A's memory tier holds $(tier_bytes) bytes, want $1"
}
# peer_gets_f1 NAME: daemon NAME (just started, holding nothing) downloads f1, all from A
peer_gets_f1() {
	get "$1" "$base/f1" "$dir/out/$1-f1"
	expect_rc 0 "$1 gets f1"
	same_file "$dir/www/f1" "$dir/out/$1-f1" "$1 gets f1"
	[ "$(json bytes_from_peers)" = "$s1" ] || fail "$1 got f1 from the source, not from A: $out"
}
preheat_memory() {
	"$vx" preheat "$base/$1" --memory --wait --timeout 60 --json >"$dir/ph-$1.json" ||
		fail "preheat of $1 to memory: $(cat "$dir/ph-$1.json")"
}

# ---- 1. preheat to memory, then a peer reads it: no disk read on A
sched_start --allow-outbound 127.0.0.0/8
printf 'storage:\n  memory_budget: 1536KiB\n' >"$dir/A.yaml"
serve_A() { serve_start A --seed --allow-outbound 127.0.0.0/8 --config "$dir/A.yaml" \
	--metrics 127.0.0.1:0; }
serve_A
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
(umask 077 && tail -n1 "$dir/boot.out" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"

preheat_memory f1
wait_tier "$s1" "after the preheat of f1"
disk0=$(reads disk)
mem0=$(reads memory)
serve_start B
peer_gets_f1 B
disk1=$(reads disk)
mem1=$(reads memory)
[ "$disk1" = "$disk0" ] || fail "A read f1 from disk ($disk0 -> $disk1) though it was in memory"
[ "$mem1" -gt "$mem0" ] || fail "A lent no piece from memory ($mem0 -> $mem1)"
serve_stop B

# ---- 2. memory pressure: f2 in memory drops f1's copy; f1 is served from disk
preheat_memory f2
wait_tier "$s2" "after the preheat of f2 (the budget holds one file)"
[ "$(task_files A)" = 2 ] || fail "A's store holds $(task_files A) content files, want 2"
serve_start C
peer_gets_f1 C
disk2=$(reads disk)
[ "$disk2" -gt "$disk1" ] || fail "A served f1 after its copy was dropped, but not from disk"
serve_stop C

# ---- 3. a restart keeps the disk copies; --memory brings f2 back into memory
f2_body=$(origin_body_bytes /f2)
serve_stop A
serve_A
[ "$(tier_bytes)" = 0 ] || fail "the memory tier is not empty after a restart"
[ "$(task_files A)" = 2 ] || fail "a restart lost content files: $(task_files A) left"
get A "$base/f2" "$dir/out/a2" --memory
expect_rc 0 "vx get --memory -O FILE through A"
same_file "$dir/www/f2" "$dir/out/a2" "vx get --memory -O FILE"
wait_tier "$s2" "after vx get --memory of the stored f2"
timeout -k 5 60 "$vx" get "$base/f2" -O - --memory --socket "$dir/A.sock" --no-progress \
	>"$dir/out/a2s" 2>"$dir/a2s.err" || fail "vx get --memory -O -: $(cat "$dir/a2s.err")"
same_file "$dir/www/f2" "$dir/out/a2s" "vx get --memory -O -"
[ "$(origin_body_bytes /f2)" = "$f2_body" ] || fail "the restarted A fetched f2 again"
# larger than the whole budget: served from disk, the download does not fail
make_file f3 $((2 * 1024 * 1024 + 1))
timeout -k 5 60 "$vx" get "$base/f3" -O - --memory --socket "$dir/A.sock" --no-progress \
	>"$dir/out/a3s" 2>"$dir/a3s.err" || fail "vx get --memory of f3 (> budget): $(cat "$dir/a3s.err")"
same_file "$dir/www/f3" "$dir/out/a3s" "vx get --memory -O - of f3 (> budget)"
[ "$(tier_bytes)" = "$s2" ] || fail "f3 (> budget) changed the tier: $(tier_bytes) bytes"
# `vx cache import --memory`: the imported copy goes to the tier (f2's idle copy makes room);
# one larger than the budget is imported on disk only, and the client is told so
s4=$((1024 * 1024 + 11))
head -c "$s4" /dev/urandom >"$dir/c4.bin"
timeout -k 5 60 "$vx" cache import "$dir/c4.bin" --memory --replicas 1 --socket "$dir/A.sock" \
	>"$dir/c4.out" 2>"$dir/c4.err" || fail "vx cache import --memory: $(cat "$dir/c4.err")"
wait_tier "$s4" "after vx cache import --memory"
timeout -k 5 60 "$vx" cache import "$dir/www/f3" --memory --replicas 1 --socket "$dir/A.sock" \
	>"$dir/c3.out" 2>"$dir/c3.err" ||
	fail "vx cache import --memory of a file above the budget failed: $(cat "$dir/c3.err")"
grep -q "kept on disk only, not in memory: larger than the memory tier's budget" "$dir/c3.err" ||
	fail "the import above the budget did not say it stays on disk: $(cat "$dir/c3.err")"
[ "$(tier_bytes)" = "$s4" ] || fail "the import above the budget changed the tier: $(tier_bytes)"

# ---- 4. fd passing to unprivileged clients, a private task
nobody_init
key=vx-origin-key
make_file obj $((512 * 1024 + 3))
: >"$dir/origin-access.log"
python3 "$here/signed_origin.py" "$dir/sorigin.port" "$dir/www" "$dir/origin-access.log" \
	"$key" "vxuser:pw-4711" 2>"$dir/sorigin.log" &
bg_pids+=($!)
for i in $(seq 100); do
	[ -s "$dir/sorigin.port" ] && break
	sleep 0.1
done
[ -s "$dir/sorigin.port" ] || fail "the signed origin did not start"
signed() { # signed [SIGNATURE]: the presigned URL of /obj
	local sig=${1:-$(python3 "$here/signed_origin.py" --sign "$key" /obj 3600)}
	echo "http://127.0.0.1:$(cat "$dir/sorigin.port")/obj?X-Amz-Expires=3600&X-Amz-Signature=$sig"
}
serve_start D --no-scheduler --socket-group "$gname" --memory-budget 4MiB
good=$(signed)
want=$(sha256sum "$dir/www/obj" | cut -d' ' -f1)
as_nobody timeout -k 5 60 "$memtier_fd" "$dir/D.sock" "$good" >"$dir/fd-good.out" \
	2>"$dir/fd-good.err" || fail "the reader with a valid URL got no fd: $(cat "$dir/fd-good.err")"
read -r line <"$dir/fd-good.out"
[ "$line" = "sha256=$want size=$((512 * 1024 + 3)) sealed=1 rdonly=1" ] ||
	fail "the reader with a valid URL got: $line"
bad=$(signed "${good##*=}")
bad=${bad%?}0
[ "$bad" != "$good" ] || bad=${bad%?}1
rc=0
as_nobody timeout -k 5 60 "$memtier_fd" "$dir/D.sock" "$bad" >"$dir/fd-bad.out" \
	2>"$dir/fd-bad.err" || rc=$?
[ "$rc" = 1 ] || fail "the reader with a wrong signature: exit $rc, want 1 (no fd)"
[ ! -s "$dir/fd-bad.out" ] || fail "the reader with a wrong signature got: $(cat "$dir/fd-bad.out")"
! grep -qF "${good##*=}" "$dir/D.log" "$dir/D.out" || fail "D logged the URL's signature"
echo "$name: ok"
