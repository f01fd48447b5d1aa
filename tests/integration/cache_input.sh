#!/usr/bin/env bash
# cache_input.sh VX: bad input to `vx cache` gets a clear message and exit code, and nothing is
# half-imported: a missing file, a directory, a file the client may not read (the root daemon
# opens it as its client, uid nobody, never with its own rights), a file still open for
# writing, an id that is not one, a file larger than the store may hold (storage.disk_limit);
# and a client exports only where it may write. Needs root and setpriv (skips otherwise).
# Security list (shared/reference/dragonfly-behaviour.md 5.5): 11 (local import/export only
# through the socket, with the client's rights), 16 (a full store refuses, nothing kept).
set -euo pipefail
vx=$1
name=cache_input
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init
nobody_init

printf 'storage:\n  disk_limit: 2MiB\n' >"$dir/small.yaml"
serve_start d --no-scheduler --socket-group "$gname" --config "$dir/small.yaml"
chmod 755 "$dir"
mkdir -m 0755 "$dir/in"
head -c 100000 /dev/urandom >"$dir/in/ok.bin"
chmod 0644 "$dir/in/ok.bin"
head -c 100000 /dev/urandom >"$dir/in/secret.bin"
chmod 0600 "$dir/in/secret.bin"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$dir/in/big.bin"
chmod 0644 "$dir/in/big.bin"

# ncache ARGS...: vx cache through daemon d as nobody
ncache() {
	rc=0
	out=$(as_nobody timeout -k 5 60 "$vx" cache "$@" --socket "$dir/d.sock" \
		2>"$dir/ncache-err.txt") || rc=$?
	err=$(cat "$dir/ncache-err.txt")
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx cache $* as nobody hung"
}
expect() { # RC TEXT WHAT
	[ "$rc" -eq "$1" ] || fail "$3: exit $rc, want $1 ($err)"
	case $err in *"$2"*) ;; *) fail "$3: message '$err' lacks '$2'" ;; esac
}
nothing_kept() {
	cache d ls
	[ -z "$out" ] || fail "$1: the store lists '$out'"
	[ "$(content_files d)" -eq 0 ] || fail "$1: a content file was left"
}

ncache import "$dir/in/missing.bin"
expect 1 "No such file" "a missing file"
ncache import "$dir/in"
expect 1 "is a directory" "a directory"
ncache import "$dir/in/secret.bin"
expect 1 "Permission denied" "a file only root may read, imported by nobody"
nothing_kept "refused imports"
ncache stat nothex
expect 2 "not a task id" "a malformed id"
ncache export "$(printf 'g%.0s' $(seq 64))" -O "$dir/x"
expect 2 "not a task id" "a malformed id to export"
ncache import "$dir/in/big.bin"
expect 1 "no room" "a file larger than the store may hold"
nothing_kept "a full store"

# a file still being written: refused while a writer holds it open
python3 -c 'import sys, time; f = open(sys.argv[1], "ab"); print("open", flush=True); time.sleep(30)' \
	"$dir/in/ok.bin" >"$dir/writer.out" &
writer=$!
bg_pids+=("$writer")
for i in $(seq 100); do
	grep -q open "$dir/writer.out" && break
	sleep 0.1
done
cache d import "$dir/in/ok.bin"
expect 1 "open for writing" "a file open for writing"
kill "$writer"
wait "$writer" 2>/dev/null || true
nothing_kept "a file open for writing"

# the same file, complete and readable by the client: imported; exported where it may write
ncache import "$dir/in/ok.bin"
expect 0 "" "a readable file"
id=$out
[ "$id" = "$("$vx" task-id --file "$dir/in/ok.bin")" ] || fail "the id is not the file's"
mkdir -m 0777 "$dir/open"
mkdir -m 0755 "$dir/shut"
ncache export "$id" -O "$dir/shut/x"
[ "$rc" -eq 1 ] || fail "export into a directory nobody may not write: exit $rc"
[ ! -e "$dir/shut/x" ] || fail "root wrote $dir/shut/x for a client that may not"
ncache export "$id" -O "$dir/open/y"
expect 0 "" "export"
cmp -s "$dir/in/ok.bin" "$dir/open/y" || fail "the export differs from the file"
[ "$(stat -c %u "$dir/open/y")" -eq $nobody ] || fail "the export does not belong to the client"
# the store's copy is not the user's file: editing the source changes nothing cached
printf 'edited' | dd of="$dir/in/ok.bin" conv=notrunc status=none
ncache export "$id" -O "$dir/open/z"
cmp -s "$dir/open/y" "$dir/open/z" || fail "editing the imported file changed the cached copy"
echo "$name: ok"
