#!/usr/bin/env bash
# deploy_deb.sh SRC OUT: the Debian packages, built from the tree (deploy/debian/build-deb into
# OUT, build/deb as docs/install.md has it, where deploy_image and deploy_docs find them), are
# lintian-clean of errors and depend on the shared
# libraries vx loads; installed into a fresh root (build-rootfs: the package, the ldd closure,
# the sysusers.d user) the units pass `systemd-analyze verify`, and the units' own commands
# (ExecStart, User, StateDirectory, EnvironmentFile as systemd would run them) start in that
# root as the vx user, each sends READY=1 on $NOTIFY_SOCKET (Type=notify), the peer joins with
# a join token and downloads through its socket; the man page of every command renders
# without a warning and the bash completion completes an option.
# Runs in its own network namespace: the units' fixed ports (8002, 8080, 4002, 4005) clash
# with nothing. Security list (dragonfly-behaviour.md 5.5): none; the sandboxing directives
# are checked by systemd-analyze only (no systemd as PID 1 here).
set -euo pipefail
src=$(realpath "$1")
out=$2
name=deploy_deb
if [ -z "${VX_IN_NETNS:-}" ]; then
	exec unshare --net env VX_IN_NETNS=1 "$0" "$@"
fi
ip link set lo up
for tool in lintian dpkg-deb systemd-analyze systemd-sysusers chroot man; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $name: $tool is missing (scripts/deps/deploy.apt)" >&2
		exit 1
	}
done

mkdir -p "$out"
"$src/deploy/debian/build-deb" "$out" >"$out.log" 2>&1 || {
	tail -20 "$out.log" >&2
	echo "FAIL: $name: build-deb failed" >&2
	exit 1
}
deb=$(ls "$out"/packages/vx_*.deb)
devdeb=$(ls "$out"/packages/libvx-dev_*.deb)
vx=$out/cli/vx
# shellcheck source=peer_lib.sh
. "$src/tests/integration/peer_lib.sh"
# shellcheck source=deploy_lib.sh
. "$src/tests/integration/deploy_lib.sh"
peer_lib_init

# lintian: no error (warnings are allowed)
lintian --tag-display-limit 0 "$deb" "$devdeb" >"$dir/lintian.log" 2>&1 || true
if grep -E '^E: ' "$dir/lintian.log"; then
	fail "lintian errors (above)"
fi
# Depends comes from dpkg-shlibdeps: the libraries vx links
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 liburing2 libssl3 libcurl4 libmicrohttpd12 libsqlite3-0; do
	grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$dir/conffiles"
for f in /etc/vx/serve.yaml /etc/default/vx-scheduler; do
	grep -qx "$f" "$dir/conffiles" || fail "$f is not a conffile"
done
dpkg-deb -c "$devdeb" | grep '/usr/lib/pkgconfig/libvx.pc$' >/dev/null || fail "libvx-dev lacks libvx.pc"

# a fresh root from the package
root=$dir/root
"$src/deploy/container/build-rootfs" "$deb" "$root" 2>"$dir/rootfs.log" ||
	fail "build-rootfs failed: $(cat "$dir/rootfs.log")"
units=$root/usr/lib/systemd/system

# systemd-analyze verify prints what it ignores and still exits 0: any output fails. The
# root needs systemd's own targets to resolve the units' dependencies.
verify() { # ROOT UNIT...
	local vroot=$1
	shift
	cp -an /usr/lib/systemd/system/. "$vroot/usr/lib/systemd/system/" 2>/dev/null || true
	systemd-analyze verify --man=no --root="$vroot" "$@" >"$dir/verify.out" 2>&1 || return 1
	[ ! -s "$dir/verify.out" ]
}
cp -a "$root" "$dir/vroot"
verify "$dir/vroot" vx-serve.service vx-scheduler.service ||
	fail "systemd-analyze verify: $(cat "$dir/verify.out")"
sed -i 's/^ProtectSystem=/ProtectSytem=/' "$dir/vroot/usr/lib/systemd/system/vx-serve.service"
if verify "$dir/vroot" vx-serve.service; then
	fail "systemd-analyze verify did not notice a misspelt directive"
fi
rm -rf "$dir/vroot"

# man pages and completion
for cmd in $("$root/usr/bin/vx" --help | awk '/^  [a-z]/ {print $1}') "" bench; do
	page=$root/usr/share/man/man1/vx${cmd:+-$cmd}.1.gz
	[ -f "$page" ] || fail "no man page for '${cmd:-vx}'"
	warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
	[ -z "$warn" ] || fail "man ${page##*/}: $warn"
done
man -l "$root/usr/share/man/man1/vx-serve.1.gz" 2>/dev/null | grep -- '--data-dir' >/dev/null ||
	fail "man vx-serve does not show --data-dir"
comp=$(bash -c '. "$1"; COMP_WORDS=(vx serve --data-d); COMP_CWORD=2; _vx; echo "${COMPREPLY[*]}"' \
	_ "$root/usr/share/bash-completion/completions/vx")
[ "$comp" = "--data-dir" ] || fail "bash completion of 'vx serve --data-d' gave '$comp'"

in_root() { chroot --userspec=vx:vx "$root" "$@"; }

run_unit vx-scheduler.service "$dir/unit-scheduler.log"
sched_unit_pid=$unit_pid
grep -q 'listening on port 8002' "$dir/unit-scheduler.log" || fail "scheduler not on 8002"
(umask 077 && in_root /usr/bin/vx token create --role peer \
	--db /var/lib/vx-scheduler/scheduler.db 2>"$dir/token.err" | tail -1 >"$root/etc/vx/join.token") ||
	fail "vx token create: $(cat "$dir/token.err")"
chown --reference="$root/var/lib/vx" "$root/etc/vx/join.token"
run_unit vx-serve.service "$dir/unit-serve.log"
serve_unit_pid=$unit_pid
[ -f "$root/var/lib/vx/tls/cert.pem" ] || fail "the peer did not join (no DATA_DIR/tls/cert.pem)"

in_root /usr/bin/vx status >"$dir/status.out" 2>&1 || fail "vx status: $(cat "$dir/status.out")"
origin_start
make_file blob $((3 * 1024 * 1024 + 17))
in_root /usr/bin/vx get --no-progress "$base/blob" -O /tmp/blob >"$dir/get.out" 2>&1 ||
	fail "vx get through /run/vx/vx.sock: $(cat "$dir/get.out")"
cmp -s "$dir/www/blob" "$root/tmp/blob" || fail "the downloaded copy differs"

for pid in "$serve_unit_pid" "$sched_unit_pid"; do
	kill -TERM "$pid"
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "a unit's command exited $rc on SIGTERM"
done
echo "PASS: $name"
