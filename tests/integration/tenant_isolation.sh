#!/usr/bin/env bash
# tenant_isolation.sh VX: two tenants in one TLS cluster (spec/control.md section 10, tenants;
# spec/dataplane.md section 10; spec/peer.md "TLS"). A real scheduler with its own CA, two
# daemons joined with a team-a token (`vx token create --tenant team-a`: a1, a2) and one with a
# team-b token (b1) on loopback, an nginx origin; the fakes hold certificates of the same CA
# (the openssl CLI with the CA's key). The attacks:
#   1. a1 fetches a file, a2 gets it from a1 (the control: tenants share within themselves)
#   2. b1 fetches the same URL (the same task id): the scheduler does not let it join team-a's
#      task, so b1 is never offered a1 or a2 and fetches from the origin itself, byte for byte
#   3. a fake fetcher with team-b's certificate asks a1's and a2's upload ports for team-a's
#      piece: answered as an unknown task, nothing of the bytes; a team-a certificate and a
#      seed certificate get the piece on the same ports (the check is per task, per request)
#   4. a fake host with team-b's certificate registers team-a's task claiming every piece (to
#      be offered as a parent and poison it): refused (-13); a fake of team-a is accepted
#   5. the open API with a team-b token (POST /oapi/v1/tokens "tenant"): team-a's task is not
#      listed, not shown (404), and its delete_task job is refused as unknown (404) and made
#      by nobody (the task stays); a team-b token cannot make a team-a token; the team-a token
#      lists it, the operator's (no tenant) sees every task
#   6. the open API's other views with the two tenants' tokens: hosts, stats, the blocklist and
#      the token list show a tenant its own only (the operator's show all); a tenant cannot
#      block another tenant's host, lift another tenant's entry or revoke another's token; the
#      job list, a job and its cancel likewise (a job is its maker's token's tenant's)
#   7. a seed (no tenant: it fetches for every tenant) joins; a1 fetches a new file, which the
#      scheduler has the seed fetch for team-a: the seed's upload port serves that task to
#      team-a's certificate and a seed's, and answers team-b's fake fetcher, a tenant-less
#      peer's and team-b's own seed as for an unknown task (the seed learnt the task's tenant
#      from the scheduler, control key 89)
# Security test list (shared/reference/dragonfly-behaviour.md 5.5): 17 (no poisoned data: a
# host of another tenant never becomes a parent), 20 (certificates bound to identity: the
# tenant is the certificate's, never claimed; a seed of one tenant is no seed of all; a seed
# serves a task only to the tenant it fetched it for), 4 (least privilege: a tenant's token
# reads and deletes only its tenant's tasks, and sees and changes only its own hosts, stats,
# blocklist entries and tokens).
# Every wait is bounded; nothing depends on how long something took.
set -euo pipefail
vx=$1
name=tenant_isolation
. "$(dirname "$0")/peer_lib.sh"
. "$(dirname "$0")/tls_lib.sh"
. "$(dirname "$0")/manager_lib.sh"
peer_lib_init
tls_need_openssl
here=$(dirname "$(realpath "$0")")

sched_start 0.0.0.0:0 # its own CA: TLS on the control channel whatever the address
ca=$dir/sched.db.pki/ca.pem
token() { "$vx" token create --role peer --db "$dir/sched.db" "$@" 2>>"$dir/cli.log"; }
tok_a=$(token --tenant team-a --uses 2)
tok_b=$(token --tenant team-b)
grep -q 'join token [0-9a-f]* (peer, tenant team-a, 2 uses' "$dir/cli.log" ||
	fail "vx token create did not name the tenant: $(cat "$dir/cli.log")"
rc=0
token --tenant 'Team A' >/dev/null || rc=$?
[ "$rc" = 2 ] || fail "vx token create --tenant 'Team A': exit $rc, want 2 (not a tenant name)"
rc=0
token --tenant team-b --role seed >/dev/null || rc=$?
[ "$rc" = 2 ] || fail "vx token create --role seed --tenant: exit $rc, want 2 (a seed is every tenant's)"
# the fakes hold real cluster certificates (signed by the scheduler's CA key)
fake() { # NAME HOSTID ROLE [TENANT]
	tls_cert_by "$ca" "$dir/sched.db.pki/ca.key" "$1" "$2" \
		"URI:urn:vx:host:$2,URI:urn:vx:role:$3${4:+,URI:urn:vx:tenant:$4},IP:127.0.0.1"
}
fake a3 a3-00000000000000b3 peer team-a
fake b2 b2-00000000000000c2 peer team-b
fake seed seed-00000000000000a1 seed
fake bseed bseed-00000000000000c3 seed team-b # a seed of team-b from an operator's own PKI

