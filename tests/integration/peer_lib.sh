# shellcheck shell=bash
# peer_lib.sh: shared by the peer_*.sh integration tests (sourced, not run). Everything a test
# starts lives under one temporary directory and is stopped by the EXIT trap, also on failure
# and Ctrl-C: an nginx origin, a `vx scheduler` and `vx serve` daemons on loopback, each on a
# port the kernel picks (port 0) or a free one, each with its own data directory and socket.
#
# Every wait is bounded (a hung daemon fails the test, it never hangs CI), but no check depends
# on how long something took. VX_TEST_KEEP=1 keeps the directory (logs, stores) for a look.
#
# Usage: vx=PATH_TO_VX; name=TEST_NAME; . peer_lib.sh; peer_lib_init
#   origin_start                      nginx on 127.0.0.1:$origin_port serving $dir/www (or on
#                                     $origin_addr:$origin_port when the test sets origin_addr)
#   sched_start [LISTEN] [args...]    vx scheduler on LISTEN (127.0.0.1:0), port $sched_port (its management API
#                                     on $api_port; args go to it); its tokens file is
#                                     $sched_tokens, the tokens $sched_peer_token,
#                                     $sched_seed_token, $sched_admin_token, and one-token files
#                                     $dir/token.peer, token.seed, token.admin (0600)
#   serve_start NAME [serve args...]  vx serve with data dir $dir/NAME, socket $dir/NAME.sock
#                                     (and --token-file: the seed token with --seed, else the
#                                     peer token, unless the args give one or a --join*)
#                                     and --log-level info (serve_log_level=LEVEL, or ''
#                                     for none)
#   serve_stop NAME                   SIGTERM, then wait (bounded) for exit 0
#   serve_kill NAME                   SIGKILL
#   get NAME URL OUT [get args...]    vx get --socket through NAME; exit code in $rc,
#                                     stdout (the --json line) in $out, stderr in $err
#   get_bg NAME URL OUT TAG [args...] the same in the background (wait_gets; $dir/TAG.rc ...)
#   json KEY [JSON]                   a field of the --json line
#   pieces_in_store NAME              finished pieces in NAME's store
#   store_check NAME                  every finished piece in NAME's store holds the origin's
#                                     bytes (fails naming the first that does not)
#   origin_body_bytes PATH            body bytes nginx sent for GETs of PATH (stat probes
#                                     excluded, see below); origin_probes PATH counts those
#   members_wait_up N                 waits (15 s at most) until the clients of members m1..mN
#                                     are each up with all N (each says so once in its log)
#   need_tools WHERE TOOL...          skips (77) unless every TOOL is on PATH; WHERE (what
#                                     installs them, scripts/deps/X.apt) is in the message

members_wait_up() {
	local i k up
	for i in $(seq 1 "$1"); do
		for k in $(seq 150); do
			up=$(grep -c 'sched client: .* up' "$dir/m$i.log" || true)
			[ "$up" -ge "$1" ] && break
			sleep 0.1
		done
		[ "$up" -ge "$1" ] ||
			fail "m$i's client is up with $up members, want $1: $(grep 'sched client' "$dir/m$i.log" | tail -5)"
	done
}

need_tools() {
	local where=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			echo "$name: needs $tool ($where), skipping" >&2
			exit 77
		}
	done
}

peer_lib_init() {
	local tool
	for tool in nginx python3 sha256sum cmp timeout; do
		command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
			echo "$name: needs $tool, skipping" >&2
			exit 77
		}
	done
	nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
	vx=$(realpath "$vx") # tests also run it from other directories
	dir=$(mktemp -d)
	chmod 755 "$dir"
	mkdir -p "$dir/www" "$dir/out"
	declare -gA serve_pid=()
	declare -gA serve_port=()
	bg_pids=()
	mounts=()
	trap peer_lib_cleanup EXIT
	trap 'echo "$name: interrupted" >&2; exit 130' INT TERM
}

# True while PID is a background job of this shell that has not ended (bash reaps a child as
# it ends and takes it off this list: after that its pid may be reused by anyone).
peer_lib_running() {
	jobs -rp | grep -qx "$1"
}

