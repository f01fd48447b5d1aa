/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h: the daemon's configuration. Embedded defaults, then a YAML file (optional), then
 * command-line flags, each overriding the one before. The YAML reader is strict: unknown keys,
 * duplicate keys, wrong types, out-of-range values, anchors and aliases are errors that name
 * the file, line and column. All strings live in fixed buffers inside struct vx_config, so a
 * loaded config owns no heap memory and can be copied by value.
 */
#ifndef VX_CLI_CONFIG_H
#define VX_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_outbound.h"

#define VX_CONFIG_FILE_MAX	    (1u << 20) /* bytes of YAML read at most */
#define VX_CONFIG_STR_MAX	    256	       /* longest string value, with NUL */
#define VX_CONFIG_PATH_MAX	    1024       /* longest path value, with NUL */
#define VX_CONFIG_SCHEDULERS_MAX    16
#define VX_CONFIG_RULES_MAX	    32
#define VX_CONFIG_CONNECT_PORTS_MAX 16
#define VX_CONFIG_UPSTREAMS_MAX	    16 /* VX_PROXY_UPSTREAMS_MAX */
#define VX_CONFIG_PUBLIC_MAX	    32 /* VX_PROXY_PUBLIC_MAX */
#define VX_CONFIG_ERR_MAX	    512
/* upload.max_inflight_per_conn at most (the upload server's VX_UPLOAD_INFLIGHT_MAX). */
#define VX_CONFIG_INFLIGHT_MAX 48
/* metrics_listen's default (VX_PEER_METRICS_LISTEN, asserted equal in cmd_serve.c) */
#define VX_CONFIG_METRICS_LISTEN "127.0.0.1:4002"

struct vx_config_host {
	char hostname[VX_CONFIG_STR_MAX]; /* empty: gethostname() */
	char ip[VX_CONFIG_STR_MAX];	  /* advertised address; empty: from the listen address */
	char idc[VX_CONFIG_STR_MAX];
	char location[VX_CONFIG_STR_MAX];
	uint64_t bandwidth_bps; /* declared upload rate, bytes/s; 0: none */
};

struct vx_config_upload {
	char listen[VX_CONFIG_STR_MAX]; /* Vortex TCP, HOST:PORT */
	uint64_t max_connections;
	uint64_t max_inflight_per_conn;
	uint64_t rate_limit_bps; /* bytes per second, 0 = unlimited */
	uint64_t idle_timeout_ms;
	uint64_t max_conns_per_addr; /* connections one peer address may hold */
	uint64_t send_stall_ms;	     /* a body that makes no progress this long is dropped */
	bool lz4;		     /* lz4 piece bodies between vx peers when that wins */
};

/* download.work_threads when the file does not say (the peer's own default, asserted equal). */
#define VX_CONFIG_WORK_THREADS_DEFAULT 16
/* download.piece_timeout's default: the fetcher's stall limit (VX_FETCH_STALL_MS) */
#define VX_CONFIG_PIECE_TIMEOUT_MS 10000

struct vx_config_download {
	uint64_t concurrent_pieces;
	uint64_t rate_limit_bps;		/* 0 = unlimited */
	uint64_t back_to_source_rate_limit_bps; /* every origin read together; 0 = unlimited */
	uint64_t task_rate_limit_bps;		/* one task, origin and peers; 0 = unlimited */
	uint64_t piece_timeout_ms;
	uint64_t parent_wait_ms;      /* a scheduler's WAIT lasts at most this long */
	uint64_t access_proof_ttl_ms; /* a proven access to a private task holds this long */
	uint64_t memory_limit_bytes;  /* receive buffers, whatever the file size */
	bool back_to_source;	      /* false: never fetch from the origin */
	uint64_t work_threads;	      /* the peer's work pool (vx_peer_cfg.work_threads) */
};

struct vx_config_storage {
	char data_dir[VX_CONFIG_PATH_MAX];
	uint64_t disk_limit_bytes; /* 0: the filesystem's size */
	uint64_t gc_high_percent;
	uint64_t gc_low_percent;
	uint64_t task_ttl_ms;
	uint64_t gc_interval_ms;
	uint64_t memory_budget_bytes; /* memory tier */
	char direct_io[16];	      /* required | optional | disabled */
};

