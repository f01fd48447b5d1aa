# shellcheck shell=bash
# registry_lib.sh: a real container registry and real container runtimes for the registry mirror
# tests (issue 13). Sourced after peer_lib.sh (and peer_lib_init): everything lives under $dir,
# every process is stopped by peer_lib's EXIT trap (it is put in bg_pids), every wait is
# bounded, every port is free or kernel-picked.
#
# The registry is Debian's docker-registry (the CNCF distribution registry) with its own config
# and storage under $dir/reg, in one of three modes:
#   plain      anonymous pull and push
#   htpasswd   HTTP basic auth, user vx, password s3cret ($reg_user, $reg_pass)
#   token      bearer tokens: RS256 JWTs from the token service of sources_origin.py, signed
#              with a key and self-signed certificate made here with openssl, which the
#              registry trusts through `auth: token: rootcertbundle:`. Anonymous pulls get a
#              pull token; vx:s3cret too, other credentials are refused.
#
# Byte counting: docker-registry's own access log does not say clearly which bytes were blob
# bodies, so an nginx "front" listens on $reg_front (127.0.0.1:PORT) and proxies to the
# registry on $reg_direct (unbuffered). Its access log has one line per request: method, path,
# status and body bytes sent. reg_blob_bytes / reg_blob_gets count what the front sent for a
# digest: the bytes "the registry sent". Requests straight to $reg_direct are not counted.
#
# Mirror: clients name the registry as $reg_origin and use $reg_mirror as its mirror. Without
# REG_MIRROR, $reg_origin is the direct address and the front stands in for the mirror, so a
# pull that shows up in the front's log proves the client really went through its mirror
# configuration. With REG_MIRROR=HOST:PORT (a vx daemon's --proxy address), $reg_origin is the
# front: clients name it (containerd sends it to the mirror as ?ns=), the vx mirror fetches
# from it (start vx serve with --upstream http://$reg_front after reg_start), and the front's
# log counts what the registry sent.
#
# Usage:
#   registry_lib_init                    checks the tools (exit 77 when they cannot be had),
#                                        makes the htpasswd file, token key and certificate
#   reg_start MODE                       (re)starts the registry in MODE and the front
#   reg_push [--big]                     pushes the test image (registry must be plain): repo
#                                        $reg_repo, tag latest; reg_manifest, reg_config,
#                                        reg_layers (array), reg_empty (0-byte blob),
#                                        reg_one (1-byte blob); $dir/image/blobs/<hex> the bytes
#   reg_blob_bytes DIGEST                body bytes the front sent for GETs of the blob
#   reg_blob_gets DIGEST                 GETs of the blob answered 200 or 206
#   reg_get_blob DIGEST OUT [curl args]  fetches one blob through the mirror with curl
#   skopeo_pull OUT [skopeo args]        skopeo copy of the image to dir:OUT through the mirror
#                                        (registries.conf with a [[registry.mirror]]); digests
#                                        of the manifest's blobs checked. With reg_mirror_certs
#                                        set (a directory holding the mirror's CA as ca.crt) the
#                                        mirror is HTTPS and verified against it (skopeo
#                                        --src-cert-dir, the mirror not insecure)
#   skopeo_pull_conf CONF OUT [args]     the same with a given registries.conf
#   reg_authfile                         writes and prints an auth.json for skopeo --authfile
#   ctd_start                            a containerd of its own ($ctd_sock), root, state and
#                                        config under $dir/ctd, no CRI, isolated namespaces
#   hosts_dir_write DIR                  DIR/$reg_origin/hosts.toml: mirror first, registry as
#                                        the server (fallback)
#   ctr_pull HOSTS_DIR [ctr args]        `ctr image pull --hosts-dir` of the image into a fresh
#                                        namespace; every blob checked by digest
#   reg_expect_each_once                 the front sent each blob of the image exactly once

