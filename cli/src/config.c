/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c: the daemon's configuration: a table of keys (dotted names, types, bounds, where
 * each lives in struct vx_config) drives the YAML reader, the flag setter and the printer, so
 * a key is declared once. The YAML reader walks libyaml events (no document tree), is bounded
 * in size and depth, and refuses anchors and aliases (no billion-laughs expansion).
 */
#include "config.h"
#include "yaml_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "args.h"
#include "vx_alloc.h"
#include "vx_file.h"

enum key_type {
	KEY_BOOL = 0,
	KEY_STR,
	KEY_U64,
	KEY_SIZE,
	KEY_DURATION,
	KEY_ENUM,
	KEY_ADDR,
	KEY_STRLIST,
};

struct key {
	const char *name; /* dotted, as written in YAML */
	enum key_type type;
	size_t off;	     /* of the value in struct vx_config */
	size_t size;	     /* string buffer size; for lists, one element's size */
	size_t count_off;    /* lists: offset of the unsigned element count */
	unsigned max_count;  /* lists: capacity */
	uint64_t min, max;   /* numbers: inclusive bounds */
	const char *choices; /* enums: "a|b|c" */
	const char *help;
	/*
	 * NULL: the daemon applies the key. Otherwise the key is kept in the schema (so the file
	 * format does not change when it is built) but not supported yet: any value other than
	 * the default is refused by vx_config_validate() with "KEY: <this reason>".
	 */
	const char *unsupported;
};

#define OFF(f)	offsetof(struct vx_config, f)
#define SZ(f)	sizeof(((struct vx_config *)0)->f)
#define ESZ(f)	sizeof(((struct vx_config *)0)->f[0])
#define U64_MAX UINT64_MAX
/* struct key.unsupported: the daemon applies the key, or the reason it does not yet. */
#define APPLIED NULL