size=$((9 * 1024 * 1024)) # three 4 MiB pieces
make_file f.bin "$size"
origin_start
serve_start a1 --join "$tok_a"
serve_start a2 --join "$tok_a"
serve_start b1 --join "$tok_b"
# the join token's tenant is in the certificate each got
for n in a1:team-a a2:team-a b1:team-b; do
	openssl x509 -in "$dir/${n%%:*}/tls/cert.pem" -noout -ext subjectAltName |
		grep -q "URI:urn:vx:tenant:${n#*:}" || fail "${n%%:*}'s certificate names no ${n#*:}"
done

# 1. within team-a: a2 fetches from a1
get a1 "$base/f.bin" "$dir/out/a1"
expect_rc 0 "a1's download"
same_file "$dir/www/f.bin" "$dir/out/a1" "a1"
task=$(json task_id)
get a2 "$base/f.bin" "$dir/out/a2"
expect_rc 0 "a2's download"
same_file "$dir/www/f.bin" "$dir/out/a2" "a2"
[ "$(json bytes_from_peers)" -eq "$size" ] || fail "a2 did not get the file from a1: $out"

# 2. team-b, the same URL: never a parent of team-a; the origin serves it
get b1 "$base/f.bin" "$dir/out/b1"
expect_rc 0 "b1's download"
same_file "$dir/www/f.bin" "$dir/out/b1" "b1"
[ "$(json task_id)" = "$task" ] || fail "b1's task id differs: the attack below tests nothing"
[ "$(json bytes_from_peers)" -eq 0 ] || fail "b1 got team-a's bytes from a peer: $out"
b1_id=$(grep -o 'ready: [^,]*' "$dir/b1.out" | cut -d' ' -f2)
grep -q "host $b1_id (tenant 'team-b') may not join task ${task:0:12}" "$dir/sched.log" || fail "the scheduler did not refuse b1's register of team-a's task"
sent=$(origin_body_bytes /f.bin)
[ "$sent" -eq $((2 * size)) ] || fail "the origin sent $sent bytes, want $((2 * size)) (a1, b1)"

# 3. the data plane: team-b's certificate asks team-a's hosts for the piece
piece() { python3 "$here/vortex_piece.py" "${serve_port[$1]}" "$task" 0 "$ca" \
	"$dir/$2.pem" "$dir/$2.key"; }
want="piece $((4 * 1024 * 1024))"
for n in a1 a2; do
	res=$(piece "$n" b2)
	[ "$res" = "error 0xff" ] || fail "$n answered team-b's fetcher with '$res', want error 0xff"
	res=$(piece "$n" a3)
	[ "$res" = "$want" ] || fail "$n did not serve team-a's own certificate: '$res'"
	res=$(piece "$n" seed)
	[ "$res" = "$want" ] || fail "$n did not serve a seed certificate: '$res'"
	res=$(piece "$n" bseed)
	[ "$res" = "error 0xff" ] || fail "$n served team-a's task to team-b's seed: '$res'"
done
# b1 holds its own copy: it serves team-b, not team-a
[ "$(piece b1 b2)" = "$want" ] || fail "b1 did not serve its own tenant"
[ "$(piece b1 a3)" = "error 0xff" ] || fail "b1 served team-a's certificate"

# 4. the control plane: a fake team-b host registers team-a's task claiming every piece
reg() { VX_REGISTER_TASK=$task timeout 30 python3 "$here/tls_hello.py" "$sched_port" "$ca" \
	"$dir/$1.pem" "$dir/$1.key" "$2" "${3:-0}" 2>&1; }
res=$(reg b2 b2-00000000000000c2)
[ "$res" = "answer 0 then -13" ] || fail "team-b registering team-a's task: '$res', want -13"
res=$(reg bseed bseed-00000000000000c3 1)
[ "$res" = "answer 0 then -13" ] || fail "team-b's seed registering team-a's task: '$res', want -13"
res=$(reg a3 a3-00000000000000b3)
[ "$res" = "answer 0 then 0" ] || fail "team-a registering its own task: '$res', want 0"