registry_lib_init() {
	local tool
	for tool in docker-registry htpasswd openssl curl; do
		command -v "$tool" >/dev/null || {
			echo "$name: needs $tool (scripts/install-deps), skipping" >&2
			exit 77
		}
	done
	python3 -c 'import cryptography' 2>/dev/null || {
		echo "$name: needs python3-cryptography (scripts/install-deps), skipping" >&2
		exit 77
	}
	lib_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	reg_user=vx
	reg_pass=s3cret
	reg_repo=vx/app
	reg_port=$(free_port)
	reg_direct=127.0.0.1:$reg_port
	reg_pid=
	reg_front_port=
	token_port=
	mkdir -p "$dir/reg" "$dir/image"
	htpasswd -Bbn "$reg_user" "$reg_pass" >"$dir/htpasswd" 2>/dev/null ||
		fail "htpasswd failed"
	(cd "$dir" && openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key \
		-out token.pem -days 2 -subj /CN=vx-token >/dev/null 2>&1) ||
		fail "openssl could not make the token certificate"
}

reg_front_start() {
	reg_front_port=$(free_port)
	reg_front=127.0.0.1:$reg_front_port
	mkdir -p "$dir/front"
	cat >"$dir/front.conf" <<CONF
daemon off;
worker_processes 1;
error_log $dir/front-error.log;
pid $dir/front.pid;
events { worker_connections 256; }
http {
 log_format vx '\$request_method \$uri \$status \$body_bytes_sent';
 access_log $dir/front-access.log vx;
 client_body_temp_path $dir/front/t1; proxy_temp_path $dir/front/t2;
 fastcgi_temp_path $dir/front/t3; uwsgi_temp_path $dir/front/t4; scgi_temp_path $dir/front/t5;
 server {
  listen $reg_front;
  client_max_body_size 0;
  location / {
   proxy_pass http://$reg_direct;
   proxy_http_version 1.1;
   proxy_set_header Host \$http_host;
   proxy_buffering off;
   proxy_request_buffering off;
  }
 }
}
CONF
	"$nginx_bin" -p "$dir" -c "$dir/front.conf" 2>"$dir/front.out" &
	bg_pids+=($!)
	wait_port "$reg_front_port"
}

reg_token_start() {
	token_port=$(free_port)
	python3 "$lib_src/sources_origin.py" "$token_port" "$dir" "$dir/token.key" \
		"$dir/token.pem" >"$dir/token.log" 2>&1 &
	bg_pids+=($!)
	wait_port "$token_port"
}

reg_stop() {
	local i
	[ -n "$reg_pid" ] || return 0
	kill -TERM "$reg_pid" 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 "$reg_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$reg_pid" 2>/dev/null || true
	wait "$reg_pid" 2>/dev/null || true
	reg_pid=
}

reg_start() {
	local mode=$1 auth=
	case $mode in
	plain) ;;
	htpasswd)
		auth="auth:
  htpasswd:
    realm: vx-registry
    path: $dir/htpasswd"
		;;
	token)
		[ -n "$token_port" ] || reg_token_start
		auth="auth:
  token:
    realm: http://127.0.0.1:$token_port/token
    service: vx-registry
    issuer: vx-test-issuer
    rootcertbundle: $dir/token.pem"
		;;
	*) fail "reg_start: unknown mode $mode" ;;
	esac
	reg_stop
	cat >"$dir/registry.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/reg
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $reg_direct
  secret: vx-test-secret
$auth
CONF
	docker-registry serve "$dir/registry.yml" >>"$dir/registry.log" 2>&1 &
	reg_pid=$!
	bg_pids+=("$reg_pid")
	wait_port "$reg_port"
	[ -n "$reg_front_port" ] || reg_front_start
	reg_mode=$mode
	reg_mirror=${REG_MIRROR:-$reg_front}
	if [ -n "${REG_MIRROR:-}" ]; then reg_origin=$reg_front; else reg_origin=$reg_direct; fi
}

