#!/usr/bin/env bash
# sources_hub.sh VX: issue 21, "Sources": hf:// and modelscope:// against hub_standin.py, a
# local stand-in that answers like the Hugging Face hub and ModelScope (tree / files listings
# in pages, resolve with a 302 to a storage server that checks a signature and its expiry).
#   - vx get and vx get -r of models, a dataset, a revision and ModelScope, through real
#     `vx serve` daemons joined to a scheduler: sha256 checked; the second daemon gets the
#     large file from the first (P2P), one task id although every resolve signs anew
#   - a private repository: the daemon's HF_TOKEN opens it; standalone without a token,
#     with a wrong one, a missing file and bad URLs fail clearly and write nothing; a daemon
#     without a token gets it neither from a peer holding it nor through a seed
#   - the token reaches the hub only: never the storage, never a log, store or peer
# dragonfly-behaviour.md 5.5: secrets never logged or passed on (the hub token), origin
# content integrity (listing sha256 checked as the digest), path traversal (".." refused).
set -euo pipefail
vx=$1
name=sources_hub
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
token=hf_vxtest$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
hub=$dir/hub
export HOME=$dir/home # no token file of the user running the test
mkdir -p "$HOME"

# repo DIR FILE BYTES: random content at DIR/FILE of the stand-in's tree
repo() {
	mkdir -p "$(dirname "$hub/$1/$2")"
	head -c "$3" /dev/urandom >"$hub/$1/$2"
}
m=hf/models/acme/tiny
repo $m/main weights/model.bin 1500000
repo $m/main weights/extra.bin 70000
repo $m/main config.json 300
repo $m/v1 config.json 200
repo hf/datasets/acme/corpus/main data/train.csv 9000
repo hf/models/acme/secret/main w.bin 50000
: >"$hub/hf/models/acme/secret/.private"
repo hf/models/acme/evil/main a 10
repo hf/models/acme/evil/main b 10
repo hf/models/acme/evil/main c 10
: >"$hub/hf/models/acme/evil/.evil-link"
repo ms/models/acme/msp/master p.bin 3000
: >"$hub/ms/models/acme/msp/.private"
repo ms/models/acme/msm/master a.bin 20000
repo ms/models/acme/msm/master sub/b.txt 100

python3 "$(dirname "$0")/hub_standin.py" "$hub" "$token" "$dir/hub.log" >"$dir/hub.out" \
	2>"$dir/hub.err" &
bg_pids+=($!)
line=$(wait_line "$dir/hub.out" '^storage [0-9]+' "$!" "hub_standin.py")
hub_port=$(awk '/^hub/ {print $2}' "$dir/hub.out")
export HF_ENDPOINT=http://127.0.0.1:$hub_port MODELSCOPE_ENDPOINT=http://127.0.0.1:$hub_port

# The daemons hold the token, a in its environment, b in its configuration (files of mode
# 0600; the configured endpoints win over an environment that names a dead port); the
# clients below have none.
sched_start
HF_TOKEN=$token serve_start a
(umask 077 && printf '%s\n' "$token" >"$dir/b-hf.token" && printf '%s\n' "$token" >"$dir/b-ms.token")
cat >"$dir/b.yaml" <<YAML
source:
  hf_endpoint: $HF_ENDPOINT
  hf_token_file: $dir/b-hf.token
  modelscope_endpoint: $MODELSCOPE_ENDPOINT
  modelscope_token_file: $dir/b-ms.token
YAML
HF_ENDPOINT=http://127.0.0.1:9 MODELSCOPE_ENDPOINT=http://127.0.0.1:9 \
	serve_start b --config "$dir/b.yaml"

# check_tree OUT DIR: every file under the stand-in's DIR arrived under OUT, same bytes
check_tree() {
	local f
	(cd "$hub/$2" && find . -type f) | while read -r f; do
		same_file "$hub/$2/$f" "$1/$f" "$2/$f"
	done
	[ "$(cd "$hub/$2" && find . -type f | wc -l)" = "$(cd "$1" && find . -type f | wc -l)" ] ||
		fail "$1 holds other files than $2"
}

