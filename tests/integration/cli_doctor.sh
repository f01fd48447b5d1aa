#!/usr/bin/env bash
# cli_doctor.sh VX NO_IO_URING: `vx doctor` on this host, each check made to fail for real as an
# operator would meet it, and the exit code, the text and --json naming the check and the fix
# (issue 20). Security test list (shared/reference/dragonfly-behaviour.md 5.5): 11 (a data
# directory or key open to others is a failure), 16 (a filesystem too small for the store),
# 20 (a certificate that does not chain to the cluster CA is a failure).
#   io_uring:      io_uring_setup refused by a seccomp filter for vx doctor alone (no_io_uring);
#                  the same with kernel.io_uring_disabled=1 seen through a bind mount in a
#                  private mount namespace (root): the fix names the sysctl. The host's sysctl,
#                  which every other test running meanwhile needs, is never written
#   ports:         upload.listen on a port a listener here holds
#   data_dir:      mode 0777; a data directory on a 4 MiB tmpfs (root): free space; on a ramfs
#                  (root; no O_DIRECT, which tmpfs has since Linux 6.6) with direct_io required
#   nofile:        a hard limit of 256 (prlimit)
#   certificates:  the key 0644; a certificate from another CA; then the good pair passes
set -euo pipefail
vx=$1
no_io_uring=$2
name=cli_doctor
dir=$(mktemp -d)
mnt=
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null || true
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $name: $*" >&2
	exit 1
}
. "$(dirname "$0")/tls_lib.sh"

# doctor ARGS...: runs vx doctor --json; $rc, $out (the JSON) and $txt (the text form).
doctor() {
	rc=0
	out=$("$@" --json 2>"$dir/err") || rc=$?
	txt=$("$@" 2>&1) || true
}
# status CHECK [DETAIL_RE]: the status of the first check named CHECK whose detail matches.
status() {
	printf '%s' "$out" | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
for c in d["checks"]:
    if c["name"] == sys.argv[1] and re.search(sys.argv[2], c["detail"]):
        print(c["status"]); break
else:
    print("none")
' "$1" "${2:-.}"
}
# expect_fail CHECK DETAIL_RE FIX_RE WHAT: the run failed (exit 1) on CHECK, saying a fix.
expect_fail() {
	[ "$rc" -eq 1 ] || fail "$4: exit $rc, want 1: $txt"
	[ "$(status "$1" "$2")" = fail ] || fail "$4: $1 not failed: $out"
	grep -qE "$3" <<<"$txt" || fail "$4: no fix like '$3' in: $txt"
	python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["ok"] is False else 1)' \
		<<<"$out" || fail "$4: --json says ok"
}

mkdir -m 700 "$dir/data"
printf 'storage:\n  data_dir: %s\nupload:\n  listen: 127.0.0.1:0\nmetrics_listen: ""\n' \
	"$dir/data" >"$dir/base.yaml"
base=("$vx" doctor --config "$dir/base.yaml")

# A healthy host: no failure (the clock may only warn: this machine's may not run NTP).
doctor "${base[@]}"
[ "$rc" -eq 0 ] || fail "healthy host: exit $rc: $txt"
for c in io_uring data_dir free_space ports nofile; do
	[ "$(status $c)" = ok ] || fail "healthy host: $c is $(status $c): $out"
done
[ "$(status certificates)" = skip ] || fail "no TLS files: certificates not skipped: $out"
case "$(status clock)" in ok | warn) ;; *) fail "clock: $out" ;; esac

# io_uring refused by seccomp for this process only
doctor "$no_io_uring" "${base[@]}"
expect_fail io_uring 'seccomp' 'SystemCallFilter' "io_uring refused"

# refused with kernel.io_uring_disabled=1, as this process sees it (its own mount namespace)
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	echo 1 >"$dir/io_uring_disabled"
	doctor unshare -m sh -c 'mount --bind "$0" /proc/sys/kernel/io_uring_disabled && exec "$@"' \
		"$dir/io_uring_disabled" "$no_io_uring" "${base[@]}"
	expect_fail io_uring 'io_uring_disabled=1' 'sysctl -w kernel.io_uring_disabled=0' \
		"io_uring_disabled=1"
else
	echo "$name: not root or no mount namespace: kernel.io_uring_disabled case not run" >&2
fi

# a port held by another listener
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$dir/port" &
holder=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
[ -n "$port" ] || fail "the port holder did not start"
doctor "${base[@]}" --listen "127.0.0.1:$port"
expect_fail ports "upload.listen 127.0.0.1:$port is in use" 'ss -ltnp' "port held"
kill "$holder"
holder=

# a data directory others may write to
chmod 0777 "$dir/data"
doctor "${base[@]}"
expect_fail data_dir 'writable by others' 'chmod 0700' "data dir 0777"
chmod 0700 "$dir/data"

# an open files limit too low for upload.max_connections
if command -v prlimit >/dev/null; then
	doctor prlimit --nofile=256:256 "${base[@]}"
	expect_fail nofile 'below the' 'LimitNOFILE' "nofile 256"
fi

# a tiny tmpfs: too little free space; a ramfs: no O_DIRECT while storage.direct_io is required
if [ "$(id -u)" -eq 0 ]; then
	mkdir "$dir/fs"
	for fs in tmpfs ramfs; do
		mount -t $fs -o size=4m,mode=0700 $fs "$dir/fs" 2>/dev/null ||
			fail "root cannot mount a $fs"
		mnt=$dir/fs
		printf 'storage:\n  data_dir: %s/vx\n  direct_io: required\nupload:\n  listen: 127.0.0.1:0\nmetrics_listen: ""\n' \
			"$mnt" >"$dir/fs.yaml"
		doctor "$vx" doctor --config "$dir/fs.yaml"
		if [ $fs = tmpfs ]; then
			expect_fail free_space '^[0-4] MiB free' 'larger one' "tiny tmpfs"
		else
			expect_fail direct_io 'O_DIRECT refused' 'ext4|optional' "ramfs O_DIRECT"
		fi
		umount "$mnt"
		mnt=
	done
else
	echo "$name: not root: the small and O_DIRECT-less filesystem cases not run" >&2
fi

# certificates: a key open to others, then a certificate of another CA, then the good pair
tls_need_openssl
tls_ca ca
tls_ca other
tls_host ca good h1 peer
tls_host other stranger h2 peer
tls_yaml() {
	printf 'storage:\n  data_dir: %s\nupload:\n  listen: 127.0.0.1:0\nmetrics_listen: ""\ntls:\n  cert: %s\n  key: %s\n  ca: %s\n' \
		"$dir/data" "$dir/$1.pem" "$dir/$1.key" "$dir/ca/ca.pem" >"$dir/tls.yaml"
}
tls_yaml good
chmod 0644 "$dir/good.key"
doctor "$vx" doctor --config "$dir/tls.yaml"
expect_fail certificates 'good.key' 'chmod 0600' "key 0644"
chmod 0600 "$dir/good.key"
tls_yaml stranger
doctor "$vx" doctor --config "$dir/tls.yaml"
expect_fail certificates 'does not chain' 'cluster CA' "certificate of another CA"
tls_yaml good
doctor "$vx" doctor --config "$dir/tls.yaml"
[ "$rc" -eq 0 ] || fail "good certificate: exit $rc: $txt"
# tls_lib's certificates last 2 days: inside VX_TLS_EXPIRY_WARN_S, so a warning, not a failure
case "$(status certificates 'good.pem')" in ok | warn) ;; *) fail "good certificate: $out" ;; esac

# bad command line: 2
rc=0
"$vx" doctor --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown flag: exit $rc, want 2"
echo "$name: ok"
