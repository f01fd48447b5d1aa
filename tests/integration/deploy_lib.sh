# shellcheck shell=bash
# deploy_lib.sh: shared by deploy_deb.sh and deploy_docs.sh (sourced after peer_lib.sh, whose
# $dir, $name, bg_pids and fail it uses; $src is the source tree).
#   units=DIR; root=DIR   where the unit files are, and the root they run in (/ for this host)
#   run_unit UNIT LOG     starts UNIT's ExecStart in $root as its User=, waits (bounded) for
#                         its READY=1; the pid in $unit_pid

# The units' commands, as systemd would run them: User=, StateDirectory=, RuntimeDirectory=,
# EnvironmentFile= ($VAR split on blanks), NOTIFY_SOCKET for Type=notify.
unit_key() { sed -n "s/^$2=//p" "$units/$1" | tail -1; }
run_unit() { # UNIT LOG: starts it in the root, waits for READY=1; pid in $unit_pid
	local unit=$1 log=$2 user ids statedir rundir cmd envfile notify i
	user=$(unit_key "$unit" User)
	[ "$user" = vx ] || fail "$unit runs as '$user', not vx"
	[ "$(unit_key "$unit" Type)" = notify ] || fail "$unit is not Type=notify"
	ids=$(awk -F: -v u="$user" '$1 == u {print $3 ":" $4}' "$root/etc/passwd")
	[ -n "$ids" ] || fail "no user $user in $root/etc/passwd"
	statedir=$(unit_key "$unit" StateDirectory)
	mkdir -p "$root/var/lib/$statedir"
	chown "$ids" "$root/var/lib/$statedir"
	chmod "$(unit_key "$unit" StateDirectoryMode)" "$root/var/lib/$statedir"
	rundir=$(unit_key "$unit" RuntimeDirectory)
	if [ -n "$rundir" ]; then
		mkdir -p "$root/run/$rundir"
		chown "$ids" "$root/run/$rundir"
		chmod "$(unit_key "$unit" RuntimeDirectoryMode)" "$root/run/$rundir"
	fi
	envfile=$(unit_key "$unit" EnvironmentFile)
	cmd=$(unit_key "$unit" ExecStart)
	if [ -n "$envfile" ]; then
		# shellcheck disable=SC1090
		. "$root${envfile#-}"
		cmd=${cmd//\$VX_SCHEDULER_ARGS/${VX_SCHEDULER_ARGS:-}}
	fi
	notify=$dir/$unit.notify
	python3 "$src/tests/integration/deploy_notify_listen.py" "@vx-$name-$$-$unit" "$notify" &
	bg_pids+=($!)
	for i in $(seq 100); do
		grep -q listening "$notify" 2>/dev/null && break
		sleep 0.1
	done
	# shellcheck disable=SC2086 # split as systemd splits ExecStart
	NOTIFY_SOCKET="@vx-$name-$$-$unit" chroot --userspec="$user:$user" "$root" $cmd \
		>"$log" 2>&1 &
	unit_pid=$!
	bg_pids+=("$unit_pid")
	for i in $(seq 300); do
		grep -qx 'READY=1' "$notify" && return 0
		kill -0 "$unit_pid" 2>/dev/null || fail "$unit exited before READY=1"
		sleep 0.1
	done
	fail "$unit sent no READY=1"
}
