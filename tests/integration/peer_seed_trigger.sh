#!/usr/bin/env bash
# peer_seed_trigger.sh VX: a peer-token holder against a seed on another host (review of issue
# 16, findings 1, 2 and 6; shared/reference/dragonfly-behaviour.md 5.5 items 8 and 19). The
# seed runs in its own network namespace (a veth pair on private 10.x addresses), so it is a
# host of its own; the attacker is a fake scheduler client on the scheduler's host, connecting
# over loopback (seen as 127.0.0.1, an address every host has):
#  1. it registers a URL of a loopback-only service of the seed's host: the seed must not fetch
#     it (the requester is not on its host: the scheduler says so, key 66), the service sees no
#     request and the seed stores nothing;
#  2. it registers an s3:// URL (the seed has AWS credentials and an endpoint in its
#     environment) and an http URL with user-info: the seed refuses both before connecting,
#     the endpoint sees no connection;
#  6. it binds the host ids a seed used to have (IP-HOSTNAME-PORT-seed, HOSTNAME-seed) before
#     the seed starts: the seed still joins (its id is derived from its host key), and keeps
#     the same id across a restart with the same data directory.
# Needs root and ip netns (skips with 77 otherwise).
set -euo pipefail
vx=$1
name=peer_seed_trigger
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
	echo "$name: needs root and ip, skipping" >&2
	exit 77
fi
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
fake_py=$(dirname "$0")/fake_sched_client.py
ns=vxst$$
veth=vxst$$
net=10.231.$(($$ % 250))
seed_ip=$net.2
host_ip=$net.1
# the namespace and the veth pair go first (deleting one end deletes both; what runs in the
# namespace is ours and stopped by peer_lib_cleanup), then peer_lib_cleanup with our status
st_cleanup() {
	local rc=$?
	ip netns del "$ns" 2>/dev/null || true
	ip link del "${veth}a" 2>/dev/null || true
	(exit "$rc")
	peer_lib_cleanup
}
trap st_cleanup EXIT
ip netns add "$ns" 2>/dev/null || {
	echo "$name: cannot create a network namespace, skipping" >&2
	exit 77
}
ip link add "${veth}a" type veth peer name "${veth}b"
ip link set "${veth}b" netns "$ns"
ip addr add "$host_ip/30" dev "${veth}a"
ip link set "${veth}a" up
ip netns exec "$ns" ip addr add "$seed_ip/30" dev "${veth}b"
ip netns exec "$ns" ip link set "${veth}b" up
ip netns exec "$ns" ip link set lo up

fake() { # ARGS...: the hostile client, on the scheduler's host, from 127.0.0.1
	sched_peer_token="$sched_peer_token" timeout 30 python3 "$fake_py" "$@"
}
# the seed's answer to a trigger for task $1: refused, failed or complete (bounded)
seed_answer() {
	wait_line "$dir/seed.log" "trigger for ${1:0:12} refused|task ${1:0:12} (complete|failed)" \
		"${serve_pid[seed]}" "the seed's answer to $2" >/dev/null
}

# a loopback-only service on the seed's host: anything it is asked is logged
mkdir -p "$dir/meta"
echo "AKIA-SEED-HOST-SECRET" >"$dir/meta/creds"
meta_port=$(free_port)
ip netns exec "$ns" python3 -m http.server "$meta_port" --bind 127.0.0.1 \
	--directory "$dir/meta" >"$dir/meta.log" 2>&1 &
bg_pids+=($!)
# a fake S3 endpoint reachable from the seed: it logs every connection and answers nothing
cat >"$dir/endpoint.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, a = s.accept()
    print("connection from %s" % a[0], flush=True)
    c.close()
PY
python3 "$dir/endpoint.py" "$host_ip" >"$dir/endpoint.out" 2>&1 &
bg_pids+=($!)
ep_port=$(wait_line "$dir/endpoint.out" '^[0-9]+$' "$!" "fake endpoint")

