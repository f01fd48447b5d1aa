/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_serve.c: `vx serve`, the peer daemon. Embedded defaults, then --config FILE, then flags
 * (each overriding the one before); builds a peer (vx_peer.h) and its local API, prints one
 * "ready" line, and runs until SIGTERM or SIGINT, then stops gracefully. SIGHUP reloads the
 * config file (serve_reload).
 *
 * Exit codes: 0 clean stop, 1 the daemon could not start (store, address, socket in use),
 * 2 bad command line or config.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "tls_conf.h"
#include "serve_ccfg.h"
#include "serve_relay.h"
#include "serve_upgrade.h"
#include "vx_err.h"
#include "vx_fetcher.h"
#include "vx_log.h"
#include "vx_members.h"
#include "vx_peer.h"
#include "vx_peer_metrics.h"
#include "vx_proxy.h"
#include "vx_sched_tokens.h"
#include "vx_sdnotify.h"
#include "vx_time.h"
#include "vx_tls.h"
#include "vx_upload.h"

/* How long the new daemon of an upgrade waits for the old one to stop (its stop is bounded by
 * the peer's graceful shutdown: jobs cancelled, LEAVE sent, the store flushed). */
#define SERVE_UPGRADE_WAIT_MS 120000u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT]\n"
		"                [--socket PATH] [--scheduler HOST:PORT[,HOST:PORT...]] [--seed]\n"
		"                [options]\n\n"
		"Runs the peer daemon: serves pieces to other peers (Vortex over TCP), downloads "
		"for\n"
		"local clients (`vx get --socket`, libvx) and joins the swarm through the\n"
		"schedulers. Flags override the config file, which overrides the defaults\n"
		"(`vx config default` prints them).\n\n"
		"  --config FILE            YAML config (`vx config check FILE` validates one)\n"
		"  --data-dir DIR           piece store (storage.data_dir)\n"
		"  --listen HOST:PORT       Vortex upload server (upload.listen; port 0 picks "
		"one)\n"
		"  --socket PATH            local API unix socket (socket)\n"
		"  --socket-group GROUP     group that may use the socket (default: ours)\n"
		"  --scheduler LIST         schedulers, comma-separated (schedulers); repeatable\n"
		"  --members LIST|NAME      no scheduler: the members' Vortex IP:PORTs or one\n"
		"                           DNS name (members; TLS with tls.*)\n"
		"  --members-heartbeat DUR  heartbeat interval between members "
		"(members_heartbeat)\n");
	fprintf(f,
		"  --seed                   seed peer: fetches from the origin when the scheduler\n"
		"                           asks, ahead of the swarm\n"
		"  --advertise-ip IP        address given to the scheduler (host.ip)\n"
		"  --hostname NAME          host name given to the scheduler (host.hostname)\n"
		"  --token-file FILE        the scheduler's join token: the peer token, or the\n"
		"                           seed token with --seed (scheduler.token_file; also\n"
		"                           $VX_TOKEN_FILE)\n"
		"  --token TOKEN            deprecated (visible in ps): use --token-file\n"
		"  --join TOKEN             join the cluster CA on first start (`vx token create\n"
		"                           --role peer|seed`): writes DATA_DIR/tls/, then renews\n"
		"  --join-file FILE         the same, the token read from FILE (mode 0600;\n"
		"                           scheduler.join_file)\n"
		"  --no-back-to-source      never fetch from the origin (download.back_to_source)\n"
		"  --no-lz4                 never lz4-compress piece bodies, nor accept them\n"
		"                           (upload.lz4)\n"
		"  --no-resume              do not restart unfinished tasks found in the store\n"
		"  --memory-budget SIZE     task content kept in memory, e.g. 1GiB; 0 off\n"
		"                           (storage.memory_budget; `vx get --memory`, preheat\n"
		"                           load_to_cache)\n"
		"  --proxy HOST:PORT        registry mirror (proxy.listen; default 127.0.0.1:4001\n"
		"                           when an upstream is set)\n"
		"  --upstream URL           registry the mirror may fetch from, repeatable\n"
		"                           (proxy.upstreams); the first serves clients naming "
		"none\n"
		"  --allow-outbound CIDR    a seed may fetch there for another host even though "
		"it\n"
		"                           is loopback or link-local (source.allow_outbound);\n"
		"                           repeatable\n"
		"  --deny-outbound CIDR     a seed never fetches there for another host, private\n"
		"                           ranges too (source.deny_outbound); repeatable\n"
		"  --insecure-plaintext     allow plaintext on addresses that are not loopback\n"
		"                           (tls.insecure_plaintext); without it a daemon that\n"
		"                           listens on or dials such an address needs TLS files\n"
		"                           (tls.cert, tls.key, tls.ca, tls.crl; default\n"
		"                           DATA_DIR/tls/{cert,key,ca,crl}.pem when present, as\n"
		"                           --join writes them); with them both the scheduler\n"
		"                           channel and the pieces (upload port, fetches) are TLS\n"
		"  --metrics HOST:PORT      /metrics, /healthy, /ready over HTTP (metrics_listen;\n"
		"                           default 127.0.0.1:4002, busy: a warning; \"\" off)\n"
		"  --log-level LEVEL        error, warn, info or debug\n"
		"  --log-format FORMAT      text (default) or json: one object a line\n\n"
		"Bandwidth, bytes/s (0 none), in the config file or the cluster configuration:\n"
		"  upload.rate_limit                   all uploads\n"
		"  download.rate_limit                 pieces from peers\n"
		"  download.back_to_source_rate_limit  every origin read together, any source\n"
		"  download.task_rate_limit            one task, origin and peers together\n"
		"SIGHUP reloads --config: log_level is applied, other changed keys are logged as\n"
		"needing a restart; TLS files are re-read whenever they change. SIGUSR2 upgrades:\n"
		"the program now at this one's path starts with the same arguments and takes over\n"
		"the pieces port (no connection refused), this one stops, and the new one resumes\n"
		"the unfinished downloads from their finished pieces.\n"
		"Exit codes: 0 clean stop on SIGTERM/SIGINT, 1 could not start, 2 bad command line "
		"or\n"
		"config.\n");
}