struct vx_config_proxy {
	char listen[VX_CONFIG_STR_MAX]; /* empty: off, or 127.0.0.1:4001 when upstreams are set */
	unsigned nr_upstreams;
	char upstreams[VX_CONFIG_UPSTREAMS_MAX][VX_CONFIG_STR_MAX]; /* the first is the default */
	uint64_t max_header_size;
	unsigned nr_public_repositories;
	char public_repositories[VX_CONFIG_PUBLIC_MAX][VX_CONFIG_STR_MAX];
	uint64_t fallback_after_ms; /* no P2P progress this long: go on from the upstream */
	uint64_t max_connections;
	uint64_t max_connections_per_addr; /* 0: no limit */
	uint64_t rate_limit;		   /* requests per second */
	uint64_t client_rate_limit;	   /* requests per second per client address; 0: none */
	uint64_t client_timeout_ms;
	unsigned nr_rules;
	char rules[VX_CONFIG_RULES_MAX][VX_CONFIG_STR_MAX]; /* regexes of URLs served via P2P */
	unsigned nr_direct_rules;
	char direct_rules[VX_CONFIG_RULES_MAX][VX_CONFIG_STR_MAX]; /* never P2P, checked first */
	char forward_token_file[VX_CONFIG_PATH_MAX]; /* forward requests need its token */
	bool forward;  /* absolute-form requests are served (the HTTP forward proxy) */
	bool prefetch; /* jobs run on to the task's end after their response (lazy pulls) */
	/* CONNECT tunnels (with forward) */
	unsigned nr_connect_ports;
	char connect_ports[VX_CONFIG_CONNECT_PORTS_MAX][8]; /* decimal ports; none: 443 */
	uint64_t connect_max_tunnels;
	uint64_t connect_header_timeout_ms;
	uint64_t connect_idle_timeout_ms;
	/* TLS interception of CONNECTs to these hosts (regexes), leaves signed by this CA */
	unsigned nr_hijack_hosts;
	char hijack_hosts[VX_CONFIG_RULES_MAX][VX_CONFIG_STR_MAX];
	char hijack_ca_cert[VX_CONFIG_PATH_MAX];
	char hijack_ca_key[VX_CONFIG_PATH_MAX];	     /* mode 0600 or stricter */
	char hijack_upstream_ca[VX_CONFIG_PATH_MAX]; /* verifies intercepted origins; "": system */
	uint64_t header_timeout_ms;	   /* a first request head within this of accept */
	char tls_cert[VX_CONFIG_PATH_MAX]; /* HTTPS on the listener; "": plain HTTP */
	char tls_key[VX_CONFIG_PATH_MAX];  /* mode 0600 or stricter */
};

struct vx_config_tls {
	char cert[VX_CONFIG_PATH_MAX];
	char key[VX_CONFIG_PATH_MAX];
	char ca[VX_CONFIG_PATH_MAX];
	char crl[VX_CONFIG_PATH_MAX];
	bool insecure_plaintext; /* non-loopback without TLS allowed (warned at start) */
};

/* Where a seed may connect when it fetches for another host (vx_outbound.h). */
struct vx_config_source {
	unsigned nr_allow_outbound;
	char allow_outbound[VX_OUTBOUND_MAX][VX_CIDR_TEXT_MAX + 1]; /* loopback/link-local too */
	unsigned nr_deny_outbound;
	char deny_outbound[VX_OUTBOUND_MAX][VX_CIDR_TEXT_MAX + 1]; /* refused, whatever the range */
	/* another vx cluster's forward proxy as the origin (source.upstream_cluster.*) */
	char upstream_proxy[VX_CONFIG_STR_MAX];	      /* http[s]://HOST:PORT; "": none */
	char upstream_token_file[VX_CONFIG_PATH_MAX]; /* its token (0600) */
	char upstream_ca[VX_CONFIG_PATH_MAX];	      /* PEM CA of an https proxy */
	unsigned nr_upstream_rules;
	char upstream_rules[VX_CONFIG_RULES_MAX][VX_CONFIG_STR_MAX]; /* none: every http:// */
	bool upstream_fallback; /* the upstream failing, fetch from the origin */
	/* model hubs (spec/sources.md 3.1): base URLs and token files (mode 0600); "": unset */
	char hf_endpoint[VX_CONFIG_PATH_MAX];
	char hf_token_file[VX_CONFIG_PATH_MAX];
	char modelscope_endpoint[VX_CONFIG_PATH_MAX];
	char modelscope_token_file[VX_CONFIG_PATH_MAX];
};

struct vx_config {
	bool seed;
	char log_level[16];
	char socket[VX_CONFIG_PATH_MAX]; /* local API unix socket */
	uint64_t api_requests_per_s;	 /* local API requests per second per client uid; 0: none */
	uint64_t api_max_conns_per_uid;	 /* local API connections per client uid; 0: none */
	char metrics_listen[VX_CONFIG_STR_MAX];
	unsigned nr_schedulers;
	char schedulers[VX_CONFIG_SCHEDULERS_MAX][VX_CONFIG_STR_MAX];
	char scheduler_token_file[VX_CONFIG_PATH_MAX]; /* one join token (peer or seed role) */
	char scheduler_join_file[VX_CONFIG_PATH_MAX];  /* the cluster CA's join token (vx_pki.h) */
	char members[1024];		   /* members mode: "IP:PORT,..." or a DNS name; "": off */
	uint64_t members_heartbeat_ms;	   /* heartbeat interval between members */
	uint64_t members_heartbeat_misses; /* heartbeats missed before a member counts as gone */
	struct vx_config_host host;
	struct vx_config_upload upload;
	struct vx_config_download download;
	struct vx_config_storage storage;
	struct vx_config_proxy proxy;
	struct vx_config_tls tls;
	struct vx_config_source source;
	/* keys set by the file or a flag (bit = index in the key table): they win over the
	 * cluster configuration document */
	uint64_t local_set[2];
};

