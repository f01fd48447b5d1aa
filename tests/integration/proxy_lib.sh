# shellcheck shell=bash
# proxy_lib.sh: shared by the proxy_*.sh tests (sourced after peer_lib.sh and peer_lib_init):
# a real registry (Debian's docker-registry) on loopback with its access log, and helpers for
# the vx registry mirror. Exit 77 when docker-registry, skopeo or curl is missing.
#   proxy_setup [HTPASSWD USER:PASS] the tools checked, registry "reg" started (with Basic
#                                    auth from HTPASSWD), the test image pushed to repos "img"
#                                    and "other" (proxy_registry_push.py; $dir/img/layers),
#                                    and a scheduler started
#   registry_start NAME [HTPASSWD]   registry on 127.0.0.1:$reg_port, log $dir/NAME.log
#   fake_upstream_start              proxy_fake_registry.py (a registry that lies; its /v2/
#                                    answers 200) at $fake_url
#   mirror_port NAME                 the mirror port of vx serve NAME (its "registry mirror" line)
#   tls_origin_start                 nginx over HTTPS on 127.0.0.1:$tls_port and :$tls_port2
#                                    serving $dir/www, its self-signed certificate (for
#                                    127.0.0.1 and localhost) $dir/origin.pem, its access log
#                                    $dir/tls-access.log (the format of peer_lib's origin)
#   blob_sends LOG HEX               body bytes the registry sent for GETs of the blob (200
#                                    and 206 answers: the source reads ranges, and its stat
#                                    probe is a 1-byte range)
#   front_cert SAN                   a test CA $dir/ca.pem (key ca.key) and a server
#                                    certificate for the proxy's TLS listener signed by it,
#                                    $dir/front.pem and front.key (0600), for subjectAltName SAN
#   pkg_hosts_start                  two hosts of one cluster for a package manager: a
#                                    scheduler and daemons h1, h2 with the forward proxy
#                                    (default rules) on ports $p1, $p2
#   pkg_via_p2p PATH                 the origin's $dir/www/PATH went through P2P: h1 took it
#                                    from the origin as its task (`vx task-id`), h2 as the same
#                                    task from peers and none from the upstream, and the origin
#                                    sent one copy (so h2 got it from h1)
#   pkg_direct PATH DAEMON...        each daemon passed PATH through, never made it a task

proxy_setup() {
	local tool here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	for tool in docker-registry skopeo curl; do
		command -v "$tool" >/dev/null || {
			echo "$name: needs $tool (scripts/deps/proxy.apt), skipping" >&2
			exit 77
		}
	done
	registry_start reg "${1:-}"
	python3 "$here/proxy_registry_push.py" "http://127.0.0.1:$reg_port" img other "$dir/img" \
		${2:+"$2"}
	sched_start
}

registry_start() {
	local n=$1 htpasswd=${2:-} pid
	reg_port=$(free_port)
	mkdir -p "$dir/$n.store"
	{
		printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$dir/$n.store"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$reg_port"
		if [ -n "$htpasswd" ]; then
			printf 'auth:\n  htpasswd:\n    realm: vx-test\n    path: %s\n' "$htpasswd"
		fi
	} >"$dir/$n.yml"
	docker-registry serve "$dir/$n.yml" >"$dir/$n.log" 2>&1 &
	pid=$!
	bg_pids+=("$pid")
	wait_port "$reg_port"
}

fake_upstream_start() {
	local here i
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	python3 "$here/proxy_fake_registry.py" "$dir/fake.port" &
	bg_pids+=($!)
	for i in $(seq 100); do
		[ -s "$dir/fake.port" ] && break
		sleep 0.1
	done
	[ -s "$dir/fake.port" ] || fail "the fake upstream did not start"
	fake_url=http://127.0.0.1:$(cat "$dir/fake.port")
}

mirror_port() {
	local line
	line=$(wait_line "$dir/$1.out" '^vx serve: registry mirror on port [0-9]+' \
		"${serve_pid[$1]}" "vx serve $1 mirror")
	echo "${line##* }"
}

blob_sends() {
	python3 - "$1" "$2" <<'PY'
import re, sys
sent = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'"GET /v2/[^ ]*/blobs/sha256:%s HTTP/[0-9.]+" (\d+) (\d+)' % sys.argv[2], line)
    if m and m.group(1) in ("200", "206"):
        sent += int(m.group(2))
print(sent)
PY
}