/* Applies "a,b,c" as repeated values of list key @key. */
static int set_list(struct vx_config *cfg, const char *key, const char *value, char *err,
		    size_t err_len)
{
	char buf[4096], *save = NULL, *tok;

	if (strlen(value) >= sizeof(buf)) {
		snprintf(err, err_len, "%s: value too long", key);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int rc = vx_config_set(cfg, key, tok, err, err_len);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * A secret given on the command line (--join, --token): kept in a copy, and blanked in argv so
 * that /proc/PID/cmdline (ps, every local user) shows x's from here on; it was readable from
 * the exec until now, which is why --join-file and --token-file are the ways to prefer.
 */
static const char *argv_secret(char *arg, char copy[VX_SCHED_TOKEN_MAX + 1])
{
	size_t n = strlen(arg);

	if (n > VX_SCHED_TOKEN_MAX)
		return arg; /* no token is that long: refused later, as it is */
	memcpy(copy, arg, n + 1);
	memset(arg, 'x', n);
	return copy;
}

struct serve_flags {
	const char *config;
	const char *group;
	const char *token;
	const char *join; /* --join TOKEN */
	char token_copy[VX_SCHED_TOKEN_MAX + 1], join_copy[VX_SCHED_TOKEN_MAX + 1];
	bool no_resume;
	bool schedulers_given;
	bool upstreams_given;
	/* flags apply after the file: kept as (key, value) pairs in order */
	const char *keys[64];
	const char *values[64];
	unsigned nr;
};

static int parse_flags(int argc, char **argv, struct serve_flags *fl)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },
		{ "socket-group", required_argument, NULL, 'g' },
		{ "scheduler", required_argument, NULL, 'S' },
		{ "members", required_argument, NULL, 'R' },
		{ "members-heartbeat", required_argument, NULL, 'H' },
		{ "seed", no_argument, NULL, 'e' },
		{ "advertise-ip", required_argument, NULL, 'a' },
		{ "hostname", required_argument, NULL, 'n' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'k' },
		{ "join", required_argument, NULL, 'j' },
		{ "join-file", required_argument, NULL, 'J' },
		{ "no-back-to-source", no_argument, NULL, 'b' },
		{ "no-lz4", no_argument, NULL, 'Z' },
		{ "no-resume", no_argument, NULL, 'r' },
		{ "allow-outbound", required_argument, NULL, 'A' },
		{ "deny-outbound", required_argument, NULL, 'D' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "proxy", required_argument, NULL, 'p' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "insecure-plaintext", no_argument, NULL, 'P' },
		{ "memory-budget", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		int opt;
		const char *key;
	} map[] = {
		{ 'd', "storage.data_dir" },
		{ 'l', "upload.listen" },
		{ 's', "socket" },
		{ 'S', "schedulers" },
		{ 'R', "members" },
		{ 'H', "members_heartbeat" },
		{ 'e', "seed" },
		{ 'a', "host.ip" },
		{ 'n', "host.hostname" },
		{ 'b', "download.back_to_source" },
		{ 'Z', "upload.lz4" },
		{ 'v', "log_level" },
		{ 'm', "metrics_listen" },
		{ 'k', "scheduler.token_file" },
		{ 'J', "scheduler.join_file" },
		{ 'p', "proxy.listen" },
		{ 'u', "proxy.upstreams" },
		{ 'A', "source.allow_outbound" },
		{ 'D', "source.deny_outbound" },
		{ 'P', "tls.insecure_plaintext" },
		{ 'M', "storage.memory_budget" },
	};
	int o;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *key = NULL;

		switch (o) {
		case 'c':
			fl->config = optarg;
			continue;
		case 'g':
			fl->group = optarg;
			continue;
		case 't':
			fl->token = argv_secret(optarg, fl->token_copy);
			fprintf(stderr, "vx serve: --token is deprecated (it shows in ps): use "
					"--token-file FILE\n");
			continue;
		case 'r':
			fl->no_resume = true;
			continue;
		case 'j':
			fl->join = argv_secret(optarg, fl->join_copy);
			fprintf(stderr, "vx serve: --join: the token was visible in ps while the "
					"daemon started; prefer --join-file FILE\n");
			continue;
		case 'F':
			if (vx_log_set_format_name(optarg)) {
				fprintf(stderr, "vx serve: --log-format: text or json\n");
				return -EINVAL;
			}
			continue;
		case 'h':
			usage(stdout);
			return 1;
		case '?':
		case ':':
			fprintf(stderr, "vx serve: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return -EINVAL;
		default:
			break;
		}
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
			if (map[i].opt == o)
				key = map[i].key;
		}
		if (!key || fl->nr == 64) {
			fprintf(stderr, "vx serve: too many options\n");
			return -EINVAL;
		}
		if (o == 'S')
			fl->schedulers_given = true;
		if (o == 'u')
			fl->upstreams_given = true;
		fl->keys[fl->nr] = key;
		fl->values[fl->nr] = o == 'e' || o == 'P'   ? "true"
				     : o == 'b' || o == 'Z' ? "false"
							    : optarg;
		fl->nr++;
	}
	if (optind != argc) {
		fprintf(stderr, "vx serve: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int load_config(const struct serve_flags *fl, struct vx_config *cfg)
{
	char err[VX_CONFIG_ERR_MAX];
	bool lists_reset = false, allow_reset = false, deny_reset = false;
	bool upstreams_reset = false;
	int rc;

	vx_config_init(cfg);
	if (fl->config) {
		rc = vx_config_load_file(cfg, fl->config, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vx serve: %s\n",
				err[0] ? err : "cannot read the config file");
			return rc;
		}
	}
	for (unsigned i = 0; i < fl->nr; i++) {
		if (strcmp(fl->keys[i], "schedulers") == 0) {
			if (!lists_reset) {
				cfg->nr_schedulers = 0; /* flags replace the file's list */
				lists_reset = true;
			}
			rc = set_list(cfg, fl->keys[i], fl->values[i], err, sizeof(err));
		} else if (strcmp(fl->keys[i], "source.allow_outbound") == 0) {
			if (!allow_reset)
				cfg->source.nr_allow_outbound =
					0; /* flags replace the file's list */
			allow_reset = true;
			rc = vx_config_set(cfg, fl->keys[i], fl->values[i], err, sizeof(err));
		} else if (strcmp(fl->keys[i], "source.deny_outbound") == 0) {
			if (!deny_reset)
				cfg->source.nr_deny_outbound = 0;
			deny_reset = true;
			rc = vx_config_set(cfg, fl->keys[i], fl->values[i], err, sizeof(err));
		} else if (strcmp(fl->keys[i], "proxy.upstreams") == 0) {
			if (!upstreams_reset) {
				cfg->proxy.nr_upstreams = 0; /* flags replace the file's list */
				upstreams_reset = true;
			}
			rc = vx_config_set(cfg, fl->keys[i], fl->values[i], err, sizeof(err));
		} else {
			rc = vx_config_set(cfg, fl->keys[i], fl->values[i], err, sizeof(err));
		}
		if (rc) {
			fprintf(stderr, "vx serve: %s\n", err);
			return rc;
		}
	}
	rc = vx_config_validate(cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vx serve: %s\n", err);
		return rc;
	}
	if (cfg->members[0]) {
		struct vx_members_spec sp;

		/* the parser the daemon uses, before anything starts (the port of a bare DNS
		 * name is the listen port's, which does not matter to the check) */
		rc = vx_members_parse(cfg->members, strlen(cfg->members), 1, &sp, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vx serve: %s\n", err);
			return rc;
		}
	}
	return 0;
}

_Static_assert(VX_CONFIG_WORK_THREADS_DEFAULT == VX_PEER_WORK_THREADS_DEFAULT,
	       "one default for the peer's work pool");
_Static_assert(VX_CONFIG_PIECE_TIMEOUT_MS == VX_FETCH_STALL_MS,
	       "download.piece_timeout's default is the fetcher's stall limit");
_Static_assert(VX_CONFIG_INFLIGHT_MAX == VX_UPLOAD_INFLIGHT_MAX,
	       "upload.max_inflight_per_conn is bounded by what the upload server takes");

static void peer_cfg_from(const struct vx_config *c, const struct serve_flags *fl,
			  struct vx_peer_cfg *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->data_dir = c->storage.data_dir;
	pc->listen = c->upload.listen;
	pc->advertise = c->host.ip[0] ? c->host.ip : NULL;
	pc->hostname = c->host.hostname[0] ? c->host.hostname : NULL;
	pc->idc = c->host.idc[0] ? c->host.idc : NULL;
	pc->location = c->host.location[0] ? c->host.location : NULL;
	pc->bandwidth_bps = c->host.bandwidth_bps * 8;
	pc->token = fl->token;
	for (unsigned i = 0; i < c->nr_schedulers && i < VX_PEER_SCHEDULERS_MAX; i++)
		pc->schedulers[pc->nr_schedulers++] = c->schedulers[i];
	pc->members = c->members[0] ? c->members : NULL;
	pc->members_heartbeat_ms = (uint32_t)c->members_heartbeat_ms;
	pc->members_misses = (uint32_t)c->members_heartbeat_misses;
	pc->seed = c->seed;
	pc->no_back_to_source = !c->download.back_to_source;
	pc->no_lz4 = !c->upload.lz4;
	pc->wait_parents_ms = (uint32_t)c->download.parent_wait_ms;
	pc->access_ttl_ms = (uint32_t)c->download.access_proof_ttl_ms;
	pc->piece_timeout_ms = (uint32_t)c->download.piece_timeout_ms;
	pc->concurrent_pieces = (uint32_t)c->download.concurrent_pieces;
	pc->resume = !fl->no_resume;
	pc->rates = vx_serve_rates(c);
	pc->upload_max_conns = (uint32_t)c->upload.max_connections;
	pc->upload_idle_timeout_ms = (uint32_t)c->upload.idle_timeout_ms;
	pc->upload_addr_conns = (uint32_t)c->upload.max_conns_per_addr;
	pc->upload_stall_ms = (uint32_t)c->upload.send_stall_ms;
	pc->upload_max_inflight = (uint32_t)c->upload.max_inflight_per_conn;
	pc->work_threads = (uint32_t)c->download.work_threads;
	pc->disk_limit_bytes = c->storage.disk_limit_bytes;
	pc->memory_budget_bytes = c->storage.memory_budget_bytes;
	pc->gc_high_pct = (uint32_t)c->storage.gc_high_percent;
	pc->gc_low_pct = (uint32_t)c->storage.gc_low_percent;
	pc->task_ttl_s = c->storage.task_ttl_ms / 1000;
	pc->gc_interval_s = (uint32_t)(c->storage.gc_interval_ms / 1000);
	/* validated by vx_config_validate(): every entry parses and fits */
	for (unsigned i = 0; i < c->source.nr_allow_outbound; i++)
		(void)!vx_outbound_add(&pc->outbound, c->source.allow_outbound[i], false);
	for (unsigned i = 0; i < c->source.nr_deny_outbound; i++)
		(void)!vx_outbound_add(&pc->outbound, c->source.deny_outbound[i], true);
	pc->hf_endpoint = c->source.hf_endpoint[0] ? c->source.hf_endpoint : NULL;
	pc->hf_token_file = c->source.hf_token_file[0] ? c->source.hf_token_file : NULL;
	pc->modelscope_endpoint =
		c->source.modelscope_endpoint[0] ? c->source.modelscope_endpoint : NULL;
	pc->modelscope_token_file =
		c->source.modelscope_token_file[0] ? c->source.modelscope_token_file : NULL;
	pc->direct_io = strcmp(c->storage.direct_io, "required") == 0	? 1
			: strcmp(c->storage.direct_io, "disabled") == 0 ? 2
									: 0;
}

/*
 * The join token: scheduler.token_file (or --token-file), else $VX_TOKEN_FILE, else the
 * deprecated --token. Without one the scheduler refuses the hello (unless it runs
 * --insecure-open), which vx_peer_new() reports.
 */
/* The cluster CA's join token: --join, else the file of scheduler.join_file (0600). */
static int serve_join(const struct vx_config *c, const struct serve_flags *fl, char *token,
		      struct vx_peer_cfg *pc)
{
	char err[512];

	pc->tls_external = c->tls.cert[0] != '\0';
	if (fl->join) {
		pc->join_token = fl->join;
		return 0;
	}
	if (!c->scheduler_join_file[0])
		return 0;
	if (vx_sched_token_read(c->scheduler_join_file, token, err, sizeof(err))) {
		fprintf(stderr, "vx serve: %s\n", err);
		return -EINVAL;
	}
	pc->join_token = token;
	return 0;
}

static int serve_token(const struct vx_config *c, const struct serve_flags *fl, char *token,
		       struct vx_peer_cfg *pc)
{
	const char *path =
		c->scheduler_token_file[0] ? c->scheduler_token_file : getenv("VX_TOKEN_FILE");
	char err[512];

	if (!path || !*path)
		return 0; /* fl->token, if any, is already in pc */
	(void)fl;
	if (vx_sched_token_read(path, token, err, sizeof(err))) {
		fprintf(stderr, "vx serve: %s\n", err);
		return -EINVAL;
	}
	pc->token = token;
	return 0;
}

_Static_assert(sizeof(VX_CONFIG_METRICS_LISTEN) == sizeof(VX_PEER_METRICS_LISTEN),
	       "one default metrics address");

/*
 * The observation endpoint (metrics_listen). Set to something else than the default, a busy
 * address stops the start; the default one busy (a second daemon on the host) is a warning.
 */
static int serve_metrics(const struct vx_config *c, struct vx_peer *peer,
			 struct vx_peer_metrics **out)
{
	char err[512] = "";
	int rc;

	*out = NULL;
	if (!c->metrics_listen[0])
		return 0;
	rc = vx_peer_metrics_start(out, peer, c->metrics_listen, err, sizeof(err));
	if (rc && rc != -EINVAL && strcmp(c->metrics_listen, VX_PEER_METRICS_LISTEN) == 0) {
		vx_warn("serve: no metrics endpoint: %s", err);
		return 0;
	}
	if (rc)
		fprintf(stderr, "vx serve: %s\n", err[0] ? err : vx_strerror(rc));
	return rc;
}

_Static_assert(VX_CONFIG_UPSTREAMS_MAX == VX_PROXY_UPSTREAMS_MAX, "one upstream limit");
_Static_assert(VX_CONFIG_PUBLIC_MAX == VX_PROXY_PUBLIC_MAX, "one public-repository limit");

/* The registry mirror, when proxy.listen or proxy.upstreams asks for one. */
_Static_assert(VX_CONFIG_RULES_MAX == VX_PROXY_RULES_MAX, "one rules limit");

/* The registry mirror and forward proxy, when proxy.listen, proxy.upstreams or proxy.forward
 * asks for one. @outbound: where the forward proxy may connect for a client (the peer's). */
static int serve_proxy(const struct vx_config *c, struct vx_peer *peer,
		       const struct vx_outbound_policy *outbound, struct vx_proxy **out)
{
	struct vx_proxy_cfg pc = { 0 };
	char err[512] = "";
	int rc;

	*out = NULL;
	if (!c->proxy.listen[0] && !c->proxy.nr_upstreams && !c->proxy.forward)
		return 0;
	pc.listen = c->proxy.listen[0] ? c->proxy.listen : "127.0.0.1:4001";
	for (unsigned i = 0; i < c->proxy.nr_upstreams; i++)
		pc.upstreams[pc.nr_upstreams++] = c->proxy.upstreams[i];
	pc.header_max = (uint32_t)c->proxy.max_header_size;
	pc.stall_ms = (uint32_t)c->proxy.fallback_after_ms;
	for (unsigned i = 0; i < c->proxy.nr_public_repositories; i++)
		pc.public_repos[pc.nr_public_repos++] = c->proxy.public_repositories[i];
	pc.max_conns = (uint32_t)c->proxy.max_connections;
	pc.max_conns_per_addr = c->proxy.max_connections_per_addr
					? (uint32_t)c->proxy.max_connections_per_addr
					: UINT32_MAX;
	pc.rate_per_s = (uint32_t)c->proxy.rate_limit;
	pc.client_rate_per_s =
		c->proxy.client_rate_limit ? (uint32_t)c->proxy.client_rate_limit : UINT32_MAX;
	pc.client_timeout_ms = (uint32_t)c->proxy.client_timeout_ms;
	pc.header_timeout_ms = (uint32_t)c->proxy.header_timeout_ms;
	pc.forward = c->proxy.forward;
	pc.prefetch = c->proxy.prefetch;
	for (unsigned i = 0; i < c->proxy.nr_rules; i++)
		pc.rules[pc.nr_rules++] = c->proxy.rules[i];
	/* the entries are ports 1..65535 (vx_config_validate()) */
	for (unsigned i = 0; i < c->proxy.nr_connect_ports && i < VX_ARRAY_SIZE(pc.connect_ports);
	     i++)
		pc.connect_ports[pc.nr_connect_ports++] =
			(uint16_t)strtoul(c->proxy.connect_ports[i], NULL, 10);
	pc.max_tunnels = (uint32_t)c->proxy.connect_max_tunnels;
	pc.connect_header_timeout_ms = (uint32_t)c->proxy.connect_header_timeout_ms;
	pc.tunnel_idle_timeout_ms = (uint32_t)c->proxy.connect_idle_timeout_ms;
	for (unsigned i = 0; i < c->proxy.nr_hijack_hosts; i++)
		pc.hijack_hosts[pc.nr_hijack_hosts++] = c->proxy.hijack_hosts[i];
	pc.hijack_ca_cert = c->proxy.hijack_ca_cert[0] ? c->proxy.hijack_ca_cert : NULL;
	pc.hijack_ca_key = c->proxy.hijack_ca_key[0] ? c->proxy.hijack_ca_key : NULL;
	pc.hijack_upstream_ca = c->proxy.hijack_upstream_ca[0] ? c->proxy.hijack_upstream_ca : NULL;
	pc.tls_cert = c->proxy.tls_cert[0] ? c->proxy.tls_cert : NULL;
	pc.tls_key = c->proxy.tls_key[0] ? c->proxy.tls_key : NULL;
	pc.outbound = outbound;
	if (vx_serve_relay_proxy(c, &pc))
		return -EINVAL;
	rc = vx_proxy_start(out, peer, &pc, err, sizeof(err));
	vx_serve_relay_proxy_done();
	if (rc)
		fprintf(stderr, "vx serve: %s\n", err[0] ? err : vx_strerror(rc));
	return rc;
}

/* Keys a SIGHUP applies to the running daemon; every other changed key needs a restart. TLS
 * files are re-read by the daemon itself when they change (vx_tls_ctx_tick), at any time. */
static const char *const reload_live_keys[] = { "log_level" };

struct reload_note {
	char applied[256];
	char restart[1024];
	bool log_level;
};

static void reload_note_key(void *arg, const char *name)
{
	struct reload_note *n = arg;
	bool live = false;
	char *dst;
	size_t len;

	for (size_t i = 0; i < VX_ARRAY_SIZE(reload_live_keys); i++)
		live |= strcmp(name, reload_live_keys[i]) == 0;
	n->log_level |= strcmp(name, "log_level") == 0;
	dst = live ? n->applied : n->restart;
	len = strlen(dst);
	snprintf(dst + len, (live ? sizeof(n->applied) : sizeof(n->restart)) - len, "%s%s",
		 len ? ", " : "", name);
}

/*
 * SIGHUP: the config file and the flags again, as at start. An invalid file changes nothing
 * (said at error level); otherwise the keys that can change live are applied and every other
 * changed key is named as needing a restart (it stays as the daemon started with it). @cur is
 * the running configuration.
 */
static void serve_reload(const struct serve_flags *fl, struct vx_config *cur)
{
	struct reload_note note = { 0 };
	struct vx_config next;
	unsigned n;

	if (!fl->config) {
		vx_warn("serve: SIGHUP: no --config file: nothing to reload");
		return;
	}
	if (load_config(fl, &next)) {
		vx_err("serve: SIGHUP: %s did not load (above): the running configuration is kept",
		       fl->config);
		return;
	}
	n = vx_config_changed(cur, &next, reload_note_key, &note);
	if (note.log_level && vx_log_set_level_name(next.log_level) == 0)
		memcpy(cur->log_level, next.log_level, sizeof(cur->log_level));
	if (!n)
		vx_info("serve: SIGHUP: reloaded %s: nothing changed", fl->config);
	else if (note.restart[0])
		vx_warn("serve: SIGHUP: reloaded %s: applied: %s; needs a restart: %s", fl->config,
			note.applied[0] ? note.applied : "none", note.restart);
	else
		vx_info("serve: SIGHUP: reloaded %s: applied: %s", fl->config, note.applied);
}

/*
 * SIGUSR2: starts the new daemon with the upload server's listening socket. Returns 0 (this
 * one then stops), or -errno when the new one could not be started (this one keeps serving).
 */
static int serve_upgrade(struct vx_peer *peer, const struct serve_flags *fl)
{
	char err[256];
	pid_t pid;
	int rc;

	if (fl->token || fl->join) {
		/* the new daemon gets this one's command line, where argv_secret() blanked it */
		vx_err("serve: SIGUSR2: upgrade refused, still serving: --%s was given on the "
		       "command "
		       "line, which shows it blanked; give it with --%s-file to upgrade in place",
		       fl->token ? "token" : "join", fl->token ? "token" : "join");
		return -EINVAL;
	}
	rc = vx_serve_upgrade_spawn(vx_peer_listen_fd(peer), &pid, err, sizeof(err));
	if (rc) {
		vx_err("serve: SIGUSR2: upgrade refused, still serving: %s", err);
		return rc;
	}
	vx_info("serve: SIGUSR2: upgrade: daemon %d takes over port %u; stopping", (int)pid,
		vx_peer_port(peer));
	{
		/* under systemd the new daemon becomes the unit's main process (its READY=1 then
		 * counts, and this one's exit does not stop the unit) */
		char msg[32];

		snprintf(msg, sizeof(msg), "MAINPID=%d", (int)pid);
		(void)vx_sd_notify(msg);
	}
	vx_peer_handover(peer);
	return 0;
}

/*
 * At start: when this process is the new daemon of an upgrade, takes the handed-over socket
 * into @pc and waits for the old daemon to exit (it holds the store until then; connections
 * wait in the socket's backlog meanwhile). Returns 0 or a negative errno (said on stderr).
 */
static int serve_takeover(struct vx_peer_cfg *pc)
{
	pid_t parent = getppid();
	char err[256];
	int fd = vx_serve_upgrade_inherited(err, sizeof(err));

	if (fd <= 0) {
		if (fd < 0)
			fprintf(stderr, "vx serve: %s\n", err);
		return fd;
	}
	pc->listen_fd = fd;
	vx_info("serve: upgrade: taking over the listening socket of daemon %d", (int)parent);
	if (vx_serve_upgrade_wait_parent(parent, SERVE_UPGRADE_WAIT_MS)) {
		fprintf(stderr, "vx serve: upgrade: daemon %d did not stop within %u s\n",
			(int)parent, SERVE_UPGRADE_WAIT_MS / 1000);
		return -ETIMEDOUT;
	}
	return 0;
}

static int serve_main(const struct serve_flags *flp, const struct vx_config *cfgp,
		      struct vx_peer_cfg *pcp)
{
	struct serve_flags fl = *flp;
	struct vx_config cfg = *cfgp;
	struct vx_peer_cfg pc = *pcp;
	struct vx_peer *peer = NULL;
	struct vx_peer_api *api = NULL;
	struct vx_proxy *proxy = NULL;
	struct vx_peer_metrics *metrics = NULL;
	static struct serve_ccfg ccfg; /* large; lives as long as the peer */
	char err[512], token[VX_SCHED_TOKEN_MAX + 1], join[VX_SCHED_TOKEN_MAX + 1];
	sigset_t set;
	int rc, sig = 0;
	vx_log_set_room("serve");

	/* the signals are waited for on this thread; every other thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		fprintf(stderr, "vx serve: cannot block signals\n");
		return VX_EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	vx_serve_ccfg_start(&ccfg, &cfg, &pc);
	if (pc.nr_schedulers &&
	    (serve_token(&cfg, &fl, token, &pc) || serve_join(&cfg, &fl, join, &pc)))
		return VX_EXIT_USAGE;
	if (vx_serve_relay_peer(&cfg, &pc))
		return VX_EXIT_USAGE;
	if (!pc.nr_schedulers && !pc.members)
		vx_warn("serve: no scheduler: every download goes to the source");
	rc = serve_takeover(&pc);
	if (!rc)
		rc = vx_peer_new(&peer, &pc, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "upgrade: %s", vx_strerror(rc));
	memset(join, 0, sizeof(join));
	if (rc) {
		fprintf(stderr, "vx serve: %s\n", err[0] ? err : vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	if (cfg.socket[0]) {
		rc = vx_peer_api_start(&api, peer, cfg.socket, fl.group, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vx serve: %s\n", err);
			vx_peer_free(peer);
			return VX_EXIT_FAILURE;
		}
		vx_peer_api_set_limits(api, (uint32_t)cfg.api_requests_per_s,
				       (uint32_t)cfg.api_max_conns_per_uid);
	}
	if (serve_proxy(&cfg, peer, &pc.outbound, &proxy)) {
		vx_peer_free(peer);
		vx_peer_api_stop(api);
		return VX_EXIT_FAILURE;
	}
	if (proxy)
		vx_serve_ccfg_proxy(&ccfg, proxy);
	if (serve_metrics(&cfg, peer, &metrics)) {
		vx_serve_ccfg_proxy(&ccfg, NULL);
		vx_proxy_stop(proxy);
		vx_peer_free(peer);
		vx_peer_api_stop(api);
		return VX_EXIT_FAILURE;
	}
	if (proxy)
		printf("vx serve: registry mirror on port %u\n", vx_proxy_port(proxy));
	if (metrics)
		printf("vx serve: metrics on port %u\n", vx_peer_metrics_port(metrics));
	printf("vx serve: ready: %s, pieces on port %u, socket %s, address %s%s\n",
	       vx_peer_host_id(peer), vx_peer_port(peer), cfg.socket[0] ? cfg.socket : "(none)",
	       vx_peer_addr(peer), pc.seed ? ", seed" : "");
	fflush(stdout);
	(void)vx_sd_notify("READY=1"); /* systemd Type=notify (deploy/systemd) */
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			sig = SIGTERM;
		if (sig == SIGHUP) {
			(void)vx_sd_notify("RELOADING=1");
			serve_reload(&fl, &cfg);
			(void)vx_sd_notify("READY=1");
		} else if (sig != SIGUSR2 || serve_upgrade(peer, &fl) == 0) {
			break;
		}
	}
	vx_info("serve: %s: stopping", sig == SIGINT	? "SIGINT"
				       : sig == SIGUSR2 ? "SIGUSR2"
							: "SIGTERM");
	vx_peer_metrics_stop(metrics);
	vx_serve_ccfg_proxy(&ccfg, NULL);
	vx_proxy_stop(proxy);
	vx_peer_free(peer);
	vx_peer_api_stop(api);
	return VX_EXIT_OK;
}