# Stops whatever is still running, newest first, then removes the directory. On a failure the
# daemons' logs are printed first, since ctest keeps only the output.
peer_lib_cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	# only children this shell has not reaped yet: a reaped child's pid may already be another
	# process's (pid_max is 32768 and parallel suites start thousands), which a stale SIGKILL
	# would take down (another test's daemon died so, "Killed", under load)
	for pid in "${serve_pid[@]}" "${bg_pids[@]}"; do
		if peer_lib_running "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	for pid in "${serve_pid[@]}" "${bg_pids[@]}"; do
		for i in $(seq 100); do
			peer_lib_running "$pid" || break
			sleep 0.1
		done
		if peer_lib_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -d "$dir" ]; then
		# ASan's shadow map says nothing a reader needs; the stack above it does.
		for f in "$dir"/*.log; do
			[ -s "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines, ASan shadow bytes left out)" >&2
			grep -v -E '^(  0x|=>0x|Shadow byte|  [A-Z][a-z].*: +[0-9a-f ]+$)' "$f" |
				tail -n 40 >&2
		done
	fi
	for m in "${mounts[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if [ -n "${VX_TEST_KEEP:-}" ]; then
		echo "$name: kept $dir (VX_TEST_KEEP)" >&2
	else
		rm -rf "$dir"
	fi
	exit "$rc"
}

fail() {
	echo "FAIL: $name: $*" >&2
	exit 1
}

# proc_kib PID KEY: a /proc/PID/status figure in KiB (VmRSS, VmHWM)
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# asan_frees_honoured: for RSS bounds. ASan keeps freed blocks in a 256 MiB quarantine and its
# allocator returns pages lazily; daemons started after this free as the shipped build does.
asan_frees_honoured() {
	local o=quarantine_size_mb=0:thread_local_quarantine_size_kb=0
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$o:allocator_release_to_os_interval_ms=0"
}

# need_py_cryptography: skips (77) a test whose python fakes make keys and certificates
need_py_cryptography() {
	python3 -c 'import cryptography' 2>/dev/null || {
		echo "$name: needs python3-cryptography, skipping" >&2
		exit 77
	}
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local i
	for i in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('${2:-127.0.0.1}', $1), 1)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

# wait_line FILE REGEX PID WHAT: waits (at most 20 s) for a line of FILE matching REGEX, as
# long as PID lives; prints the line.
wait_line() {
	local file=$1 re=$2 pid=$3 what=$4 i line
	for i in $(seq 200); do
		line=$(grep -m1 -E "$re" "$file" 2>/dev/null || true)
		if [ -n "$line" ]; then
			echo "$line"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
		sleep 0.1
	done
	fail "$what did not become ready"
}

# make_file NAME BYTES: random content in the origin's root.
make_file() {
	head -c "$2" /dev/urandom >"$dir/www/$1"
}

# /slow/NAME serves the same files at ${origin_slow_rate:-1m} bytes/s per connection (nginx
# limit_rate), so a test can be sure a download is still running when it acts; /ls/ serves
# them with directory listings (nginx autoindex).
# The log line keeps the Range header, so the one-byte stat probe ("Range: bytes=0-0", how the
# source layer learns the length) can be told from the piece reads. origin_log_extra: more
# nginx variables appended to each line (e.g. ' \$msec \$request_time'), default none.
origin_start() {
	origin_port=$(free_port)
	cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
error_log $dir/nginx-error.log;
pid $dir/nginx.pid;
events { worker_connections 256; }
http {
 log_format vx '\$request_method \$uri \$status \$body_bytes_sent "\$http_range"${origin_log_extra:-}';
 access_log $dir/access.log vx;
 default_type application/octet-stream;
 client_body_temp_path $dir/t1; proxy_temp_path $dir/t2; fastcgi_temp_path $dir/t3;
 uwsgi_temp_path $dir/t4; scgi_temp_path $dir/t5;
 server {
  listen ${origin_addr:-127.0.0.1}:$origin_port;
  root $dir/www;
  location /slow/ { alias $dir/www/; limit_rate ${origin_slow_rate:-1m}; }
  location /ls/ { alias $dir/www/; autoindex on; }
 }
}
CONF
	"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/nginx.out" &
	bg_pids+=($!)
	wait_port "$origin_port" "${origin_addr:-127.0.0.1}"
	base=http://${origin_addr:-127.0.0.1}:$origin_port
}

# origin_body_bytes /PATH: body bytes of the GETs of PATH that were not stat probes.
origin_body_bytes() {
	awk -v p="$1" '$1 == "GET" && $2 == p && $5 != "\"bytes=0-0\"" { s += $4 }
		END { printf "%d\n", s }' "$dir/access.log"
}

# rate_within10 WHAT MEASURED_BPS LIMIT_BPS: fails unless the measured rate is within 10% of the
# limit (issue 16: "each limit measured within 10%"); prints both in MiB/s.
rate_within10() {
	local m l
	m=$(awk -v r="$2" 'BEGIN { printf "%.2f", r / 1048576 }')
	l=$(awk -v r="$3" 'BEGIN { printf "%.2f", r / 1048576 }')
	awk -v m="$2" -v l="$3" 'BEGIN { d = m - l; if (d < 0) d = -d; exit !(d <= l / 10) }' ||
		fail "$1: $m MiB/s, want $l MiB/s +-10%"
	echo "$name: $1: $m MiB/s (limit $l)"
}

# origin_probes /PATH: stat probes of PATH (each sends one body byte).
origin_probes() {
	awk -v p="$1" '$1 == "GET" && $2 == p && $5 == "\"bytes=0-0\"" { n++ }
		END { printf "%d\n", n }' "$dir/access.log"
}

sched_start() { # [LISTEN] [scheduler args...]: LISTEN defaults to 127.0.0.1:0
	local line
	local listen=127.0.0.1:0
	case ${1:-} in --* | "") ;; *)
		listen=$1
		shift
		;;
	esac
	# emptied here, not by the child's redirection: wait_line could otherwise read a restarted
	# scheduler's old "listening" line (or log line) before the child truncates the file
	: >"$dir/sched.out"
	: >"$dir/sched.log"
	"$vx" scheduler --listen "$listen" --db "$dir/sched.db" --log-level info \
		--api 127.0.0.1:0 "$@" >>"$dir/sched.out" 2>>"$dir/sched.log" &
	sched_pid=$!
	bg_pids+=("$sched_pid")
	line=$(wait_line "$dir/sched.out" 'listening on port [0-9]+' "$sched_pid" "vx scheduler")
	sched_port=${line##* }
	line=$(wait_line "$dir/sched.out" 'api on port [0-9]+' "$sched_pid" "vx scheduler api")
	api_port=${line##* }
	sched_tokens=$dir/sched.db.tokens
	local role tok
	while read -r role tok; do
		case $role in
		peer) sched_peer_token=$tok ;;
		seed) sched_seed_token=$tok ;;
		admin) sched_admin_token=$tok ;;
		*) continue ;;
		esac
		(umask 077 && printf '%s\n' "$tok" >"$dir/token.$role")
	done <"$sched_tokens"
	[ -n "${sched_peer_token:-}" ] && [ -n "${sched_seed_token:-}" ] ||
		fail "vx scheduler did not write peer and seed tokens to $sched_tokens"
}

# serve_start NAME [args...]: starts a daemon and waits for its ready line. Without
# --no-scheduler it joins the scheduler started by sched_start.
serve_start() {
	local n=$1 line pid
	shift
	local args=(--data-dir "$dir/$n" --listen 127.0.0.1:0 --socket "$dir/$n.sock")
	# serve_log_level: the --log-level given (default info); empty: none (the level then
	# comes from the daemon's file or the cluster configuration)
	[ -z "${serve_log_level-info}" ] || args+=(--log-level "${serve_log_level-info}")
	if [ "${1:-}" = --no-scheduler ]; then
		shift
	else
		args+=(--scheduler "127.0.0.1:$sched_port")
		case " $* " in
		*" --token-file "* | *" --token "* | *" --join"*) ;; # --join: a certificate instead
		*" --seed "*) args+=(--token-file "$dir/token.seed") ;;
		*) args+=(--token-file "$dir/token.peer") ;;
		esac
	fi
	: >"$dir/$n.out"
	# serve_wrap: a command the daemon runs under (e.g. ip netns exec NS); default none
	${serve_wrap[@]+"${serve_wrap[@]}"} "$vx" serve "${args[@]}" "$@" >>"$dir/$n.out" \
		2>>"$dir/$n.log" &
	pid=$!
	serve_pid[$n]=$pid
	line=$(wait_line "$dir/$n.out" '^vx serve: ready: ' "$pid" "vx serve $n")
	line=${line#*pieces on port }
	serve_port[$n]=${line%%,*}
}

# serve_stop NAME: graceful stop; the daemon must exit 0 within 20 s.
# wait_gone PID WHAT: waits (20 s at most) for process PID to exit; fails naming WHAT.
wait_gone() {
	local i
	for i in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "$2 did not stop within 20 s"
}

serve_stop() {
	local n=$1 pid=${serve_pid[$1]} code=0
	kill -TERM "$pid"
	wait_gone "$pid" "vx serve $n (SIGTERM)"
	wait "$pid" || code=$?
	unset "serve_pid[$n]"
	[ "$code" -eq 0 ] || fail "vx serve $n exited $code after SIGTERM"
}

serve_kill() {
	local pid=${serve_pid[$1]}
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	unset "serve_pid[$1]"
}

# get NAME URL OUT [args...]: one `vx get` through daemon NAME, bounded by 60 s.
get() {
	local n=$1 url=$2 o=$3
	shift 3
	rc=0
	out=$(timeout -k 5 60 "$vx" get "$url" -O "$o" --socket "$dir/$n.sock" --json \
		--no-progress "$@" 2>"$dir/get-err.txt") || rc=$?
	err=$(cat "$dir/get-err.txt")
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
		fail "vx get $url through $n hung and was stopped after 60 s; stores: $(stores_summary)"
}

# get_bg NAME URL OUT TAG [args...]: the same in the background; results in $dir/TAG.json,
# $dir/TAG.err and $dir/TAG.rc; the pid is appended to get_pids.
get_bg() {
	local n=$1 url=$2 o=$3 tag=$4
	shift 4
	(
		code=0
		timeout -k 5 60 "$vx" get "$url" -O "$o" --socket "$dir/$n.sock" --json \
			--no-progress "$@" >"$dir/$tag.json" 2>"$dir/$tag.err" || code=$?
		echo "$code" >"$dir/$tag.rc"
	) &
	get_pids+=($!)
	bg_pids+=($!)
}

# wait_gets: waits for every get_bg started so far.
wait_gets() {
	local pid
	for pid in "${get_pids[@]}"; do
		wait "$pid" || true
	done
	get_pids=()
}

# json KEY [JSON]: a field of a `vx get --json` line ($out by default); null prints "null".
json() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[2])[sys.argv[1]]
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "${2:-$out}"
}

expect_rc() {
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
		fail "$2: vx get hung and was stopped after 60 s; stores: $(stores_summary)"
	[ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1: $err"
}

# stores_summary: finished pieces per daemon, for the message of a hang.
stores_summary() {
	local n
	for n in "${!serve_pid[@]}"; do
		printf '%s %s pieces; ' "$n" "$(pieces_in_store "$n" 2>/dev/null || echo '?')"
	done
}

expect_msg() {
	case "$err" in
	*"$1"*) ;;
	*) fail "message '$err' lacks '$1'" ;;
	esac
}

# same_file A B WHAT
same_file() {
	cmp -s "$1" "$2" || fail "$3: $2 differs from the source"
}

# task_files NAME: content files in daemon NAME's store (one per task).
task_files() {
	find "$dir/$1/content/tasks" -type f 2>/dev/null | wc -l
}

# pieces_in_store NAME: finished pieces of every task in daemon NAME's store, read from its
# metadata (a read-only second reader of the WAL database is safe; the store flushes finished
# pieces every 50 ms, so the count may trail the daemon by that much).
pieces_in_store() {
	python3 - "$dir/$1/metadata/store.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT count(*) FROM piece").fetchone()[0])
PY
}

# store_check NAME: every piece daemon NAME's store calls finished (metadata) holds the bytes of
# the origin's file its task URL names ($dir/www/...) at its offset, with the CRC-32 recorded;
# prints the count of pieces checked. Run with the daemon stopped (or its flushes quiet).
store_check() {
	python3 - "$dir/$1" "$dir/www" <<'PY'
import os, sqlite3, sys, urllib.parse, zlib
root, www = sys.argv[1], sys.argv[2]
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(root, "metadata/store.db"), uri=True)
urls = dict(db.execute("SELECT id, url FROM task"))
n = 0
for tid, num, off, length, crc in db.execute(
        "SELECT task_id, number, offset, length, crc32 FROM piece"):
    with open(os.path.join(root, "content/tasks", tid[:3], tid), "rb") as f:
        f.seek(off)
        got = f.read(length)
    name = os.path.basename(urllib.parse.urlsplit(urls.get(tid) or "").path)
    with open(os.path.join(www, name), "rb") as f:
        f.seek(off)
        want = f.read(length)
    if got != want or zlib.crc32(got) != crc & 0xFFFFFFFF:
        sys.exit("piece %d of task %.12s (%s) is not the source's bytes" % (num, tid, name))
    n += 1
print(n)
PY
}

# nobody_init: for a root daemon serving an unprivileged client. Skips (77) unless we are root
# with setpriv and a group 65534; sets nobody (its uid) and gname (that group's name).
nobody_init() {
	if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
		echo "$name: needs root and setpriv, skipping" >&2
		exit 77
	fi
	nobody=65534
	gname=$(getent group $nobody | cut -d: -f1)
	[ -n "$gname" ] || {
		echo "$name: no group $nobody, skipping" >&2
		exit 77
	}
}

# as_nobody CMD...: run as uid/gid 65534 with no supplementary groups
as_nobody() { setpriv --reuid="$nobody" --regid="$nobody" --clear-groups "$@"; }

# nget URL OUT [args]: vx get through daemon d as nobody, bounded by 60 s; exit code in $rc,
# stderr in $err, stdout in $dir/nget-out
nget() {
	local url=$1 o=$2
	shift 2
	rc=0
	as_nobody timeout -k 5 60 "$vx" get "$url" -O "$o" --socket "$dir/d.sock" --no-progress \
		"$@" >"$dir/nget-out" 2>"$dir/nget-err.txt" || rc=$?
	err=$(cat "$dir/nget-err.txt")
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx get $url as nobody hung and was stopped"
}

# netns_pair PREFIX: a network namespace $ns ("another host") joined to this one by a veth pair,
# $v0 here ($net.1/24) and $v1 there ($net.2/24, lo up). The EXIT trap (netns_cleanup) kills
# what runs in it and removes both before peer_lib_cleanup; no namespace possible: exit 77.
netns_pair() {
	ns=$1$$
	v0=$1$$a
	v1=$1$$b
	net=10.$((200 + $$ % 50)).$(($$ / 50 % 250))
	trap netns_cleanup EXIT
	ip netns add "$ns" 2>/dev/null || {
		echo "$name: cannot create a network namespace, skipping" >&2
		trap peer_lib_cleanup EXIT
		exit 77
	}
	ip link add "$v0" type veth peer name "$v1"
	ip link set "$v1" netns "$ns"
	ip addr add "$net.1/24" dev "$v0"
	ip link set "$v0" up
	ip netns exec "$ns" ip addr add "$net.2/24" dev "$v1"
	ip netns exec "$ns" ip link set "$v1" up
	ip netns exec "$ns" ip link set lo up
}
netns_cleanup() {
	local rc=$?
	set +e # a failed test's status below must not end the trap before peer_lib_cleanup
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
	ip link del "$v0" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	(exit "$rc") # peer_lib_cleanup exits with the test's status
	peer_lib_cleanup
}
