#!/usr/bin/env bash
# manager_pubsub.sh VX: publish/subscribe end to end (spec/manager.md "Channels") with a real
# `vx scheduler --api` and four daemons: `vx publish` imports three files on the publisher's
# host (persistent cache) and appends them to a channel made on the first publication; two
# subscribers (`vx subscribe --dir`) get them P2P in order of publication; one subscriber's
# host is down during the second publication and catches up in order from the sequence it
# kept on disk. Refused: an unknown channel, a token without the publish or the subscribe
# scope, a bad channel or file name; none of them leaves a channel, a file or a partial file
# behind. A publication no host can serve stops the stream there with a clear error, without a
# partial file, an advanced sequence, or the publication after it written out of order.
# Long-poll: a running subscriber with a 10-minute poll interval, parked on the API, gets the
# next publication at once, with at most 3 requests answered meanwhile.
#
# Covers shared/reference/dragonfly-behaviour.md 5.5: deny by default (publish and subscribe
# scopes), no path traversal through a publication's name, no half-written output.
set -euo pipefail
vx=$1
name=manager_pubsub
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
. "$here/manager_lib.sh"
peer_lib_init

sched_start
serve_start pub
serve_start s1
serve_start s2
serve_start spare # a third holder, so the publisher's copy is not the only one
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
admin=$(tail -n1 "$dir/boot.out")
export VX_API="http://127.0.0.1:$api_port"
mktok() { # mktok FILE SCOPES...: a token with these scopes in FILE (0600)
	local f=$1 IFS=,
	shift
	(umask 077 && expect_at "$api_port" 200 "token $*" POST /oapi/v1/tokens "{\"name\":\"t$RANDOM\",\"scopes\":[$*]}" "$admin" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$f")
}
mktok "$dir/pub.tok" '"publish"'
mktok "$dir/sub.tok" '"subscribe"'
mktok "$dir/read.tok" '"job:read"'
mkdir "$dir/in" "$dir/d1" "$dir/d2"
for i in 1 2 3; do head -c $((100000 * i + 7)) /dev/urandom >"$dir/in/f$i"; done

publish() { # publish FILE [flags]: through the publisher's daemon
	"$vx" publish news "$@" --socket "$dir/pub.sock" --token-file "$dir/pub.tok" --json
}
subscribe() { # subscribe N: subscriber N catches up once; its lines in $dir/subN.out
	timeout -k 5 60 "$vx" subscribe news --dir "$dir/d$1" --once --socket "$dir/s$1.sock" \
		--token-file "$dir/sub.tok" >>"$dir/sub$1.out" 2>"$dir/sub$1.err"
}

# ---- refused: nothing made
"$vx" subscribe news --dir "$dir/d1" --once --socket "$dir/s1.sock" --token-file "$dir/sub.tok" \
	2>"$dir/e.txt" && fail "a subscription to an unknown channel succeeded"
grep -q "no such channel" "$dir/e.txt" || fail "unknown channel: $(cat "$dir/e.txt")"
"$vx" publish news "$dir/in/f1" --socket "$dir/pub.sock" --token-file "$dir/sub.tok" 2>"$dir/e.txt" &&
	fail "a publication without the publish scope succeeded"
grep -q "lacks the scope" "$dir/e.txt" || fail "no publish scope: $(cat "$dir/e.txt")"
# ... and its import was taken back
"$vx" cache ls --socket "$dir/pub.sock" >"$dir/ls.txt" || fail "vx cache ls"
[ ! -s "$dir/ls.txt" ] || fail "a refused publication left its import: $(cat "$dir/ls.txt")"
"$vx" subscribe news --dir "$dir/d1" --once --socket "$dir/s1.sock" --token-file "$dir/read.tok" \
	2>"$dir/e.txt" && fail "a subscription without the subscribe scope succeeded"
grep -q "lacks the scope" "$dir/e.txt" || fail "no subscribe scope: $(cat "$dir/e.txt")"
expect_at "$api_port" 400 "a bad channel name" POST /oapi/v1/channels/Bad..Name '{"name":"x","url":"http://127.0.0.1:1/x"}' "$(cat "$dir/pub.tok")" >/dev/null
expect_at "$api_port" 400 "a path as the file name" POST /oapi/v1/channels/news '{"name":"../../etc/passwd","url":"http://127.0.0.1:1/x"}' "$(cat "$dir/pub.tok")" |
	grep -q "file name" || fail "the refusal does not say file name"
expect_at "$api_port" 400 "a URL with credentials" POST /oapi/v1/channels/news '{"name":"x","url":"http://u:p@127.0.0.1:1/x"}' "$(cat "$dir/pub.tok")" >/dev/null
[ "$(expect_at "$api_port" 200 "channels" GET /oapi/v1/channels - "$(cat "$dir/sub.tok")")" = "[]" ] ||
	fail "a refused publication made a channel"
[ -z "$(ls -A "$dir/d1")" ] || fail "a refused subscription wrote into its directory: $(ls -A "$dir/d1")"

# ---- the first publication: both subscribers get it
publish "$dir/in/f1" >"$dir/p1.json" || fail "publish f1: $(cat "$dir/p1.json")"
grep -q '"seq":1' "$dir/p1.json" || fail "publish f1: $(cat "$dir/p1.json")"
subscribe 1 || fail "s1: $(cat "$dir/sub1.err")"
subscribe 2 || fail "s2: $(cat "$dir/sub2.err")"

# ---- s2's host is down during the second publication; s1 gets it
serve_stop s2
publish "$dir/in/f2" >/dev/null || fail "publish f2"
subscribe 1 || fail "s1: $(cat "$dir/sub1.err")"
serve_start s2
publish "$dir/in/f3" >/dev/null || fail "publish f3"
subscribe 1 || fail "s1: $(cat "$dir/sub1.err")"
# s2 back: it catches up from the sequence it kept, in order
[ "$(cat "$dir/d2/.vx-subscribe-news")" = 1 ] || fail "s2 kept $(cat "$dir/d2/.vx-subscribe-news")"
subscribe 2 || fail "s2 catching up: $(cat "$dir/sub2.err")"

for n in 1 2; do
	[ "$(tr '\n' ' ' <"$dir/sub$n.out")" = "1 f1 2 f2 3 f3 " ] ||
		fail "s$n got $(tr '\n' ' ' <"$dir/sub$n.out"), not f1 f2 f3 in order"
	for i in 1 2 3; do
		cmp -s "$dir/in/f$i" "$dir/d$n/f$i" || fail "s$n's f$i differs from the publication"
	done
	[ "$(cat "$dir/d$n/.vx-subscribe-news")" = 3 ] || fail "s$n kept the wrong sequence"
	[ -z "$(find "$dir/d$n" -name '.vx-part-*')" ] || fail "a partial file left in d$n"
done
# P2P: each publication came to the subscribers' daemons from the host that imported it (a
# persistent cache task has no origin)
[ "$(grep -c 'cache-export' "$dir/s2.log")" -ge 2 ] || fail "s2's daemon exported no publication"

# ---- long-poll: a subscriber that waits gets a publication at once, with a poll interval of
# 10 minutes, in one answered request (counted in the API's vx_api_requests_total)
"$vx" subscribe news --dir "$dir/d2" --poll-ms 600000 --socket "$dir/s2.sock" \
	--token-file "$dir/sub.tok" >>"$dir/sub2.out" 2>"$dir/lp.err" &
lp=$!
bg_pids+=($lp)
parked() { # the subscriber holds a request to the API open (/proc/net/tcp, established)
	local ino port
	port=$(printf '%04X' "$api_port")
	for ino in $(find "/proc/$lp/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n'); do
		awk -v p=":$port" -v i="$ino" '$3 ~ p"$" && $4 == "01" && $10 == i { f = 1 }
			END { exit !f }' /proc/net/tcp && return 0
	done
	return 1
}
answered() { # API requests answered so far, but /metrics
	expect_at "$api_port" 200 "metrics" GET /metrics - "$admin" |
		awk '/^vx_api_requests_total\{/ && !/route="metrics"/ { n += $NF } END { print n + 0 }'
}
for _ in $(seq 300); do parked && break; kill -0 "$lp" || fail "the subscriber left: $(cat "$dir/lp.err")"; sleep 0.1; done
parked || fail "the subscriber did not wait on the API"
before=$(answered)
publish "$dir/in/f2" --name live >/dev/null || fail "publish live"
for _ in $(seq 300); do [ -e "$dir/d2/live" ] && break; sleep 0.1; done
[ -e "$dir/d2/live" ] || fail "a waiting subscriber did not get the publication within 30 s"
cmp -s "$dir/in/f2" "$dir/d2/live" || fail "the long-polled publication differs"
for _ in $(seq 300); do parked && break; sleep 0.1; done
after=$(answered)
# the publication (POST) and the subscriber's woken GET; polling would have been none or many
[ $((after - before)) -le 3 ] || fail "$((after - before)) requests answered for one publication"
kill "$lp"
wait "$lp" 2>/dev/null || true
[ "$(cat "$dir/d2/.vx-subscribe-news")" = 4 ] || fail "s2 did not keep sequence 4"

# ---- a publication no host can serve: the stream stops there, nothing half-written
expect_at "$api_port" 200 "an unservable publication" POST /oapi/v1/channels/news "{\"name\":\"ghost\",\"task_id\":\"$(printf '%064d' 7)\"}" "$(cat "$dir/pub.tok")" >/dev/null
publish "$dir/in/f1" --name after-ghost >/dev/null || fail "publish after the ghost"
subscribe 1 && fail "an unservable publication was fetched"
grep -q "publication 5 (ghost) not fetched" "$dir/sub1.err" || fail "the error: $(cat "$dir/sub1.err")"
[ ! -e "$dir/d1/ghost" ] && [ -z "$(find "$dir/d1" -name '.vx-part-*')" ] ||
	fail "an unservable publication left a file"
[ ! -e "$dir/d1/after-ghost" ] || fail "a publication after a failed one was written (out of order)"
[ "$(cat "$dir/d1/.vx-subscribe-news")" = 4 ] || fail "the sequence moved past a failed publication"
echo "PASS: $name"
