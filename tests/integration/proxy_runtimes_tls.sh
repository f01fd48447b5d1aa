#!/usr/bin/env bash
# proxy_runtimes_tls.sh: real container runtimes through vx mirrors that serve HTTPS
# (proxy.tls.cert/key), configured as an admin would, with the registry fixtures of
# registry_lib.sh (Debian's docker-registry behind a byte-counting nginx front): three vx
# daemons on one scheduler, each an HTTPS mirror whose upstream is the registry, with a
# certificate of a test CA. b also has the forward proxy on (proxy.forward), so its TLS is
# ended by the front door (OpenSSL) where a's and c's is libmicrohttpd's (GnuTLS): both ways
# of spec/proxy.md 5.1 "Over TLS" serve a runtime.
# - containerd (`ctr image pull --hosts-dir`) pulls through a with the hosts.toml that
#   `vx init containerd --mirror https://... --mirror-ca CA` writes (containerd verifies the
#   mirror against "ca"; the registry is the fallback server);
# - skopeo pulls through b and then c with a registries.conf mirror that is not insecure and
#   the CA as ca.crt in --src-cert-dir;
# - every blob of every pull checks by digest, the pulls went through the mirrors (their
#   logs), and the registry sent each blob's body once in all: b and c got the layers from the
#   swarm, not the registry;
# - a skopeo pull with the mirror's certificate unverifiable (no CA given) does not go
#   through the mirror (the mirror's log has no new blob request).
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): 10 (TLS verification).
# usage: proxy_runtimes_tls.sh VX SOURCE_DIR
set -euo pipefail
vx=$1
name=proxy_runtimes_tls
. "$2/tests/integration/peer_lib.sh"
. "$2/tests/integration/registry_lib.sh"
. "$2/tests/integration/proxy_lib.sh"
peer_lib_init
registry_lib_init

front_cert "IP:127.0.0.1,DNS:localhost"
mkdir -p "$dir/certs"
cp "$dir/ca.pem" "$dir/certs/ca.crt"

# a's mirror port is chosen first: the fixtures name it as the runtimes' mirror
mport=$(free_port)
REG_MIRROR=127.0.0.1:$mport
reg_start plain
reg_push
sched_start
# mstart NAME LISTEN [YAML]: vx serve NAME with an HTTPS mirror on LISTEN in front of the
# registry (and YAML lines under proxy:)
mstart() {
	{
		printf 'proxy:\n  listen: %s\n  upstreams: ["http://%s"]\n%b' "$2" "$reg_front" "${3:-}"
		printf '  tls:\n    cert: %s\n    key: %s\n' "$dir/front.pem" "$dir/front.key"
	} >"$dir/$1.yaml"
	serve_start "$1" --config "$dir/$1.yaml"
}
mstart a "$REG_MIRROR"
mstart b 127.0.0.1:0 '  forward: true\n'
mstart c 127.0.0.1:0
reg_log_reset

# containerd through a, with the hosts.toml vx init writes
ctd_start
"$vx" init containerd --mirror "https://$REG_MIRROR" --mirror-ca "$dir/ca.pem" \
	--upstream "http://$reg_origin" --config-dir "$dir/hosts" >/dev/null ||
	fail "vx init containerd failed"
grep -qx "  ca = \"$dir/ca.pem\"" "$dir/hosts/$reg_origin/hosts.toml" ||
	fail "hosts.toml has no ca: $(cat "$dir/hosts/$reg_origin/hosts.toml")"
ctr_pull "$dir/hosts"
for dg in "$reg_config" "${reg_layers[@]}"; do
	grep -q "blobs/$dg repo vx/app task" "$dir/a.log" || fail "containerd did not get $dg from a"
done

# skopeo through b, then c, verifying the mirror against the CA
reg_mirror_certs=$dir/certs
for n in b c; do
	reg_mirror=127.0.0.1:$(mirror_port "$n")
	skopeo_pull "$dir/out/skopeo-$n"
	for dg in "$reg_config" "${reg_layers[@]}"; do
		grep -q "blobs/$dg repo vx/app task" "$dir/$n.log" || fail "skopeo did not get $dg from $n"
	done
done
grep -q 'bytes from peers' "$dir/c.log" || fail "c logged no blob from peers"

# each blob's body left the registry once for the three pulls (plus the 1-byte stat probe)
for dg in "$reg_config" "${reg_layers[@]}"; do
	sent=$(reg_blob_bytes "$dg")
	[ "$sent" -le $(($(blob_size "$dg") + 1)) ] ||
		fail "the registry sent $sent bytes of $dg ($(blob_size "$dg") B) for three pulls"
done

# without the CA, skopeo does not trust c's certificate: nothing asked of the mirror
reg_mirror_certs=$dir/empty-certs
mkdir -p "$reg_mirror_certs"
before=$(grep -c 'blobs/sha256' "$dir/c.log" || true)
registries_conf_write "$dir/untrusted.conf"
HOME=$dir/skopeo-home timeout 120 skopeo --registries-conf "$dir/untrusted.conf" copy --quiet \
	--src-cert-dir "$reg_mirror_certs" "docker://$reg_origin/$reg_repo:latest" \
	"dir:$dir/out/untrusted" >"$dir/untrusted.log" 2>&1 || true
[ "$(grep -c 'blobs/sha256' "$dir/c.log" || true)" = "$before" ] ||
	fail "skopeo pulled through a mirror whose certificate it could not verify"
for n in a b c; do
	serve_stop "$n"
done
echo "PASS: $name"