# One large file through daemon a, then b: b takes it from a, under the same task id.
get a "hf://acme/tiny/weights/model.bin" "$dir/out/a.bin"
expect_rc 0 "hf file through a"
same_file "$hub/$m/main/weights/model.bin" "$dir/out/a.bin" "hf file through a"
tid=$(json task_id)
get b "hf://acme/tiny/weights/model.bin" "$dir/out/b.bin"
expect_rc 0 "hf file through b"
same_file "$hub/$m/main/weights/model.bin" "$dir/out/b.bin" "hf file through b"
[ "$(json task_id)" = "$tid" ] || fail "two resolves of one file gave two task ids"
[ "$(json bytes_from_peers)" -gt 0 ] || fail "b did not take the file from a: $out"
[ "$(grep -c '^storage /blob/' "$dir/hub.log")" -ge 2 ] || fail "no redirect to the storage"

# A whole repository, a revision, a dataset, a directory of one, ModelScope.
get a "hf://acme/tiny/" "$dir/out/tree" -r
expect_rc 0 "hf -r"
check_tree "$dir/out/tree" $m/main
get a "hf://acme/tiny@v1/config.json" "$dir/out/v1.json"
expect_rc 0 "hf @v1"
same_file "$hub/$m/v1/config.json" "$dir/out/v1.json" "hf @v1"
get b "hf://datasets/acme/corpus/data/" "$dir/out/ds" -r
expect_rc 0 "hf dataset -r"
check_tree "$dir/out/ds" hf/datasets/acme/corpus/main/data
get a "modelscope://acme/msm/" "$dir/out/ms" -r
expect_rc 0 "modelscope -r"
check_tree "$dir/out/ms" ms/models/acme/msm/master
get b "modelscope://acme/msm/sub/b.txt" "$dir/out/ms-b.txt"
expect_rc 0 "modelscope file"
same_file "$hub/ms/models/acme/msm/master/sub/b.txt" "$dir/out/ms-b.txt" "modelscope file"