static const struct key keys[] = {
	{ "seed", KEY_BOOL, OFF(seed), 0, 0, 0, 0, 0, NULL, "act as a seed peer", APPLIED },
	{ "log_level", KEY_ENUM, OFF(log_level), SZ(log_level), 0, 0, 0, 0, "error|warn|info|debug",
	  "most verbose log level written", APPLIED },
	{ "socket", KEY_STR, OFF(socket), SZ(socket), 0, 0, 0, 0, NULL, "local API unix socket",
	  APPLIED },
	{ "metrics_listen", KEY_ADDR, OFF(metrics_listen), SZ(metrics_listen), 0, 0, 0, 0, NULL,
	  "/metrics, /healthy, /ready over HTTP, HOST:PORT (empty: off)", APPLIED },
	{ "schedulers", KEY_STRLIST, OFF(schedulers), ESZ(schedulers), OFF(nr_schedulers),
	  VX_CONFIG_SCHEDULERS_MAX, 0, 0, NULL, "scheduler addresses, HOST:PORT", APPLIED },
	{ "members", KEY_STR, OFF(members), SZ(members), 0, 0, 0, 0, NULL,
	  "no scheduler: every member's Vortex address IP:PORT,... or one DNS name (members mode)",
	  APPLIED },
	{ "members_heartbeat", KEY_DURATION, OFF(members_heartbeat_ms), 0, 0, 0, 100, 60000, NULL,
	  "members mode: heartbeat interval between members", APPLIED },
	{ "members_heartbeat_misses", KEY_U64, OFF(members_heartbeat_misses), 0, 0, 0, 1, 100, NULL,
	  "members mode: heartbeats missed before a member counts as gone", APPLIED },
	{ "scheduler.token_file", KEY_STR, OFF(scheduler_token_file), SZ(scheduler_token_file), 0,
	  0, 0, 0, NULL, "file holding the scheduler join token (also $VX_TOKEN_FILE)", APPLIED },
	{ "scheduler.join_file", KEY_STR, OFF(scheduler_join_file), SZ(scheduler_join_file), 0, 0,
	  0, 0, NULL, "file holding a cluster CA join token, used once when DATA_DIR/tls is empty",
	  APPLIED },
	{ "host.hostname", KEY_STR, OFF(host.hostname), SZ(host.hostname), 0, 0, 0, 0, NULL,
	  "name announced to the scheduler (empty: the system's)", APPLIED },
	{ "host.ip", KEY_STR, OFF(host.ip), SZ(host.ip), 0, 0, 0, 0, NULL,
	  "address other peers use to reach this one", APPLIED },
	{ "host.idc", KEY_STR, OFF(host.idc), SZ(host.idc), 0, 0, 0, 0, NULL, "data center",
	  APPLIED },
	{ "host.location", KEY_STR, OFF(host.location), SZ(host.location), 0, 0, 0, 0, NULL,
	  "location path, e.g. region|zone|rack", APPLIED },
	{ "host.bandwidth", KEY_SIZE, OFF(host.bandwidth_bps), 0, 0, 0, 0, U64_MAX / 8, NULL,
	  "upload rate declared to the scheduler, bytes/s (0: none; it assumes 1 Gb/s until it "
	  "measures)",
	  APPLIED },
	{ "upload.listen", KEY_ADDR, OFF(upload.listen), SZ(upload.listen), 0, 0, 0, 0, NULL,
	  "Vortex upload server, HOST:PORT", APPLIED },
	{ "upload.max_connections", KEY_U64, OFF(upload.max_connections), 0, 0, 0, 1, 1000000, NULL,
	  "concurrent upload connections", APPLIED },
	{ "upload.max_inflight_per_conn", KEY_U64, OFF(upload.max_inflight_per_conn), 0, 0, 0, 1,
	  VX_CONFIG_INFLIGHT_MAX, NULL,
	  "pipelined requests per vx connection; more are answered busy", APPLIED },
	{ "upload.rate_limit", KEY_SIZE, OFF(upload.rate_limit_bps), 0, 0, 0, 0, U64_MAX, NULL,
	  "upload bytes per second, 0 = unlimited", APPLIED },
	{ "upload.idle_timeout", KEY_DURATION, OFF(upload.idle_timeout_ms), 0, 0, 0, 1000, 86400000,
	  NULL, "close idle upload connections after", APPLIED },
	{ "upload.max_conns_per_addr", KEY_U64, OFF(upload.max_conns_per_addr), 0, 0, 0, 1, 1000000,
	  NULL, "upload connections one peer address may hold (loopback too); more are refused",
	  APPLIED },
	{ "upload.lz4", KEY_BOOL, OFF(upload.lz4), 0, 0, 0, 0, 0, NULL,
	  "lz4-compress piece bodies between vx peers when that wins on the link (both ends "
	  "must allow it); false: every body raw",
	  APPLIED },
	{ "upload.send_stall_timeout", KEY_DURATION, OFF(upload.send_stall_ms), 0, 0, 0, 1000,
	  86400000, NULL, "close an upload connection whose peer takes no byte for", APPLIED },
	{ "download.concurrent_pieces", KEY_U64, OFF(download.concurrent_pieces), 0, 0, 0, 1, 1024,
	  NULL, "pieces asked of parents at once per task (each parent also takes at most 2)",
	  APPLIED },
	{ "download.work_threads", KEY_U64, OFF(download.work_threads), 0, 0, 0, 1, 256, NULL,
	  "threads for blocking work: store opens, origin fetches, exports", APPLIED },
	{ "download.rate_limit", KEY_SIZE, OFF(download.rate_limit_bps), 0, 0, 0, 0, U64_MAX, NULL,
	  "bytes per second from parents, all downloads together, 0 = unlimited", APPLIED },
	{ "download.back_to_source_rate_limit", KEY_SIZE,
	  OFF(download.back_to_source_rate_limit_bps), 0, 0, 0, 0, U64_MAX, NULL,
	  "bytes per second from origins, every task and source together, 0 = unlimited", APPLIED },
	{ "download.task_rate_limit", KEY_SIZE, OFF(download.task_rate_limit_bps), 0, 0, 0, 0,
	  U64_MAX, NULL,
	  "bytes per second one task downloads, origin and peers together, "
	  "0 = unlimited",
	  APPLIED },
	{ "download.piece_timeout", KEY_DURATION, OFF(download.piece_timeout_ms), 0, 0, 0, 1000,
	  86400000, NULL,
	  "drop a parent that sends no byte for this long while a piece is asked of it", APPLIED },
	{ "download.parent_wait", KEY_DURATION, OFF(download.parent_wait_ms), 0, 0, 0, 100, 3600000,
	  NULL, "wait this long for a free parent, then fetch from the origin", APPLIED },
	{ "download.access_proof_ttl", KEY_DURATION, OFF(download.access_proof_ttl_ms), 0, 0, 0,
	  1000, 3600000, NULL,
	  "a client's access to a private task, proven at the origin, holds this long", APPLIED },
	{ "download.memory_limit", KEY_SIZE, OFF(download.memory_limit_bytes), 0, 0, 0, 1u << 20,
	  U64_MAX, NULL, "receive buffer memory, whatever the file size",
	  "not applied yet: receive buffers are bounded per task (16 MiB), not daemon-wide" },
	{ "download.back_to_source", KEY_BOOL, OFF(download.back_to_source), 0, 0, 0, 0, 0, NULL,
	  "allow fetching from the origin", APPLIED },
	{ "storage.data_dir", KEY_STR, OFF(storage.data_dir), SZ(storage.data_dir), 0, 0, 0, 0,
	  NULL, "where content and metadata live", APPLIED },
	{ "storage.disk_limit", KEY_SIZE, OFF(storage.disk_limit_bytes), 0, 0, 0, 0, U64_MAX, NULL,
	  "bytes the store may use, 0 = the filesystem's size", APPLIED },
	{ "storage.gc_high_percent", KEY_U64, OFF(storage.gc_high_percent), 0, 0, 0, 1, 100, NULL,
	  "start evicting above this usage", APPLIED },
	{ "storage.gc_low_percent", KEY_U64, OFF(storage.gc_low_percent), 0, 0, 0, 1, 99, NULL,
	  "evict down to this usage", APPLIED },
	{ "storage.task_ttl", KEY_DURATION, OFF(storage.task_ttl_ms), 0, 0, 0, 1000, U64_MAX, NULL,
	  "evict tasks unused for this long", APPLIED },
	{ "storage.gc_interval", KEY_DURATION, OFF(storage.gc_interval_ms), 0, 0, 0, 1000, 86400000,
	  NULL, "run the store's GC (TTL, then watermarks) this often", APPLIED },
	{ "storage.memory_budget", KEY_SIZE, OFF(storage.memory_budget_bytes), 0, 0, 0, 0, U64_MAX,
	  NULL,
	  "task content kept in memory (memory tier: vx get --memory, preheat "
	  "load_to_cache), 0 = off",
	  APPLIED },
	{ "storage.direct_io", KEY_ENUM, OFF(storage.direct_io), SZ(storage.direct_io), 0, 0, 0, 0,
	  "required|optional|disabled", "O_DIRECT piece writes", APPLIED },
	{ "proxy.listen", KEY_ADDR, OFF(proxy.listen), SZ(proxy.listen), 0, 0, 0, 0, NULL,
	  "registry mirror, HOST:PORT (empty: off, or 127.0.0.1:4001 with upstreams)", APPLIED },
	{ "proxy.upstreams", KEY_STRLIST, OFF(proxy.upstreams), ESZ(proxy.upstreams),
	  OFF(proxy.nr_upstreams), VX_CONFIG_UPSTREAMS_MAX, 0, 0, NULL,
	  "registries the mirror may fetch from, http[s]://HOST[:PORT]; the first serves clients "
	  "that name none",
	  APPLIED },
	{ "proxy.public_repositories", KEY_STRLIST, OFF(proxy.public_repositories),
	  ESZ(proxy.public_repositories), OFF(proxy.nr_public_repositories), VX_CONFIG_PUBLIC_MAX,
	  0, 0, NULL,
	  "repository patterns (\"team/*\") whose blobs are public: credentials do not make them "
	  "private",
	  APPLIED },
	{ "proxy.max_connections", KEY_U64, OFF(proxy.max_connections), 0, 0, 0, 1, 100000, NULL,
	  "mirror client connections at once; more are closed at accept", APPLIED },
	{ "proxy.max_connections_per_addr", KEY_U64, OFF(proxy.max_connections_per_addr), 0, 0, 0,
	  0, 100000, NULL,
	  "mirror connections one client address may hold (0: no limit); more are closed",
	  APPLIED },
	{ "proxy.rate_limit", KEY_U64, OFF(proxy.rate_limit), 0, 0, 0, 1, 1000000, NULL,
	  "mirror requests per second, all clients; more are answered 429", APPLIED },
	{ "proxy.client_rate_limit", KEY_U64, OFF(proxy.client_rate_limit), 0, 0, 0, 0, 1000000,
	  NULL, "requests per second one client address may make (0: no per-client limit)",
	  APPLIED },
	{ "proxy.client_timeout", KEY_DURATION, OFF(proxy.client_timeout_ms), 0, 0, 0, 1000,
	  3600000, NULL, "close a mirror client connection idle this long", APPLIED },
	{ "proxy.header_timeout", KEY_DURATION, OFF(proxy.header_timeout_ms), 0, 0, 0, 100, 600000,
	  NULL,
	  "a connection's first request head, whole, within this of accept (else 408 and closed)",
	  APPLIED },
	{ "proxy.fallback_after", KEY_DURATION, OFF(proxy.fallback_after_ms), 0, 0, 0, 100, 600000,
	  NULL, "a blob whose P2P download makes no progress this long goes on from the upstream",
	  APPLIED },
	{ "proxy.max_header_size", KEY_SIZE, OFF(proxy.max_header_size), 0, 0, 0, 4096, 1u << 20,
	  NULL, "bytes of a mirror request's line and headers", APPLIED },
	{ "proxy.rules", KEY_STRLIST, OFF(proxy.rules), ESZ(proxy.rules), OFF(proxy.nr_rules),
	  VX_CONFIG_RULES_MAX, 0, 0, NULL,
	  "regexes of forward-proxy URLs served through P2P (none: blobs and large files)",
	  APPLIED },
	{ "proxy.direct_rules", KEY_STRLIST, OFF(proxy.direct_rules), ESZ(proxy.direct_rules),
	  OFF(proxy.nr_direct_rules), VX_CONFIG_RULES_MAX, 0, 0, NULL,
	  "regexes of forward-proxy URLs that never go P2P, checked first (none: package "
	  "metadata)",
	  APPLIED },
	{ "proxy.forward_token_file", KEY_STR, OFF(proxy.forward_token_file),
	  SZ(proxy.forward_token_file), 0, 0, 0, 0, NULL,
	  "file (0600) of the token forward-proxy clients must send as Proxy-Authorization: "
	  "Bearer (another cluster's seeds); CONNECT is then refused",
	  APPLIED },
	{ "proxy.prefetch", KEY_BOOL, OFF(proxy.prefetch), 0, 0, 0, 0, 0, NULL,
	  "after a Range (or any) response, fetch the rest of the blob in the background",
	  APPLIED },
	{ "proxy.forward", KEY_BOOL, OFF(proxy.forward), 0, 0, 0, 0, 0, NULL,
	  "serve HTTP forward-proxy (absolute-form) requests on proxy.listen", APPLIED },
	{ "proxy.connect.ports", KEY_STRLIST, OFF(proxy.connect_ports), ESZ(proxy.connect_ports),
	  OFF(proxy.nr_connect_ports), VX_CONFIG_CONNECT_PORTS_MAX, 0, 0, NULL,
	  "target ports a CONNECT tunnel may reach (none: 443 only)", APPLIED },
	{ "proxy.connect.max_tunnels", KEY_U64, OFF(proxy.connect_max_tunnels), 0, 0, 0, 1, 100000,
	  NULL, "CONNECT tunnels open at once; more are answered 503", APPLIED },
	{ "proxy.connect.header_timeout", KEY_DURATION, OFF(proxy.connect_header_timeout_ms), 0, 0,
	  0, 100, 600000, NULL, "a CONNECT head not complete this long after accept is closed",
	  APPLIED },
	{ "proxy.connect.idle_timeout", KEY_DURATION, OFF(proxy.connect_idle_timeout_ms), 0, 0, 0,
	  100, 86400000, NULL, "a tunnel with no byte either way this long is closed", APPLIED },
	{ "proxy.hijack.hosts", KEY_STRLIST, OFF(proxy.hijack_hosts), ESZ(proxy.hijack_hosts),
	  OFF(proxy.nr_hijack_hosts), VX_CONFIG_RULES_MAX, 0, 0, NULL,
	  "regexes of CONNECT host names whose TLS is intercepted (none: every tunnel untouched)",
	  APPLIED },
	{ "proxy.hijack.ca_cert", KEY_STR, OFF(proxy.hijack_ca_cert), SZ(proxy.hijack_ca_cert), 0,
	  0, 0, 0, NULL, "PEM CA certificate that signs the intercepted hosts' leaves", APPLIED },
	{ "proxy.hijack.ca_key", KEY_STR, OFF(proxy.hijack_ca_key), SZ(proxy.hijack_ca_key), 0, 0,
	  0, 0, NULL, "PEM key of proxy.hijack.ca_cert (a file of mode 0600 or stricter)",
	  APPLIED },
	{ "proxy.tls.cert", KEY_STR, OFF(proxy.tls_cert), SZ(proxy.tls_cert), 0, 0, 0, 0, NULL,
	  "PEM certificate chain: the mirror's listener speaks HTTPS only (with proxy.tls.key)",
	  APPLIED },
	{ "proxy.tls.key", KEY_STR, OFF(proxy.tls_key), SZ(proxy.tls_key), 0, 0, 0, 0, NULL,
	  "PEM key of proxy.tls.cert (a file of mode 0600 or stricter)", APPLIED },
	{ "proxy.hijack.upstream_ca", KEY_STR, OFF(proxy.hijack_upstream_ca),
	  SZ(proxy.hijack_upstream_ca), 0, 0, 0, 0, NULL,
	  "PEM CA bundle the intercepted origins' certificates are verified with (none: the "
	  "system store)",
	  APPLIED },
	{ "source.allow_outbound", KEY_STRLIST, OFF(source.allow_outbound),
	  ESZ(source.allow_outbound), OFF(source.nr_allow_outbound), VX_OUTBOUND_MAX, 0, 0, NULL,
	  "CIDRs a seed may reach for another host though loopback or link-local", APPLIED },
	{ "source.deny_outbound", KEY_STRLIST, OFF(source.deny_outbound), ESZ(source.deny_outbound),
	  OFF(source.nr_deny_outbound), VX_OUTBOUND_MAX, 0, 0, NULL,
	  "CIDRs a seed never reaches for another host (private ranges too)", APPLIED },
	{ "source.upstream_cluster.proxy", KEY_STR, OFF(source.upstream_proxy),
	  SZ(source.upstream_proxy), 0, 0, 0, 0, NULL,
	  "another vx cluster's forward proxy, http[s]://HOST:PORT, back-to-source goes through",
	  APPLIED },
	{ "source.upstream_cluster.token_file", KEY_STR, OFF(source.upstream_token_file),
	  SZ(source.upstream_token_file), 0, 0, 0, 0, NULL,
	  "file (0600) of the token that proxy asks (its proxy.forward_token_file)", APPLIED },
	{ "source.upstream_cluster.ca", KEY_STR, OFF(source.upstream_ca), SZ(source.upstream_ca), 0,
	  0, 0, 0, NULL, "PEM CA certificate(s) verifying an https:// upstream proxy", APPLIED },
	{ "source.upstream_cluster.rules", KEY_STRLIST, OFF(source.upstream_rules),
	  ESZ(source.upstream_rules), OFF(source.nr_upstream_rules), VX_CONFIG_RULES_MAX, 0, 0,
	  NULL, "regexes of source URLs fetched through the upstream cluster (none: every http://)",
	  APPLIED },
	{ "source.upstream_cluster.fallback", KEY_BOOL, OFF(source.upstream_fallback), 0, 0, 0, 0,
	  0, NULL, "the upstream cluster failing, fetch from the origin itself (default: fail)",
	  APPLIED },
	{ "source.hf_endpoint", KEY_STR, OFF(source.hf_endpoint), SZ(source.hf_endpoint), 0, 0, 0,
	  0, NULL, "Hugging Face hub base URL for hf:// (default $HF_ENDPOINT, huggingface.co)",
	  APPLIED },
	{ "source.hf_token_file", KEY_STR, OFF(source.hf_token_file), SZ(source.hf_token_file), 0,
	  0, 0, 0, NULL, "file holding the hf:// token, mode 0600 (default $HF_TOKEN, token file)",
	  APPLIED },
	{ "source.modelscope_endpoint", KEY_STR, OFF(source.modelscope_endpoint),
	  SZ(source.modelscope_endpoint), 0, 0, 0, 0, NULL,
	  "ModelScope base URL for modelscope:// (default $MODELSCOPE_ENDPOINT, modelscope.cn)",
	  APPLIED },
	{ "source.modelscope_token_file", KEY_STR, OFF(source.modelscope_token_file),
	  SZ(source.modelscope_token_file), 0, 0, 0, 0, NULL,
	  "file holding the modelscope:// token, mode 0600 (default $MODELSCOPE_API_TOKEN)",
	  APPLIED },
	{ "tls.cert", KEY_STR, OFF(tls.cert), SZ(tls.cert), 0, 0, 0, 0, NULL,
	  "PEM certificate naming this host (default DATA_DIR/tls/cert.pem when present)",
	  APPLIED },
	{ "tls.key", KEY_STR, OFF(tls.key), SZ(tls.key), 0, 0, 0, 0, NULL,
	  "PEM private key, mode 0600 (default DATA_DIR/tls/key.pem)", APPLIED },
	{ "tls.ca", KEY_STR, OFF(tls.ca), SZ(tls.ca), 0, 0, 0, 0, NULL,
	  "PEM CA certificate(s) of the cluster (default DATA_DIR/tls/ca.pem)", APPLIED },
	{ "tls.crl", KEY_STR, OFF(tls.crl), SZ(tls.crl), 0, 0, 0, 0, NULL,
	  "PEM revocation list (default DATA_DIR/tls/crl.pem when present)", APPLIED },
	{ "api.requests_per_s", KEY_U64, OFF(api_requests_per_s), 0, 0, 0, 0, 1000000, NULL,
	  "local API requests per second one client uid may make (0: no limit); more are "
	  "answered -EAGAIN",
	  APPLIED },
	{ "api.max_conns_per_uid", KEY_U64, OFF(api_max_conns_per_uid), 0, 0, 0, 0,
	  256 /* VX_API_CLIENTS_MAX */, NULL,
	  "local API connections one client uid may hold at once (0: no limit); more are "
	  "answered -EUSERS and closed",
	  APPLIED },
	{ "tls.insecure_plaintext", KEY_BOOL, OFF(tls.insecure_plaintext), 0, 0, 0, 0, 0, NULL,
	  "allow plaintext on non-loopback addresses (warned at start)", APPLIED },
};

