#!/usr/bin/env bash
# peer_poison.sh VX: hostile scheduler clients against a cluster with a real seed (issue 16,
# items 2 and 3; shared/reference/dragonfly-behaviour.md 5.5 items 8 and 17). A fake client
# (fake_sched_client.py, connecting from 127.0.0.2 so it is not on the seed's host), after a
# check that a task id with every field (tag, application, piece length, filters) still goes
# through the seed:
#  3b. registers the victim's task id with the attacker's URL: nothing derives the id from it,
#      so no seed fetches it (nginx never sees the attacker's path) and the victim's `vx get`
#      gets its own bytes;
#  3a. registers a URL first, with need_bts, reports the digests of its own bytes for every
#      piece, says FINISHED and serves those bytes as a plain Vortex parent: it is not made the
#      origin, a second client is handed none of its digests, and `vx get` gets the source's
#      bytes (sha256), never exit 0 with the attacker's;
#  2.  registers a file: URL on the seed (with its right task id): the seed refuses the trigger
#      and reads nothing; registers an http URL of a loopback-only nginx: the seed refuses to
#      connect ("outbound address 127.0.0.1 refused by policy"), nginx sees no request, while
#      a requester on the seed's own host gets the file.
set -euo pipefail
vx=$1
name=peer_poison
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
fake_py=$(dirname "$0")/fake_sched_client.py
# fake ARGS...: the hostile client; it joins with the peer token when the cluster wants one
# (sched_peer_token, set by peer_lib.sh's sched_start when the scheduler requires tokens).
fake() {
	sched_peer_token="${sched_peer_token:-}" python3 "$fake_py" "$@"
}

make_file victim.bin $((6 << 20))
make_file evil.bin $((6 << 20))
make_file first.bin $((6 << 20))
origin_start
sched_start
serve_start seed --seed
serve_start p1

# The seed still serves a task whose id has every field (tag, application, fixed piece length,
# filtered query keys): the trigger carries them and the seed derives the same id.
make_file tagged.bin $((3 << 20))
tagged_args=(--tag t1 --application app1 --piece-length 1MiB --filtered-query-param sig)
tagged_id=$("$vx" task-id "$base/tagged.bin?sig=abc&x=1" "${tagged_args[@]}")
get p1 "$base/tagged.bin?sig=abc&x=1" "$dir/out/tagged" "${tagged_args[@]}"
expect_rc 0 "a task id with every field, through the seed"
same_file "$dir/www/tagged.bin" "$dir/out/tagged" "a task id with every field"
grep -q "task ${tagged_id:0:12} complete" "$dir/seed.log" ||
	fail "the seed did not fetch the task with every field: $(grep "${tagged_id:0:12}" "$dir/seed.log")"

# 3b: the victim's id paired with the attacker's URL.
victim_id=$("$vx" task-id "$base/victim.bin")
fake "$sched_port" 127.0.0.2 evil-1 register "$victim_id" "$base/evil.bin" \
	>"$dir/fake-3b.json" || fail "fake client (3b) failed: $(cat "$dir/fake-3b.json")"
[ "$(json answer "$(head -1 "$dir/fake-3b.json")")" != 1 ] ||
	fail "3b: the attacker was told to fetch the victim's task from its own URL"
get p1 "$base/victim.bin" "$dir/out/victim"
expect_rc 0 "3b: the victim's download"
same_file "$dir/www/victim.bin" "$dir/out/victim" "3b: the victim's download"
! grep -q ' /evil.bin ' "$dir/access.log" ||
	fail "3b: the attacker's URL was fetched: $(grep ' /evil.bin ' "$dir/access.log" | head -3)"

# 3a: the first registrant, with need_bts, reports the CRC-32 digests of its own bytes (the
# attacker's 6 MiB of "EVIL..."), says FINISHED and serves those bytes as a parent for 20 s.
first_id=$("$vx" task-id "$base/first.bin")
# (a plain command, not the function, so that $! is the client itself)
sched_peer_token="${sched_peer_token:-}" python3 "$fake_py" "$sched_port" 127.0.0.2 evil-2 \
	register-bts "$first_id" "$base/first.bin" 6 20 \
	>"$dir/fake-3a.json" &
fake_pid=$!
bg_pids+=("$fake_pid")
wait_line "$dir/fake-3a.json" bogus "$fake_pid" "fake client (3a)" >/dev/null
[ "$(json answer "$(head -1 "$dir/fake-3a.json")")" != 1 ] ||
	fail "3a: a normal peer asking first was made the origin while a seed is in the cluster"
fake "$sched_port" 127.0.0.2 evil-3 register "$first_id" "$base/first.bin" \
	>"$dir/fake-3a-b.json" || fail "fake client (3a, second) failed"
python3 - "$dir/fake-3a.json" "$dir/fake-3a-b.json" <<'PY' ||
import json, sys
bogus = set(json.loads(open(sys.argv[1]).read().splitlines()[1])["bogus"])
given = set(json.loads(open(sys.argv[2]).readline())["digests"].values())
sys.exit(1 if bogus & given else 0)
PY
	fail "3a: the attacker's digests became the manifest: $(cat "$dir/fake-3a-b.json")"
