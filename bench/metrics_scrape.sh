#!/usr/bin/env bash
# metrics_scrape.sh VX [TASKS]: scrape latency of a `vx serve` holding TASKS tasks (default
# 10000; issue 17). The daemon runs without a scheduler; each task is a small file:// download
# through its socket (they stay local). Then 500 GETs of /metrics and of /ready, one after
# another, each timed by curl (time_total); prints min, median, p99 and max in milliseconds,
# the body size, and how long `vx status --json` takes.
set -euo pipefail
vx=$(realpath "$1")
n=${2:-10000}
dir=$(mktemp -d)
trap 'rc=$?; kill "$pid" "$hpid" 2>/dev/null; wait "$pid" "$hpid" 2>/dev/null || true; rm -rf "$dir"; exit $rc' EXIT
mkdir -p "$dir/files" "$dir/out"
# the store keeps a task's content file open while it is cached: 10,000 tasks need more than
# the default 1024 descriptors (systemd: LimitNOFILE=); a file:// task holds its source too
ulimit -n 65536 2>/dev/null || true
"$vx" serve --data-dir "$dir/store" --listen 127.0.0.1:0 --socket "$dir/s.sock" \
	--metrics 127.0.0.1:0 --log-level warn >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
hpid=
for i in $(seq 100); do
	grep -q '^vx serve: ready' "$dir/serve.out" 2>/dev/null && break
	sleep 0.1
done
port=$(sed -n 's/^vx serve: metrics on port //p' "$dir/serve.out")
python3 - "$dir/files" "$n" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], "f%05d" % i), "wb") as f:
        f.write(os.urandom(64) + str(i).encode())
PY
(cd "$dir/files" && exec python3 -u -m http.server 0 --bind 127.0.0.1 >"$dir/http.out" 2>&1) &
hpid=$!
for i in $(seq 100); do
	hport=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$dir/http.out" 2>/dev/null | head -1)
	[ -n "$hport" ] && break
	sleep 0.1
done
start=$(date +%s.%N)
ls "$dir/files" | xargs -P 4 -I{} "$vx" get "http://127.0.0.1:$hport/{}" -O "$dir/out/{}" \
	--socket "$dir/s.sock" --no-progress
echo "tasks: $n made in $(echo "$(date +%s.%N) - $start" | bc) s"
held=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^vx_tasks_total{result="ok"} //p')
echo "daemon: $held tasks ended ok; /metrics body $(curl -s "http://127.0.0.1:$port/metrics" | wc -c) bytes"
for path in metrics ready; do
	for i in $(seq 500); do
		curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/$path"
	done | sort -n | awk -v p="$path" '{ a[NR] = $1 * 1000 } END {
		printf "GET /%-8s n=%d  min %.3f ms  median %.3f ms  p99 %.3f ms  max %.3f ms\n",
			p, NR, a[1], a[int(NR / 2)], a[int(NR * 0.99)], a[NR] }'
done
start=$(date +%s.%N)
"$vx" status --socket "$dir/s.sock" --metrics "127.0.0.1:$port" --json >"$dir/status.json"
echo "vx status --json: $(echo "$(date +%s.%N) - $start" | bc) s (1 s of it the rate interval), $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(len(j["tasks"]), "tasks listed, truncated:", j["truncated"])' "$dir/status.json")"