sched_start 0.0.0.0:0 --insecure-plaintext
# the seed, as a host of its own, with cloud credentials in its environment
serve_wrap=(ip netns exec "$ns")
AWS_ENDPOINT_URL=http://$host_ip:$ep_port AWS_ACCESS_KEY_ID=AKIASEEDKEY \
	AWS_SECRET_ACCESS_KEY=seedsecret AWS_REGION=us-east-1 \
	serve_start seed --no-scheduler --seed --listen "$seed_ip:0" --insecure-plaintext \
	--scheduler "$host_ip:$sched_port" --token-file "$dir/token.seed"
serve_wrap=()

# 1: the loopback-only service of the seed's host, for a requester that is not on it
url=http://127.0.0.1:$meta_port/creds
id=$("$vx" task-id "$url")
fake "$sched_port" 127.0.0.1 evil-1 register "$id" "$url" >"$dir/fake-1.json" ||
	fail "fake client (1) failed: $(cat "$dir/fake-1.json")"
seed_answer "$id" "a loopback trigger"
! grep -q "GET /creds" "$dir/meta.log" ||
	fail "1: the seed fetched its own loopback service for a requester on another host"
! grep -q "task ${id:0:12} complete" "$dir/seed.log" ||
	fail "1: the seed completed a loopback task for another host"
[ ! -s "$dir/seed/content/tasks/${id:0:3}/$id" ] ||
	fail "1: the seed stored the bytes of its loopback service"

# 2: schemes that would use the seed's own credentials, and user-info
n=0
for url in "s3://seed-private-bucket/secret.txt" \
	"http://user:pass@$host_ip:$ep_port/private.bin"; do
	id=$("$vx" task-id "$url")
	n=$((n + 1))
	fake "$sched_port" 127.0.0.1 "evil-2-$n" register "$id" "$url" >"$dir/fake-2.json" ||
		fail "fake client (2) failed: $(cat "$dir/fake-2.json")"
	# the scheduler does not trigger a seed for a source no seed fetches: the registrant is
	# told to fetch it itself (answer 1, back-to-source), decided in the same turn, so no
	# trigger was sent (the seed's own refusal stays as a second line: sources/src/source.c)
	grep -q '"answer": 1' "$dir/fake-2.json" ||
		fail "2: ${url%%:*}: the registrant was not sent to its own origin: $(cat "$dir/fake-2.json")"
	! grep -q "${id:0:12}" "$dir/seed.log" ||
		fail "2: the seed was triggered for ${url%%:*}: $(grep "${id:0:12}" "$dir/seed.log")"
done
! grep -q "connection from" "$dir/endpoint.out" ||
	fail "2: the seed connected to the endpoint with its own credentials: $(cat "$dir/endpoint.out")"

# 6: the ids a seed used to have are squatted first; the seed still joins, same id twice
seed_port=$(free_port)
for sq in "127.0.0.1-$(hostname)-$seed_port-seed" "$(hostname)-seed" "127.0.0.1-$(hostname)-$seed_port"; do
	fake "$sched_port" 127.0.0.1 "$sq" register \
		0000000000000000000000000000000000000000000000000000000000000000 "" 0 0.2 \
		>"$dir/fake-6.json" || fail "fake client (6) failed: $(cat "$dir/fake-6.json")"
done
serve_start seed2 --seed --listen "127.0.0.1:$seed_port"
! grep -q "refused our token or host key" "$dir/seed2.log" ||
	fail "6: the seed could not join: its id was squatted"
id1=$(grep -oE 'ready: [^ ,]+' "$dir/seed2.out" | head -1)
serve_stop seed2
: >"$dir/seed2.out"
serve_start seed2 --seed --listen "127.0.0.1:$seed_port"
id2=$(grep -oE 'ready: [^ ,]+' "$dir/seed2.out" | head -1)
[ -n "$id1" ] && [ "$id1" = "$id2" ] || fail "6: the seed's id changed across a restart: '$id1' '$id2'"
case $id1 in
*-seed | *"-$seed_port") fail "6: the seed's id is still predictable: $id1" ;;
esac
grep -q "host.key" <(ls "$dir/seed2") || fail "6: the seed keeps no host.key"
echo "ok: $name"