/*
 * TLS whenever not loopback-only (spec/control.md section 10): with TLS files both planes are
 * TLS (the peer builds the upload port's context on the same files); @joining (a join token,
 * the files come with the join) counts as having them. Without them, an address that is not
 * loopback (listened on or dialled) needs --insecure-plaintext, which is warned. Returns 0, or
 * 2/1 (exit code) after saying why.
 */
static int serve_tls(const struct vx_config *c, struct vx_peer_cfg *pc, bool joining,
		     struct vx_tls_ctx **tls)
{
	struct vx_cli_tls_paths paths;
	struct vx_tls_files files;
	const char *open_addr = NULL, *proxy = NULL;
	char err[VX_TLS_ERR_LEN];
	int rc = vx_cli_tls_paths(c, c->storage.data_dir, &paths);

	*tls = NULL;
	if (rc < 0) {
		fprintf(stderr, "vx serve: a TLS file path is too long\n");
		return VX_EXIT_USAGE;
	}
	if (rc == 1) {
		files = vx_cli_tls_files(&paths);
		rc = vx_tls_ctx_new(tls, VX_TLS_CLIENT, &files, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "vx serve: TLS: %s\n", err);
			return VX_EXIT_FAILURE;
		}
		pc->sched_tls = *tls;
		vx_tls_ctx_tick(*tls, "daemon", vx_wall_s()); /* a certificate near its end */
	}
	/* the mirror with proxy.tls speaks HTTPS: not plaintext */
	if (c->proxy.listen[0] && !c->proxy.tls_cert[0] && !vx_cli_addr_loopback(c->proxy.listen))
		proxy = open_addr = c->proxy.listen;
	if (!vx_cli_addr_loopback(c->upload.listen))
		open_addr = c->upload.listen;
	joining = joining && !c->tls.cert[0] && c->nr_schedulers;
	for (unsigned i = 0; i < c->nr_schedulers && !*tls && !joining; i++) {
		if (!vx_cli_addr_loopback(c->schedulers[i]))
			open_addr = c->schedulers[i];
	}
	if (c->tls.insecure_plaintext) {
		fprintf(stderr, "vx serve: warning: --insecure-plaintext: what this daemon sends "
				"beyond loopback travels in plaintext, to anyone on the path\n");
		return 0;
	}
	if (proxy) {
		fprintf(stderr,
			"vx serve: refusing to serve the registry mirror in plaintext on %s (not "
			"loopback): give proxy.tls.cert and proxy.tls.key, listen on loopback, or "
			"pass --insecure-plaintext (tls.insecure_plaintext)\n",
			proxy);
		return VX_EXIT_USAGE;
	}
	if (open_addr && !*tls && !joining) {
		fprintf(stderr,
			"vx serve: refusing plaintext on %s (not loopback): give tls.cert, tls.key "
			"and tls.ca (or put cert.pem, key.pem and ca.pem in DATA_DIR/tls/), use "
			"loopback addresses only, or pass --insecure-plaintext\n",
			open_addr);
		return VX_EXIT_USAGE;
	}
	return 0;
}

