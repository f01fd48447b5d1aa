#!/usr/bin/env bash
# cli_config.sh VX TESTS_DIR: `vx config check` on good and bad files, as an operator runs it:
# exit codes and the file:line:col message. Then every key of `vx config keys` (the daemon's key
# table) must have a case below: a key the daemon applies names the test that measures it (the
# test file must mention the key), a key not supported yet is refused by `vx config check` and
# `vx serve` with a message naming it. A key added to the table without either fails here.
set -euo pipefail
vx=$1
tests=${2:-$(dirname "$0")/..}
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

# A regex the proxy's compiler refuses is refused by the check too (`vx serve` would not start)
printf 'proxy:\n  rules:\n    - "blobs/(sha256"\n' >"$dir/badre.yaml"
set +e
err=$("$vx" config check "$dir/badre.yaml" 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || fail "a bad proxy.rules regex: exit code $rc, want 1 ($err)"
case "$err" in *"proxy.rules[0]: "*) ;; *) fail "bad regex, unexpected message: $err" ;; esac

# Several files at once (issue 20): each is checked and named, a bad one among good ones fails
# the whole check (exit 1) without hiding the others' results.
printf 'storage:\n  gc_high_percent: 50\n  gc_low_percent: 60\n' >"$dir/inverted.yaml"
set +e
out=$("$vx" config check "$dir/good.yaml" "$dir/bad.yaml" "$dir/inverted.yaml" "$dir/good.yaml" \
	2>"$dir/multi.err")