# reg_push [--big]: the image of sources_registry_push.py --image, pushed to the direct port.
reg_push() {
	local kind dg size
	python3 "$lib_src/sources_registry_push.py" "http://$reg_direct" "$reg_repo" \
		"$dir/image" --image "$@" >"$dir/push.log" 2>&1 || fail "push failed: $(tail -3 "$dir/push.log")"
	reg_layers=()
	while read -r kind dg size; do
		case $kind in
		manifest) reg_manifest=$dg ;;
		config) reg_config=$dg ;;
		layer) reg_layers+=("$dg") ;;
		empty) reg_empty=$dg ;;
		one) reg_one=$dg ;;
		*) ;;
		esac
		[ "$(stat -c %s "$dir/image/blobs/${dg#sha256:}")" = "$size" ] ||
			fail "push wrote a wrong size for $dg"
	done <"$dir/image/image.txt"
	[ -n "${reg_manifest:-}" ] && [ -n "${reg_one:-}" ] && [ ${#reg_layers[@]} -ge 3 ] ||
		fail "push listed too little in $dir/image/image.txt"
}

reg_blob_bytes() {
	awk -v d="$1" '$1 == "GET" && $2 ~ ("/blobs/" d "$") { s += $4 } END { printf "%d\n", s }' \
		"$dir/front-access.log"
}

reg_blob_gets() {
	awk -v d="$1" '$1 == "GET" && $2 ~ ("/blobs/" d "$") && ($3 == 200 || $3 == 206) { n++ }
		END { printf "%d\n", n }' "$dir/front-access.log"
}

# blob_size DIGEST: the size of a pushed blob.
blob_size() {
	stat -c %s "$dir/image/blobs/${1#sha256:}"
}

# reg_expect_each_once: each blob of the image (config and layers) left the front exactly once
# in full since the last reg_log_reset.
reg_expect_each_once() {
	local dg
	for dg in "$reg_config" "${reg_layers[@]}"; do
		[ "$(reg_blob_gets "$dg")" = 1 ] ||
			fail "the registry sent $dg $(reg_blob_gets "$dg") times, not once"
		[ "$(reg_blob_bytes "$dg")" = "$(blob_size "$dg")" ] ||
			fail "the registry sent $(reg_blob_bytes "$dg") bytes of $dg, not $(blob_size "$dg")"
	done
}

reg_log_reset() {
	: >"$dir/front-access.log"
	[ -f "$dir/front.pid" ] && kill -USR1 "$(cat "$dir/front.pid")" 2>/dev/null
	true
}

# check_blob_file DIGEST FILE: FILE holds exactly the blob.
check_blob_file() {
	[ -f "$2" ] || fail "no file for $1 ($2)"
	[ "sha256:$(sha256sum <"$2" | cut -d' ' -f1)" = "$1" ] || fail "$2 does not hash to $1"
}

# reg_get_blob DIGEST OUT [curl args]: GET /v2/REPO/blobs/DIGEST through the mirror (no auth
# handshake: plain mode, or credentials in the curl args).
reg_get_blob() {
	local dg=$1 out=$2
	shift 2
	curl -fsS --max-time 60 -o "$out" "$@" "http://$reg_mirror/v2/$reg_repo/blobs/$dg" ||
		fail "GET of blob $dg through $reg_mirror failed"
	check_blob_file "$dg" "$out"
}

# reg_authfile: $dir/auth.json (0600) with vx:s3cret for the registry and the mirror, for
# skopeo --authfile. (skopeo 1.9's --src-creds reaches the registry but not its mirrors.)
reg_authfile() {
	local b64
	b64=$(printf '%s:%s' "$reg_user" "$reg_pass" | base64 -w0)
	(umask 077 && printf '{"auths":{"%s":{"auth":"%s"},"%s":{"auth":"%s"}}}\n' \
		"$reg_origin" "$b64" "$reg_mirror" "$b64" >"$dir/auth.json")
	echo "$dir/auth.json"
}

registries_conf_write() {
	cat >"$1" <<CONF
unqualified-search-registries = []

[[registry]]
location = "$reg_origin"
insecure = true

[[registry.mirror]]
location = "$reg_mirror"
insecure = $([ -n "${reg_mirror_certs:-}" ] && echo false || echo true)
CONF
}

skopeo_pull() {
	local out=$1
	shift
	registries_conf_write "$dir/registries.conf"
	skopeo_pull_conf "$dir/registries.conf" "$out" "$@"
}

skopeo_pull_conf() {
	local conf=$1 out=$2 dg tls=(--src-tls-verify=false)
	shift 2
	[ -z "${reg_mirror_certs:-}" ] || tls=(--src-cert-dir "$reg_mirror_certs")
	command -v skopeo >/dev/null || fail "skopeo is missing (scripts/deps/runtime.apt)"
	rm -rf "$out"
	# skopeo keeps a blob info cache in the home directory; a private one keeps runs apart.
	HOME=$dir/skopeo-home timeout 120 skopeo --registries-conf "$conf" copy --quiet \
		"${tls[@]}" "$@" "docker://$reg_origin/$reg_repo:latest" "dir:$out" \
		>"$dir/skopeo.log" 2>&1 || fail "skopeo copy failed: $(tail -5 "$dir/skopeo.log")"
	for dg in "$reg_config" "${reg_layers[@]}"; do
		check_blob_file "$dg" "$out/${dg#sha256:}"
	done
	check_blob_file "$reg_manifest" "$out/manifest.json"
}

ctd_start() {
	local i
	command -v containerd >/dev/null && command -v ctr >/dev/null ||
		fail "containerd is missing (scripts/deps/runtime.apt)"
	ctd=$dir/ctd
	ctd_sock=$ctd/ctd.sock
	mkdir -p "$ctd/root" "$ctd/state" "$ctd/opt"
	cat >"$ctd/config.toml" <<CONF
version = 2
root = "$ctd/root"
state = "$ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$ctd_sock"
[ttrpc]
  address = "$ctd/ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctd/opt"
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
CONF
	containerd --config "$ctd/config.toml" >"$dir/containerd.log" 2>&1 &
	ctd_pid=$!
	bg_pids+=("$ctd_pid")
	for i in $(seq 200); do
		ctr --address "$ctd_sock" version >/dev/null 2>&1 && break
		kill -0 "$ctd_pid" 2>/dev/null || fail "containerd exited: $(tail -5 "$dir/containerd.log")"
		sleep 0.1
	done
	ctr --address "$ctd_sock" version >/dev/null 2>&1 || fail "containerd did not start"
	ctd_ns=0
}

hosts_dir_write() {
	mkdir -p "$1/$reg_origin"
	cat >"$1/$reg_origin/hosts.toml" <<CONF
server = "http://$reg_origin"

[host."http://$reg_mirror"]
  capabilities = ["pull", "resolve"]
CONF
}

# ctr_pull HOSTS_DIR [ctr pull args]: pulls into a new namespace (content is not shared
# between namespaces, so every pull fetches every blob), checks each blob by digest, then
# removes the image and its content again.
ctr_pull() {
	local hosts=$1 dg got
	shift
	ctd_ns=$((ctd_ns + 1))
	local c=(ctr --address "$ctd_sock" -n "vx$ctd_ns")
	timeout 120 "${c[@]}" image pull --hosts-dir "$hosts" --snapshotter native "$@" \
		"$reg_origin/$reg_repo:latest" >"$dir/ctr.log" 2>&1 ||
		fail "ctr image pull failed: $(tail -5 "$dir/ctr.log")"
	got=$("${c[@]}" image ls | awk -v r="$reg_origin/$reg_repo:latest" '$1 == r { print $3 }')
	[ "$got" = "$reg_manifest" ] || fail "ctr has manifest '$got', not $reg_manifest"
	for dg in "$reg_config" "${reg_layers[@]}"; do
		"${c[@]}" content get "$dg" >"$dir/ctr.blob" || fail "containerd lacks $dg"
		check_blob_file "$dg" "$dir/ctr.blob"
	done
	rm -f "$dir/ctr.blob"
	# Removed with its content before the next pull: a blob still held by an old namespace
	# while a new one ingests it again was seen to vanish from disk under containerd's
	# garbage collection (about 1 run in 10), and the next pull must fetch everything anyway.
	"${c[@]}" image rm --sync "$reg_origin/$reg_repo:latest" >/dev/null ||
		fail "ctr could not remove the pulled image"
}