_Static_assert(VX_ARRAY_SIZE(keys) <= 128, "struct vx_config.local_set has 128 bits");

/*
 * Keys the cluster configuration document may set (spec/manager.md "Cluster configuration"):
 * what makes sense for every host of a cluster. Host identity, paths, listeners, TLS and the
 * outbound policy stay local.
 */
static const char *const cluster_keys[] = {
	"log_level",
	"schedulers",
	"upload.rate_limit",
	"download.rate_limit",
	"download.back_to_source_rate_limit",
	"download.task_rate_limit",
	"download.concurrent_pieces",
	"download.piece_timeout",
	"download.parent_wait",
	"storage.gc_high_percent",
	"storage.gc_low_percent",
	"storage.task_ttl",
	"storage.gc_interval",
	"proxy.rules",
	"proxy.direct_rules",
	"proxy.public_repositories",
	"proxy.rate_limit",
	"proxy.client_rate_limit",
};

#define YAML_DEPTH_MAX 4 /* the schema nests one level; allow a little slack for errors */

void vx_config_init(struct vx_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
	snprintf(cfg->socket, sizeof(cfg->socket), "/run/vx/vx.sock");
	snprintf(cfg->upload.listen, sizeof(cfg->upload.listen), "0.0.0.0:4005");
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), VX_CONFIG_METRICS_LISTEN);
	cfg->members_heartbeat_ms = 1000;
	cfg->members_heartbeat_misses = 3;
	cfg->upload.max_connections = 1024;
	cfg->upload.max_inflight_per_conn = 32;
	cfg->upload.idle_timeout_ms = 60000;
	cfg->upload.max_conns_per_addr = 64;
	cfg->upload.send_stall_ms = 30000;
	cfg->upload.lz4 = true;
	cfg->download.concurrent_pieces = 16;
	cfg->download.work_threads = VX_CONFIG_WORK_THREADS_DEFAULT;
	cfg->download.piece_timeout_ms = VX_CONFIG_PIECE_TIMEOUT_MS;
	cfg->download.parent_wait_ms = 5000;
	cfg->download.access_proof_ttl_ms = 60000;
	cfg->download.memory_limit_bytes = 64ull << 20;
	cfg->download.back_to_source = true;
	snprintf(cfg->storage.data_dir, sizeof(cfg->storage.data_dir), "/var/lib/vx");
	cfg->storage.gc_high_percent = 80;
	cfg->storage.gc_low_percent = 60;
	cfg->storage.task_ttl_ms = 30ull * 86400000;
	cfg->storage.gc_interval_ms = 15ull * 60000;
	cfg->storage.memory_budget_bytes = 256ull << 20;
	snprintf(cfg->storage.direct_io, sizeof(cfg->storage.direct_io), "optional");
	cfg->proxy.max_header_size = 16384;
	cfg->proxy.fallback_after_ms = 5000;
	cfg->proxy.max_connections = 256;
	cfg->proxy.max_connections_per_addr = 64;
	cfg->proxy.rate_limit = 1000;
	cfg->proxy.client_rate_limit = 200;
	cfg->proxy.client_timeout_ms = 30000;
	cfg->proxy.connect_max_tunnels = 64;
	cfg->proxy.connect_header_timeout_ms = 10000;
	cfg->proxy.header_timeout_ms = 10000;
	cfg->api_requests_per_s = 1000;
	cfg->api_max_conns_per_uid = 224; /* VX_API_UID_CONNS */
	cfg->proxy.connect_idle_timeout_ms = 300000;
}

