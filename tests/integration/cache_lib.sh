# shellcheck shell=bash
# cache_lib.sh: helpers of the cache_*.sh tests (sourced after peer_lib.sh).
#   cache NAME ARGS...       `vx cache ARGS` through daemon NAME; exit code in $rc, stdout in
#                            $out, stderr in $err; bounded by 60 s
#   holders NAME ID          holders of ID as the scheduler tells daemon NAME ("" unknown)
#   wait_holders NAME ID N   waits (at most 20 s) until the scheduler counts N holders
#   stores_holding ID N...   how many of the daemons N... hold ID in their store
#   wait_gone ID N...        waits (at most 25 s) until none of the daemons N... holds ID

cache() {
	local n=$1
	shift
	rc=0
	out=$(timeout -k 5 60 "$vx" cache "$@" --socket "$dir/$n.sock" 2>"$dir/cache-err.txt") ||
		rc=$?
	err=$(cat "$dir/cache-err.txt")
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx cache $* through $n hung"
}

holders() {
	cache "$1" stat "$2"
	[ "$rc" -eq 0 ] || return 0
	awk '/^holders:/ { print $2 }' <<<"$out"
}

wait_holders() {
	local i h=""
	for i in $(seq 100); do
		h=$(holders "$1" "$2")
		[ "$h" = "$3" ] && return 0
		sleep 0.2
	done
	fail "the scheduler counts '$h' holders of $2, want $3"
}

stores_holding() {
	local id=$1 n c=0
	shift
	for n in "$@"; do
		cache "$n" ls
		grep -q "^$id .* done$" <<<"$out" && c=$((c + 1))
	done
	echo "$c"
}

wait_gone() {
	local id=$1 i
	shift
	for i in $(seq 125); do
		[ "$(stores_holding "$id" "$@")" -eq 0 ] && return 0
		sleep 0.2
	done
	fail "$id is still held by $(stores_holding "$id" "$@") of $*"
}

# content_files NAME: files in daemon NAME's persistent cache content directory
content_files() {
	find "$dir/$1/content/persistent-cache-tasks" -type f 2>/dev/null | wc -l
}
