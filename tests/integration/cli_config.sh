#!/usr/bin/env bash
# cli_config.sh VX: `vx config check` on good and bad files, as an operator runs it: exit codes
# and the file:line:col message.
set -euo pipefail
vx=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf 'seed: true\nschedulers: [127.0.0.1:8002]\nstorage:\n  data_dir: data\n' >"$dir/good.yaml"
out=$("$vx" config check "$dir/good.yaml") || fail "good config rejected"
[ "$out" = "$dir/good.yaml: ok" ] || fail "unexpected output: $out"

printf 'storage:\n  gc_hihg_percent: 5\n' >"$dir/bad.yaml"
set +e
err=$("$vx" config check "$dir/bad.yaml" 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || fail "bad config exit code $rc, want 1"
case "$err" in
*"bad.yaml:2:3: unknown setting 'storage.gc_hihg_percent' (did you mean 'storage.gc_high_percent'?)"*) ;;
*) fail "unexpected message: $err" ;;
esac

# The defaults printed by `vx config default` are themselves a valid config.
"$vx" config default >"$dir/default.yaml"
"$vx" config check "$dir/default.yaml" >/dev/null || fail "printed defaults do not load"
# And --print after a round trip shows the same settings.
"$vx" config check "$dir/default.yaml" --print >"$dir/again.yaml"
cmp -s "$dir/default.yaml" "$dir/again.yaml" || fail "print/load round trip differs"

set +e
"$vx" config check >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "missing argument exit code $rc, want 2"
echo "cli_config: ok"