static void set_err(char *err, size_t err_len, const char *fmt, ...) VX_PRINTF(3, 4);

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* True when @name is a section ("storage") that some key lives under. */
static bool key_is_section(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
			return true;
	}
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (lb >= VX_ARRAY_SIZE(row) || la >= 64)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = VX_MIN(VX_MIN(row[j] + 1, row[j - 1] + 1),
					prev + (a[i - 1] == b[j - 1] ? 0 : 1));
			prev = tmp;
		}
	}
	return row[lb];
}

/* The known key closest to @name, when it is close enough to be a likely typo. */
static const char *key_suggest(const char *name)
{
	const char *best = NULL;
	size_t best_d = 4;

	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		size_t d = edit_distance(name, keys[i].name);

		if (d < best_d) {
			best_d = d;
			best = keys[i].name;
		}
	}
	return best;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < VX_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool enum_allows(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p += len + (bar ? 1 : 0);
	}
	return false;
}

static int copy_str(char *dst, size_t size, const char *v, const struct key *k, char *err,
		    size_t err_len)
{
	size_t n = strlen(v);

	if (n >= size) {
		set_err(err, err_len, "'%s' is too long (%zu bytes, at most %zu)", k->name, n,
			size - 1);
		return -EINVAL;
	}
	memcpy(dst, v, n + 1);
	return 0;
}

static int list_append(struct vx_config *cfg, const struct key *k, const char *v, char *err,
		       size_t err_len)
{
	unsigned *count = (unsigned *)(void *)((char *)cfg + k->count_off);
	char *slot;

	if (*count >= k->max_count) {
		set_err(err, err_len, "'%s' has more than %u entries", k->name, k->max_count);
		return -EINVAL;
	}
	slot = (char *)cfg + k->off + (size_t)*count * k->size;
	if (copy_str(slot, k->size, v, k, err, err_len))
		return -EINVAL;
	(*count)++;
	return 0;
}

