#!/usr/bin/env bash
# cache_tls.sh VX: the persistent cache in a cluster whose daemons joined by token (spec/control.md
# sections 10-11: TLS on the control channel and between peers): replicas and an export from the
# holders travel over the TLS data plane (each holder must present the certificate of the host
# id the scheduler named) and the export matches.
# Security list (shared/reference/dragonfly-behaviour.md 5.5): 20.
set -euo pipefail
vx=$1
name=cache_tls
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/cache_lib.sh"
peer_lib_init

sched_start 0.0.0.0:0
peer_tok=$("$vx" token create --role peer --uses 3 --db "$dir/sched.db" 2>>"$dir/cli.log")
serve_start A --join "$peer_tok"
serve_start B --join "$peer_tok"
serve_start C --join "$peer_tok"
for n in A B C; do
	[ -s "$dir/$n/tls/cert.pem" ] || fail "$n did not join with a certificate"
done
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$dir/f.bin"
cache A import "$dir/f.bin" --replicas 2 --piece-length 1MiB
[ "$rc" -eq 0 ] || fail "import: exit $rc: $err"
id=$out
wait_holders A "$id" 2
cache C export "$id" -O "$dir/out/c.bin"
[ "$rc" -eq 0 ] || fail "export over TLS: exit $rc: $err"
cmp -s "$dir/f.bin" "$dir/out/c.bin" || fail "the export over TLS differs"
echo "$name: ok"
