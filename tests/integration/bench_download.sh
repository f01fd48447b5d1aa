#!/usr/bin/env bash
# bench_download.sh VX_BENCH VX: smoke run of `vx-bench download` (issue 19 goal 4) and of
# `vx-bench small` (goal 7) so the drivers cannot rot: 16 MiB from a seed daemon to a
# receiving daemon through `vx get -O`, beside iperf3 and fio; 20 small files beside curl.
# Checks the JSON report (a verified run, a ratio, both daemons' peak RSS, the output written
# during the download) and that nothing (processes, the run's directory) is left behind. The
# figures of the long runs are benchmarks (bench/RESULTS.md), never asserted here.
set -u
bench=$1
vx=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # nginx workers (not root) read the origin file beneath it
for tool in nginx iperf3 fio; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
		echo "bench_download: needs $tool, skipping" >&2
		exit 77
	}
done
rc=0
timeout -k 5 120 "$bench" download --size 16M --runs 1 --json --dir "$tmp" --vx "$vx" \
	>"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: vx-bench download exited $rc" >&2
	cat "$tmp/err.txt" "$tmp/out.txt" >&2
	exit 1
fi
grep '^{' "$tmp/out.txt" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["runs"][0]
assert r["ratio"] > 0 and r["vx_Bps"] > 0, r
assert 0 < r["peer_rss_mib"] < 1024 and 0 < r["seed_rss_mib"] < 1024, r
# issue 19 goal 4: the fetcher wrote every piece of the output from its receive buffers (16
# MiB: whole 4 MiB pieces, no tail to copy); none was copied from the store afterwards
assert r.get("pieces") == 4 and r.get("output_pieces_early") == 4, r
' || {
	echo "FAIL: bad report:" >&2
	cat "$tmp/out.txt" >&2
	exit 1
}
# `vx-bench small` (issue 19 goal 7) on 20 files: verified runs of vx get -r, with and
# without --jobs (its workers through the daemon), and of curl
timeout -k 5 120 "$bench" small --files 20 --runs 1 --json --dir "$tmp" --vx "$vx" \
	>"$tmp/small.txt" 2>"$tmp/small.err" || {
	echo "FAIL: vx-bench small exited non-zero" >&2
	cat "$tmp/small.err" "$tmp/small.txt" >&2
	exit 1
}
grep '^{' "$tmp/small.txt" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["runs"][0]
assert r["files"] == 20 and r["vx_fps"] > 0 and r["curl_fps"] > 0 and r["ratio_curl"] > 0, r
assert r["vx_jobs_fps"] > 0 and r["ratio_jobs_curl_parallel"] > 0, r
' || {
	echo "FAIL: bad small report:" >&2
	cat "$tmp/small.txt" >&2
	exit 1
}
left=$(ls -d "$tmp"/vxdl.* 2>/dev/null)
[ -z "$left" ] || {
	echo "FAIL: the run's directory was left behind: $left" >&2
	exit 1
}
left=$(pgrep -a -f -- "$tmp/vxdl" || true)
[ -z "$left" ] || {
	echo "FAIL: processes left behind: $left" >&2
	exit 1
}
echo "bench_download: ok"
