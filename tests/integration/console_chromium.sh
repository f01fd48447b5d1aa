#!/usr/bin/env bash
# console_chromium.sh VX ARTIFACT_DIR: the web console (manager/console, spec/manager.md
# "Console") in Debian's headless Chromium, driven over the DevTools protocol by
# console_cdp.py: an nginx origin, `vx scheduler` with its API, a seed and a peer on loopback.
# Every page loads without a console error or a CSP violation; the tasks page lists a file the
# test just downloaded through the daemons, with its holders and who fetched from whom; a
# preheat created from the jobs page runs to SUCCESS; without a token the page shows the login
# and every data route refuses the page's fetch (401). Screenshots in ARTIFACT_DIR.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5 item 1 (no data without a token, from the
# browser too; the route-table walk of manager_api.sh covers the console's new routes) and the
# token rule (never in a URL: the console sends it as a bearer header only).
set -euo pipefail
vx=$1
art=$2
name=console_chromium
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init

chromium=$(command -v chromium || command -v chromium-browser || true)
py=python3 # Debian's python3-websocket is in Debian's python3, which a PATH may not put first
python3 -c 'import websocket' 2>/dev/null || py=/usr/bin/python3
if [ -z "$chromium" ] || ! "$py" -c 'import websocket' 2>/dev/null; then
	# scripts/deps/console.apt installs both; only a machine that cannot have them skips
	echo "$name: needs chromium and python3-websocket (scripts/deps/console.apt), skipping" >&2
	exit 77
fi
rm -rf "$art"
mkdir -p "$art"

origin_start
sched_start --allow-outbound 127.0.0.0/8
serve_start seed --seed --allow-outbound 127.0.0.0/8 # the origin is on loopback
serve_start p1
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap failed: $(cat "$dir/boot.err")"
(umask 077 && tail -n1 "$dir/boot.out" >"$dir/api.admin")

head -c 1500000 /dev/urandom >"$dir/www/console-seen.bin"
head -c 700000 /dev/urandom >"$dir/www/console-preheat.bin"
get p1 "http://127.0.0.1:$origin_port/console-seen.bin" "$dir/out/seen"
expect_rc 0 "get through p1"
cmp -s "$dir/www/console-seen.bin" "$dir/out/seen" || fail "the download differs"
# a persistent cache task the cache page must list
head -c 300000 /dev/urandom >"$dir/cache-me.bin"
cache_id=$("$vx" cache import "$dir/cache-me.bin" --socket "$dir/seed.sock" --replicas 1 \
	2>"$dir/cache.err" | tail -n1) || fail "vx cache import: $(cat "$dir/cache.err")"
[ ${#cache_id} = 64 ] || fail "vx cache import printed no id: '$cache_id'"
export CONSOLE_CACHE_ID=$cache_id

timeout -k 5 60 "$py" "$here/console_cdp.py" "$chromium" "$api_port" "$dir/api.admin" \
	/console-seen.bin "http://127.0.0.1:$origin_port/console-preheat.bin" "$art" ||
	fail "the console check failed (screenshots in $art)"
# the preheat went to the seed: its store holds the file now
grep -qE 'GET /console-preheat.bin 20[06]' "$dir/access.log" || fail "the origin never served the preheat"
echo "$name: ok"
