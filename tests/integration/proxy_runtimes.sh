#!/usr/bin/env bash
# proxy_runtimes.sh: real container runtimes through vx mirrors, with the registry fixtures of
# registry_lib.sh (Debian's docker-registry behind a byte-counting nginx front): three vx
# daemons on one scheduler, each a mirror whose upstream is the registry; containerd
# (`ctr image pull --hosts-dir`, which names the registry with ?ns=) pulls through daemon a,
# skopeo (registries.conf mirror) through b and then c, podman (Debian's, as root with a
# private storage root, the registries.conf `vx init podman` writes) through d. Every blob of
# every pull is checked by digest (registry_lib; podman checks its own), and the registry sent
# each blob's body once in all: its bytes at the
# front are the blob's size plus at most the 1-byte stat probe of the one back-to-source fetch.
# Then in token mode (bearer tokens from a token service), skopeo with credentials through c:
# the token handshake passes through the mirror (bearer tokens of a few KiB are forwarded
# whole; a mirror that dropped them made skopeo fall back to the registry itself) and the
# layers come from the swarm.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 8 (only the configured
# upstream is fetched), 17.
# usage: proxy_runtimes.sh VX SOURCE_DIR
set -euo pipefail
vx=$1
name=proxy_runtimes
. "$2/tests/integration/peer_lib.sh"
. "$2/tests/integration/registry_lib.sh"
. "$2/tests/integration/proxy_lib.sh"
peer_lib_init
registry_lib_init

# a's mirror port is chosen first: the fixtures name it as the runtimes' mirror
mport=$(free_port)
REG_MIRROR=127.0.0.1:$mport
reg_start plain
reg_push
sched_start
serve_start a --proxy "$REG_MIRROR" --upstream "http://$reg_front"
serve_start b --proxy 127.0.0.1:0 --upstream "http://$reg_front"
serve_start c --proxy 127.0.0.1:0 --upstream "http://$reg_front"
reg_log_reset

ctd_start
hosts_dir_write "$dir/hosts"
ctr_pull "$dir/hosts"
for n in b c; do
	reg_mirror=127.0.0.1:$(mirror_port "$n")
	skopeo_pull "$dir/out/skopeo-$n"
done
grep -q 'repo vx/app task' "$dir/a.log" || fail "containerd's pull did not go through a"

# podman (Debian's, as root with a private storage root) through a fresh daemon d, with the
# registries.conf `vx init podman` writes: the layers come from the swarm, not the registry
command -v podman >/dev/null || fail "podman is missing (scripts/deps/runtime.apt)"
serve_start d --proxy 127.0.0.1:0 --upstream "http://$reg_front"
"$vx" init podman --config-dir "$dir/pm-conf" --mirror "http://127.0.0.1:$(mirror_port d)" \
	--upstream "http://$reg_origin" >/dev/null || fail "vx init podman failed"
pm=(podman --root "$dir/pm/root" --runroot "$dir/pm/run" --storage-driver vfs)
CONTAINERS_REGISTRIES_CONF=$dir/pm-conf/registries.conf.d/50-vx-mirror.conf \
	HOME=$dir/pm-home timeout 120 "${pm[@]}" pull -q --tls-verify=false \
	"$reg_origin/$reg_repo:latest" >"$dir/podman.log" 2>&1 ||
	fail "podman pull failed: $(tail -5 "$dir/podman.log")"
[ "$("${pm[@]}" image inspect --format '{{.Digest}}' "$reg_origin/$reg_repo:latest")" = \
	"$reg_manifest" ] || fail "podman holds another manifest than $reg_manifest"
for dg in "$reg_config" "${reg_layers[@]}"; do
	grep -q "blobs/$dg repo vx/app task" "$dir/d.log" || fail "podman did not get $dg from d"
done
"${pm[@]}" rmi -a -f >/dev/null 2>&1 || true
serve_stop d

for dg in "$reg_config" "${reg_layers[@]}"; do
	sent=$(reg_blob_bytes "$dg")
	[ "$sent" -le $(($(blob_size "$dg") + 1)) ] ||
		fail "the registry sent $sent bytes of $dg ($(blob_size "$dg") B) for four pulls"
done

# token auth: the handshake through the mirror, the layers from the swarm (c holds them)
reg_start token
reg_log_reset
reg_mirror=127.0.0.1:$(mirror_port c)
skopeo_pull "$dir/out/skopeo-token" --src-authfile "$(reg_authfile)"
for dg in "${reg_layers[@]}"; do
	[ "$(reg_blob_bytes "$dg")" -le 1 ] || fail "token mode: the registry sent $dg again"
done
for n in a b c; do
	serve_stop "$n"
done
echo "PASS: $name"
