#!/usr/bin/env bash
# get_cli.sh VX: `vx get` without a daemon or scheduler, against a real nginx on loopback:
# byte-identical output, --digest, exit codes and messages of the documented failures, resume
# from the store (no second GET of the body) and the --json summary. Then origins nginx cannot
# play (python3): one that ignores Range (http.server), a chunked reply with no length, and
# --timeout against an origin that stalls before its headers or in the body (exit 7). -r of a
# file:// tree and of nginx autoindex pages.
set -euo pipefail
vx=$1
for tool in nginx python3 sha256sum cmp; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
		echo "get_cli: needs $tool, skipping" >&2
		exit 77
	}
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
dir=$(mktemp -d)
chmod 755 "$dir"
nginx_pid=
py_pids=()
cleanup() {
	for pid in $nginx_pid "${py_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
	for _ in $(seq 50); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}
port=$(free_port)
mkdir -p "$dir/www" "$dir/out"
: >"$dir/www/empty.bin"
printf 'x' >"$dir/www/one.bin"
head -c $((5 * 1024 * 1024 + 3)) /dev/urandom >"$dir/www/big.bin"
cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
 access_log $dir/access.log;
 default_type application/octet-stream;
 client_body_temp_path $dir/t1; proxy_temp_path $dir/t2; fastcgi_temp_path $dir/t3;
 uwsgi_temp_path $dir/t4; scgi_temp_path $dir/t5;
 server { listen 127.0.0.1:$port; root $dir/www; location /idx/ { alias $dir/tree/; autoindex on; } }
}
CONF
"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/nginx.out" &
nginx_pid=$!
wait_port "$port"
base=http://127.0.0.1:$port
data=$dir/data

# run EXPECTED_RC ARGS...: runs vx get, keeps stderr in $err, stdout in $out.
run() {
	local want=$1 rc=0
	shift
	out=$("$vx" get --data-dir "$data" "$@" --no-progress 2>"$dir/stderr") || rc=$?
	err=$(cat "$dir/stderr")
	[ "$rc" -eq "$want" ] || fail "vx get $*: exit $rc, want $want: $err"
}
expect_msg() {
	case "$err" in
	*"$1"*) ;;
	*) fail "message '$err' lacks '$1'" ;;
	esac
}

# Byte-identical output: empty, one byte, several pieces with a fixed 1 MiB piece length.
run 0 "$base/empty.bin" -O "$dir/out/empty.bin"
cmp "$dir/www/empty.bin" "$dir/out/empty.bin" || fail "empty file differs"
expect_msg "no scheduler: downloading from the source"
run 0 "$base/one.bin" -O "$dir/out/one.bin"
cmp "$dir/www/one.bin" "$dir/out/one.bin" || fail "one-byte file differs"
run 0 "$base/big.bin" -O "$dir/out/big.bin" --piece-length 1MiB --json
cmp "$dir/www/big.bin" "$dir/out/big.bin" || fail "5 MiB + 3 file differs"
echo "$out" | python3 -m json.tool >/dev/null || fail "--json output does not parse: $out"
echo "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["ok"] and d["pieces"] == 6 and d["bytes_from_source"] == 5 * 2**20 + 3, d' ||
	fail "--json summary wrong: $out"

# Resume: the task is complete in the store, so a second run sends no request at all.
body_gets() { grep -c '"GET /big.bin HTTP/1.1" 206 1048576 ' "$dir/access.log" || true; }
before=$(body_gets)
run 0 "$base/big.bin" -O "$dir/out/big2.bin" --piece-length 1MiB --json
cmp "$dir/www/big.bin" "$dir/out/big2.bin" || fail "reused copy differs"
[ "$(body_gets)" = "$before" ] || fail "second run fetched the body again"
echo "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["reused"] and d["bytes_from_source"] == 0, d' || fail "not reused: $out"

# Existing output without --overwrite is refused and left alone; with it, replaced.
printf 'keep' >"$dir/out/exists.bin"
run 5 "$base/one.bin" -O "$dir/out/exists.bin"
expect_msg "exists"
[ "$(cat "$dir/out/exists.bin")" = keep ] || fail "existing output was changed"
run 0 "$base/one.bin" -O "$dir/out/exists.bin" --overwrite
cmp "$dir/www/one.bin" "$dir/out/exists.bin" || fail "--overwrite did not replace"

# Digests: the right sha256 is accepted, a wrong one is refused with nothing at the output.
sum=$(sha256sum "$dir/www/big.bin" | cut -d' ' -f1)
run 0 "$base/big.bin" -O "$dir/out/sha.bin" --digest "sha256:$sum"
cmp "$dir/www/big.bin" "$dir/out/sha.bin" || fail "digest-checked file differs"
run 4 "$base/big.bin" -O "$dir/out/bad.bin" --digest "sha256:$(printf '0%.0s' $(seq 64))"
expect_msg "digest mismatch"
[ ! -e "$dir/out/bad.bin" ] || fail "a file was left after a digest mismatch"
run 2 "$base/big.bin" -O "$dir/out/bad.bin" --digest "md5:abc"
expect_msg "bad digest"