/* Fills @cfg with the embedded defaults. */
void vx_config_init(struct vx_config *cfg);

/*
 * vx_config_load_yaml() - applies the YAML document @text (@len bytes, no NUL needed) on top of
 * @cfg. @name labels error messages (usually the file path).
 * On error returns -EINVAL (or -EMSGSIZE for an oversize document) and writes one line,
 * "NAME:LINE:COL: what is wrong", into @err (@err_len bytes); @cfg is then left unchanged.
 */
VX_MUST_CHECK int vx_config_load_yaml(struct vx_config *cfg, const char *name, const char *text,
				      size_t len, char *err, size_t err_len);

/* Reads the file @path and calls vx_config_load_yaml(). -errno when the file cannot be read. */
/* The whole file at @path (at most VX_CONFIG_FILE_MAX bytes) into a new buffer (vx_free()).
 * 0, or -errno with "PATH: why" in @err. */
VX_MUST_CHECK int vx_config_read_file(const char *path, char **buf, size_t *len, char *err,
				      size_t err_len);
VX_MUST_CHECK int vx_config_load_file(struct vx_config *cfg, const char *path, char *err,
				      size_t err_len);

/*
 * vx_config_validate() - refuses keys not supported yet when set to anything but their default
 * (vx_config_keys() lists them), then cross-field checks (watermarks, addresses, TLS pairs,
 * ...). Returns 0, or -EINVAL with one line in @err naming the key.
 */
VX_MUST_CHECK int vx_config_validate(const struct vx_config *cfg, char *err, size_t err_len);

/*
 * vx_config_set() - sets one key by its dotted name (as in the YAML file, e.g.
 * "storage.gc_high_percent") from a string, as a command-line flag would. List keys append.
 * Returns 0 or -EINVAL with a message in @err.
 */
VX_MUST_CHECK int vx_config_set(struct vx_config *cfg, const char *key, const char *value,
				char *err, size_t err_len);

/*
 * Writes every key to @out (a stdio stream), one a line: "NAME applied", or
 * "NAME not-supported: REASON" for a key kept in the schema that the daemon does not apply yet.
 */
void vx_config_keys(void *out);

/*
 * vx_config_changed() - calls @fn(@arg, NAME) for every key whose value differs between @a and
 * @b, in the key table's order (a reload names what it applies and what needs a restart).
 * Returns how many keys differ.
 */
unsigned vx_config_changed(const struct vx_config *a, const struct vx_config *b,
			   void (*fn)(void *arg, const char *name), void *arg);

/*
 * The cluster configuration document (spec/manager.md): a JSON object (a json_t *) of config
 * key -> value (string, integer, bool, or an array of strings for a list key). Only the keys
 * of the cluster-settable table in config.c are allowed.
 *
 * vx_config_cluster_check() - parses @root onto the defaults with this parser and validates
 * the result. Returns 0, or -EINVAL with one line in @err naming the first bad key.
 * vx_config_cluster_parse() does the same into @out (for checks that need the result).
 *
 * vx_config_cluster_merge() - applies @root on top of @cfg, except keys @cfg->local_set marks
 * (the daemon's file and flags win; @skipped(@arg, NAME) is called for each). The list
 * "schedulers" is the union of the local list and the cluster's. On error @cfg is unchanged.
 */
VX_MUST_CHECK int vx_config_cluster_check(const void *root, char *err, size_t err_len);
VX_MUST_CHECK int vx_config_cluster_parse(struct vx_config *out, const void *root, char *err,
					  size_t err_len);
VX_MUST_CHECK int vx_config_cluster_merge(struct vx_config *cfg, const void *root,
					  void (*skipped)(void *arg, const char *name), void *arg,
					  char *err, size_t err_len);
/*
 * vx_config_cluster_merge_doc() - the daemon's path: @doc (@len bytes, as the control plane
 * sent it) parsed as JSON (duplicate keys refused) and merged as vx_config_cluster_merge().
 */
VX_MUST_CHECK int vx_config_cluster_merge_doc(struct vx_config *cfg, const void *doc, size_t len,
					      void (*skipped)(void *arg, const char *name),
					      void *arg, char *err, size_t err_len);
/* True when @name may be set cluster-wide. */
bool vx_config_cluster_key(const char *name);

/* Writes @cfg as YAML to @out (a stdio stream), every key present. */
void vx_config_print(const struct vx_config *cfg, void *out);

#endif /* VX_CLI_CONFIG_H */
