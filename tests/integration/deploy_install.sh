#!/usr/bin/env bash
# deploy_install.sh BUILD_DIR: `cmake --install BUILD_DIR --prefix DIR` lays out everything
# cmake/install.cmake names, inside DIR (nothing outside the prefix): the binaries, a man page
# per command `vx --help` lists, the bash and zsh completions (zsh parses its file), the
# example configs, which `vx config check` accepts, the units with the prefix's paths, the
# sysusers file, the dashboards and manifests, and libvx with a pkg-config file that finds
# its headers. Security list (dragonfly-behaviour.md 5.5): none.
set -euo pipefail
build=$(realpath "$1")
name=deploy_install
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
	echo "FAIL: $name: $*" >&2
	exit 1
}
p=$dir/prefix
cmake --install "$build" --prefix "$p" >"$dir/install.log" 2>&1 || fail "$(tail -5 "$dir/install.log")"
while read -r f; do
	[ -e "$p/$f" ] || fail "missing $f"
done <<'LIST'
bin/vx
bin/vx-bench
share/man/man1/vx.1.gz
share/man/man1/vx-bench.1.gz
share/bash-completion/completions/vx
share/zsh/vendor-completions/_vx
etc/vx/serve.yaml
etc/vx/seed.yaml
etc/vx/mirror.yaml
etc/default/vx-scheduler
lib/systemd/system/vx-serve.service
lib/systemd/system/vx-scheduler.service
lib/sysusers.d/vx.conf
share/vx/grafana/vx-dashboard.json
share/vx/prometheus/vx-alerts.yml
share/vx/kubernetes/base/kustomization.yaml
include/vx/vx_client.h
lib/libvx.a
lib/pkgconfig/libvx.pc
LIST
for cmd in $("$p/bin/vx" --help | awk '/^  [a-z]/ {print $1}'); do
	[ -f "$p/share/man/man1/vx-$cmd.1.gz" ] || fail "no man page for vx $cmd"
	zcat "$p/share/man/man1/vx-$cmd.1.gz" | grep '^\.SH NAME' >/dev/null || fail "vx-$cmd.1 has no NAME"
done
for c in "$p"/etc/vx/*.yaml; do
	"$p/bin/vx" config check "$c" >/dev/null || fail "vx config check rejects ${c##*/}"
done
grep -qx "ExecStart=$p/bin/vx serve --config $p/etc/vx/serve.yaml" \
	"$p/lib/systemd/system/vx-serve.service" || fail "vx-serve.service names other paths"
if command -v zsh >/dev/null; then
	zsh -n "$p/share/zsh/vendor-completions/_vx" || fail "zsh cannot parse _vx"
else
	fail "zsh is missing (scripts/deps/deploy.apt)"
fi
inc=$(PKG_CONFIG_PATH=$p/lib/pkgconfig pkg-config --cflags-only-I libvx | sed 's/^ *-I//; s/ *$//')
[ "$(realpath "$inc")" = "$(realpath "$p/include/vx")" ] ||
	fail "libvx.pc names $inc for headers, not $p/include/vx"
echo "PASS: $name"
