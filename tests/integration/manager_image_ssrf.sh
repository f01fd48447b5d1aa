#!/usr/bin/env bash
# manager_image_ssrf.sh VX: an image preheat cannot make the control plane connect where its
# outbound policy forbids (5.5 item 8, server-side request forgery). The scheduler allows
# 127.0.0.1 only (--allow-outbound 127.0.0.1/32). A hostile "registry" on 127.0.0.1 answers
# the manifest request with a token challenge whose realm is on 127.0.0.3 (a stand-in for a
# metadata service), and another manifest with a redirect there; both jobs fail, and the
# listener on 127.0.0.3 sees no connection: the policy is checked on every connection of the
# image resolution (registry, redirect, token realm), not only on the URL the job names.
set -euo pipefail
vx=$1
name=manager_image_ssrf
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peer_lib.sh"
peer_lib_init
. "$here/manager_lib.sh"

trap_port=$(free_port)
reg_port=$(free_port)
python3 - "$trap_port" "$reg_port" "$dir/trap.hits" >"$dir/fake.log" 2>&1 <<'PY' &
import http.server, socket, sys, threading
trap_port, reg_port, hits = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
open(hits, "w").close()
trap = socket.socket()
trap.bind(("127.0.0.3", trap_port))
trap.listen(8)
def watch():
    while True:
        c, _ = trap.accept()
        with open(hits, "a") as f:
            f.write("hit\n")
        c.close()
threading.Thread(target=watch, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/v2/r/"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.3:%d/v2/x/manifests/1" % trap_port)
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="http://127.0.0.3:%d/token",'
                             'service="s",scope="repository:a:pull"' % trap_port)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", reg_port), H).serve_forever()
PY
bg_pids+=($!)
wait_port "$reg_port"
wait_port "$trap_port" 127.0.0.3
sleep 0.2
: >"$dir/trap.hits" # wait_port's own connection

sched_start --allow-outbound 127.0.0.1/32
"$vx" token create --bootstrap --db "$dir/sched.db" 2>/dev/null | tail -n1 >"$dir/api.admin"
admin=$(cat "$dir/api.admin")
for repo in ${SSRF_REPOS:-a r}; do # a: a token challenge; r: a redirect
	url="http://127.0.0.1:$reg_port/v2/$repo/manifests/1"
	got=$(expect_at "$api_port" 200 "preheat of $url" POST /oapi/v1/jobs \
		"{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"$url\",\"username\":\"u\",\"password\":\"p\"}}" \
		"$admin")
	jid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$got")
	got=$(job_wait "$api_port" "$jid" "$admin")
	case $got in *'"state":"FAILURE"'*) ;; *) fail "a preheat led to 127.0.0.3: $got" ;; esac
done
[ ! -s "$dir/trap.hits" ] ||
	fail "the control plane connected to 127.0.0.3 $(wc -l <"$dir/trap.hits") time(s)"
echo "PASS: $name"
