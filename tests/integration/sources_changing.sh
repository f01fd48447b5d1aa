#!/usr/bin/env bash
# sources_changing.sh VX: issue 18, "Abuse and exhaustion": an origin whose object changes
# between the ranged reads of one download, and one that frames a reply with two different
# Content-Length headers (tests/integration/origin_changing.py). `vx get` (standalone, and
# through a daemon) must fail clearly instead of writing a mix of versions with ok: true:
#   honour  the origin honours If-Range (vx sends it): 200 of the new object -> refused
#   ignore  it ignores If-Range: 206 with the right Content-Range, new bytes, new ETag -> refused
#   lm      Last-Modified only, ignores If-Range -> refused by the changed Last-Modified
#   dupcl   two Content-Length headers -> refused
#   blind   no validators at all: nothing in HTTP tells; only a digest catches it (--digest)
# A control server that never changes serves every mode but dupcl correctly.
# dragonfly-behaviour.md 5.5: origin content integrity (mixed versions, response framing).
set -euo pipefail
vx=$1
name=sources_changing
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
liar=$(dirname "$0")/origin_changing.py
size=65536

# liar_start TAG AFTER: an origin that switches to version B after AFTER requests of a path
liar_start() {
	python3 "$liar" 0 "$size" "$2" >"$dir/$1.out" 2>"$dir/$1.log" &
	bg_pids+=($!)
	line=$(wait_line "$dir/$1.out" '^port [0-9]+' "$!" "origin_changing.py $1")
	eval "port_$1=${line#port }"
}
python3 -c "import sys; sys.stdout.buffer.write((b'version A ' * 7000)[:$size])" >"$dir/A"
sha_a=$(sha256sum "$dir/A" | cut -d' ' -f1)

# sget URL OUT [args]: a standalone vx get with 4 pieces (a stat, then ranged reads)
sget() {
	local url=$1 o=$2
	shift 2
	rc=0
	rm -rf "$dir/st"
	err=$(timeout -k 5 60 "$vx" get "$url" -O "$o" --piece-length 16KiB --data-dir "$dir/st" \
		--no-progress "$@" 2>&1) || rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx get $url hung"
}

liar_start ok 1000000
liar_start chg 1 # the stat sees A, every read after it B (a cold download reads the whole
# object in one streaming GET, origin/src/origin.c; ranged reads come on a resume)
for m in honour ignore lm blind; do
	sget "http://127.0.0.1:$port_ok/$m/x" "$dir/out/ok-$m"
	[ "$rc" -eq 0 ] || fail "$m: a steady origin failed: $err"
	same_file "$dir/A" "$dir/out/ok-$m" "$m from a steady origin"
done
for m in honour ignore lm; do
	sget "http://127.0.0.1:$port_chg/$m/x" "$dir/out/chg-$m"
	[ "$rc" -ne 0 ] || fail "$m: a download that mixed two versions succeeded"
	case $err in *"changed at the origin"*) ;; *) fail "$m: unclear error: $err" ;; esac
	[ ! -e "$dir/out/chg-$m" ] || fail "$m: an output was written"
done
sget "http://127.0.0.1:$port_ok/dupcl/x" "$dir/out/dupcl"
[ "$rc" -ne 0 ] || fail "dupcl: two Content-Length headers were accepted"
case $err in *"two different Content-Length"*) ;; *) fail "dupcl: unclear error: $err" ;; esac
# No validators: HTTP cannot tell; the digest of the whole content does.
sget "http://127.0.0.1:$port_chg/blind/y" "$dir/out/blind" --digest "sha256:$sha_a"
[ "$rc" -ne 0 ] || fail "blind: a mix of versions passed a digest check"
[ ! -e "$dir/out/blind" ] || fail "blind: an output was written"

# Through a daemon: the same refusal reaches the client.
serve_start d --no-scheduler
get d "http://127.0.0.1:$port_chg/ignore/z" "$dir/out/d-ignore" --piece-length 16KiB
[ "$rc" -ne 0 ] || fail "daemon: a download that mixed two versions succeeded"
case $err in *"changed at the origin"*) ;; *) fail "daemon: unclear error: $err" ;; esac
serve_stop d
echo "$name: ok"