# 5. the open API: a tenant's token sees and evicts only its tenant's tasks
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap failed: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
api() { api_at "$api_port" "$@"; }
expect() { expect_at "$api_port" "$@"; }
mint() { # TENANT: a token of it
	api POST /oapi/v1/tokens "{\"name\":\"$1\",\"scopes\":[\"cluster:read\",\"cluster:admin\",\"task:delete\",\"job:read\",\"job:write\",\"token:admin\"],\"tenant\":\"$1\"}" \
		"$admin" | sed -n 's/^200 .*"token": *"\([^"]*\)".*/\1/p'
}
tok_ta=$(mint team-a)
tok_tb=$(mint team-b)
[ -n "$tok_ta" ] && [ -n "$tok_tb" ] || fail "no tenant tokens made"
id_ta=$(api GET /oapi/v1/tokens - "$admin" | python3 -c 'import json,sys
print([t["id"] for t in json.loads(sys.stdin.read().split(" ",1)[1]) if t["name"]=="team-a"][0])')
expect 200 "team-a lists tasks" GET /oapi/v1/tasks - "$tok_ta" | grep -q "$task" ||
	fail "team-a's token does not list its own task"
expect 200 "the operator lists tasks" GET /oapi/v1/tasks - "$admin" | grep -q "$task" ||
	fail "the operator's token does not list team-a's task"
! expect 200 "team-b lists tasks" GET /oapi/v1/tasks - "$tok_tb" | grep -q "$task" ||
	fail "team-b's token lists team-a's task"
expect 404 "team-b shows team-a's task" GET "/oapi/v1/tasks/$task" - "$tok_tb" >/dev/null
expect 200 "team-a shows its task" GET "/oapi/v1/tasks/$task" - "$tok_ta" >/dev/null
expect 404 "an unknown task" GET "/oapi/v1/tasks/$(printf '%064d' 0)" - "$admin" >/dev/null
expect 404 "team-b deletes team-a's task" POST /oapi/v1/jobs \
	"{\"type\":\"delete_task\",\"args\":{\"url\":\"$base/f.bin\"}}" "$tok_tb" >/dev/null
expect 403 "team-b makes a team-a token" POST /oapi/v1/tokens \
	'{"name":"x","scopes":["cluster:read"],"tenant":"team-a"}' "$tok_tb" >/dev/null
expect 200 "the task after team-b's delete" GET "/oapi/v1/tasks/$task" - "$admin" >/dev/null
expect 200 "team-b's job list" GET /oapi/v1/jobs - "$admin" | grep -q delete_task &&
	fail "team-b's refused delete_task made a job"
# and the data plane still holds it: a1 serves a2's tenant
[ "$(piece a1 a3)" = "$want" ] || fail "a1 lost team-a's task after team-b's delete"

# 6. hosts, stats, the blocklist and the token list, per tenant
host_id() { grep -o 'ready: [^,]*' "$dir/$1.out" | cut -d' ' -f2; }
a1_id=$(host_id a1)
a2_id=$(host_id a2)
has() { grep -q "\"$2\"" <<<"$1"; }
hosts_a=$(expect 200 "team-a's hosts" GET /oapi/v1/hosts - "$tok_ta")
hosts_b=$(expect 200 "team-b's hosts" GET /oapi/v1/hosts - "$tok_tb")
hosts_o=$(expect 200 "the operator's hosts" GET /oapi/v1/hosts - "$admin")
has "$hosts_a" "$a1_id" && has "$hosts_a" "$a2_id" || fail "team-a does not see its hosts"
has "$hosts_a" "$b1_id" && fail "team-a's token lists team-b's host b1: $hosts_a"
has "$hosts_b" "$b1_id" || fail "team-b does not see its host"
has "$hosts_b" "$a1_id" || has "$hosts_b" "$a2_id" && fail "team-b's token lists team-a's hosts: $hosts_b"
for h in "$a1_id" "$a2_id" "$b1_id"; do has "$hosts_o" "$h" || fail "the operator misses $h"; done
stat() { # TOKEN FIELD: totals.FIELD or scheduler.FIELD of GET /oapi/v1/stats
	expect 200 "stats" GET /oapi/v1/stats - "$1" | python3 -c 'import json,sys
o=json.load(sys.stdin); print({**o["totals"], **o["scheduler"]}[sys.argv[1]])' "$2"
}
[ "$(stat "$tok_tb" bytes_from_peers)" -eq 0 ] || fail "team-b's stats count team-a's peer bytes"
[ "$(stat "$tok_ta" bytes_from_peers)" -eq "$size" ] || fail "team-a's stats miss its peer bytes"
[ "$(stat "$tok_tb" tasks)" -eq 0 ] || fail "team-b's stats count team-a's task"
nb=$(grep -o '"id"' <<<"$hosts_b" | wc -l)
[ "$(stat "$tok_tb" hosts)" -eq "$nb" ] || fail "team-b's stats count hosts it cannot list"
[ "$(stat "$admin" hosts)" -gt "$nb" ] || fail "the operator's stats count no more hosts than team-b's"
expect 404 "team-b blocks team-a's a1" POST /oapi/v1/blocklist "{\"host\":\"$a1_id\"}" \
	"$tok_tb" >/dev/null
expect 200 "team-a blocks its a2" POST /oapi/v1/blocklist "{\"host\":\"$a2_id\"}" "$tok_ta" >/dev/null
has "$(expect 200 "team-a's blocklist" GET /oapi/v1/blocklist - "$tok_ta")" "$a2_id" ||
	fail "team-a's blocklist misses its entry"
has "$(expect 200 "the operator's blocklist" GET /oapi/v1/blocklist - "$admin")" "$a2_id" ||
	fail "the operator's blocklist misses team-a's entry"
has "$(expect 200 "team-b's blocklist" GET /oapi/v1/blocklist - "$tok_tb")" "$a2_id" &&
	fail "team-b's token lists team-a's blocklist entry"
expect 404 "team-b lifts team-a's entry" DELETE "/oapi/v1/blocklist/$a2_id" - "$tok_tb" >/dev/null
expect 200 "team-a lifts its entry" DELETE "/oapi/v1/blocklist/$a2_id" - "$tok_ta" >/dev/null
toks_b=$(expect 200 "team-b's tokens" GET /oapi/v1/tokens - "$tok_tb")
has "$toks_b" team-b || fail "team-b's token list misses its own token"
has "$toks_b" team-a && fail "team-b's token list shows team-a's token: $toks_b"
[ "$(grep -o '"id"' <<<"$toks_b" | wc -l)" = 1 ] || fail "team-b sees tokens not its own: $toks_b"
expect 404 "team-b revokes team-a's token" DELETE "/oapi/v1/tokens/$id_ta" - "$tok_tb" >/dev/null
expect 200 "team-a's token after team-b's revoke" GET /oapi/v1/tasks - "$tok_ta" >/dev/null
# jobs: team-a's get_task job (its URL, its holders) is not team-b's to list, read or cancel
job_a=$(expect 200 "team-a's get_task" POST /oapi/v1/jobs \
	"{\"type\":\"get_task\",\"args\":{\"url\":\"$base/f.bin\"}}" "$tok_ta" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
job_ids() { expect 200 "$1's job list" GET /oapi/v1/jobs - "$2" |
	python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)))'; }
