#!/usr/bin/env bash
# vortex_cli.sh VX: `vx task-id` against Dragonfly's reference vectors, plus its exit codes.
set -u
vx=$1
fails=0

check() { # check NAME WANT CMD...
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>/dev/null | head -n1)
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: want '$want' got '$got'" >&2
		fails=$((fails + 1))
	fi
}

check_exit() { # check_exit NAME CODE CMD...
	local name=$1 want=$2 got
	shift 2
	"$@" >/dev/null 2>&1
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL $name: want exit $want got $got" >&2
		fails=$((fails + 1))
	fi
}

check vector1 5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f \
	"$vx" task-id https://example.com --tag foo --application bar --revision v1.0 --piece-length 1024
check vector2 06408fbf247ddaca478f8cb9565fe5591c28efd0994b8fea80a6a87d3203c5ca \
	"$vx" task-id https://example.com --tag foo --application bar
check vector3 9f7c9aafbc6f30f8f41a96ca77eeae80c5b60964b3034b0ee43ccf7b2f9e52b8 \
	"$vx" task-id https://example.com --piece-length 1KiB
check vector4 457b4328cde278e422c9e243f7bfd1e97f511fec43a80f535cf6b0ef6b086776 \
	"$vx" task-id 'https://example.com?foo=foo&bar=bar' --filtered-query-param foo \
	--filtered-query-param bar
check vector5 e2d0fe1585a63ec6009c8016ff8dda8b17719a637405a4e23c0ff81339148249 \
	"$vx" task-id --content 'This is a test file'

# --verbose shows what was hashed
out=$("$vx" task-id --verbose 'HTTPS://Example.COM:443/a/./b/../c?X-Amz-Date=1&k=a b#f')
case "$out" in
*"normalized url: https://example.com/a/c?k=a+b#f"*) ;;
*) echo "FAIL verbose: $out" >&2; fails=$((fails + 1)) ;;
esac

# persistent cache id of a file: sha256(bytes || tag || "PERSISTENT_CACHE")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'hello' >"$tmp/f"
want=$(printf 'hellotPERSISTENT_CACHE' | sha256sum | cut -d' ' -f1)
check file "$want" "$vx" task-id --file "$tmp/f" --tag t

check_exit invalid-url 1 "$vx" task-id 'not a url'
check_exit bad-port 1 "$vx" task-id 'http://h:99999/'
check_exit missing-file 1 "$vx" task-id --file "$tmp/nope"
check_exit no-args 2 "$vx" task-id
check_exit two-urls 2 "$vx" task-id http://a http://b
check_exit bad-option 2 "$vx" task-id --bogus http://a
check_exit bad-piece-length 2 "$vx" task-id http://a --piece-length x
check_exit missing-value 2 "$vx" task-id http://a --tag
check_exit help 0 "$vx" task-id --help

if [ "$fails" -ne 0 ]; then
	echo "vortex_cli: $fails failures" >&2
	exit 1
fi
echo "vortex_cli: all checks passed"
