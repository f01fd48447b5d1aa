#!/usr/bin/env bash
# manager_image.sh VX: image preheat through the management API against Debian's
# docker-registry on loopback (a multi-platform image pushed by sources_registry_push.py).
# The manifest URL .../v2/vx/app/manifests/multi is resolved by platform (linux/arm64 from the
# index) into its config and layers; preheat to all_peers makes the seed and both peers hold
# every blob; with the registry stopped, a peer's registry mirror still serves every layer
# (the registry costs no byte: a preheated blob is the mirror's task, its digest's id). A manifest URL of another shape is a 400. 5.5: the image preheat needs the preheat
# scope (a job:write token gets 403). A sync of the repository (oci+http://REGISTRY/vx/app/,
# issue 21) preheats every tag's blobs once, and nothing on its second run.
set -euo pipefail
vx=$1
name=manager_image
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
. "$here/registry_lib.sh"
registry_lib_init
reg_start plain
python3 "$here/sources_registry_push.py" "http://$reg_direct" vx/app "$dir/push" \
	>"$dir/push.log" 2>&1 || fail "push failed: $(cat "$dir/push.log")"

sched_start --allow-outbound 127.0.0.0/8
serve_start seed --seed --allow-outbound 127.0.0.0/8 # the origin is on loopback
serve_start p1
serve_start p2 --proxy 127.0.0.1:0 --upstream "http://$reg_direct"
"$vx" token create --bootstrap --db "$dir/sched.db" 2>/dev/null | tail -n1 >"$dir/api.admin"
chmod 600 "$dir/api.admin"
export VX_API="http://127.0.0.1:$api_port" VX_API_TOKEN_FILE="$dir/api.admin"
"$vx" token create --name w --scopes job:read,job:write >"$dir/api.writer"

