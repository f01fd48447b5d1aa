#!/usr/bin/env bash
# peer_private.sh VX: signed URLs do not leak (issue 16 "Fix first" 6, review findings 8, 10;
# shared/reference/dragonfly-behaviour.md 5.5 items 2 and 17).
#
# The origin (signed_origin.py) answers 403 unless X-Amz-Signature is an HMAC of the path and
# X-Amz-Expires, or Basic credentials are given. X-Amz-* are left out of the task id by design,
# so every signed form of one object is one task, as in Dragonfly. The attack: client A fetches
# a signed URL through daemon 1; then client B asks daemon 1 (which holds the bytes) and daemon
# 2 (same scheduler, holds nothing) for the URL without a signature, and with a wrong one.
# Each must fail with the origin's 403: exit code non-zero, no output file. A different valid
# signature gets the bytes from the cluster, the origin serving no body again (only the access
# probe, one byte). Then no daemon log, scheduler log or scheduler database holds a signature
# or a user:pass@ password. And a client whose probe is slow finds no private byte in the
# temporary file its output is written into during the download.
set -euo pipefail
vx=$1
name=peer_private
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init

here=$(cd "$(dirname "$0")" && pwd)
key=vx-origin-key
pass=pw-SECRET-4711
size=$((3 * 1024 * 1024 + 5))
make_file obj "$size"
: >"$dir/origin-access.log"
python3 "$here/signed_origin.py" "$dir/origin.port" "$dir/www" "$dir/origin-access.log" \
	"$key" "vxuser:$pass" 2>"$dir/origin.log" &
bg_pids+=($!)
for i in $(seq 100); do
	[ -s "$dir/origin.port" ] && break
	sleep 0.1
done
[ -s "$dir/origin.port" ] || fail "the signed origin did not start"
oport=$(cat "$dir/origin.port")
obase=http://127.0.0.1:$oport

signed() { # signed EXPIRES [SIGNATURE]: the presigned URL of /obj
	local sig=${2:-$(python3 "$here/signed_origin.py" --sign "$key" /obj "$1")}
	echo "$obase/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAVX%2F20260101&X-Amz-Expires=$1&X-Amz-Signature=$sig"
}
sig1=$(python3 "$here/signed_origin.py" --sign "$key" /obj 3600)
sig2=$(python3 "$here/signed_origin.py" --sign "$key" /obj 7200)

# body bytes the origin sent for /obj, stat and access probes (Range 0-0) left out
body_bytes() {
	awk '$1 == "GET" && $2 == "/obj" && $5 != "bytes=0-0" { s += $4 } END { printf "%d\n", s }' \
		"$dir/origin-access.log"
}

# refused D URL OUT WHAT: the download through D fails with the origin's 403, OUT not created
refused() {
	get "$1" "$2" "$3"
	[ "$rc" -ne 0 ] || fail "$4 through $1 got the private object"
	expect_msg "403"
	[ ! -e "$3" ] || fail "$4 through $1: $3 was created"
}

sched_start
serve_start d1
serve_start d2

# client A: the signed URL through daemon 1
get d1 "$(signed 3600)" "$dir/out/a"
expect_rc 0 "client A, signed URL"
same_file "$dir/www/obj" "$dir/out/a" "client A"
body_a=$(body_bytes)
[ "$body_a" -ge "$size" ] || fail "client A: the origin sent $body_a body bytes, want >= $size"

# client B, no signature, through d2 (which holds nothing yet) while its access probe takes 4 s:
# the pieces d2 fetches from d1 meanwhile must not reach B's output, not even the temporary
# file the output is written into during a download (B owns it and could read it)
get_bg d2 "$obase/obj" "$dir/out/b-slow" b-slow -H "X-Test-Slow-Deny: 4"
leak=
for i in $(seq 60); do
	for f in "$dir"/out/.b-slow.vx-*; do
		[ -f "$f" ] && cmp -s -n 1048576 "$f" "$dir/www/obj" && leak=$f
	done
	[ -z "$leak" ] && [ ! -e "$dir/b-slow.rc" ] || break
	sleep 0.1
done
wait_gets
[ -z "$leak" ] || fail "client B's temporary output held the private object before its proof"
[ "$(cat "$dir/b-slow.rc")" -ne 0 ] || fail "client B (slow refusal) got the private object"
[ ! -e "$dir/out/b-slow" ] || fail "client B (slow refusal): its output was created"

# client B: no signature, and a wrong one, through the daemon holding the bytes and the other
for d in d1 d2; do
	for form in unsigned wrong; do
		if [ $form = unsigned ]; then url="$obase/obj"; else url=$(signed 3600 "${sig1//[0-9]/0}"); fi
		refused "$d" "$url" "$dir/out/b-$d-$form" "client B ($form)"
	done
done

# client C: another valid signature, through both daemons: the bytes come from the cluster
for d in d2 d1; do
	get "$d" "$(signed 7200)" "$dir/out/c-$d"
	expect_rc 0 "client C through $d"
	same_file "$dir/www/obj" "$dir/out/c-$d" "client C through $d"
done
[ "$(body_bytes)" -eq "$body_a" ] ||
	fail "client C: the origin served the body again ($(body_bytes) bytes, $body_a before)"

