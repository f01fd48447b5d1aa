#!/usr/bin/env bash
# bench_swarm.sh VX_BENCH [VX]: smoke run of `vx-bench swarm` so the testbed cannot rot.
# N=2, 8 MiB, 40 Mbit/s uplinks in network namespaces, for http, bt and vx. Checks every peer's
# sha256 from the JSON report, the copies the origin sent (from interface counters), the seed's
# uplink profile (bt, vx), the chart, and that nothing (namespace, bridge, process, directory) is
# left behind, also after a run interrupted with Ctrl-C (SIGINT).
# Exit 77 (skip) when network namespaces cannot be made here.
set -u
bench=$1
vx=${2:-}
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# Nothing of run $1 (a vxb<pid> prefix) may remain: namespaces (the bridge and veths live only
# inside them), processes, work directories.
check_clean() {
	local prefix=$1 left
	left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix-")
	[ -z "$left" ] || fail "namespaces left behind: $left"
	left=$(pgrep -a -f -- "$prefix-")
	[ -z "$left" ] || fail "processes left behind: $left"
	left=$(ls -d "${TMPDIR:-/tmp}/$prefix-"* 2>/dev/null)
	[ -z "$left" ] || fail "directories left behind: $left"
}

# The real vx (vx scheduler, vx serve --seed, vx serve, vx get --socket) when this build has it.
systems=http,bt,vx
if [ -z "$vx" ] || ! "$vx" serve --help >/dev/null 2>&1; then
	fail "no vx with 'vx serve' given"
	exit 1
fi
args=(--vx "$vx")

"$bench" swarm --peers 2 --size 8M --link 40mbit --vs "$systems" --only --json \
	--chart "$tmp/chart.png" --timeout 120 "${args[@]}" >"$tmp/out.json" 2>"$tmp/err"
rc=$?
cat "$tmp/err" >&2
if [ $rc -eq 77 ]; then
	echo "bench_swarm: skipped: network namespaces are not available here"
	exit 77
fi
[ $rc -eq 0 ] || fail "vx-bench swarm exited $rc"

prefix=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["prefix"])' \
	"$tmp/out.json" 2>/dev/null)
if [ -z "$prefix" ]; then
	fail "no JSON report"
else
	check_clean "$prefix"
fi

$py - "$tmp/out.json" "$systems" <<'PY' || fail "report checks"
import json, sys
rep = json.load(open(sys.argv[1]))
want = sys.argv[2].split(",")
cfg, res = rep["config"], {r["system"]: r for r in rep["results"]}
bad = []
for s in want:
    r = res.get(s)
    if r is None or r.get("error"):
        bad.append("%s: %s" % (s, r and r.get("error")))
        continue
    if len(r["peers"]) != 2:
        bad.append("%s: %d peers reported" % (s, len(r["peers"])))
    for p in r["peers"]:
        if p["sha256"] != cfg["sha256"] or p["time_s"] is None:
            bad.append("%s: peer %d sha256 %s, want %s" % (s, p["peer"], p["sha256"],
                                                          cfg["sha256"]))
    b = r["bytes"]
    # Counters are wire bytes minus modelled headers: allow a few per cent either way.
    if s == "http" and not 1.9 <= b["origin_copies"] <= 2.1:
        bad.append("http: origin sent %.2f copies, want 2" % b["origin_copies"])
    if s in ("bt", "vx"):
        total = b["origin_copies"] + b["seed_copies"] + b["peers_copies"]
        if not 1.9 <= total <= 2.6:
            bad.append("%s: %.2f copies sent in all, want about 2" % (s, total))
    # The seed's uplink over the timed part: when it carried the file, and the tail after it.
    u = r.get("seed_uplink")
    if s in ("bt", "vx") and (
            not u or not 0 <= u["first_s"] <= u["last_s"] or u["slow_s"] < 0 or
            u["slow_s"] > u["last_s"] - u["first_s"] or
            abs(u["last_s"] + u["tail_s"] - r["last_s"]) > 0.02):
        bad.append("%s: seed uplink profile %s, last peer %.2f s" % (s, u, r["last_s"]))
    if r["last_s"] < rep["bound"]["t_min"] * 0.97:
        bad.append("%s: %.2f s beats the bound %.2f s: shaping is not working" %
                   (s, r["last_s"], rep["bound"]["t_min"]))
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
head -c 8 "$tmp/chart.png" 2>/dev/null | od -An -c | grep -q 'P   N   G' || fail "no PNG chart"

