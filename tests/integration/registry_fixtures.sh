#!/usr/bin/env bash
# registry_fixtures: the real-world fixtures of the registry mirror tests (issue 13) work on
# their own, before any vx mirror is involved: Debian's docker-registry in its three modes
# (plain, htpasswd, token), the pushed multi-layer image, a 0-byte and a 1-byte blob, and the
# real clients (skopeo with a registries.conf mirror, containerd's ctr with a hosts dir) pulling
# through their mirror configuration, every blob checked by digest, and the byte counting of
# the registry front. With REG_MIRROR=HOST:PORT the clients pull through that mirror instead.
# Security items (shared/reference/dragonfly-behaviour.md 5.5): none directly; the auth modes
# are the fixtures of the private-content tests (credentials required, wrong ones refused).
# VX_REGISTRY_BIG=1 adds the 64 MiB layer.
# usage: registry_fixtures.sh SOURCE_DIR
set -euo pipefail
name=registry_fixtures
vx=/bin/true # peer_lib wants a vx; these fixtures start none
. "$1/tests/integration/peer_lib.sh"
. "$1/tests/integration/registry_lib.sh"
peer_lib_init
registry_lib_init

reg_start plain
if [ -n "${VX_REGISTRY_BIG:-}" ]; then reg_push --big; else reg_push; fi

# The 0-byte and the 1-byte blob, through the mirror.
reg_get_blob "$reg_empty" "$dir/out/empty"
reg_get_blob "$reg_one" "$dir/out/one"
[ "$(reg_blob_bytes "$reg_empty")" = 0 ] || fail "the empty blob was counted as bytes"
[ "$(reg_blob_bytes "$reg_one")" = 1 ] || fail "the 1-byte blob counted $(reg_blob_bytes "$reg_one")"
[ "$(reg_blob_gets "$reg_one")" = 1 ] || fail "the 1-byte blob was not counted once"

# skopeo through its registries.conf mirror: every blob once, counted at the front.
reg_log_reset
skopeo_pull "$dir/out/skopeo-plain"
reg_expect_each_once

# containerd with a hosts dir: mirror first, the registry as the server.
ctd_start
hosts_dir_write "$dir/hosts"
reg_log_reset
ctr_pull "$dir/hosts"
reg_expect_each_once

# Counting can fail: a second pull into a new namespace is counted again.
ctr_pull "$dir/hosts"
[ "$(reg_blob_gets "$reg_config")" = 2 ] || fail "a second pull was not counted"

# htpasswd: without credentials refused, with them both clients pull.
reg_start htpasswd
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$reg_mirror/v2/$reg_repo/blobs/$reg_one")
[ "$code" = 401 ] || fail "htpasswd registry answered $code without credentials"
reg_get_blob "$reg_one" "$dir/out/one-auth" -u "$reg_user:$reg_pass"
if HOME=$dir/skopeo-home timeout 60 skopeo --registries-conf "$dir/registries.conf" inspect \
	--tls-verify=false "docker://$reg_origin/$reg_repo:latest" >/dev/null 2>&1; then
	fail "skopeo read the htpasswd registry without credentials"
fi
reg_log_reset
skopeo_pull "$dir/out/skopeo-htpasswd" --authfile "$(reg_authfile)"
reg_expect_each_once
ctr_pull "$dir/hosts" --user "$reg_user:$reg_pass"

# token: the registry sends clients to the token service; anonymous pulls get a pull token,
# wrong credentials none.
reg_start token
reg_log_reset
skopeo_pull "$dir/out/skopeo-token"
reg_expect_each_once
ctr_pull "$dir/hosts"
if HOME=$dir/skopeo-home timeout 60 skopeo --registries-conf "$dir/registries.conf" inspect \
	--tls-verify=false --creds "$reg_user:wrong" "docker://$reg_origin/$reg_repo:latest" \
	>/dev/null 2>&1; then
	fail "skopeo read the token registry with wrong credentials"
fi
echo "$name: ok"
