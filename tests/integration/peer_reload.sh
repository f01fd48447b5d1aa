#!/usr/bin/env bash
# peer_reload.sh VX: SIGHUP reloads `vx serve --config` (issue 20) instead of killing it.
#   (a) log_level info -> debug with upload.rate_limit changed: the daemon keeps running, logs
#       "applied: log_level; needs a restart: upload.rate_limit", and the new level is in force:
#       a download through its socket logs the API's debug line, which one before did not;
#   (b) a file that no longer parses: an error naming the file, the running configuration kept
#       (still debug: the next download logs the debug line again), the daemon alive;
#   (c) SIGTERM afterwards still stops it cleanly (exit 0).
set -euo pipefail
vx=$1
name=peer_reload
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
make_file f1 100000
make_file f2 100000
make_file f3 100000
origin_start

conf=$dir/serve.yaml
write_conf() { # LEVEL RATE
	printf 'log_level: %s\nupload:\n  listen: 127.0.0.1:0\n  rate_limit: %s\nmetrics_listen: ""\n' \
		"$1" "$2" >"$conf.tmp"
	mv "$conf.tmp" "$conf"
}
write_conf info 0
"$vx" serve --config "$conf" --data-dir "$dir/p" --socket "$dir/p.sock" >"$dir/p.out" \
	2>"$dir/p.log" &
serve_pid[p]=$!
wait_line "$dir/p.out" '^vx serve: ready: ' "${serve_pid[p]}" "vx serve p" >/dev/null

# hup RE: SIGHUP, then wait for a new log line matching RE (bounded); fails if the daemon died.
hup() {
	local before
	before=$(grep -cE "$1" "$dir/p.log" || true)
	kill -HUP "${serve_pid[p]}"
	for _ in $(seq 200); do
		kill -0 "${serve_pid[p]}" 2>/dev/null || fail "vx serve died on SIGHUP: $(tail -3 "$dir/p.log")"
		[ "$(grep -cE "$1" "$dir/p.log" || true)" -gt "$before" ] && return 0
		sleep 0.1
	done
	fail "no '$1' in the log within 20 s of SIGHUP: $(tail -5 "$dir/p.log")"
}
debug_lines() { grep -c 'api: accepted uid' "$dir/p.log" || true; }

get p "$base/f1" "$dir/out/f1"
[ "$rc" -eq 0 ] || fail "download before the reload: $err"
[ "$(debug_lines)" -eq 0 ] || fail "debug lines at log_level info"

# (a)
write_conf debug 1MiB
hup 'SIGHUP: reloaded .*: applied: log_level; needs a restart: upload.rate_limit'
get p "$base/f2" "$dir/out/f2"
[ "$rc" -eq 0 ] || fail "download after the reload: $err"
seen=$(debug_lines)
[ "$seen" -gt 0 ] || fail "log_level debug was not applied by SIGHUP"

# (b)
printf 'log_level: info\nupload:\n  rate_limt: 5\n' >"$conf"
hup "SIGHUP: $conf did not load .*running configuration is kept"
grep -q "serve.yaml:3:3: unknown setting 'upload.rate_limt'" "$dir/p.log" ||
	fail "the reload error does not say what is wrong: $(tail -3 "$dir/p.log")"
get p "$base/f3" "$dir/out/f3"
[ "$rc" -eq 0 ] || fail "download after the refused reload: $err"
[ "$(debug_lines)" -gt "$seen" ] || fail "a refused reload changed the log level"

# (c)
serve_stop p
echo "$name: ok"
