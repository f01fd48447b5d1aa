#!/usr/bin/env bash
# sources_abs.sh VX: issue 21, "Sources": abs:// (Azure Blob Storage) against Azurite (npm,
# scripts/deps/sources.npm, started here on loopback), through standalone `vx get`:
#   - Shared Key: a 3 MB blob in 1 MiB pieces (ranged GETs, each Range signed), and `vx get -r`
#     of a prefix (List Blobs pages, names with spaces); sha256 checked
#   - a container SAS (read and list) does the same; a public container needs neither
#   - no credentials, a wrong key, a tampered SAS, another account's key, a bad URL, a missing
#     blob: clear errors, no output written
#   - neither the key nor the SAS signature appears in any output
# dragonfly-behaviour.md 5.5: secrets never logged (account key, SAS), origin content integrity
# (sha256 of every file), path traversal (a listed ".." name is not written outside -O).
set -euo pipefail
vx=$1
name=sources_abs
. "$(dirname "$0")/peer_lib.sh"
peer_lib_init
src=$(cd "$(dirname "$0")/../.." && pwd)
azurite=$src/build/npm/node_modules/.bin/azurite-blob
[ -x "$azurite" ] && command -v node >/dev/null || {
	echo "$name: needs azurite (scripts/install-deps puts it in build/npm) and node" >&2
	exit 77
}
put=$src/tests/integration/abs_put.py
acct=devstoreaccount1
# Azurite's published development key (not a secret; the test greps for it all the same)
key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

"$azurite" --blobHost 127.0.0.1 --blobPort 0 --inMemoryPersistence --extentMemoryLimit 64 \
	--disableProductStyleUrl >"$dir/azurite.out" 2>&1 &
bg_pids+=($!)
az_pid=$!
port=
for _ in $(seq 600); do
	port=$(grep -ao 'listens on http://127.0.0.1:[0-9]*' "$dir/azurite.out" | grep -o '[0-9]*$' ||
		true)
	[ -z "$port" ] || break
	kill -0 "$az_pid" 2>/dev/null || fail "azurite exited: $(cat "$dir/azurite.out")"
	sleep 0.1
done
[ -n "$port" ] || fail "azurite did not listen within 60 s"
export AZURE_STORAGE_BLOB_ENDPOINT=http://127.0.0.1:$port/$acct
unset AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN AZURE_STORAGE_ACCOUNT

az() { timeout -k 5 60 python3 "$put" "$AZURE_STORAGE_BLOB_ENDPOINT" "$acct" "$key" "$@"; }
head -c 3000000 /dev/urandom >"$dir/big.bin"
head -c 70000 /dev/urandom >"$dir/mid.bin"
printf 'hello\n' >"$dir/small.txt"
sas=$(az mkcontainer data -- mkcontainer pub public -- put data d/big.bin "$dir/big.bin" -- \
	put data "d/sub/a b.txt" "$dir/small.txt" -- put data d/sub/mid.bin "$dir/mid.bin" -- \
	put data other.bin "$dir/small.txt" -- put pub p/x.bin "$dir/mid.bin" -- sas data rl)
sig=$(printf '%s' "$sas" | sed 's/.*sig=//')

# sget URL OUT [args]: standalone vx get (no daemon, no scheduler), bounded; output in $err
logs=$dir/all-output
sget() {
	local url=$1 o=$2
	shift 2
	rc=0
	err=$(VX_SOCKET=$dir/none.sock timeout -k 5 60 "$vx" get "$url" -O "$o" \
		--data-dir "$dir/st-$(basename "$o")" --no-progress "$@" 2>&1) || rc=$?
	printf '%s\n' "$err" >>"$logs"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "vx get $url hung"
}

# Shared Key: ranged pieces and a listing
AZURE_STORAGE_KEY=$key sget abs://$acct/data/d/big.bin "$dir/out/k-big" --piece-length 1MiB
[ "$rc" -eq 0 ] || fail "shared key get: $err"
same_file "$dir/big.bin" "$dir/out/k-big" "shared key, 1 MiB pieces"
AZURE_STORAGE_KEY=$key sget abs://$acct/data/d/ "$dir/out/k-dir" -r
[ "$rc" -eq 0 ] || fail "shared key get -r: $err"
same_file "$dir/big.bin" "$dir/out/k-dir/big.bin" "shared key -r"
same_file "$dir/small.txt" "$dir/out/k-dir/sub/a b.txt" "shared key -r, a name with a space"
same_file "$dir/mid.bin" "$dir/out/k-dir/sub/mid.bin" "shared key -r"
[ "$(find "$dir/out/k-dir" -type f | wc -l)" -eq 3 ] || fail "-r of d/ took more than d/"

# SAS: the same
AZURE_STORAGE_SAS_TOKEN=$sas sget abs://$acct/data/d/big.bin "$dir/out/s-big" \
	--piece-length 1MiB
[ "$rc" -eq 0 ] || fail "sas get: $err"
same_file "$dir/big.bin" "$dir/out/s-big" "sas"
AZURE_STORAGE_SAS_TOKEN="?$sas" sget abs://$acct/data/d/sub "$dir/out/s-dir" -r
[ "$rc" -eq 0 ] || fail "sas get -r: $err"
same_file "$dir/mid.bin" "$dir/out/s-dir/mid.bin" "sas -r"

# A public container: anonymous reads work; a private one refuses them
sget abs://$acct/pub/p/x.bin "$dir/out/pub"
[ "$rc" -eq 0 ] || fail "public blob: $err"
same_file "$dir/mid.bin" "$dir/out/pub" "public blob"
sget abs://$acct/data/d/big.bin "$dir/out/anon"
[ "$rc" -ne 0 ] || fail "a private blob came without credentials"
expect_msg "403"
[ ! -e "$dir/out/anon" ] || fail "anonymous: an output was written"

# A wrong key and a tampered SAS are refused; nothing written
AZURE_STORAGE_KEY=$(printf 'wrong-key-%054d' 0 | base64 -w0) sget abs://$acct/data/d/big.bin \
	"$dir/out/wrong"
[ "$rc" -ne 0 ] || fail "a wrong key was accepted"
[ ! -e "$dir/out/wrong" ] || fail "wrong key: an output was written"
AZURE_STORAGE_SAS_TOKEN=${sas/sp=rl/sp=rwl} sget abs://$acct/data/d/big.bin "$dir/out/tampered"
[ "$rc" -ne 0 ] || fail "a tampered SAS was accepted"
[ ! -e "$dir/out/tampered" ] || fail "tampered SAS: an output was written"
# A key for another account is not used for this one
AZURE_STORAGE_ACCOUNT=otheraccount AZURE_STORAGE_KEY=$key sget abs://$acct/data/d/big.bin \
	"$dir/out/other"
[ "$rc" -ne 0 ] || fail "the key of another account was used"

# A bad URL (more in test_sources) and a missing blob: a clear error, nothing written
sget abs://$acct/x/y "$dir/out/bad"
[ "$rc" -ne 0 ] || fail "a bad URL was accepted"
expect_msg "abs URLs are abs://ACCOUNT/CONTAINER/BLOB"
sget abs://$acct/data/x "$dir/out/bad"
[ "$rc" -ne 0 ] || fail "a missing blob was accepted"
[ ! -e "$dir/out/bad" ] || fail "a missing blob: an output was written"

# Secrets never appear in any output
for s in "$key" "$sig" "$(printf '%s' "$sig" | python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.stdin.read()))')"; do
	! grep -qF -- "$s" "$logs" || fail "a secret appeared in vx's output"
done
echo "PASS: $name"