front_cert() {
	(umask 077 &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=vx test front CA" -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign \
			-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=front.test \
			-keyout "$dir/front.key" -out "$dir/front.csr" 2>/dev/null &&
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$1" >"$dir/ext.cnf" &&
		openssl x509 -req -in "$dir/front.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/front.pem" \
			2>/dev/null) || fail "openssl could not make the front certificate"
}

tls_origin_start() {
	command -v openssl >/dev/null || {
		echo "$name: needs openssl, skipping" >&2
		exit 77
	}
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=origin.test -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$dir/origin.key" -out "$dir/origin.pem" 2>/dev/null
	# a port free_port found can be taken before nginx binds it (other tests run at once):
	# nginx then retries for a few seconds with the other port bound and exits; try anew
	local try pid up i
	for try in 1 2 3 4 5; do
		tls_port=$(free_port)
		tls_port2=$(free_port)
		cat >"$dir/tls.conf" <<CONF
daemon off;
worker_processes 1;
error_log $dir/tls-error.log;
pid $dir/tls.pid;
events { worker_connections 64; }
http {
 log_format vx '\$request_method \$uri \$status \$body_bytes_sent "\$http_range"';
 access_log $dir/tls-access.log vx;
 client_body_temp_path $dir/t1; proxy_temp_path $dir/t2; fastcgi_temp_path $dir/t3;
 uwsgi_temp_path $dir/t4; scgi_temp_path $dir/t5;
 server {
  listen 127.0.0.1:$tls_port ssl;
  listen 127.0.0.1:$tls_port2 ssl;
  ssl_certificate $dir/origin.pem;
  ssl_certificate_key $dir/origin.key;
  root $dir/www;
 }
}
CONF
		"$nginx_bin" -p "$dir" -c "$dir/tls.conf" 2>"$dir/tls.out" &
		pid=$!
		bg_pids+=("$pid")
		up=
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			python3 -c "import socket
for p in ($tls_port, $tls_port2): socket.create_connection(('127.0.0.1', p), 1)" \
				2>/dev/null && up=1 && break
			sleep 0.1
		done
		[ -z "$up" ] || break
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	[ -n "$up" ] || fail "nginx (HTTPS origin) did not start: $(tail -2 "$dir/tls.out")"
	: >>"$dir/tls-access.log"
}

pkg_hosts_start() {
	sched_start
	# fallback_after: a swarm slow to start on a loaded machine must not turn into a second
	# origin copy (the count pkg_via_p2p checks)
	printf 'proxy:\n  forward: true\n  listen: 127.0.0.1:0\n  fallback_after: 60s\n' >"$dir/pkg.yaml"
	serve_start h1 --config "$dir/pkg.yaml"
	serve_start h2 --config "$dir/pkg.yaml"
	p1=$(mirror_port h1)
	p2=$(mirror_port h2)
}

pkg_via_p2p() {
	local path=$1 size id sent
	size=$(stat -c %s "$dir/www/$path")
	id=$("$vx" task-id "$base/$path")
	# each request's line accounts for the task's bytes (logged once its job is done): h1's
	# every byte from peers or the origin, h2's every byte from peers
	awk -v p="GET $base/$path repo - task ${id:0:12}: " -v size="$size" '
		index($0, p) && match($0, /: [0-9]+ bytes from peers, [0-9]+ from the upstream/) {
			split(substr($0, RSTART + 2, RLENGTH - 2), w, " ")
			if (w[1] + w[5] == size) ok = 1
		} END { exit !ok }' "$dir/h1.log" ||
		fail "h1's line for $path does not account for its $size bytes: $(grep -F "$path" "$dir/h1.log")"
	grep -qE "proxy: .* GET $base/$path repo - task ${id:0:12}: $size bytes from peers, 0 from the upstream" \
		"$dir/h2.log" ||
		fail "h2 did not get all of $path from peers: $(grep -F "$path" "$dir/h2.log")"
	sent=$(origin_body_bytes "/$path")
	[ "$sent" -eq "$size" ] || fail "the origin sent $sent bytes of $path, want $size (one copy)"
}

pkg_direct() {
	local path=$1 d
	shift
	for d in "$@"; do
		grep -qF "GET $base/$path repo -: passed through" "$dir/$d.log" ||
			fail "$d did not pass $path through: $(grep -F "$path" "$dir/$d.log")"
		! grep -qF "GET $base/$path repo - task " "$dir/$d.log" || fail "$path became a task on $d"
	done
}