/* Applies one scalar @v to key @k of @cfg. Lists get @v appended (commas split it). */
static int key_apply(struct vx_config *cfg, const struct key *k, const char *v, char *err,
		     size_t err_len)
{
	void *field = (char *)cfg + k->off;
	size_t idx = (size_t)(k - keys);
	uint64_t n = 0;
	int rc = 0;

	cfg->local_set[idx / 64] |= 1ull << (idx % 64);
	switch (k->type) {
	case KEY_BOOL:
		if (parse_bool(v, (bool *)field)) {
			set_err(err, err_len, "'%s' must be true or false, not '%s'", k->name, v);
			return -EINVAL;
		}
		return 0;
	case KEY_STR:
		return copy_str(field, k->size, v, k, err, err_len);
	case KEY_ENUM:
		if (!enum_allows(k->choices, v)) {
			set_err(err, err_len, "'%s' must be one of %s, not '%s'", k->name,
				k->choices, v);
			return -EINVAL;
		}
		return copy_str(field, k->size, v, k, err, err_len);
	case KEY_ADDR: {
		char host[VX_CONFIG_STR_MAX];
		uint16_t port;

		if (*v && vx_args_parse_listen(v, host, sizeof(host), &port)) {
			set_err(err, err_len, "'%s' must be HOST:PORT (or [IPV6]:PORT), not '%s'",
				k->name, v);
			return -EINVAL;
		}
		return copy_str(field, k->size, v, k, err, err_len);
	}
	case KEY_U64:
		rc = vx_args_parse_u64(v, &n);
		break;
	case KEY_SIZE:
		rc = vx_args_parse_size(v, &n);
		break;
	case KEY_DURATION:
		rc = vx_args_parse_duration_ms(v, &n);
		break;
	case KEY_STRLIST: {
		char item[VX_CONFIG_STR_MAX];
		const char *p = v;

		do {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);

			if (len >= sizeof(item)) {
				set_err(err, err_len, "an entry of '%s' is too long", k->name);
				return -EINVAL;
			}
			memcpy(item, p, len);
			item[len] = '\0';
			if (len && list_append(cfg, k, item, err, err_len))
				return -EINVAL;
			p = comma ? comma + 1 : NULL;
		} while (p);
		return 0;
	}
	}
	if (rc) {
		static const char *const what[] = {
			[KEY_U64] = "a whole number",
			[KEY_SIZE] = "a size such as 512MiB or 10G",
			[KEY_DURATION] = "a duration such as 250ms, 30s, 5m, 2h or 7d",
		};
		set_err(err, err_len, "'%s' must be %s, not '%s'", k->name, what[k->type], v);
		return -EINVAL;
	}
	if (n < k->min || n > k->max) {
		set_err(err, err_len, "'%s' is %s, outside [%llu, %llu]", k->name, v,
			(unsigned long long)k->min, (unsigned long long)k->max);
		return -EINVAL;
	}
	*(uint64_t *)field = n;
	return 0;
}

int vx_config_set(struct vx_config *cfg, const char *key, const char *value, char *err,
		  size_t err_len)
{
	const struct key *k = key_find(key);

	if (!k) {
		const char *s = key_suggest(key);

		set_err(err, err_len, "unknown setting '%s'%s%s%s", key,
			s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
		return -EINVAL;
	}
	return key_apply(cfg, k, value, err, err_len);
}

/* The YAML walk: a stack of mapping keys gives the dotted path of each scalar. */
struct walk {
	const char *name;
	struct vx_config *cfg;
	char *err;
	size_t err_len;
	char path[VX_CONFIG_STR_MAX];
	unsigned depth;	    /* open mappings */
	yaml_mark_t key_at; /* where the current key starts, for errors about the key */
	bool seen[VX_ARRAY_SIZE(keys)];
};

int vx_yaml_vfail(const char *name, const yaml_mark_t *m, char *err, size_t err_len,
		  const char *fmt, va_list ap)
{
	char msg[VX_CONFIG_ERR_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	set_err(err, err_len, "%s:%zu:%zu: %s", name, m->line + 1, m->column + 1, msg);
	return -EINVAL;
}

static int yaml_fail(const char *name, const yaml_mark_t *m, char *err, size_t err_len,
		     const char *fmt, ...) VX_PRINTF(5, 6);

static int yaml_fail(const char *name, const yaml_mark_t *m, char *err, size_t err_len,
		     const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vx_yaml_vfail(name, m, err, err_len, fmt, ap);
	va_end(ap);
	return rc;
}

static int walk_fail(struct walk *w, const yaml_mark_t *m, const char *fmt, ...) VX_PRINTF(3, 4);

static int walk_fail(struct walk *w, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vx_yaml_vfail(w->name, m, w->err, w->err_len, fmt, ap);
	va_end(ap);
	return rc;
}

static bool event_has_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor != NULL;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL;
	default:
		return false;
	}
}

int vx_yaml_next(yaml_parser_t *p, yaml_event_t *ev, const char *name, char *err, size_t err_len)
{
	if (!yaml_parser_parse(p, ev)) {
		yaml_mark_t m = p->problem_mark;

		return yaml_fail(name, &m, err, err_len, "YAML syntax: %s",
				 p->problem ? p->problem : "bad input");
	}
	if (ev->type == YAML_ALIAS_EVENT || event_has_anchor(ev)) {
		int rc = yaml_fail(name, &ev->start_mark, err, err_len,
				   "YAML anchors and aliases are not allowed");

		yaml_event_delete(ev);
		return rc;
	}
	return 0;
}

static int walk_next(yaml_parser_t *p, yaml_event_t *ev, struct walk *w)
{
	return vx_yaml_next(p, ev, w->name, w->err, w->err_len);
}

/* Reads a sequence of scalars into list key @k; the SEQUENCE_START was consumed. */
static int walk_list(yaml_parser_t *p, struct walk *w, const struct key *k)
{
	char msg[VX_CONFIG_ERR_MAX];
	yaml_event_t ev;
	int rc;

	for (;;) {
		if ((rc = walk_next(p, &ev, w)))
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = walk_fail(w, &ev.start_mark, "'%s' must be a list of strings",
				       k->name);
			yaml_event_delete(&ev);
			return rc;
		}
		if (list_append(w->cfg, k, (const char *)ev.data.scalar.value, msg, sizeof(msg))) {
			rc = walk_fail(w, &ev.start_mark, "%s", msg);
			yaml_event_delete(&ev);
			return rc;
		}
		yaml_event_delete(&ev);
	}
	yaml_event_delete(&ev);
	return 0;
}

/* Handles the value event @ev of mapping key w->path; may recurse into a section. */
static int walk_value(yaml_parser_t *p, struct walk *w, yaml_event_t *ev);

