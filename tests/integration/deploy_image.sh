#!/usr/bin/env bash
# deploy_image.sh SRC VX DEB_DIR: the container image built here from the Debian package
# (deploy/container/build-image: FROM scratch, no registry) runs under podman: a seed and a
# peer, each a container of the image as its vx user, join a scheduler (VX, on the host's
# loopback: the containers share the host's network), the peer downloads a file from an
# nginx origin through its own socket, the seed serves it the pieces (the origin sends the
# file once, the peer gets every byte from peers), and both stop cleanly on SIGTERM
# (podman stop). Security list (dragonfly-behaviour.md 5.5): none.
set -euo pipefail
src=$(realpath "$1")
vx=$2
debdir=$3
name=deploy_image
command -v podman >/dev/null || {
	echo "FAIL: $name: podman is missing (scripts/deps/runtime.apt)" >&2
	exit 1
}
deb=$(ls "$debdir"/vx_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || {
	echo "FAIL: $name: no vx_*.deb in $debdir (deploy_deb builds it)" >&2
	exit 1
}
# shellcheck source=peer_lib.sh
. "$src/tests/integration/peer_lib.sh"
peer_lib_init
tag=localhost/vx-test:$$
containers=()
image_cleanup() {
	local rc=$? c
	for c in "${containers[@]}"; do
		podman logs "$c" >"$dir/$c.log" 2>&1 || true
		podman rm -f -t 5 "$c" >/dev/null 2>&1 || true
	done
	podman rmi -f "$tag" >/dev/null 2>&1 || true
	status "$rc" || peer_lib_cleanup # it reads the test's exit status from $?
	peer_lib_cleanup
}
status() { return "$1"; }
trap image_cleanup EXIT

"$src/deploy/container/build-image" "$deb" "$tag" >"$dir/build-image.log" 2>&1 ||
	fail "build-image: $(tail -5 "$dir/build-image.log")"
[ "$(podman image inspect "$tag" --format '{{.Config.User}}')" = vx ] || fail "the image does not run as vx"

origin_start
make_file blob $((4 * 1024 * 1024 + 5))
sched_start
# the image's vx user (the token files must be its own, mode 0600)
podman create --name "vx-$name-$$-probe" "$tag" >/dev/null
containers+=("vx-$name-$$-probe")
podman cp "vx-$name-$$-probe:/etc/passwd" "$dir/passwd" || fail "podman cp /etc/passwd"
uid=$(awk -F: '$1 == "vx" {print $3}' "$dir/passwd")
[ -n "$uid" ] || fail "the image has no vx user"
mkdir -p "$dir/tok"
cp "$dir/token.seed" "$dir/tok/seed"
cp "$dir/token.peer" "$dir/tok/peer"
chown -R "$uid:$uid" "$dir/tok"
chmod 700 "$dir/tok"
chmod 600 "$dir/tok"/*

# This machine's podman cannot raise RLIMIT_NPROC or RLIMIT_NOFILE in a container (no
# CAP_SYS_RESOURCE): ask for what the host has.
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
# the runtime's default seccomp profile refuses io_uring: the shipped one allows it
"$src/deploy/container/seccomp-profile" >"$dir/seccomp.json" || fail "seccomp-profile"
limits+=(--security-opt "seccomp=$dir/seccomp.json")
run() { # NAME ROLE [serve args...]
	local n=$1 c=vx-$name-$$-$1 role=$2 i
	shift 2
	podman run -d --name "$c" --network host "${limits[@]}" \
		-v "$dir/tok:/etc/vx/tok:ro" "$tag" serve --data-dir /var/lib/vx \
		--socket /run/vx/vx.sock --listen 127.0.0.1:0 --metrics 127.0.0.1:0 \
		--scheduler "127.0.0.1:$sched_port" --token-file "/etc/vx/tok/$role" "$@" \
		>"$dir/$n.id" 2>"$dir/$n.err" || fail "podman run $n: $(cat "$dir/$n.err")"
	containers+=("$c")
	for i in $(seq 200); do
		podman logs "$c" 2>/dev/null | grep '^vx serve: ready: ' >/dev/null && return 0
		[ "$(podman inspect "$c" --format '{{.State.Running}}')" = true ] ||
			fail "container $n exited: $(podman logs "$c" 2>&1 | tail -5)"
		sleep 0.1
	done
	fail "container $n did not become ready"
}
run seed seed --seed
run peer peer
c=vx-$name-$$-peer
podman exec "$c" /usr/bin/vx get --no-progress --json "$base/blob" -O /tmp/blob \
	>"$dir/get.json" 2>"$dir/get.err" || fail "vx get in the container: $(cat "$dir/get.err")"
podman cp "$c:/tmp/blob" "$dir/out/blob" || fail "podman cp"
cmp -s "$dir/www/blob" "$dir/out/blob" || fail "the container's copy differs"
size=$(stat -c %s "$dir/www/blob")
[ "$(json bytes_from_peers "$(cat "$dir/get.json")")" = "$size" ] ||
	fail "the peer did not get every byte from the seed: $(cat "$dir/get.json")"
[ "$(origin_body_bytes /blob)" = "$size" ] || fail "the origin sent $(origin_body_bytes /blob) bytes, not one copy"
for r in peer seed; do
	podman stop -t 20 "vx-$name-$$-$r" >/dev/null
	rc=$(podman inspect "vx-$name-$$-$r" --format '{{.State.ExitCode}}')
	[ "$rc" = 0 ] || fail "$r exited $rc on SIGTERM"
done
echo "PASS: $name"