# download.access_proof_ttl: a proven access is remembered for that long (default 60 s), so the
# same client again through d1 costs the origin no probe; d3 remembers 1 s, so after 2 s its
# client is probed again. Probes are the Range 0-0 GETs of /obj.
probes() {
	awk '$1 == "GET" && $2 == "/obj" && $5 == "bytes=0-0" { n++ } END { printf "%d\n", n }' \
		"$dir/origin-access.log"
}
p0=$(probes)
get d1 "$(signed 7200)" "$dir/out/c-again"
expect_rc 0 "client C again through d1"
[ "$(probes)" -eq "$p0" ] || fail "d1 probed a client it had proven within its access TTL"
printf 'download:\n  access_proof_ttl: 1s\n' >"$dir/d3.yaml"
serve_start d3 --config "$dir/d3.yaml"
get d3 "$(signed 7200)" "$dir/out/c-d3"
expect_rc 0 "client C through d3"
p1=$(probes)
[ "$p1" -gt "$p0" ] || fail "d3 gave a private task to a client it never proved"
sleep 2
get d3 "$(signed 7200)" "$dir/out/c-d3-again"
expect_rc 0 "client C again through d3"
[ "$(probes)" -gt "$p1" ] || fail "d3 did not prove its client again after its 1 s access TTL"

# an Authorization header is a credential too: the right one reads, a wrong one is refused
auth="Authorization: Basic $(printf '%s' "vxuser:$pass" | base64)"
get d2 "$obase/obj" "$dir/out/h" -H "$auth"
expect_rc 0 "Authorization header"
same_file "$dir/www/obj" "$dir/out/h" "Authorization header"
get d2 "$obase/obj" "$dir/out/h-bad" -H "Authorization: Basic $(printf 'vxuser:nope' | base64)"
[ "$rc" -ne 0 ] || fail "a wrong Authorization header got the private object"
expect_msg "403"
[ ! -e "$dir/out/h-bad" ] || fail "a wrong Authorization header: the output was created"

# user-info: allowed by Basic auth, and private too
get d1 "http://vxuser:$pass@127.0.0.1:$oport/obj" "$dir/out/u"
expect_rc 0 "user-info URL"
same_file "$dir/www/obj" "$dir/out/u" "user-info URL"
get d2 "http://127.0.0.1:$oport/obj?X-Amz-Expires=1" "$dir/out/u2"
[ "$rc" -ne 0 ] || fail "an unsigned request got the object after the user-info download"

# a CDN token under a key of the request's filter list (review 16 finding 8): the key is a
# credential of that request, so the task is private and the key's value is redacted. auth_key
# is on the built-in list too; cdn_tok is on no list but the request's own.
toks=()
for k in auth_key cdn_tok; do
	make_file "cdn-$k" 300000
	tok=$(python3 "$here/signed_origin.py" --sign "$key" "/cdn-$k" cdn)
	toks+=("$tok")
	get d1 "$obase/cdn-$k?$k=$tok" "$dir/out/cdn-$k" --filtered-query-param "$k"
	expect_rc 0 "CDN token $k"
	same_file "$dir/www/cdn-$k" "$dir/out/cdn-$k" "CDN token $k"
	for d in d1 d2; do
		refused "$d" "$obase/cdn-$k" "$dir/out/cdn-$k-$d-none" "no CDN token ($k)"
	done
done

# a scheduler that says "private" only in a pushed PARENTS event (review 16 finding 10): the
# unsigned client of d5 must still prove its access (403), not get the bytes from d1
python3 "$here/private_event_sched.py" "$dir/pev.port" "$dir/www/obj" 4194304 \
	"${serve_port[d1]}" 2>"$dir/pev.log" &
bg_pids+=($!)
for i in $(seq 100); do
	[ -s "$dir/pev.port" ] && break
	sleep 0.1
done
[ -s "$dir/pev.port" ] || fail "private_event_sched.py did not start"
real_sched_port=$sched_port
sched_port=$(cat "$dir/pev.port")
serve_start d5
sched_port=$real_sched_port
refused d5 "$obase/obj" "$dir/out/pev" "a client told private only by an event"

# nothing logged or stored holds a secret (stores' own metadata aside: 0600 in 0700)
for f in "$dir"/d[123].log "$dir"/d[123].out "$dir"/sched.log "$dir"/sched.out; do
	for s in "$sig1" "$sig2" "$pass" "${auth#Authorization: Basic }" "${toks[@]}"; do
		! grep -q -- "$s" "$f" || fail "$(basename "$f") holds a secret"
	done
done
python3 - "$dir/sched.db" "$sig1" "$sig2" "$pass" "${toks[@]}" <<'PY' || fail "the scheduler's database holds a secret"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = 0
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
    for row in db.execute('SELECT * FROM "%s"' % t):
        rows += 1
        for s in sys.argv[2:]:
            if s in " ".join(str(c) for c in row):
                print("table %s: %r" % (t, row))
                sys.exit(1)
if rows == 0:
    sys.exit("the scheduler's database is empty: nothing was checked")
PY
for d in d1 d2; do
	m=$(stat -c %a "$dir/$d/metadata")
	[ "$m" = 700 ] || fail "$d/metadata is mode $m, want 700"
	m=$(stat -c %a "$dir/$d/metadata/store.db")
	[ "$m" = 600 ] || fail "$d/metadata/store.db is mode $m, want 600"
done
echo "$name: ok"