static int walk_mapping(yaml_parser_t *p, struct walk *w)
{
	yaml_event_t ev;
	size_t base;
	int rc;

	if (w->depth >= YAML_DEPTH_MAX) {
		set_err(w->err, w->err_len, "%s: nested too deeply", w->name);
		return -EINVAL;
	}
	w->depth++;
	base = strlen(w->path);
	for (;;) {
		const char *kname;
		size_t klen;

		if ((rc = walk_next(p, &ev, w)))
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = walk_fail(w, &ev.start_mark, "expected a key");
			yaml_event_delete(&ev);
			return rc;
		}
		kname = (const char *)ev.data.scalar.value;
		klen = strlen(kname);
		if (base + 1 + klen >= sizeof(w->path)) {
			rc = walk_fail(w, &ev.start_mark, "key too long");
			yaml_event_delete(&ev);
			return rc;
		}
		if (base)
			w->path[base] = '.';
		memcpy(w->path + base + (base ? 1 : 0), kname, klen + 1);
		w->key_at = ev.start_mark;
		yaml_event_delete(&ev);

		if ((rc = walk_next(p, &ev, w)))
			return rc;
		rc = walk_value(p, w, &ev);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
		w->path[base] = '\0';
	}
	w->depth--;
	return 0;
}

static int walk_value(yaml_parser_t *p, struct walk *w, yaml_event_t *ev)
{
	char msg[VX_CONFIG_ERR_MAX];
	const struct key *k = key_find(w->path);
	size_t idx;

	if (ev->type == YAML_MAPPING_START_EVENT) {
		if (!key_is_section(w->path)) {
			if (k)
				return walk_fail(w, &ev->start_mark,
						 "'%s' takes a value, not a map", w->path);
			return walk_fail(w, &w->key_at, "unknown section '%s'", w->path);
		}
		return walk_mapping(p, w);
	}
	if (!k) {
		const char *s = key_suggest(w->path);

		if (key_is_section(w->path))
			return walk_fail(w, &ev->start_mark, "'%s' is a section: give it a map",
					 w->path);
		return walk_fail(w, &w->key_at, "unknown setting '%s'%s%s%s", w->path,
				 s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
	}
	idx = (size_t)(k - keys);
	if (w->seen[idx])
		return walk_fail(w, &w->key_at, "'%s' is set twice", w->path);
	w->seen[idx] = true;
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		if (k->type != KEY_STRLIST)
			return walk_fail(w, &ev->start_mark, "'%s' takes one value, not a list",
					 w->path);
		return walk_list(p, w, k);
	}
	if (ev->type != YAML_SCALAR_EVENT)
		return walk_fail(w, &ev->start_mark, "'%s' has no value", w->path);
	if (key_apply(w->cfg, k, (const char *)ev->data.scalar.value, msg, sizeof(msg)))
		return walk_fail(w, &ev->start_mark, "%s", msg);
	return 0;
}

int vx_config_load_yaml(struct vx_config *cfg, const char *name, const char *text, size_t len,
			char *err, size_t err_len)
{
	struct walk *w;
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int rc = 0;

	if (len > VX_CONFIG_FILE_MAX) {
		set_err(err, err_len, "%s: larger than %u bytes", name, VX_CONFIG_FILE_MAX);
		return -EMSGSIZE;
	}
	w = vx_calloc(1, sizeof(*w) + sizeof(*cfg));
	if (!w)
		return -ENOMEM;
	w->cfg = (struct vx_config *)(void *)(w + 1);
	*w->cfg = *cfg; /* work on a copy: an error leaves @cfg unchanged */
	w->name = name;
	w->err = err;
	w->err_len = err_len;
	if (!yaml_parser_initialize(&parser)) {
		vx_free(w);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if ((rc = walk_next(&parser, &ev, w)))
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
			if (w->depth == 0 && strlen(w->path) == 0)
				rc = walk_mapping(&parser, w);
			else
				rc = walk_fail(w, &ev.start_mark, "unexpected map");
			break;
		case YAML_SCALAR_EVENT:
			/* An empty document is a null scalar: no settings. */
			if (ev.data.scalar.length != 0)
				rc = walk_fail(w, &ev.start_mark,
					       "the top level must be a map of settings");
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = walk_fail(w, &ev.start_mark,
				       "the top level must be a map of settings");
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc == 0)
		*cfg = *w->cfg;
	else if (rc != -EINVAL && rc != -ENOMEM)
		rc = -EINVAL;
	vx_free(w);
	return rc;
}

int vx_config_read_file(const char *path, char **buf, size_t *len, char *err, size_t err_len)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		set_err(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = vx_file_read_fd(fd, VX_CONFIG_FILE_MAX, buf, len);
	close(fd);
	if (rc == -EINVAL)
		set_err(err, err_len, "%s: not a regular file", path);
	else if (rc == -EMSGSIZE)
		set_err(err, err_len, "%s: larger than %u bytes", path, VX_CONFIG_FILE_MAX);
	else if (rc)
		set_err(err, err_len, "%s: %s", path, strerror(-rc));
	return rc;
}

int vx_config_load_file(struct vx_config *cfg, const char *path, char *err, size_t err_len)
{
	char *buf;
	size_t got;
	int rc;

	rc = vx_config_read_file(path, &buf, &got, err, err_len);
	if (rc)
		return rc;
	rc = vx_config_load_yaml(cfg, path, buf, got, err, err_len);
	vx_free(buf);
	return rc;
}

/* True when key @k has the same value in @a and @b. */
static bool key_equal(const struct vx_config *a, const struct vx_config *b, const struct key *k)
{
	const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;

	switch (k->type) {
	case KEY_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case KEY_STR:
	case KEY_ENUM:
	case KEY_ADDR:
		return strcmp(fa, fb) == 0;
	case KEY_U64:
	case KEY_SIZE:
	case KEY_DURATION:
		return *(const uint64_t *)(const void *)fa == *(const uint64_t *)(const void *)fb;
	case KEY_STRLIST: {
		unsigned na = *(const unsigned *)(const void *)((const char *)a + k->count_off);
		unsigned nb = *(const unsigned *)(const void *)((const char *)b + k->count_off);

		for (unsigned i = 0; na == nb && i < na; i++) {
			if (strcmp(fa + (size_t)i * k->size, fb + (size_t)i * k->size) != 0)
				return false;
		}
		return na == nb;
	}
	}
	return false;
}

unsigned vx_config_changed(const struct vx_config *a, const struct vx_config *b,
			   void (*fn)(void *arg, const char *name), void *arg)
{
	unsigned n = 0;

	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		if (!key_equal(a, b, &keys[i])) {
			fn(arg, keys[i].name);
			n++;
		}
	}
	return n;
}

/* Refuses the first key not supported yet that @cfg sets to anything but its default. */
static int check_supported(const struct vx_config *cfg, char *err, size_t err_len)
{
	struct vx_config def;

	vx_config_init(&def);
	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		if (keys[i].unsupported && !key_equal(cfg, &def, &keys[i])) {
			set_err(err, err_len, "%s: %s", keys[i].name, keys[i].unsupported);
			return -EINVAL;
		}
	}
	return 0;
}