# Private: the daemon's token opens it; standalone without, or with a wrong one, it fails.
get a "hf://acme/secret/w.bin" "$dir/out/secret.bin"
expect_rc 0 "private repository through the daemon"
same_file "$hub/hf/models/acme/secret/main/w.bin" "$dir/out/secret.bin" "private file"
# another tag, another task: b takes it from the hub with its configured token, not from a
get b "hf://acme/secret/w.bin" "$dir/out/secret-b.bin" --tag b-alone
expect_rc 0 "private repository through b (source.hf_token_file)"
same_file "$hub/hf/models/acme/secret/main/w.bin" "$dir/out/secret-b.bin" "private file via b"
get b "modelscope://acme/msp/p.bin" "$dir/out/msp.bin"
expect_rc 0 "private ModelScope model through b (source.modelscope_token_file)"
same_file "$hub/ms/models/acme/msp/master/p.bin" "$dir/out/msp.bin" "private ModelScope file"
chmod 644 "$dir/b-hf.token"
get b "hf://acme/secret/w.bin" "$dir/out/secret-644.bin" --tag b-644
[ "$rc" -ne 0 ] || fail "a token file others may read was used"
expect_msg "mode 0600 or stricter"
chmod 600 "$dir/b-hf.token"
# A daemon with no token names the private file while a holds it: the hub's token was a's own,
# so the task is private and d must prove its access at the hub (401) before a byte of it
serve_start d
get d "hf://acme/secret/w.bin" "$dir/out/d-secret.bin"
[ "$rc" -ne 0 ] || fail "a host without the token got the private file from a peer"
expect_msg "no token sent"
[ ! -e "$dir/out/d-secret.bin" ] || fail "private from a peer: an output was written"
serve_stop d
# A seed fetching for another host uses none of its own token (the requester could not read
# the repository itself): daemon c, which has no token, must not get the private file
# through the seed, and the public one still arrives.
serve_stop a
serve_stop b
HF_TOKEN=$token serve_start s --seed
serve_start c
get c "hf://acme/tiny/weights/extra.bin" "$dir/out/c-extra.bin"
expect_rc 0 "public file through c and the seed"
same_file "$hub/$m/main/weights/extra.bin" "$dir/out/c-extra.bin" "public file through c"
get c "hf://acme/secret/w.bin" "$dir/out/c-secret.bin"
[ "$rc" -ne 0 ] || fail "a host without the token got the private file through the seed"
[ ! -e "$dir/out/c-secret.bin" ] || fail "private through the seed: an output was written"
# sget URL OUT [args]: standalone vx get (no daemon, no scheduler), bounded
sget() {
	local url=$1 o=$2
	shift 2
	rc=0
	err=$(VX_SOCKET=$dir/none.sock timeout -k 5 60 "$vx" get "$url" -O "$o" \
		--data-dir "$dir/st" --no-progress "$@" 2>&1) || rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx get $url hung"
}
sget "hf://acme/secret/w.bin" "$dir/out/no-token"
[ "$rc" -ne 0 ] || fail "a private file came without a token"
expect_msg "no token sent"
[ ! -e "$dir/out/no-token" ] || fail "no token: an output was written"
HF_TOKEN=wrong sget "hf://acme/secret/w.bin" "$dir/out/bad-token"
[ "$rc" -ne 0 ] || fail "a private file came with a wrong token"
expect_msg "refused the token"
[ ! -e "$dir/out/bad-token" ] || fail "wrong token: an output was written"
printf '%s\n' "$token" >"$dir/tokfile"
HF_TOKEN_PATH=$dir/tokfile sget "hf://acme/secret/w.bin" "$dir/out/tokfile.bin"
expect_rc 0 "token file"
sget "hf://acme/secret/" "$dir/out/no-token-tree" -r
[ "$rc" -ne 0 ] || fail "a private listing came without a token"
expect_msg "no token sent"
[ ! -e "$dir/out/no-token-tree/w.bin" ] || fail "no token -r: a file was written"
sget "hf://acme/tiny/nope.bin" "$dir/out/nope"
expect_rc 3 "missing file"
[ ! -e "$dir/out/nope" ] || fail "missing file: an output was written"
for bad in "hf://acme/tiny/../secret/w.bin" "hf://acme/tiny/a/%2e%2e/b" "hf://acme" \
	"hf://acme/tiny@/x" "hf://acme/tiny/x?revision=v1" "modelscope://acme/m@a..b/x"; do
	rm -rf "$dir/st" # a cold store: "a/../b" names b's task, which the store may hold
	sget "$bad" "$dir/out/bad"
	[ "$rc" -ne 0 ] || fail "bad URL $bad was accepted"
	expect_msg "invalid URL"
	[ ! -e "$dir/out/bad" ] || fail "bad URL $bad: an output was written"
done
sget "hf://acme/tiny/weights" "$dir/out/not-a-dir" -r
[ "$rc" -ne 0 ] || fail "-r of a file URL was accepted"
expect_msg "end the URL with '/'"

# A listing whose next page lies on another origin is refused (the token would follow it).
HF_TOKEN=$token sget "hf://acme/evil/" "$dir/out/evil" -r
[ "$rc" -ne 0 ] || fail "a next page on another origin was followed"
expect_msg "not on the hub's origin"
! grep -q '^storage /api/' "$dir/hub.log" || fail "the storage got a listing request"

# The token went to the hub and nowhere else.
grep -q "Bearer $token" "$dir/hub.log" || fail "the token never reached the hub"
! grep -q LEAK "$dir/hub.log" || fail "the token was sent to the storage"
! grep '^storage' "$dir/hub.log" | grep -q "$token" || fail "the storage saw the token"
leaks=$(grep -rl --exclude=hub.log --exclude=tokfile --exclude='b-*.token' -F "$token" "$dir" \
	2>/dev/null || true)
[ -z "$leaks" ] || fail "the token is in: $leaks"
echo "$name: ok"