# 404, missing output directory, unknown scheme, unreachable origin.
run 3 "$base/missing.bin" -O "$dir/out/missing.bin"
expect_msg "404"
[ ! -e "$dir/out/missing.bin" ] || fail "a file was left after a 404"
run 5 "$base/one.bin" -O "$dir/out/nodir/one.bin"
expect_msg "output directory"
run 6 "gopher://127.0.0.1:$port/one.bin" -O "$dir/out/gopher.bin"
expect_msg "unsupported URL scheme"
run 6 "http://127.0.0.1:1/one.bin" -O "$dir/out/unreachable.bin"
expect_msg "cannot get the source"

# No scheduler answers: the embedded peer does not hang, it falls back to the source.
run 0 "$base/big.bin" -O "$dir/out/sched.bin" --scheduler 127.0.0.1:1 --data-dir "$dir/data-sched"
cmp "$dir/www/big.bin" "$dir/out/sched.bin" || fail "fallback copy differs"
# ...unless back-to-source is disabled: then it says so, exit 8.
run 8 "$base/one.bin" -O "$dir/out/nobts.bin" --scheduler 127.0.0.1:1 --disable-back-to-source \
	--data-dir "$dir/data-nobts"
expect_msg "back-to-source is disabled"
[ ! -e "$dir/out/nobts.bin" ] || fail "a failed download left $dir/out/nobts.bin"
# A daemon socket that nobody serves is an error when asked for by name.
run 1 "$base/one.bin" -O "$dir/out/sock.bin" --socket "$dir/nobody.sock"
expect_msg "cannot reach the daemon"
# -O - streams the content to stdout, in order.
"$vx" get "$base/big.bin" -O - --data-dir "$dir/data-stream" --no-progress >"$dir/out/stream.bin" \
	2>"$dir/stderr" || fail "vx get -O - failed: $(cat "$dir/stderr")"
cmp "$dir/www/big.bin" "$dir/out/stream.bin" || fail "-O - output differs"
# The stream goes out with sendfile(2); stdout opened with O_APPEND refuses it (EINVAL) and
# the copy through a buffer takes over from the same offset (issue 19). Through a pipe too.
printf 'head' >"$dir/out/stream-append.bin"
"$vx" get "$base/big.bin" -O - --data-dir "$dir/data-stream" --no-progress \
	>>"$dir/out/stream-append.bin" 2>"$dir/stderr" ||
	fail "vx get -O - >>file failed: $(cat "$dir/stderr")"
{ printf 'head' && cat "$dir/www/big.bin"; } | cmp - "$dir/out/stream-append.bin" ||
	fail "-O - appended to a file differs"
"$vx" get "$base/big.bin" -O - --data-dir "$dir/data-stream" --no-progress 2>"$dir/stderr" |
	cmp - "$dir/www/big.bin" || fail "-O - into a pipe differs: $(cat "$dir/stderr")"

# An origin that ignores Range: the object comes as one stream, pieces in order.
plain_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$dir/www" "$plain_port" \
	>"$dir/plain.log" 2>&1 &
py_pids+=($!)
wait_port "$plain_port"
run 0 "http://127.0.0.1:$plain_port/big.bin" -O "$dir/out/plain.bin" --piece-length 1MiB --json
cmp "$dir/www/big.bin" "$dir/out/plain.bin" || fail "file from an origin without ranges differs"
echo "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["ok"] and d["pieces"] == 6 and d["bytes_from_source"] == 5 * 2**20 + 3, d' ||
	fail "--json summary wrong without ranges: $out"

# A chunked reply without a length: spooled beside the output, imported, nothing left over.
origin_port=$(free_port)
python3 "$(dirname "$0")/sources_origin.py" "$origin_port" "$dir/www" >"$dir/origin.log" 2>&1 &
py_pids+=($!)
wait_port "$origin_port"
run 0 "http://127.0.0.1:$origin_port/chunked/big.bin" -O "$dir/out/chunked.bin" --json
cmp "$dir/www/big.bin" "$dir/out/chunked.bin" || fail "chunked file differs"
echo "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["ok"] and d["content_length"] == 5 * 2**20 + 3, d' ||
	fail "--json summary wrong for a chunked reply: $out"
! ls -A "$dir/out" | grep -q vx-spool || fail "a spool file was left: $(ls -A "$dir/out")"