/* Every source.*_outbound entry is a CIDR (vx_cidr_parse: strict). Returns 0 or -EINVAL. */
/* source.*_endpoint: an http(s) base URL (the source layer checks the rest at each use). */
static int hub_endpoints_check(const struct vx_config *cfg, char *err, size_t err_len)
{
	const char *const e[2] = { cfg->source.hf_endpoint, cfg->source.modelscope_endpoint };

	for (int i = 0; i < 2; i++) {
		if (e[i][0] && strncmp(e[i], "http://", 7) != 0 &&
		    strncmp(e[i], "https://", 8) != 0) {
			set_err(err, err_len, "source.%s_endpoint: '%s' is not an http(s) URL",
				i ? "modelscope" : "hf", e[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int outbound_check(const struct vx_config *cfg, char *err, size_t err_len)
{
	struct vx_cidr c;

	for (unsigned i = 0; i < cfg->source.nr_allow_outbound + cfg->source.nr_deny_outbound;
	     i++) {
		bool allow = i < cfg->source.nr_allow_outbound;
		const char *v =
			allow ? cfg->source.allow_outbound[i]
			      : cfg->source.deny_outbound[i - cfg->source.nr_allow_outbound];

		if (vx_cidr_parse(v, strlen(v), &c)) {
			set_err(err, err_len,
				"source.%s_outbound: '%s' is not a CIDR (ADDR/BITS, host bits "
				"zero)",
				allow ? "allow" : "deny", v);
			return -EINVAL;
		}
	}
	return 0;
}

/* source.upstream_cluster.*: a proxy http[s]://HOST:PORT, the others only with one. */
static int upstream_cluster_check(const struct vx_config *cfg, char *err, size_t err_len)
{
	const struct vx_config_source *s = &cfg->source;
	const char *v = s->upstream_proxy, *hp = NULL;
	char host[VX_CONFIG_STR_MAX];
	uint16_t port = 0;

	if (!v[0]) {
		if (s->upstream_token_file[0] || s->upstream_ca[0] || s->nr_upstream_rules ||
		    s->upstream_fallback) {
			set_err(err, err_len,
				"source.upstream_cluster.* needs source.upstream_cluster.proxy");
			return -EINVAL;
		}
		return 0;
	}
	if (strncmp(v, "http://", 7) == 0)
		hp = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		hp = v + 8;
	/* no user-info (a secret would sit in the config and the logs), path, query or fragment */
	if (!hp || strpbrk(hp, "@/?#") || vx_args_parse_listen(hp, host, sizeof(host), &port) ||
	    !port) {
		set_err(err, err_len,
			"source.upstream_cluster.proxy must be http://HOST:PORT or "
			"https://HOST:PORT, "
			"not '%s'",
			v);
		return -EINVAL;
	}
	if (s->upstream_ca[0] && hp == v + 7) {
		set_err(err, err_len, "source.upstream_cluster.ca is for an https:// proxy");
		return -EINVAL;
	}
	return 0;
}

/* Every proxy.connect.ports entry is a decimal port 1..65535 without leading zeros. */
static int connect_ports_check(const struct vx_config *cfg, char *err, size_t err_len)
{
	for (unsigned i = 0; i < cfg->proxy.nr_connect_ports; i++) {
		const char *v = cfg->proxy.connect_ports[i];
		size_t len = strlen(v);
		unsigned long p = 0;

		for (size_t k = 0; k < len && len <= 5 && v[0] != '0'; k++)
			p = v[k] >= '0' && v[k] <= '9' ? p * 10 + (unsigned long)(v[k] - '0') : 0;
		if (p == 0 || p > 65535) {
			set_err(err, err_len, "proxy.connect.ports: '%s' is not a port 1..65535",
				v);
			return -EINVAL;
		}
	}
	return 0;
}

void vx_config_keys(void *out)
{
	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		if (keys[i].unsupported)
			fprintf(out, "%s not-supported: %s\n", keys[i].name, keys[i].unsupported);
		else
			fprintf(out, "%s applied\n", keys[i].name);
	}
}

int vx_config_validate(const struct vx_config *cfg, char *err, size_t err_len)
{
	char host[VX_CONFIG_STR_MAX];
	uint16_t port;

	if (check_supported(cfg, err, err_len))
		return -EINVAL;

	if (cfg->storage.gc_low_percent >= cfg->storage.gc_high_percent) {
		set_err(err, err_len,
			"storage.gc_low_percent (%llu) must be below storage.gc_high_percent "
			"(%llu)",
			(unsigned long long)cfg->storage.gc_low_percent,
			(unsigned long long)cfg->storage.gc_high_percent);
		return -EINVAL;
	}
	if (cfg->storage.data_dir[0] == '\0') {
		set_err(err, err_len, "storage.data_dir must not be empty");
		return -EINVAL;
	}
	if (cfg->upload.listen[0] == '\0') {
		set_err(err, err_len, "upload.listen must not be empty");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nr_schedulers; i++) {
		if (vx_args_parse_hostport(cfg->schedulers[i], host, sizeof(host), &port)) {
			set_err(err, err_len, "schedulers: '%s' is not HOST:PORT",
				cfg->schedulers[i]);
			return -EINVAL;
		}
	}
	if (cfg->members[0] && cfg->nr_schedulers) {
		set_err(err, err_len, "members and schedulers: a daemon has one or the other");
		return -EINVAL;
	}
	if (outbound_check(cfg, err, err_len) || connect_ports_check(cfg, err, err_len) ||
	    upstream_cluster_check(cfg, err, err_len) || hub_endpoints_check(cfg, err, err_len))
		return -EINVAL;
	if (!cfg->proxy.tls_cert[0] != !cfg->proxy.tls_key[0]) {
		set_err(err, err_len, "proxy.tls.cert and proxy.tls.key go together");
		return -EINVAL;
	}
	if (cfg->proxy.hijack_upstream_ca[0] && !cfg->proxy.nr_hijack_hosts) {
		set_err(err, err_len, "proxy.hijack.upstream_ca needs proxy.hijack.hosts");
		return -EINVAL;
	}
	if ((cfg->proxy.nr_hijack_hosts || cfg->proxy.hijack_ca_cert[0] ||
	     cfg->proxy.hijack_ca_key[0]) &&
	    (!cfg->proxy.nr_hijack_hosts || !cfg->proxy.hijack_ca_cert[0] ||
	     !cfg->proxy.hijack_ca_key[0] || !cfg->proxy.forward)) {
		set_err(err, err_len,
			"proxy.hijack.hosts, proxy.hijack.ca_cert and proxy.hijack.ca_key go "
			"together, with proxy.forward");
		return -EINVAL;
	}
	if (!cfg->tls.cert[0] != !cfg->tls.key[0] || !cfg->tls.cert[0] != !cfg->tls.ca[0]) {
		set_err(err, err_len,
			"tls.cert, tls.key and tls.ca go together: set all three or none");
		return -EINVAL;
	}
	if (cfg->tls.crl[0] && !cfg->tls.cert[0]) {
		set_err(err, err_len, "tls.crl needs tls.cert, tls.key and tls.ca");
		return -EINVAL;
	}
	if (cfg->seed && !cfg->download.back_to_source) {
		set_err(err, err_len,
			"a seed peer must be allowed to go back to source "
			"(download.back_to_source: true)");
		return -EINVAL;
	}
	return 0;
}

bool vx_config_cluster_key(const char *name)
{
	for (size_t i = 0; i < VX_ARRAY_SIZE(cluster_keys); i++) {
		if (strcmp(cluster_keys[i], name) == 0)
			return true;
	}
	return false;
}

/* One JSON value as the string a flag would give; lists are handled by the caller. */
static int json_scalar(const json_t *v, char *out, size_t len)
{
	int n;

	if (json_is_string(v))
		n = snprintf(out, len, "%s", json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		n = snprintf(out, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		n = snprintf(out, len, "%s", json_is_true(v) ? "true" : "false");
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* Sets key @k of @cfg from @v (a list replaces the list, or with @union adds to it). */
static int cluster_set(struct vx_config *cfg, const struct key *k, const json_t *v, bool union_,
		       char *err, size_t err_len)
{
	char s[VX_CONFIG_STR_MAX];

	if (k->type != KEY_STRLIST) {
		if (json_scalar(v, s, sizeof(s))) {
			set_err(err, err_len, "'%s' must be a string, a number or a bool", k->name);
			return -EINVAL;
		}
		return key_apply(cfg, k, s, err, err_len);
	}
	if (!json_is_array(v)) {
		set_err(err, err_len, "'%s' must be an array of strings", k->name);
		return -EINVAL;
	}
	if (!union_)
		*(unsigned *)(void *)((char *)cfg + k->count_off) = 0;
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *e = json_array_get(v, i);
		unsigned n = *(unsigned *)(void *)((char *)cfg + k->count_off);
		bool have = false;

		if (!json_is_string(e) || json_scalar(e, s, sizeof(s)) || !s[0]) {
			set_err(err, err_len, "'%s' must be an array of non-empty strings",
				k->name);
			return -EINVAL;
		}
		for (unsigned j = 0; union_ && j < n && !have; j++)
			have = strcmp((char *)cfg + k->off + (size_t)j * k->size, s) == 0;
		if (!have && list_append(cfg, k, s, err, err_len))
			return -EINVAL;
	}
	return 0;
}

static int cluster_apply(struct vx_config *cfg, const json_t *root, const struct vx_config *local,
			 void (*skipped)(void *arg, const char *name), void *arg, char *err,
			 size_t err_len)
{
	const char *name;
	json_t *v;

	if (!json_is_object(root)) {
		set_err(err, err_len, "the cluster config is not a JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)root, name, v)
	{
		const struct key *k = key_find(name);
		size_t idx;

		if (!k) {
			set_err(err, err_len, "unknown setting '%s'", name);
			return -EINVAL;
		}
		if (!vx_config_cluster_key(name)) {
			set_err(err, err_len, "'%s' cannot be set cluster-wide (a host's own key)",
				name);
			return -EINVAL;
		}
		idx = (size_t)(k - keys);
		if (local && (local->local_set[idx / 64] >> (idx % 64) & 1) &&
		    strcmp(name, "schedulers") != 0) {
			if (skipped)
				skipped(arg, name);
			continue;
		}
		if (cluster_set(cfg, k, v, local != NULL, err, err_len))
			return -EINVAL;
	}
	return vx_config_validate(cfg, err, err_len);
}

int vx_config_cluster_parse(struct vx_config *out, const void *root, char *err, size_t err_len)
{
	vx_config_init(out);
	return cluster_apply(out, root, NULL, NULL, NULL, err, err_len);
}

int vx_config_cluster_check(const void *root, char *err, size_t err_len)
{
	struct vx_config *c = vx_malloc(sizeof(*c));
	int rc;

	if (!c) {
		set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = vx_config_cluster_parse(c, root, err, err_len);
	vx_free(c);
	return rc;
}

int vx_config_cluster_merge(struct vx_config *cfg, const void *root,
			    void (*skipped)(void *arg, const char *name), void *arg, char *err,
			    size_t err_len)
{
	struct vx_config *c = vx_malloc(sizeof(*c));
	int rc;

	if (!c) {
		set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	*c = *cfg;
	rc = cluster_apply(c, root, cfg, skipped, arg, err, err_len);
	if (!rc) {
		memcpy(c->local_set, cfg->local_set, sizeof(c->local_set));
		*cfg = *c;
	}
	vx_free(c);
	return rc;
}

int vx_config_cluster_merge_doc(struct vx_config *cfg, const void *doc, size_t len,
				void (*skipped)(void *arg, const char *name), void *arg, char *err,
				size_t err_len)
{
	json_error_t je;
	json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
	int rc;

	if (!root) {
		set_err(err, err_len, "the cluster config is not JSON: %s", je.text);
		return -EINVAL;
	}
	rc = vx_config_cluster_merge(cfg, root, skipped, arg, err, err_len);
	json_decref(root);
	return rc;
}

/* Writes @s as a double-quoted YAML scalar. */
static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void print_value(FILE *f, const struct vx_config *cfg, const struct key *k,
			const char *indent)
{
	const char *field = (const char *)cfg + k->off;
	const char *leaf = strrchr(k->name, '.');

	leaf = leaf ? leaf + 1 : k->name;
	switch (k->type) {
	case KEY_BOOL:
		fprintf(f, "%s%s: %s", indent, leaf, *(const bool *)field ? "true" : "false");
		break;
	case KEY_STR:
	case KEY_ENUM:
	case KEY_ADDR:
		fprintf(f, "%s%s: ", indent, leaf);
		print_quoted(f, field);
		break;
	case KEY_U64:
	case KEY_SIZE:
		fprintf(f, "%s%s: %llu", indent, leaf,
			(unsigned long long)*(const uint64_t *)(const void *)field);
		break;
	case KEY_DURATION:
		fprintf(f, "%s%s: %llums", indent, leaf,
			(unsigned long long)*(const uint64_t *)(const void *)field);
		break;
	case KEY_STRLIST: {
		unsigned count =
			*(const unsigned *)(const void *)((const char *)cfg + k->count_off);

		fprintf(f, "%s%s: [", indent, leaf);
		for (unsigned i = 0; i < count; i++) {
			fputs(i ? ", " : "", f);
			print_quoted(f, field + (size_t)i * k->size);
		}
		fprintf(f, "]");
		break;
	}
	}
	fprintf(f, "  # %s%s\n", k->help,
		k->unsupported ? " (not supported yet: leave as is)" : "");
}

void vx_config_print(const struct vx_config *cfg, void *out)
{
	FILE *f = out;
	char section[32] = "", sub[64] = "";

	for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		const char *dot = strchr(k->name, '.');

		if (dot) {
			size_t n = (size_t)(dot - k->name);
			const char *dot2 = strchr(dot + 1, '.'); /* "proxy.connect.ports" */
			size_t m = dot2 ? (size_t)(dot2 - k->name) : 0;

			if (n >= sizeof(section) || m >= sizeof(sub))
				continue;
			if (strncmp(section, k->name, n) != 0 || section[n] != '\0') {
				memcpy(section, k->name, n);
				section[n] = '\0';
				sub[0] = '\0';
				fprintf(f, "%s:\n", section);
			}
			if (dot2 && (strncmp(sub, k->name, m) != 0 || sub[m] != '\0')) {
				memcpy(sub, k->name, m);
				sub[m] = '\0';
				fprintf(f, "  %s:\n", sub + n + 1);
			}
			if (!dot2)
				sub[0] = '\0';
			print_value(f, cfg, k, dot2 ? "    " : "  ");
		} else {
			print_value(f, cfg, k, "");
		}
	}
}