# Two racks joined by a shaped link and uneven, seeded links (issue 19): the link's counters see
# the file cross about once (one peer per rack; up to 1.6: with 8 MiB a last piece asked of both
# parents in rack 0 in the endgame is a large share, and one run in four reached 1.32), the
# bound counts the link, and shaping holds to it.
"$bench" swarm --peers 2 --size 8M --link 40mbit --racks 2 --rack-link 20mbit --links mixed \
	--liars 1 --vs vx --only --json --timeout 120 "${args[@]}" >"$tmp/rack.json" 2>"$tmp/rack.err" ||
	fail "vx-bench swarm --racks 2 --links mixed exited $?: $(tail -5 "$tmp/rack.err")"
$py - "$tmp/rack.json" <<'PY' || fail "rack report checks"
import json, sys
rep = json.load(open(sys.argv[1]))
cfg, bnd, r = rep["config"], rep["bound"], rep["results"][0]
f, c = cfg["size"], cfg["rack_link_bps"] / 8 * bnd["eta"]
bad = []
if cfg["racks"] != [1, 1] or len(cfg["uplinks_bps"]) != 2 or cfg["liars"] == []:
    bad.append("config %s" % cfg)
if not set(cfg["uplinks_bps"]) <= {10e6, 100e6, 1000e6}:
    bad.append("uplinks %s" % cfg["uplinks_bps"])
if not r["ok"] or any(p["sha256"] != cfg["sha256"] for p in r["peers"]):
    bad.append("vx did not deliver: %s" % r.get("error"))
elif not 0.95 <= r["bytes"]["cross_rack_copies"] <= 1.6:
    bad.append("%.2f copies crossed, want about 1" % r["bytes"]["cross_rack_copies"])
if abs(bnd["rack_terms"]["rack1"] - f / c) > 1e-6 or bnd["t_min"] < f / c:
    bad.append("bound %s does not count the link (F/c %.2f s)" % (bnd, f / c))
if r.get("last_s") and r["last_s"] < bnd["t_min"] * 0.97:
    bad.append("%.2f s beats the bound %.2f s: the link is not shaped" %
               (r["last_s"], bnd["t_min"]))
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
rack_prefix=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["prefix"])' \
	"$tmp/rack.json" 2>/dev/null)
[ -n "$rack_prefix" ] && check_clean "$rack_prefix"

# Loopback mode (no namespaces, no shaping): every peer verified, nothing left behind.
"$bench" swarm --peers 2 --size 4M --link 100mbit --loopback --vs "$systems" --only --json \
	--timeout 60 "${args[@]}" >"$tmp/lo.json" 2>"$tmp/lo.err"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/lo.err" >&2; fail "loopback run exited $rc"; }
$py - "$tmp/lo.json" "$systems" <<'PY' || fail "loopback report checks"
import json, sys
rep = json.load(open(sys.argv[1]))
res = {r["system"]: r for r in rep["results"]}
bad = [s for s in sys.argv[2].split(",")
       if s not in res or not res[s]["ok"] or len(res[s]["peers"]) != 2 or
       any(p["sha256"] != rep["config"]["sha256"] for p in res[s]["peers"])]
for s in bad:
    print("FAIL: loopback %s: %s" % (s, res.get(s, {}).get("error", "peers not verified")),
          file=sys.stderr)
sys.exit(1 if bad else 0)
PY
lo_prefix=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["prefix"])' \
	"$tmp/lo.json" 2>/dev/null)
[ -z "$lo_prefix" ] || check_clean "$lo_prefix"

# Ctrl-C in the middle of a run: the driver must still remove everything.
"$bench" swarm --peers 2 --size 32M --link 20mbit --vs http --only --timeout 60 \
	>"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
sleep 5
kill -INT $pid
waited=0
while kill -0 $pid 2>/dev/null && [ $waited -lt 30 ]; do
	sleep 1
	waited=$((waited + 1))
done
if kill -0 $pid 2>/dev/null; then
	fail "interrupted run still alive after 30 s"
	kill -KILL $pid
fi
wait $pid
rc=$?
[ $rc -eq 130 ] || { cat "$tmp/int.err" >&2; fail "interrupted run exited $rc, want 130"; }
check_clean "vxb$pid"

if [ $fails -ne 0 ]; then
	echo "bench_swarm: $fails failure(s)" >&2
	exit 1
fi
echo "bench_swarm: ok ($systems)"
