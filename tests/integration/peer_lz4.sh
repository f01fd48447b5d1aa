#!/usr/bin/env bash
# peer_lz4.sh VX: lz4 piece bodies between vx peers (issue 19 goal 8, spec/vortex.md 5.5) with
# real daemons on loopback. Loopback is faster than lz4, so the holder's uplink is made slow
# the way an operator does it (upload.rate_limit 8 MiB/s): the sender's decision then sees a
# link lz4 beats.
#   1. B gets a file lz4 compresses 3:1 (bench/swarm/compressible.py) from A: A's /metrics count
#      pieces sent compressed and B's pieces received compressed, B's bytes are the origin's,
#      all from the peer.
#   2. B gets a random file from A: every piece goes raw (neither counter moves), bytes exact.
#   3. C (--no-lz4: upload.lz4 false) gets the compressible file from A: raw (A's counter does
#      not move, C's stays absent), bytes exact. Dragonfly-style peers never see 0x45 either:
#      a compressed frame only answers a HELLO that offered LZ4.
set -euo pipefail
vx=$1
name=peer_lz4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
need_tools scripts/deps/dataplane.apt curl

mib=$((1024 * 1024))
size=$((12 * mib + 5))
python3 "$here/../../bench/swarm/compressible.py" "$dir/www/c.bin" "$size"
make_file r.bin "$size"
printf 'upload:\n  rate_limit: 8MiB\n' >"$dir/slow.yaml"
origin_start
sched_start
serve_start a --config "$dir/slow.yaml" --metrics 127.0.0.1:0
serve_start b --metrics 127.0.0.1:0
serve_start c --no-lz4 --metrics 127.0.0.1:0

# metric NAME SAMPLE: the daemon's /metrics sample SAMPLE (name and labels), 0 when absent
metric() {
	local port
	port=$(sed -n 's/^vx serve: metrics on port //p' "$dir/$1.out")
	[ -n "$port" ] || fail "$1 printed no metrics port"
	curl -fsS "http://127.0.0.1:$port/metrics" |
		awk -v s="$2" '$1 == s { n = $2 } END { print n + 0 }'
}
# lz4 NAME DIRECTION: the daemon's vx_lz4_pieces_total{direction=DIRECTION}
lz4() { metric "$1" "vx_lz4_pieces_total{direction=\"$2\"}"; }

# fetch NAME FILE: NAME gets FILE (which A holds) from the peer; the bytes are the origin's
fetch() {
	get "$1" "$base/$2" "$dir/out/$1-$2"
	[ "$rc" -eq 0 ] || fail "$1's get of $2 failed: $err"
	same_file "$dir/www/$2" "$dir/out/$1-$2" "$1's $2"
	[ "$(json bytes_from_peers "$out")" -eq "$size" ] ||
		fail "$1 got $2 not all from the peer: $out"
}

for f in c.bin r.bin; do
	get a "$base/$f" "$dir/out/a-$f"
	[ "$rc" -eq 0 ] || fail "a's get of $f failed: $err"
done
[ "$(lz4 a sent)" -eq 0 ] || fail "a sent compressed pieces before any peer asked"

# 1. compressible: compressed on the wire
fetch b c.bin
sent=$(lz4 a sent)
recv=$(lz4 b received)
[ "$sent" -gt 0 ] || fail "a sent no piece of the 3:1 file compressed over its 8 MiB/s uplink"
[ "$recv" -eq "$sent" ] || fail "b received $recv compressed pieces, a sent $sent"
cache=$(metric a vx_upload_lz4_cache_bytes)
saved=$(metric a 'vx_lz4_saved_bytes_total{direction="sent"}')
[ "$cache" -gt 0 ] && [ "$cache" -le $((64 * mib)) ] || fail "a's compressed-piece cache holds $cache bytes"
echo "$name: 1. c.bin: $sent pieces compressed, $saved bytes saved, a's cache $cache bytes"

# 2. random: raw
fetch b r.bin
[ "$(lz4 a sent)" -eq "$sent" ] || fail "a compressed pieces of random content ($(lz4 a sent) now, $sent before)"
[ "$(lz4 b received)" -eq "$recv" ] || fail "b received compressed pieces of random content"

# 3. a peer that does not offer lz4 gets raw bodies
fetch c c.bin
[ "$(lz4 a sent)" -eq "$sent" ] || fail "a sent compressed pieces to c, which runs --no-lz4"
[ "$(lz4 c received)" -eq 0 ] || fail "c (--no-lz4) received compressed pieces"
echo "$name: ok"