static int run_serve(int argc, char **argv)
{
	struct serve_flags fl = { 0 };
	struct vx_config cfg;
	struct vx_peer_cfg pc;
	struct vx_tls_ctx *tls = NULL;
	int rc;

	rc = parse_flags(argc, argv, &fl);
	if (rc)
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	if (load_config(&fl, &cfg))
		return VX_EXIT_USAGE;
	if (cfg.proxy.listen[0] && !cfg.proxy.nr_upstreams && !cfg.proxy.forward) {
		fprintf(stderr,
			"vx serve: proxy.listen needs proxy.upstreams (--upstream URL) or "
			"proxy.forward: the mirror fetches only from registries it is given\n");
		return VX_EXIT_USAGE;
	}
	if (vx_log_set_level_name(cfg.log_level) != 0) {
		fprintf(stderr, "vx serve: unknown log level '%s'\n", cfg.log_level);
		return VX_EXIT_USAGE;
	}
	peer_cfg_from(&cfg, &fl, &pc);
	rc = serve_tls(&cfg, &pc, fl.join || cfg.scheduler_join_file[0], &tls);
	if (!rc)
		rc = serve_main(&fl, &cfg, &pc);
	vx_tls_ctx_free(tls);
	return rc;
}

const struct vx_command vx_command_serve = {
	.name = "serve",
	.summary = "run the peer daemon (uploads, local downloads, swarm membership)",
	.run = run_serve,
};
