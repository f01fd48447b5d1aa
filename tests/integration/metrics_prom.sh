#!/usr/bin/env bash
# metrics_prom.sh VX [SRC]: seeing the cluster (issue 17, spec/metrics.md) with real parts. An
# nginx origin, `vx scheduler --api`, a seed and two peers on loopback, all logging JSON.
#   - /metrics of every daemon passes `promtool check metrics` (vx serve and the scheduler);
#   - /healthy and /ready answer; another path 404s, another method 405s;
#   - the scheduler's /metrics needs a token with the metrics:read scope (none: 401, a token
#     without the scope: 403; shared/reference/dragonfly-behaviour.md 5.5 item 1);
#   - a real Prometheus server (Debian's) scrapes the swarm every second with the scheduler's
#     token in a credentials file, and a PromQL query over its HTTP API returns the bytes a
#     finished download got from peers (what `vx get --json` said), within a bounded wait;
#     the alert rules of deploy/ load in it, and `promtool check rules` passes them; every
#     query of the Grafana dashboard in deploy/ runs in it without an error;
#   - every log line of the daemons and of `vx get --log-format json` is one JSON object with
#     ts, level, room and msg, and the request id of the get appears in the client's, the
#     daemon's and the scheduler's lines;
#   - metrics_listen: in a config file is applied (p1 listens where its file says).
set -euo pipefail
vx=$1
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
name=metrics_prom
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
need_tools scripts/deps/metrics.apt promtool prometheus curl
peer_lib_init

origin_start
sched_start --log-format json
serve_start seed --seed --allow-outbound 127.0.0.0/8 --metrics 127.0.0.1:0 --log-format json
printf 'metrics_listen: 127.0.0.1:0\n' >"$dir/p1.yaml"
serve_start p1 --config "$dir/p1.yaml" --log-format json
serve_start p2 --metrics 127.0.0.1:0 --log-format json
mport() { sed -n 's/^vx serve: metrics on port //p' "$dir/$1.out"; }
for n in seed p1 p2; do
	[ -n "$(mport $n)" ] || fail "$n: no metrics port in its output"
done

# ---- the scheduler's /metrics: a token with metrics:read
"$vx" token create --bootstrap --db "$dir/sched.db" >"$dir/boot.out" 2>"$dir/boot.err" ||
	fail "token create --bootstrap: $(cat "$dir/boot.err")"