rc=$?
set -e
[ $rc -eq 1 ] || fail "a bad file among good ones: exit code $rc, want 1"
[ "$out" = "$dir/good.yaml: ok
$dir/good.yaml: ok" ] || fail "several files: the good ones were not each reported: $out"
grep -q "bad.yaml:2:3: unknown setting" "$dir/multi.err" || fail "several files: $(cat "$dir/multi.err")"
grep -q "inverted.yaml: .*gc_low_percent" "$dir/multi.err" ||
	fail "several files: a validation error does not name its file: $(cat "$dir/multi.err")"

# Every example config shipped in the tree passes the daemon's own parser (issue 20: `vx config
# check` validates every shipped example). The glob takes whatever examples exist.
root=$(cd "$tests/.." && pwd)
shopt -s nullglob
examples=("$root"/deploy/config/*.yaml "$root"/etc/*.yaml "$root"/etc/vx/*.yaml \
	"$root"/docs/examples/*.yaml)
shopt -u nullglob
if [ ${#examples[@]} -gt 0 ]; then
	"$vx" config check "${examples[@]}" >"$dir/examples.out" 2>&1 ||
		fail "a shipped example config does not pass vx config check: $(cat "$dir/examples.out")"
	[ "$(grep -c ': ok$' "$dir/examples.out")" -eq ${#examples[@]} ] ||
		fail "not every example reported ok: $(cat "$dir/examples.out")"
else
	echo "cli_config: no example configs in this tree yet (deploy/config/*.yaml)"
fi

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
# key -> "TEST_FILE PATTERN": the test that measures the applied key, and what in it sets the
# key (a config key or the `vx serve` flag for it). Paths under tests/.
declare -A applied=(
	[seed]="integration/peer_swarm.sh --seed"
	[log_level]="integration/peer_config.sh log_level"
	[metrics_listen]="integration/metrics_prom.sh metrics_listen:"
	[socket]="integration/peer_lib.sh --socket"
	[schedulers]="integration/peer_lib.sh --scheduler"
	[members]="integration/peer_members.sh --members"
	[members_heartbeat]="integration/peer_members.sh --members-heartbeat"
	[members_heartbeat_misses]="integration/peer_members.sh members_heartbeat_misses:"
	[scheduler.token_file]="integration/peer_lib.sh --token-file"
	[scheduler.join_file]="integration/peer_pki.sh join_file:"
	[host.hostname]="integration/peer_config.sh hostname:"
	[host.ip]="integration/peer_config.sh ip:"
	# only at the scheduler (ranking by idc and location); vx serve passes them in its hello
	[host.idc]="unit/test_control_sched.c idc"
	[host.location]="unit/test_control_sched.c location"
	[host.bandwidth]="unit/test_control_sched.c bandwidth_bps"
	[upload.listen]="integration/peer_lib.sh --listen"
	[upload.max_connections]="integration/peer_config.sh max_connections:"
	[upload.max_inflight_per_conn]="integration/peer_config.sh max_inflight_per_conn:"
	# the upload server's rate limiter; vx serve passes upload.rate_limit to it
	[upload.rate_limit]="integration/dataplane_upload.c rate_bytes_per_s"
	[upload.idle_timeout]="integration/peer_config.sh idle_timeout:"
	[upload.max_conns_per_addr]="integration/upload_addr_limit.sh max_conns_per_addr:"
	[upload.send_stall_timeout]="integration/upload_stalled_readers.sh send_stall_timeout:"
	[upload.lz4]="integration/peer_lz4.sh --no-lz4"
	[download.work_threads]="integration/peer_config.sh work_threads:"
	[download.rate_limit]="integration/peer_kill.sh rate_limit:"
	[download.back_to_source_rate_limit]="integration/peer_rates.sh back_to_source_rate_limit:"
	[download.task_rate_limit]="integration/peer_rates.sh task_rate_limit:"
	[download.parent_wait]="integration/peer_wait.sh parent_wait:"
	[source.allow_outbound]="integration/peer_poison.sh --allow-outbound"
	[source.deny_outbound]="integration/peer_poison.sh deny_outbound:"
	[source.hf_endpoint]="integration/sources_hub.sh hf_endpoint:"
	[source.hf_token_file]="integration/sources_hub.sh hf_token_file:"
	[source.modelscope_endpoint]="integration/sources_hub.sh modelscope_endpoint:"
	[source.modelscope_token_file]="integration/sources_hub.sh modelscope_token_file:"
	[download.access_proof_ttl]="integration/peer_private.sh access_proof_ttl:"
	[download.piece_timeout]="integration/peer_bad_parents.sh piece_timeout:"
	[download.concurrent_pieces]="integration/peer_bad_parents.sh concurrent_pieces:"
	[download.back_to_source]="integration/peer_config.sh back_to_source:"
	[storage.data_dir]="integration/peer_lib.sh --data-dir"
	[storage.disk_limit]="integration/peer_config.sh disk_limit:"
	[storage.gc_high_percent]="integration/peer_config.sh gc_high_percent:"
	[storage.gc_low_percent]="integration/peer_config.sh gc_low_percent:"
	[storage.task_ttl]="integration/peer_config.sh task_ttl:"
	[storage.gc_interval]="integration/peer_config.sh gc_interval:"
	# the store's O_DIRECT modes; vx serve passes storage.direct_io to it
	[storage.direct_io]="unit/test_storage.c direct_io"
	[proxy.listen]="integration/proxy_mirror.sh --proxy"
	[proxy.upstreams]="integration/proxy_mirror.sh --upstream"
	[proxy.public_repositories]="integration/proxy_private.sh public_repositories:"
	[proxy.max_connections]="integration/proxy_limits.sh max_connections:"
	[proxy.max_connections_per_addr]="integration/conn_limits.sh max_connections_per_addr: 3"
	[proxy.rate_limit]="integration/proxy_limits.sh rate_limit:"
	[proxy.client_rate_limit]="integration/proxy_limits.sh client_rate_limit:"
	[proxy.client_timeout]="integration/proxy_limits.sh client_timeout:"
	[proxy.fallback_after]="integration/proxy_fallback.sh fallback_after:"
	[proxy.max_header_size]="integration/proxy_mirror.sh max_header_size:"
	[tls.cert]="integration/control_tls.sh tls.cert:"
	[tls.key]="integration/control_tls.sh tls.key:"
	[tls.ca]="integration/control_tls.sh tls.ca:"
	[tls.crl]="integration/control_tls.sh tls.crl:"
	[tls.insecure_plaintext]="integration/control_tls.sh tls.insecure_plaintext:"
	[proxy.rules]="integration/proxy_forward.sh rules:"
	[proxy.forward]="integration/proxy_forward.sh forward:"
	[proxy.connect.ports]="integration/proxy_connect.sh ports: ["
	[proxy.connect.max_tunnels]="integration/proxy_connect.sh max_tunnels: 2"
	[proxy.connect.header_timeout]="integration/proxy_connect.sh header_timeout: 1s"
	[proxy.connect.idle_timeout]="integration/proxy_connect.sh idle_timeout: 1s"
	[proxy.hijack.hosts]="integration/proxy_hijack.sh hosts: ["
	[proxy.hijack.ca_cert]="integration/proxy_hijack.sh ca_cert: %s"
	[proxy.hijack.ca_key]="integration/proxy_hijack.sh ca_key: %s"
	[proxy.hijack.upstream_ca]="integration/proxy_hijack.sh upstream_ca: %s"
	[proxy.header_timeout]="integration/proxy_front_idle.sh header_timeout: 2s"
	[api.requests_per_s]="integration/api_rate.sh requests_per_s: %s"
	[api.max_conns_per_uid]="integration/api_rate.sh max_conns_per_uid: 3"
	[proxy.tls.cert]="integration/front_tls.sh cert: %s"
	[proxy.tls.key]="integration/front_tls.sh key: %s"
	[proxy.prefetch]="integration/proxy_fallback.sh prefetch:"
	[storage.memory_budget]="integration/peer_memtier.sh memory_budget:"
	[proxy.direct_rules]="integration/proxy_apt.sh direct_rules:"
	[proxy.forward_token_file]="integration/relay_clusters.sh forward_token_file:"
	[source.upstream_cluster.proxy]="integration/relay_clusters.sh proxy: %s"
	[source.upstream_cluster.token_file]="integration/relay_clusters.sh token_file:"
	[source.upstream_cluster.ca]="integration/relay_clusters.sh ca: %s"
	[source.upstream_cluster.rules]="integration/relay_clusters.sh rules:"
	[source.upstream_cluster.fallback]="integration/relay_clusters.sh fallback: true"
)
# key -> a value other than the default, for the keys not supported yet
declare -A refused=(
	[download.memory_limit]="32MiB"
)
# yaml_of KEY VALUE: a config file setting one dotted key
yaml_of() {
	case "$1" in
	*.*) printf '%s:\n  %s: %s\n' "${1%%.*}" "${1#*.}" "$2" ;;
	*) printf '%s: %s\n' "$1" "$2" ;;
	esac
}
nkeys=0
while read -r key status reason; do
	nkeys=$((nkeys + 1))
	case "$status" in
	applied)
		[ -n "${applied[$key]:-}" ] ||
			fail "$key is applied but no test measures it (add it to applied[] here)"
		[ -z "${refused[$key]:-}" ] || fail "$key is applied but listed as refused"
		file=$tests/${applied[$key]%% *}
		pat=${applied[$key]#* }
		[ -f "$file" ] || fail "$key: test $file is missing"
		grep -qF -- "$pat" "$file" || fail "$key: $file does not mention '$pat'"
		;;
	not-supported:)
		[ -n "${refused[$key]:-}" ] || fail "$key is refused but has no case (add it to refused[])"
		[ -n "$reason" ] || fail "$key is refused without a reason"
		yaml_of "$key" "${refused[$key]}" >"$dir/refused.yaml"
		set +e
		err=$("$vx" config check "$dir/refused.yaml" 2>&1)
		rc=$?
		set -e
		[ $rc -eq 1 ] || fail "$key: vx config check exit $rc, want 1 (output: $err)"
		[ "$err" = "vx config: $dir/refused.yaml: $key: $reason" ] || fail "$key: vx config check said '$err'"
		set +e
		err=$(timeout 20 "$vx" serve --config "$dir/refused.yaml" --data-dir "$dir/data" \
			--listen 127.0.0.1:0 --socket "$dir/sock" 2>&1)
		rc=$?
		set -e
		[ $rc -eq 2 ] || fail "$key: vx serve exit $rc, want 2 (output: $err)"
		[ "$err" = "vx serve: $key: $reason" ] || fail "$key: vx serve said '$err'"
		;;
	*) fail "vx config keys: unexpected line '$key $status $reason'" ;;
	esac
done < <("$vx" config keys)
[ "$nkeys" -eq $((${#applied[@]} + ${#refused[@]})) ] ||
	fail "vx config keys lists $nkeys keys, this test knows $((${#applied[@]} + ${#refused[@]}))"

# Unknown keys are refused too, by `vx config check` and by `vx serve`.
printf 'tls:\n  insecure: true\n' >"$dir/unknown.yaml"
set +e
err=$("$vx" serve --config "$dir/unknown.yaml" --data-dir "$dir/data" --listen 127.0.0.1:0 \
	--socket "$dir/sock" 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown key: vx serve exit $rc, want 2"
case "$err" in
*"unknown setting 'tls.insecure'"*) ;;
*) fail "unknown key: vx serve said '$err'" ;;
esac
echo "cli_config: ok"
