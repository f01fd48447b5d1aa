#!/usr/bin/env bash
# proxy_dnf.sh VX: a Yum/DNF repository through `vx serve`'s forward proxy on two hosts of one
# cluster (issue 21, "Sources": Yum/APT/Maven through the forward proxy; spec/proxy.md 5.3),
# with the default rules: packages go P2P, repodata/ straight through.
# - a local repository (nginx) of noarch .rpm files built here with rpmbuild, its repodata/
#   made by createrepo_c;
# - dnf (its own cache, a private --installroot, `proxy=` naming h1's proxy) downloads two
#   packages (install --downloadonly --destdir): dnf checks each against primary.xml's
#   sha256, and the test against the repository's bytes; each .rpm is h1's P2P task;
# - a second dnf with a cold cache through h2 downloads the same packages: h2 takes every byte
#   from peers (h1), none from the upstream, and the origin sent each .rpm once;
# - repomd.xml and the hashed primary/filelists (.xml.gz, which the default P2P rule .gz
#   would take) were passed through by both daemons, never a task;
# - the repository changes (a third package, createrepo_c --update rewrites repomd.xml under
#   its URL): dnf --refresh through h1 sees it and downloads it.
# Security list items (shared/reference/dragonfly-behaviour.md 5.5): none new.
set -euo pipefail
vx=$1
name=proxy_dnf
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/proxy_lib.sh"
need_tools scripts/deps/proxy.apt dnf rpmbuild createrepo_c
peer_lib_init
repo=$dir/www/yum
mkdir -p "$repo" "$dir/rpm/SPECS"

# mkrpm NAME SIZE: a noarch package holding SIZE random bytes (gzip level 0 keeps it that big)
mkrpm() {
	head -c "$2" /dev/urandom >"$dir/rpm/$1.data"
	cat >"$dir/rpm/SPECS/$1.spec" <<SPEC
Name: $1
Version: 1.0
Release: 1
Summary: vx proxy_dnf package $1
License: Apache-2.0
BuildArch: noarch
%description
vx proxy_dnf package $1
%install
mkdir -p %{buildroot}/usr/share/$1
cp %{_topdir}/$1.data %{buildroot}/usr/share/$1/data
%files
/usr/share/$1/data
SPEC
	rpmbuild -bb --define "_topdir $dir/rpm" --define "_rpmdir $repo" \
		--define '_build_id_links none' --define '_binary_payload w0.gzdio' \
		"$dir/rpm/SPECS/$1.spec" >"$dir/rpmbuild.out" 2>&1 ||
		fail "rpmbuild $1: $(tail -20 "$dir/rpmbuild.out")"
}
mkrpm vxa 900000
mkrpm vxb 400000
createrepo_c -q "$repo" || fail "createrepo_c failed"
origin_start
pkg_hosts_start

# dnfx CLIENT PORT ARGS...: dnf with CLIENT's own cache and root through the proxy on PORT
dnfx() {
	local c=$1 port=$2
	shift 2
	mkdir -p "$dir/$c/root" "$dir/$c/dl"
	cat >"$dir/$c/dnf.conf" <<CONF
[main]
gpgcheck=0
reposdir=/dev/null
cachedir=$dir/$c/cache
logdir=$dir/$c/log
persistdir=$dir/$c/persist
install_weak_deps=0
proxy=http://127.0.0.1:$port
[vx]
name=vx
baseurl=$base/yum/
gpgcheck=0
CONF
	timeout -k 5 60 dnf -y -q -c "$dir/$c/dnf.conf" --installroot "$dir/$c/root" \
		--releasever 1 --disableplugin='*' "$@" >>"$dir/dnf.out" 2>&1 ||
		fail "dnf $* through port $port: $(tail -20 "$dir/dnf.out")"
}
same_rpm() { # CLIENT NAME
	local f=$2-1.0-1.noarch.rpm
	[ "$(sha256sum <"$dir/$1/dl/$f")" = "$(sha256sum <"$repo/noarch/$f")" ] ||
		fail "$1: $f: wrong sha256"
}

dnfx a "$p1" install --downloadonly --destdir "$dir/a/dl" vxa vxb
dnfx b "$p2" install --downloadonly --destdir "$dir/b/dl" vxa vxb
for p in vxa vxb; do
	same_rpm a $p
	same_rpm b $p
	pkg_via_p2p "yum/noarch/$p-1.0-1.noarch.rpm"
done
pkg_direct yum/repodata/repomd.xml h1 h2
for f in "$repo"/repodata/*-primary.xml.gz "$repo"/repodata/*-filelists.xml.gz; do
	pkg_direct "yum/repodata/${f##*/}" h1 h2
done

# the repository changes under the same repomd.xml URL: dnf sees the new package
mkrpm vxc 300000
createrepo_c -q --update "$repo" || fail "createrepo_c --update failed"
dnfx a "$p1" --refresh install --downloadonly --destdir "$dir/a/dl" vxc
same_rpm a vxc
echo "PASS: $name"