(umask 077 && tail -n1 "$dir/boot.out" >"$dir/api.admin")
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"
prom_tok=$("$vx" token create --name prom --scopes metrics:read)
jobs_tok=$("$vx" token create --name jobs --scopes job:read)
(umask 077 && printf '%s\n' "$prom_tok" >"$dir/prom.token")
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$api_port/metrics")" = 401 ] || fail "scheduler /metrics without a token"
[ "$(code -H "Authorization: Bearer $jobs_tok" "http://127.0.0.1:$api_port/metrics")" = 403 ] ||
	fail "scheduler /metrics with a token lacking metrics:read"
curl -sf -H "Authorization: Bearer $prom_tok" "http://127.0.0.1:$api_port/metrics" >"$dir/sched.prom" ||
	fail "scheduler /metrics with the metrics:read token"

# ---- the peer's endpoint: three paths, GET only
p2m=http://127.0.0.1:$(mport p2)
[ "$(code "$p2m/healthy")" = 200 ] || fail "/healthy"
[ "$(code "$p2m/ready")" = 200 ] || fail "/ready"
[ "$(code "$p2m/secret")" = 404 ] || fail "an unknown path"
[ "$(code -X POST "$p2m/metrics")" = 405 ] || fail "POST /metrics"

# ---- Prometheus scrapes the swarm
prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/prom.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$src/deploy/prometheus/vx-alerts.yml"]
scrape_configs:
  - job_name: vx-peers
    static_configs:
      - targets: ["127.0.0.1:$(mport seed)", "127.0.0.1:$(mport p1)", "127.0.0.1:$(mport p2)"]
  - job_name: vx-scheduler
    authorization:
      credentials_file: $dir/prom.token
    static_configs:
      - targets: ["127.0.0.1:$api_port"]
YML
promtool check config "$dir/prom.yml" >"$dir/promtool.out" 2>&1 || fail "promtool check config: $(cat "$dir/promtool.out")"
promtool check rules "$src/deploy/prometheus/vx-alerts.yml" >"$dir/promtool.out" 2>&1 ||
	fail "promtool check rules: $(cat "$dir/promtool.out")"
prometheus --config.file="$dir/prom.yml" --storage.tsdb.path="$dir/prom-data" \
	--web.listen-address="127.0.0.1:$prom_port" >"$dir/prometheus.log" 2>&1 &
bg_pids+=($!)

# query PROMQL: the first sample's value, or "" (the HTTP API, JSON parsed by python)
query() {
	curl -sf --get --data-urlencode "query=$1" "http://127.0.0.1:$prom_port/api/v1/query" |
		python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}

# ---- a download through p2, its request id followed across the three daemons
make_file f1 3000000
url="http://127.0.0.1:$origin_port/f1"
get seed "$url" "$dir/out/seed.bin"
expect_rc 0 "seed get"
get p2 "$url" "$dir/out/p2.bin" --log-level info --log-format json
expect_rc 0 "p2 get"
cp "$dir/get-err.txt" "$dir/p2-get.log"
cmp -s "$dir/www/f1" "$dir/out/p2.bin" || fail "p2's copy differs"
peers=$(json bytes_from_peers)
[ "$peers" -gt 0 ] || fail "p2 got no byte from peers (seed held f1): $out"

for f in "$dir/p2-get.log" "$dir/p2.log" "$dir/seed.log" "$dir/p1.log" "$dir/sched.log"; do
	python3 - "$f" <<'PY' || fail "$(basename "$f"): a log line is not a JSON object with the stable keys"
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert list(o)[:4] == ["ts", "level", "room", "msg"], o
    assert o["level"] in ("error", "warn", "info", "debug"), o
    n += 1
assert n > 0, "no line"
PY
done
rid=$(python3 -c 'import json, sys
ids = {json.loads(l).get("request_id") for l in open(sys.argv[1])} - {None}
assert len(ids) == 1, ids
print(ids.pop())' "$dir/p2-get.log") || fail "vx get's lines carry no single request id"
grep -q "\"request_id\":\"$rid\"" "$dir/p2.log" || fail "request id $rid not in the daemon's lines"
grep -q "\"request_id\":\"$rid\"" "$dir/sched.log" || fail "request id $rid not in the scheduler's lines"
grep "\"request_id\":\"$rid\"" "$dir/sched.log" | grep -q '"room":"sched"' ||
	fail "the scheduler's line with the request id is not the scheduler's"

# ---- promtool on every daemon's output
for n in seed p1 p2; do
	curl -sf "http://127.0.0.1:$(mport $n)/metrics" >"$dir/$n.prom" || fail "$n /metrics"
	promtool check metrics <"$dir/$n.prom" >"$dir/promtool.out" 2>&1 ||
		fail "promtool check metrics ($n): $(cat "$dir/promtool.out")"
done
curl -sf -H "Authorization: Bearer $prom_tok" "http://127.0.0.1:$api_port/metrics" >"$dir/sched.prom"
promtool check metrics <"$dir/sched.prom" >"$dir/promtool.out" 2>&1 ||
	fail "promtool check metrics (scheduler): $(cat "$dir/promtool.out")"
grep -q '^vx_download_bytes_total{source="peer"} '"$peers"'$' "$dir/p2.prom" ||
	fail "p2's own /metrics: bytes from peers $(grep 'source="peer"' "$dir/p2.prom"), want $peers"
grep -q '^vx_scheduler_decisions_total{decision="parents"} [1-9]' "$dir/sched.prom" ||
	fail "the scheduler counted no parents answer"
# low cardinality, no secrets: no task id, URL, address, host name or token in any series
grep -Eq "[0-9a-f]{64}|://|127\\.0\\.0\\.1|vxt_|-$(hostname)-|$rid" "$dir/p2.prom" "$dir/sched.prom" &&
	fail "a series names a task, URL, address, host or token"

# ---- Prometheus has it: bytes from peers of p2, as vx get said (bounded wait)
want="vx_download_bytes_total{job=\"vx-peers\",instance=\"127.0.0.1:$(mport p2)\",source=\"peer\"}"
got=""
for i in $(seq 150); do
	got=$(query "$want")
	[ "$got" = "$peers" ] && break
	sleep 0.2
done
[ "$got" = "$peers" ] || fail "Prometheus says $want = '$got', want $peers ($(tail -3 "$dir/prometheus.log"))"
for i in $(seq 100); do
	got=$(query 'vx_scheduler_hosts{job="vx-scheduler"}')
	[ "$got" = 3 ] && break
	sleep 0.2
done
[ "$got" = 3 ] || fail "Prometheus: scheduler hosts '$got', want 3 (the token scrape)"

# ---- the Grafana dashboard: JSON, and every query runs in Prometheus without an error
python3 - "$src/deploy/grafana/vx-dashboard.json" "$prom_port" <<'PY' || fail "the dashboard's queries"
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[1]))
n = 0
for p in d["panels"]:
    for t in p["targets"]:
        q = t["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
        u = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[2], urllib.parse.urlencode({"query": q}))
        r = json.load(urllib.request.urlopen(u, timeout=10))
        assert r["status"] == "success", (q, r)
        n += 1
assert n >= 15, n
PY
echo "$name: ok"