# --timeout: exit 7 whether the origin stalls before its headers (each request runs out of
# its own time) or in the body (the overall deadline), and nothing is left at the output.
silent_port=$(free_port)
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); held = []
while True: held.append(s.accept())' "$silent_port" &
py_pids+=($!)
wait_port "$silent_port"
run 7 "http://127.0.0.1:$silent_port/x.bin" -O "$dir/out/silent.bin" --timeout 1s
expect_msg "timed out"
[ ! -e "$dir/out/silent.bin" ] || fail "a file was left after a timeout"
run 7 "http://127.0.0.1:$origin_port/stall/x.bin" -O "$dir/out/stall.bin" --timeout 1s
expect_msg "timed out"
[ ! -e "$dir/out/stall.bin" ] || fail "a file was left after a timeout"
# A /proc file: stat says 0 bytes, reading gives more; the real bytes arrive (cmp believes
# stat's size too, so the copy is compared with what cat read).
cat /proc/version >"$dir/version.txt"
run 0 file:///proc/version -O "$dir/out/version" --json
cmp "$dir/version.txt" "$dir/out/version" || fail "/proc/version arrived as $(wc -c <"$dir/out/version") bytes"
echo "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["ok"] and d["content_length"] == int(sys.argv[1]), d' "$(wc -c <"$dir/version.txt")" ||
	fail "--json summary wrong for /proc/version: $out"

# --json is one valid JSON object for every failure: a URL that is not UTF-8 (JSON text is),
# and a bad option before any download began.
json_ok() { # json_ok EXIT_CODE WORD: $out is strict UTF-8 JSON, not ok, with that exit code
	printf '%s' "$out" | python3 -c 'import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8"))
assert d["ok"] is False and d["exit_code"] == int(sys.argv[1]) and sys.argv[2] in d["error"], d' \
		"$1" "$2" || fail "--json output is not one valid error object: $out"
}
run 6 "http://127.0.0.1:$port/$(printf '\xff\xfe')x" -O "$dir/out/utf8.bin" --json
json_ok 6 "UTF-8"
run 2 "$base/one.bin" -O "$dir/out/h.bin" -H no-colon --json
json_ok 2 "--header"
[ ! -e "$dir/out/h.bin" ] || fail "a bad -H left an output"

# Honest errors: port 0 is an invalid port (not an unknown scheme), and an origin that closes
# the body before its Content-Length is a short body.
run 6 "http://127.0.0.1:0/one.bin" -O "$dir/out/port0.bin"
expect_msg "invalid port"
short_port=$(free_port)
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 300); c.close()' \
	"$short_port" &
py_pids+=($!)
wait_port "$short_port"
run 6 "http://127.0.0.1:$short_port/short.bin" -O "$dir/out/short.bin"
expect_msg "short body"
[ ! -e "$dir/out/short.bin" ] || fail "a short body left an output"

# -r: every file under a directory URL, filtered by --include-files, paths kept.
mkdir -p "$dir/tree/a/b"
echo one >"$dir/tree/x.txt"
echo two >"$dir/tree/a/y.bin"
echo three >"$dir/tree/a/b/z.txt"
run 0 -r "file://$dir/tree" -O "$dir/out/tree" --include-files '*.txt'
cmp "$dir/tree/x.txt" "$dir/out/tree/x.txt" || fail "-r: x.txt differs"
cmp "$dir/tree/a/b/z.txt" "$dir/out/tree/a/b/z.txt" || fail "-r: a/b/z.txt differs"
[ ! -e "$dir/out/tree/a/y.bin" ] || fail "-r: --include-files let a/y.bin through"
expect_msg "2 of 2 files downloaded"
# a file's URL as a directory: its index page (one.bin/) is not found
run 3 -r "$base/one.bin" -O "$dir/out/tree-http"
expect_msg "cannot list"
# -r over HTTP: nginx's autoindex pages (vx_source_html_index_parse), sub-directories walked,
# names with a space and '&' decoded from the page's hrefs
echo four >"$dir/tree/a/s p&c.txt"
run 0 -r "$base/idx/" -O "$dir/out/tree-idx" --include-files '*.txt'
for f in x.txt a/b/z.txt "a/s p&c.txt"; do
	cmp "$dir/tree/$f" "$dir/out/tree-idx/$f" || fail "-r over HTTP: $f differs"
done
[ ! -e "$dir/out/tree-idx/a/y.bin" ] || fail "-r over HTTP: --include-files let a/y.bin through"
expect_msg "3 of 3 files downloaded"
# --jobs without a daemon: one after the other all the same; without -r: refused
run 0 -r "$base/idx/" -O "$dir/out/tree-idx-j" --include-files '*.txt' --jobs 4
cmp "$dir/tree/a/b/z.txt" "$dir/out/tree-idx-j/a/b/z.txt" || fail "-r --jobs: a/b/z.txt differs"
expect_msg "3 of 3 files downloaded"
run 2 "$base/one.bin" -O "$dir/out/jobs.bin" --jobs 2
expect_msg "--jobs is for -r"
echo "get_cli: ok"