get p1 "$base/first.bin" "$dir/out/first"
if [ "$rc" -eq 0 ]; then
	[ "$(sha256sum <"$dir/out/first")" = "$(sha256sum <"$dir/www/first.bin")" ] ||
		fail "3a: vx get exited 0 with bytes that are not the source's (the attacker's?)"
fi
expect_rc 0 "3a: a download after the attack"
kill "$fake_pid" 2>/dev/null || true
wait "$fake_pid" 2>/dev/null || true

# 2: a file: URL on the seed, for a requester on another host.
echo "secret of the seed host" >"$dir/secret.txt"
secret_id=$("$vx" task-id "file://$dir/secret.txt")
fake "$sched_port" 127.0.0.2 evil-4 register "$secret_id" "file://$dir/secret.txt" \
	>"$dir/fake-2.json" || fail "fake client (2) failed"
# no seed fetches a file: URL for another host, so the scheduler triggers none: the registrant
# is told to fetch it itself (answer 1), decided in the same turn as the answer
grep -q '"answer": 1' "$dir/fake-2.json" ||
	fail "2: file: the registrant was not sent to its own origin: $(cat "$dir/fake-2.json")"
! grep -q "${secret_id:0:12}" "$dir/seed.log" ||
	fail "2: the seed was triggered for a file: URL: $(grep "${secret_id:0:12}" "$dir/seed.log")"
[ ! -s "$dir/seed/content/tasks/${secret_id:0:3}/$secret_id" ] ||
	fail "2: the seed stored the bytes of a file: URL"
# 2: a loopback-only service (nginx listens on 127.0.0.1 only) for a requester on another
# host (127.0.0.2 is not one of this host's addresses): refused at connect time, no request.
make_file loop.bin 4096
loop_id=$("$vx" task-id "$base/loop.bin")
fake "$sched_port" 127.0.0.2 evil-5 register "$loop_id" "$base/loop.bin" \
	>"$dir/fake-2b.json" || fail "fake client (2, loopback) failed"
wait_line "$dir/seed.log" "task ${loop_id:0:12} (complete|failed)" "${serve_pid[seed]}" \
	"the seed's answer to a loopback trigger" >/dev/null
! grep -q '"event": 3' "$dir/fake-2b.json" ||
	fail "2: the seed's refusal made the attacker the origin: $(cat "$dir/fake-2b.json")"
grep -q "outbound address 127.0.0.1 refused by policy" "$dir/seed.log" ||
	fail "2: the seed's refusal does not name the policy: $(grep "${loop_id:0:12}" "$dir/seed.log")"
! grep -q ' /loop.bin ' "$dir/access.log" ||
	fail "2: the seed fetched a loopback URL for another host: $(grep ' /loop.bin ' "$dir/access.log")"
# the same URL asked for by a host on the seed's own host is fetched (the policy's local case)
get p1 "$base/loop.bin" "$dir/out/loop"
expect_rc 0 "2: a loopback URL for a requester on the seed's host"
same_file "$dir/www/loop.bin" "$dir/out/loop" "2: a loopback URL for a local requester"
# --allow-outbound names loopback for every requester: the same kind of trigger is fetched;
# source.deny_outbound wins over it (config file), so the next one is refused again.
serve_stop seed
serve_start seed --seed --allow-outbound 127.0.0.0/8
make_file loop2.bin 4096
loop2_id=$("$vx" task-id "$base/loop2.bin")
fake "$sched_port" 127.0.0.2 evil-6 register "$loop2_id" "$base/loop2.bin" \
	>"$dir/fake-2c.json" || fail "fake client (2, allowed loopback) failed"
wait_line "$dir/seed.log" "task ${loop2_id:0:12} (complete|failed)" "${serve_pid[seed]}" \
	"the seed's answer to an allowed loopback trigger" >/dev/null
grep -q ' /loop2.bin ' "$dir/access.log" ||
	fail "2: --allow-outbound 127.0.0.0/8: the seed did not fetch the loopback URL"
serve_stop seed
printf 'source:\n  allow_outbound: [127.0.0.0/8]\n  deny_outbound: [127.0.0.1/32]\n' \
	>"$dir/seed-deny.yaml"
serve_start seed --seed --config "$dir/seed-deny.yaml"
make_file loop3.bin 4096
loop3_id=$("$vx" task-id "$base/loop3.bin")
fake "$sched_port" 127.0.0.2 evil-7 register "$loop3_id" "$base/loop3.bin" \
	>"$dir/fake-2d.json" || fail "fake client (2, denied loopback) failed"
wait_line "$dir/seed.log" "task ${loop3_id:0:12} (complete|failed)" "${serve_pid[seed]}" \
	"the seed's answer to a denied trigger" >/dev/null
! grep -q ' /loop3.bin ' "$dir/access.log" ||
	fail "2: source.deny_outbound 127.0.0.1/32 did not win over the allow list"
echo "ok: $name"
