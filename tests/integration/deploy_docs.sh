#!/usr/bin/env bash
# deploy_docs.sh SRC: runs every ```sh block of docs/install.md, docs/service.md and
# docs/kubernetes.md as a reader would, from the tree's top, as root, in a private mount and
# network namespace where /usr, /etc, /var and the tree are overlays (the package installs into
# them, not into this host; what the blocks write stays there) and /run/vx is a fresh tmpfs.
# Stand-ins: `sudo` runs the command (with -u, as that user), `systemctl enable --now|restart
# UNIT` starts the unit's ExecStart as systemd would (deploy_lib.sh run_unit: User=,
# StateDirectory=, READY=1), and `podman run` gets this machine's rlimits (see
# deploy_image.sh). ```console blocks need a cluster or change a real host and are not run.
# Security list (dragonfly-behaviour.md 5.5): none.
set -euo pipefail
src=$(realpath "$1")
name=deploy_docs
if [ -z "${VX_IN_NS:-}" ]; then
	mkdir -p /run/vx # the mount point of the namespace's own /run/vx
	exec unshare --mount --net env VX_IN_NS=1 "$0" "$@"
fi
ip link set lo up
mount --make-rprivate /
vx=/bin/true # peer_lib wants one; the docs use the installed vx
# shellcheck source=peer_lib.sh
. "$src/tests/integration/peer_lib.sh"
# shellcheck source=deploy_lib.sh
. "$src/tests/integration/deploy_lib.sh"
peer_lib_init
# podman's image store stays the host's (an overlay on overlay is refused): kept visible
# through a bind at $keep, OUTSIDE $dir, so that no cleanup ever recurses into it
mkdir -p /var/lib/containers
keep=$(mktemp -d /tmp/vx-docs-keep.XXXXXX)
mount --bind /var/lib/containers "$keep"
for m in usr etc var; do
	mkdir -p "$dir/upper/$m" "$dir/work/$m"
	mount -t overlay overlay -o "lowerdir=/$m,upperdir=$dir/upper/$m,workdir=$dir/work/$m" "/$m" ||
		fail "cannot put an overlay on /$m"
done
mount --bind "$keep" /var/lib/containers
mount -t tmpfs -o mode=0755 tmpfs /run/vx

# stand-ins
mkdir -p "$dir/bin"
cat >"$dir/bin/sudo" <<'SH'
#!/bin/sh
if [ "$1" = -u ]; then
	u=$2
	shift 2
	exec runuser -u "$u" -- "$@"
fi
exec "$@"
SH
cat >"$dir/bin/systemctl" <<SH
#!/usr/bin/env bash
set -euo pipefail
case "\$1 \${2:-}" in
"enable --now" | "restart "*) ;;
*) echo "systemctl stand-in: \$* is not supported" >&2; exit 1 ;;
esac
unit=\${*: -1}
src=$src dir=$dir name=$name root=/ units=/usr/lib/systemd/system
bg_pids=()
fail() { echo "FAIL: $name: systemctl \$*" >&2; exit 1; }
. "$src/tests/integration/deploy_lib.sh"
if [ -f "$dir/\$unit.pid" ]; then
	kill -TERM "\$(cat "$dir/\$unit.pid")" 2>/dev/null || true
	for i in \$(seq 200); do kill -0 "\$(cat "$dir/\$unit.pid")" 2>/dev/null || break; sleep 0.1; done
	rm -f "$dir/\$unit.notify"
fi
run_unit "\$unit" "$dir/unit-\$unit.log"
echo "\$unit_pid" >"$dir/\$unit.pid"
printf '%s\n' "\${bg_pids[@]}" >>"$dir/unit.pids"
SH
real_podman=$(command -v podman || true)
cat >"$dir/bin/podman" <<SH
#!/bin/sh
if [ "\$1" = run ]; then
	shift
	exec $real_podman run --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096 "\$@"
fi
exec $real_podman "\$@"
SH
chmod +x "$dir/bin/"*
# the tree too: what the blocks write (build/deb, vx.yaml, ...) stays in this namespace
mkdir -p "$dir/upper/src" "$dir/work/src"
mount -t overlay overlay -o "lowerdir=$src,upperdir=$dir/upper/src,workdir=$dir/work/src" "$src" ||
	fail "cannot put an overlay on $src"
docs_cleanup() {
	local rc=$? pid
	for pid in $(cat "$dir/unit.pids" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $(cat "$dir"/*.service.pid 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	"$real_podman" rmi -f localhost/vx:0.1.0 >/dev/null 2>&1 || true
	# unmount, newest first, before anything is removed; $dir then holds only the overlays'
	# upper and work directories, and $keep is only ever rmdir'ed
	for m in /var/lib/containers "$src" /run/vx /var /etc /usr "$keep"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	rmdir "$keep" 2>/dev/null || true
	docs_status "$rc" || peer_lib_cleanup
	peer_lib_cleanup
}
docs_status() { return "$1"; }
trap docs_cleanup EXIT

for doc in install service kubernetes; do
	python3 - "$src/docs/$doc.md" "$dir/$doc" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for i, b in enumerate(re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)):
    open(f"{sys.argv[2]}.{i}.sh", "w").write(b)
PY
	for block in "$dir/$doc".*.sh; do
		(cd "$src" && PATH=$dir/bin:$PATH bash -euo pipefail "$block") \
			>"$block.log" 2>&1 || fail "docs/$doc.md block ${block##*/}: $(tail -5 "$block.log")"
	done
done
# what the blocks left behind is what they promised
[ -x /usr/bin/vx ] || fail "the package did not install /usr/bin/vx"
getent passwd vx >/dev/null || fail "the package made no vx user"
cmp -s /usr/share/doc/vx/copyright "$src/copyright" || fail "vx get through the service"
grep -q '^kind: DaemonSet' "$src/vx.yaml" || fail "vx.yaml has no DaemonSet"
[ -s "$src/vx-image.tar" ] || fail "no saved image"
grep -q io_uring_setup "$src/vx.json" || fail "vx.json does not allow io_uring"
echo "PASS: $name"
