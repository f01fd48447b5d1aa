#!/usr/bin/env bash
# bench_preheat_image.sh VX_BENCH VX: smoke run of `vx-bench preheat --image` (the driver
# bench/swarm/mirror.py --preheat) so its code path cannot rot: 2 peers in namespaces, an image
# of 6 MiB in two layers in Debian's docker-registry, pulled cold through both mirrors, then
# preheated to all peers by the job API (the driver fails unless the job ends SUCCESS with
# every blob on every peer, and verifies every pulled blob against its digest), then pulled
# through both mirrors again. Checks the report: the registry sent about one copy to the cold
# pulls (the mirrors share through the swarm), about one copy to the preheat, and no blob byte
# to the pulls after it (the manifests only: under 64 KiB); nothing (namespace, process,
# directory) is left behind. Exit 77 (skip) without namespaces.
set -u
bench=$1
vx=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bench" preheat --image --peers 2 --layers 4M,2M --link 200mbit --timeout 120 --json \
	--vx "$vx" >"$tmp/out.json" 2>"$tmp/err"
rc=$?
cat "$tmp/err" >&2
if [ $rc -eq 77 ]; then
	echo "bench_preheat_image: skipped: network namespaces are not available here"
	exit 77
fi
[ $rc -eq 0 ] || echo "FAIL: vx-bench preheat --image exited $rc" >&2
[ -s "$tmp/out.json" ] || exit 1

$py - "$tmp/out.json" <<'PY' || exit 1
import json, os, subprocess, sys
rep = json.load(open(sys.argv[1]))
cfg, p = rep["config"], rep["preheat"]
size, blobs = cfg["image_bytes"], len(cfg["layers"]) + 1
bad = []
# registry copies from the origin node's htb counters (payload = wire bytes - headers)
if not 0.95 <= p["cold"]["registry_copies"] <= 1.5:
    bad.append("cold pulls: the registry sent %.3f copies, want about 1"
               % p["cold"]["registry_copies"])
if not 0.95 <= p["preheat"]["registry_copies"] <= 1.5:
    bad.append("preheat: the registry sent %.3f copies, want about 1"
               % p["preheat"]["registry_copies"])
if p["preheat"]["tasks"] != 2 * blobs:
    bad.append("preheat: %d blob tasks, want %d" % (p["preheat"]["tasks"], 2 * blobs))
# after the preheat only the manifests may come from the registry (the driver's bound)
if not p["mirrors_warm"]:
    bad.append("pulls after the preheat: the registry sent %d bytes"
               % p["after"]["registry_payload"])
if not p["preheat"]["time_s"] > 0 or not p["preheat_speed_vs_cold"] > 0:
    bad.append("no preheat time: %s" % p["preheat"])
prefix = cfg["prefix"]
ns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout
if prefix + "-" in ns:
    bad.append("namespaces left behind: %s" % ns)
left = subprocess.run(["pgrep", "-a", "-f", "--", prefix + "-"], stdout=subprocess.PIPE,
                      text=True).stdout
if left:
    bad.append("processes left behind: %s" % left)
tmp = os.environ.get("TMPDIR", "/tmp")
if any(d.startswith(prefix + "-") for d in os.listdir(tmp)):
    bad.append("directories left behind")
for b in bad:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ $rc -eq 0 ] || exit 1
echo "bench_preheat_image: ok"