grep -qw "$job_a" <<<"$(job_ids team-a "$tok_ta")" || fail "team-a does not list its own job"
grep -qw "$job_a" <<<"$(job_ids operator "$admin")" || fail "the operator does not list team-a's job"
grep -qw "$job_a" <<<"$(job_ids team-b "$tok_tb")" && fail "team-b's token lists team-a's job"
expect 404 "team-b reads team-a's job" GET "/oapi/v1/jobs/$job_a" - "$tok_tb" >/dev/null
expect 404 "team-b cancels team-a's job" DELETE "/oapi/v1/jobs/$job_a" - "$tok_tb" >/dev/null
expect 200 "team-a reads its job" GET "/oapi/v1/jobs/$job_a" - "$tok_ta" >/dev/null


# 7. a seed fetches for team-a: it serves that task to team-a (and seeds) only
fake pub pub-00000000000000d4 peer # a peer of no tenant
seed_tok=$("$vx" token create --role seed --db "$dir/sched.db" 2>>"$dir/cli.log")
serve_start seed --seed --join "$seed_tok"
make_file g.bin "$size"
get a1 "$base/g.bin" "$dir/out/a1g"
expect_rc 0 "a1's download of g.bin"
same_file "$dir/www/g.bin" "$dir/out/a1g" "a1 (g.bin)"
gtask=$(json task_id)
grep -q "seed: fetching $base/g.bin for the swarm" "$dir/seed.log" ||
	fail "the seed did not fetch g.bin for a1: the attack below tests nothing"
task=$gtask
# the seed's copy is complete once a1 has all of it from the seed (or the origin): bounded wait
for _ in $(seq 1 100); do
	[ "$(piece seed a3)" = "$want" ] && break
	sleep 0.1
done
[ "$(piece seed a3)" = "$want" ] || fail "the seed did not serve team-a's own task to team-a"
[ "$(piece seed seed)" = "$want" ] || fail "the seed did not serve team-a's task to a seed"
for f in b2 pub bseed; do
	res=$(piece seed "$f")
	[ "$res" = "error 0xff" ] || fail "the seed served team-a's task to $f: '$res'"
done

for n in a1 a2 b1 seed; do serve_stop "$n"; done
echo "$name: ok"
