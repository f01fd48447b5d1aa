#!/usr/bin/env bash
# init_runtime: `vx init containerd|crio|podman` writes mirror configuration that the real
# runtimes accept and use. containerd: a containerd of the test's own pulls the image through
# the hosts dir vx init wrote (the registry front standing in for the mirror counts each blob
# once, so the mirror entry was used, not the fallback). crio/podman: skopeo (the same
# containers/image library) pulls with the drop-in vx init wrote. Then: idempotence (a second
# run changes nothing, not even the inode), a changed mirror replaces the file with a backup,
# --dry-run prints a diff that `patch` applies and writes nothing, a file vx init did not write
# is kept without --force, symlinks out of the config dir are refused.
# Security items (shared/reference/dragonfly-behaviour.md 5.5): none of the list; the symlink
# cases are this command's own (a root tool must not write through a link out of its dir).
# usage: init_runtime.sh VX SOURCE_DIR
set -euo pipefail
vx=$1
name=init_runtime
. "$2/tests/integration/peer_lib.sh"
. "$2/tests/integration/registry_lib.sh"
peer_lib_init
registry_lib_init

reg_start plain
reg_push
ctd_start
certs=$dir/certs
hosts=$certs/$reg_origin/hosts.toml
init_ctd=("$vx" init containerd --config-dir "$certs" --mirror "http://$reg_mirror"
	--upstream "http://$reg_origin")

# --dry-run: a diff, no file, no directory.
"${init_ctd[@]}" --dry-run >"$dir/dry.out" || fail "vx init --dry-run failed"
[ ! -e "$certs" ] || fail "--dry-run created $certs"
grep -qx "+server = \"http://$reg_origin\"" "$dir/dry.out" || fail "dry run shows no server line"
grep -qx "+\[host.\"http://$reg_mirror\"\]" "$dir/dry.out" || fail "dry run shows no mirror"

# The real run; containerd pulls through it, every blob once through the mirror.
"${init_ctd[@]}" >"$dir/init.out" || fail "vx init containerd failed"
[ "$(stat -c %a "$hosts")" = 644 ] || fail "hosts.toml has mode $(stat -c %a "$hosts")"
reg_log_reset
ctr_pull "$certs"
reg_expect_each_once

# The dry run's diff, applied to nothing, is the file that was written.
mkdir -p "$dir/patched"
(cd "$dir/patched" && sed -e "s|^+++ .*|+++ hosts.toml|" "$dir/dry.out" |
	awk '/^--- /{n++} n == 1' | patch -s -p0) || fail "patch could not apply the dry run's diff"
cmp -s "$dir/patched/hosts.toml" "$hosts" || fail "the dry run's diff is not what was written"

# Idempotence: nothing changes the second time, not even the inode; no backup.
ino=$(stat -c %i "$hosts")
"${init_ctd[@]}" >"$dir/init2.out" || fail "second vx init failed"
grep -q "up to date" "$dir/init2.out" || fail "second run did not say up to date"
[ "$(stat -c %i "$hosts")" = "$ino" ] || fail "second run replaced the file"
! ls "$hosts".vx-backup-* >/dev/null 2>&1 || fail "second run made a backup"

# A changed mirror: --dry-run shows the change and writes nothing; the run keeps a backup.
cp "$hosts" "$dir/hosts.before"
"$vx" init containerd --config-dir "$certs" --mirror http://127.0.0.1:1 \
	--upstream "http://$reg_origin" --dry-run >"$dir/dry2.out"
grep -qx -- "-\[host.\"http://$reg_mirror\"\]" "$dir/dry2.out" || fail "no - line in the diff"
grep -qx -- "+\[host.\"http://127.0.0.1:1\"\]" "$dir/dry2.out" || fail "no + line in the diff"
cmp -s "$hosts" "$dir/hosts.before" || fail "--dry-run changed the file"
"$vx" init containerd --config-dir "$certs" --mirror http://127.0.0.1:1 \
	--upstream "http://$reg_origin" >/dev/null || fail "vx init with a new mirror failed"
bak=$(ls "$hosts".vx-backup-*) || fail "no backup kept"
cmp -s "$bak" "$dir/hosts.before" || fail "the backup is not the old file"
grep -q '127.0.0.1:1"' "$hosts" || fail "the new mirror was not written"
# The mirror is down now: containerd falls back to the server (the registry) and succeeds.
ctr_pull "$certs"
"${init_ctd[@]}" >/dev/null # back to the working mirror

