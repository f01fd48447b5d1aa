#!/usr/bin/env bash
# deploy_notify.sh VX: Type=notify readiness (deploy/systemd): with $NOTIFY_SOCKET set, as
# systemd sets it, `vx scheduler` and `vx serve` each send READY=1 there once their ready line
# is out (every listener up). A datagram listener plays systemd.
# Security list (dragonfly-behaviour.md 5.5): none.
set -euo pipefail
vx=$1
name=deploy_notify
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peer_lib.sh
. "$here/peer_lib.sh"
peer_lib_init

listen() { # NAME: a listener on the abstract socket @vx-NAME-PID writing $dir/NAME.notify
	python3 "$here/deploy_notify_listen.py" "@vx-$name-$$-$1" "$dir/$1.notify" &
	bg_pids+=($!)
	local i
	for i in $(seq 100); do
		grep -q listening "$dir/$1.notify" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the notify listener did not start"
}
wait_ready() { # NAME OUT: READY=1 arrives (bounded); OUT already has the ready line then
	local i
	for i in $(seq 200); do
		if grep -qx 'READY=1' "$dir/$1.notify"; then
			grep -qE "$3" "$2" || fail "$1 sent READY=1 before its ready line"
			return 0
		fi
		sleep 0.1
	done
	fail "$1 sent no READY=1 on \$NOTIFY_SOCKET"
}

listen sched
NOTIFY_SOCKET="@vx-$name-$$-sched" sched_start
wait_ready sched "$dir/sched.out" 'api on port'
listen serve
NOTIFY_SOCKET="@vx-$name-$$-serve" serve_start a
wait_ready serve "$dir/a.out" '^vx serve: ready: '
echo "PASS: $name"
