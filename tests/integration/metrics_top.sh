#!/usr/bin/env bash
# metrics_top.sh VX: `vx top` and `vx status` as an operator uses them (issue 17). A daemon
# downloads a file from a slow origin (nginx limit_rate) while:
#   - `vx top` runs under tmux on a real terminal: the screen shows the running task with its
#     progress bar; q quits with exit 0 and the terminal settings are as before (stty -g);
#     a second run quits on Ctrl-C the same way;
#   - `vx top -n 2` with stdout not a terminal prints plain lines (no escape sequence) naming
#     the running task;
#   - `vx status --json` says the daemon is ok and lists the task; `vx status` on a socket
#     nobody serves exits 1.
# Every wait is bounded.
set -euo pipefail
vx=$1
name=metrics_top
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
command -v tmux >/dev/null || {
	echo "$name: needs tmux (scripts/deps/metrics.apt), skipping" >&2
	exit 77
}
peer_lib_init
origin_slow_rate=400k
origin_start
serve_start p --no-scheduler --metrics 127.0.0.1:0
mport=$(sed -n 's/^vx serve: metrics on port //p' "$dir/p.out")
make_file f1 6000000 # 15 s at 400 KB/s: running for the whole test
get_bg p "http://127.0.0.1:$origin_port/slow/f1" "$dir/out/f1" g1
top=("$vx" top --socket "$dir/p.sock" --metrics "127.0.0.1:$mport")
# one tmux server per session: a server whose last session ends exits on its own, and a new
# session must not race that exit
tm() { TERM=xterm-256color tmux -S "$dir/tmux-$s.sock" "$@"; }

# top_run SESSION KEYS...: vx top in a 150x30 terminal; waits for the running task on screen,
# sends KEYS, then waits for the pane's shell to record top's exit and the stty after it.
top_run() {
	local s=$1 i screen=""
	shift
	tm new-session -d -s "$s" -x 150 -y 30 \
		"stty -g >'$dir/$s.before'; ${top[*]}; echo \$? >'$dir/$s.rc'; stty -g >'$dir/$s.after'; sleep 30"
	for i in $(seq 100); do
		screen=$(tm capture-pane -p -t "$s" 2>/dev/null || true)
		grep -Eq 'running +\[#*-*\] +[0-9]+% .*/slow/f1' <<<"$screen" && break
		sleep 0.1
	done
	grep -Eq 'running +\[#*-*\] +[0-9]+% .*/slow/f1' <<<"$screen" ||
		fail "$s: vx top does not show the running task: $screen"
	grep -q 'peers vs origin' <<<"$screen" || fail "$s: no peers-vs-origin line: $screen"
	printf '%s\n' "$screen" >"$dir/$s.screen"
	tm send-keys -t "$s" "$@"
	for i in $(seq 100); do
		[ -s "$dir/$s.after" ] && break
		sleep 0.1
	done
	[ -s "$dir/$s.after" ] || fail "$s: vx top did not quit on '$*'"
	[ "$(cat "$dir/$s.rc")" = 0 ] || fail "$s: vx top exited $(cat "$dir/$s.rc")"
	cmp -s "$dir/$s.before" "$dir/$s.after" || fail "$s: the terminal settings were not restored"
	tm kill-server 2>/dev/null || true
}
top_run q q
top_run ctrlc C-c

# plain lines when stdout is not a terminal
timeout 20 "${top[@]}" -n 2 </dev/null >"$dir/plain.txt" || fail "vx top -n 2 failed"
grep -q $'\033' "$dir/plain.txt" && fail "plain output carries escape sequences"
grep -Eq 'running .*/slow/f1' "$dir/plain.txt" || fail "plain output lacks the task: $(cat "$dir/plain.txt")"
[ "$(grep -c '^vx top:' "$dir/plain.txt")" = 2 ] || fail "-n 2: want two refreshes"

# vx status
"$vx" status --socket "$dir/p.sock" --metrics "127.0.0.1:$mport" --json >"$dir/status.json" ||
	fail "vx status failed"
python3 - "$dir/status.json" <<'PY' || fail "vx status --json: $(cat "$dir/status.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["daemon"]["ok"] and j["metrics"]["ok"], j
assert any(t["url"].endswith("/slow/f1") for t in j["tasks"]), j
assert j["now"]["active_tasks"] >= 1, j
PY
rc=0
"$vx" status --socket "$dir/nobody.sock" --metrics 127.0.0.1:1 >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "vx status on a dead socket: exit $rc, want 1"
echo "$name: ok"
