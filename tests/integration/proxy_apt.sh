#!/usr/bin/env bash
# proxy_apt.sh VX: an APT repository through `vx serve`'s forward proxy (issue 21, "Sources":
# Yum/APT/Maven through the forward proxy), with the default rules: packages go P2P, the
# repository's metadata straight through (proxy.direct_rules, spec/proxy.md section 5).
# - a local repository (nginx) of three .deb files built here with dpkg-deb, its Packages,
#   Packages.gz and Release written here (the dpkg-deb control fields, sizes and sha256);
# - apt-get update and apt-get download in a private root (-o Dir=...) with
#   Acquire::http::Proxy naming the daemon's proxy: every .deb byte-exact (sha256) and each
#   a P2P task (the proxy's log names its task, `vx task-id URL`'s); Release, InRelease and
#   Packages.gz passed through, never a task (Packages.gz matches the default P2P rule .gz);
# - the repository changes (a fourth package, new Packages.gz and Release under the same
#   URLs): apt-get update again sees it and downloads it. Were Packages.gz a task keyed by its
#   URL, the daemon would serve the old index and apt would refuse it (hash mismatch).
# - proxy.direct_rules: a bad rule stops the daemon, naming proxy.direct_rules[0].
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): none new (stale content
# served from the cache under a changing URL is a correctness hole this test performs).
set -euo pipefail
vx=$1
name=proxy_apt
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
need_tools scripts/deps/proxy.apt apt-get dpkg-deb gzip
peer_lib_init
repo=$dir/www/apt
mkdir -p "$repo/pool/main" "$repo/dists/stable/main/binary-all"

# mkdeb NAME SIZE: a package of Architecture all holding SIZE random bytes
mkdeb() {
	local p=$dir/build/$1
	mkdir -p "$p/DEBIAN" "$p/usr/share/$1"
	head -c "$2" /dev/urandom >"$p/usr/share/$1/data"
	printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: vx test <t@example.com>\nDescription: vx proxy_apt package %s\n' \
		"$1" "$1" >"$p/DEBIAN/control"
	dpkg-deb -Zgzip --root-owner-group --build "$p" "$repo/pool/main/$1_1.0_all.deb" >/dev/null
}

# index: Packages, Packages.gz and Release of what pool/ holds
index() {
	local d=$repo/dists/stable/main/binary-all f
	: >"$d/Packages"
	for f in "$repo"/pool/main/*.deb; do
		{
			dpkg-deb -f "$f"
			printf 'Filename: pool/main/%s\nSize: %s\nSHA256: %s\n\n' "${f##*/}" \
				"$(stat -c %s "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
		} >>"$d/Packages"
	done
	gzip -9nc "$d/Packages" >"$d/Packages.gz"
	{
		printf 'Suite: stable\nCodename: stable\nArchitectures: all %s\nComponents: main\n' \
			"$(dpkg --print-architecture)"
		printf 'Date: %s\nSHA256:\n' "$(date -uR)"
		for f in Packages Packages.gz; do
			printf ' %s %s main/binary-all/%s\n' "$(sha256sum <"$d/$f" | cut -d' ' -f1)" \
				"$(stat -c %s "$d/$f")" "$f"
		done
	} >"$repo/dists/stable/Release"
}
mkdeb vxa 700000
mkdeb vxb 1200000
mkdeb vxc 300000
index
origin_start

printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n' >"$dir/f.yaml"
serve_start f --no-scheduler --config "$dir/f.yaml"
pf=$(mirror_port f)

# apt-get in a private root through the proxy
root=$dir/aptroot
mkdir -p "$root/etc/apt/apt.conf.d" "$root/etc/apt/preferences.d" \
	"$root/etc/apt/sources.list.d" "$root/var/lib/apt/lists/partial" \
	"$root/var/cache/apt/archives/partial" "$root/var/lib/dpkg" "$dir/dl"
: >"$root/var/lib/dpkg/status"
echo "deb [trusted=yes] $base/apt stable main" >"$root/etc/apt/sources.list"
aptx() {
	(cd "$dir/dl" && APT_CONFIG=/dev/null timeout -k 5 60 apt-get -q -o Dir="$root" \
		-o Dir::State::status="$root/var/lib/dpkg/status" \
		-o Acquire::http::Proxy="http://127.0.0.1:$pf" -o APT::Sandbox::User=root \
		-o Debug::NoLocking=1 -o Acquire::Languages=none "$@") >>"$dir/apt.out" 2>&1 ||
		fail "apt-get $*: $(tail -20 "$dir/apt.out")"
}
aptx update
aptx download vxa vxb vxc

# every .deb byte-exact and a P2P task; the metadata passed through
for p in vxa vxb vxc; do
	f=${p}_1.0_all.deb
	[ "$(sha256sum <"$dir/dl/$f")" = "$(sha256sum <"$repo/pool/main/$f")" ] ||
		fail "$f: wrong sha256"
	id=$("$vx" task-id "$base/apt/pool/main/$f")
	grep -qE "proxy: .* GET $base/apt/pool/main/$f repo - task ${id:0:12}: " "$dir/f.log" ||
		fail "$f did not go through P2P as task ${id:0:12}: $(grep proxy: "$dir/f.log")"
done
for m in dists/stable/Release dists/stable/main/binary-all/Packages.gz; do
	grep -q "GET $base/apt/$m repo -: passed through" "$dir/f.log" ||
		fail "$m was not passed through: $(grep "$m" "$dir/f.log")"
	! grep -qE "GET $base/apt/$m repo - task " "$dir/f.log" || fail "$m became a P2P task"
done

# the repository changes under the same metadata URLs: apt sees the new package
mkdeb vxd 400000
sleep 1 # a new Date in Release, and nginx's Last-Modified a second on
index
aptx update
aptx download vxd
[ "$(sha256sum <"$dir/dl/vxd_1.0_all.deb")" = "$(sha256sum <"$repo/pool/main/vxd_1.0_all.deb")" ] ||
	fail "vxd: wrong sha256"
serve_stop f

# a bad proxy.direct_rules entry stops the daemon, named
printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  direct_rules: ["a[b"]\n' >"$dir/bad.yaml"
rc=0
timeout 20 "$vx" serve --config "$dir/bad.yaml" --data-dir "$dir/bad" \
	--listen 127.0.0.1:0 --socket "$dir/bad.sock" >"$dir/bad.out" 2>"$dir/bad.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a bad proxy.direct_rules entry: vx serve started"
grep -qF "proxy.direct_rules[0]" "$dir/bad.err" || fail "bad direct rule: $(cat "$dir/bad.err")"
echo "PASS: $name"