body() {
	printf '{"type":"preheat","args":{"type":"image","url":"%s","platform":"linux/arm64","scope":"all_peers","timeout":60}}' "$1"
}
post() { # post TOKEN_FILE BODY -> "STATUS BODY"
	python3 - "$api_port" "$(cat "$1")" "$2" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("POST", "/oapi/v1/jobs", body=sys.argv[3],
          headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
r = c.getresponse()
print(r.status, r.read().decode())
PY
}
manifest="http://$reg_direct/v2/vx/app/manifests/multi"
out=$(post "$dir/api.writer" "$(body "$manifest")")
[ "${out%% *}" = 403 ] || fail "a token without the preheat scope: $out"
out=$(post "$dir/api.admin" "$(body "http://$reg_direct/v2/vx/app/tags/list")")
[ "${out%% *}" = 400 ] || fail "a URL that is no manifest URL: $out"

out=$(post "$dir/api.admin" "$(body "$manifest")")
[ "${out%% *}" = 200 ] || fail "image preheat refused: $out"
jid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "${out#* }")
"$vx" job get "$jid" --json >"$dir/job.json"
for i in $(seq 300); do
	grep -q '"state":"PENDING"' "$dir/job.json" || break
	sleep 0.2
	"$vx" job get "$jid" --json >"$dir/job.json"
done
python3 - "$dir/job.json" "$dir/push/expect.json" <<'PY' || fail "image preheat result: $(cat "$dir/job.json")"
import json, sys
j = json.load(open(sys.argv[1]))
ex = json.load(open(sys.argv[2]))["platforms"]["arm64"]
assert j["state"] == "SUCCESS", j["state"]
r = j["result"]["job_states"][0]["results"][0]
blobs = {ex["config"]["digest"]} | {l["digest"] for l in ex["layers"]}
assert r["failure_tasks"] == [], r
got = {}
for t in r["success_tasks"]:
    got.setdefault(t["url"].rsplit("/", 1)[1], set()).add(t["hostname"])
assert set(got) == blobs, (got, blobs)
assert all(len(h) == 3 for h in got.values()), got
PY
# the CLI: a manifest URL is an image; linux/amd64 from the index, to the seed only
"$vx" preheat "$manifest" --platform linux/amd64 --scope all_seed_peers --wait --timeout 60 \
	--json >"$dir/cli.json" || fail "vx preheat of the image: $(cat "$dir/cli.json")"
python3 - "$dir/cli.json" "$dir/push/expect.json" <<'PY' || fail "vx preheat image result: $(cat "$dir/cli.json")"
import json, sys
r = json.load(open(sys.argv[1]))["result"]["job_states"][0]["results"][0]
ex = json.load(open(sys.argv[2]))["platforms"]["amd64"]
blobs = {ex["config"]["digest"]} | {l["digest"] for l in ex["layers"]}
assert {t["url"].rsplit("/", 1)[1] for t in r["success_tasks"]} == blobs, r
assert {t["host_type"] for t in r["success_tasks"]} == {"super"}, r
PY
# ---- a repository's tags as a sync prefix (oci+http://REGISTRY/NAME/): every tag's image (this
# host's platform from an index), each blob preheated once; a second run preheats nothing
"$vx" sync "oci+http://$reg_direct/vx/app/" --wait --timeout 60 --json >"$dir/sync.json" ||
	fail "vx sync of the repository's tags: $(cat "$dir/sync.json")"
python3 - "$dir/sync.json" "http://$reg_direct" <<'PY' || fail "the tags sync: $(cat "$dir/sync.json")"
import json, platform, sys, urllib.request
j, base = json.load(open(sys.argv[1])), sys.argv[2]
acc = ("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
       "application/vnd.docker.distribution.manifest.v2+json")
def get(path):
    r = urllib.request.Request(base + path, headers={"Accept": acc})
    return json.load(urllib.request.urlopen(r, timeout=20))
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
tags, blobs = get("/v2/vx/app/tags/list")["tags"], set()
for t in tags:
    m = get("/v2/vx/app/manifests/" + t)
    if "manifests" in m:
        m = get("/v2/vx/app/manifests/" + [x["digest"] for x in m["manifests"]
               if x["platform"]["os"] == "linux" and x["platform"]["architecture"] == arch][0])
    blobs |= {m["config"]["digest"]} | {l["digest"] for l in m["layers"]}
st = j["last_stats"]
assert len(tags) >= 2, tags
assert st["listed"] == len(blobs) and st["preheated"] == len(blobs) and st["failed"] == 0, (st, blobs)
PY
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/sync.json")
"$vx" sync run "$sid" --wait --json >"$dir/sync2.json" || fail "the second tags sync: $(cat "$dir/sync2.json")"
python3 -c 'import json,sys; s = json.load(open(sys.argv[1]))["last_stats"]; assert s.get("new", 0) == 0 and s["preheat"] == 0 and s["unchanged"] == s["listed"], s' \
	"$dir/sync2.json" || fail "the second tags sync preheated again: $(cat "$dir/sync2.json")"
# the preheated blobs are the registry mirror's tasks (a blob's id is its digest's, as the
# mirror's): with the registry stopped, p2's mirror still serves every layer of the image
mport=$(sed -nE 's/^vx serve: registry mirror on port ([0-9]+).*/\1/p' "$dir/p2.out")
[ -n "$mport" ] || fail "p2 printed no mirror port"
reg_stop
for layer in $(python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(open(sys.argv[1]))["platforms"]["arm64"]["layers"]))' "$dir/push/expect.json"); do
	curl -fsS -m 30 -o "$dir/out/layer" "http://127.0.0.1:$mport/v2/vx/app/blobs/$layer" ||
		fail "p2's mirror did not serve preheated layer $layer with the registry down"
	[ "sha256:$(sha256sum <"$dir/out/layer" | cut -d' ' -f1)" = "$layer" ] || fail "layer $layer differs"
done
echo "PASS: $name"