# A file vx init did not write is kept without --force, replaced (with a backup) with it.
mkdir -p "$certs/own.example"
printf 'server = "https://own.example"\n' >"$certs/own.example/hosts.toml"
if "$vx" init containerd --config-dir "$certs" --upstream own.example >"$dir/own.out" 2>&1; then
	fail "vx init replaced a file it did not write without --force"
fi
grep -q -- "--force" "$dir/own.out" || fail "the refusal does not name --force"
grep -qx 'server = "https://own.example"' "$certs/own.example/hosts.toml" ||
	fail "the refused file was changed"
"$vx" init containerd --config-dir "$certs" --upstream own.example --force >/dev/null ||
	fail "--force did not replace the file"
grep -q "^# Written by vx init" "$certs/own.example/hosts.toml" || fail "--force wrote nothing"
grep -qx 'server = "https://own.example"' "$certs"/own.example/hosts.toml.vx-backup-* ||
	fail "--force kept no backup"

# Symlinks out of the config dir are refused (a directory and a file), nothing written there;
# a symlink inside it is followed.
mkdir -p "$dir/outside"
ln -s "$dir/outside" "$certs/out.example"
if "$vx" init containerd --config-dir "$certs" --upstream out.example 2>"$dir/sym.err"; then
	fail "vx init wrote through a directory symlink out of the config dir"
fi
[ -z "$(ls -A "$dir/outside")" ] || fail "something was written outside the config dir"
mkdir -p "$certs/file.example"
printf 'precious\n' >"$dir/outside/precious"
ln -s "$dir/outside/precious" "$certs/file.example/hosts.toml"
if "$vx" init containerd --config-dir "$certs" --upstream file.example --force 2>"$dir/sym.err"; then
	fail "vx init wrote through a file symlink out of the config dir"
fi
grep -q "symlink" "$dir/sym.err" || fail "the refusal does not say symlink"
[ "$(cat "$dir/outside/precious")" = precious ] || fail "the file outside was changed"
mkdir -p "$certs/in.example" "$certs/real"
printf '# Written by vx init: old\n' >"$certs/real/t.toml"
ln -s ../real/t.toml "$certs/in.example/hosts.toml"
"$vx" init containerd --config-dir "$certs" --upstream in.example >/dev/null ||
	fail "vx init refused a symlink inside the config dir"
grep -q 'server = "https://in.example"' "$certs/real/t.toml" || fail "the link target was not written"

# _default for all registries, and bad names refused before anything is written.
"$vx" init containerd --config-dir "$certs" --all-registries >/dev/null
grep -q '^\[host."http://127.0.0.1:4001"\]' "$certs/_default/hosts.toml" || fail "no _default"
for bad in ../x 'a"b' 'host/path' 'user@host' 'h:0' 'h:99999' '.' '..' 'ftp://h'; do
	rc=0
	"$vx" init containerd --config-dir "$dir/bad" --upstream "$bad" 2>/dev/null || rc=$?
	[ "$rc" = 2 ] || fail "--upstream '$bad' gave exit $rc, not 2"
done
[ ! -e "$dir/bad" ] || fail "a refused command line created its config dir"

# crio and podman: one drop-in; skopeo (containers/image, as CRI-O and podman) pulls with it.
for rt in crio podman; do
	cdir=$dir/containers-$rt
	"$vx" init "$rt" --config-dir "$cdir" --mirror "http://$reg_mirror" \
		--upstream "http://$reg_origin" >/dev/null || fail "vx init $rt failed"
	conf=$cdir/registries.conf.d/50-vx-mirror.conf
	[ "$(stat -c %a "$conf")" = 644 ] || fail "$rt drop-in has mode $(stat -c %a "$conf")"
	reg_log_reset
	skopeo_pull_conf "$conf" "$dir/out/skopeo-$rt"
	reg_expect_each_once
	ino=$(stat -c %i "$conf")
	"$vx" init "$rt" --config-dir "$cdir" --mirror "http://$reg_mirror" \
		--upstream "http://$reg_origin" | grep -q "up to date" || fail "$rt: second run changed"
	[ "$(stat -c %i "$conf")" = "$ino" ] || fail "$rt: second run replaced the file"
done
if "$vx" init podman --config-dir "$dir/c2" --all-registries 2>/dev/null; then
	fail "--all-registries accepted for podman"
fi
echo "$name: ok"
