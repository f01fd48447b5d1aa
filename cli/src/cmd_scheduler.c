/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_scheduler.c: `vx scheduler`, the control plane service. Parses flags, builds the server
 * from control/ (vx_sched_server.h) and runs it until SIGTERM or SIGINT.
 *
 * Exit codes: 0 clean stop, 1 the service could not start (database, address in use), 2 bad
 * command line.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "config.h"
#include "flag_conf.h"
#include "vx_alloc.h"
#include "vx_ctl_msg.h"
#include "vx_file.h"
#include "vx_err.h"
#include "vx_manager.h"
#include "vx_log.h"
#include "vx_net.h"
#include "vx_outbound.h"
#include "vx_pki.h"
#include "vx_sched_server.h"
#include "vx_sdnotify.h"
#include "vx_time.h"
#include "vx_tls.h"

#include "serve_ccfg.h"
#include "tls_conf.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vx scheduler [--listen HOST:PORT] [--db PATH] [--policy vx|dragonfly]\n"
		"                    [--tokens FILE] [--insecure-open] [--origin-max N] [--cands "
		"N]\n"
		"                    [--child-min-mbps N] [--rack-fetchers N] [--tasks-max N]\n"
		"                    [--task-stale S] [--host-tasks-max N] [--seed-tasks-max N]\n"
		"                    [--db-keep S] [--conns-per-addr N] [--requests-per-s N]\n"
		"                    [--addr-requests-per-s N]\n"
		"                    [--log-level error|warn|info|debug] [--log-format "
		"text|json]\n"
		"                    [--tls-cert FILE --tls-key FILE --tls-ca FILE [--tls-crl "
		"FILE]]\n"
		"                    [--insecure-plaintext] [--config FILE]\n\n"
		"Runs the scheduler: peers register their downloads here and are told where to\n"
		"fetch each piece from (other peers, or the origin for the first one).\n\n"
		"  --config FILE       YAML map of these flags without their dashes (a list for\n"
		"                      a repeated one, true/false for one without a value),\n"
		"                      e.g. 'api: 0.0.0.0:8080' or 'allow_outbound: "
		"[10.0.0.0/8]';\n"
		"                      flags on the command line come after the file's\n"
		"  --listen HOST:PORT  address of the control channel (default 127.0.0.1:8002)\n"
		"  --db PATH           sqlite file for host and task records (default "
		"scheduler.db)\n"
		"  --db-keep S         records of hosts and tasks unseen this long are removed\n"
		"                      (default 604800, a week; at most 1,000,000 per table)\n"
		"  --policy P          parent choice: vx (default) or dragonfly (A/B baseline)\n"
		"  --tokens FILE       join tokens, one 'ROLE TOKEN' line per role (peer, seed,\n"
		"                      admin); created 0600 with random tokens when missing\n"
		"                      (default: the --db path with .tokens appended)\n"
		"  --insecure-open     also let hosts without a token join, as normal peers only\n"
		"  --token TOKEN       deprecated: the peer token (visible in ps; use --tokens)\n"
		"  --origin-max N      peers fetching one task from the origin at once (default "
		"1)\n"
		"  --cands N           candidate parents per answer (default 4, at most 8)\n"
		"  --child-min-mbps N  Mb/s a child host needs: a parent host takes its rate\n"
		"                      over this many child hosts (default 40; 0: no cap)\n"
		"  --rack-fetchers N   peers of a task per rack (host.location) that fetch\n"
		"                      from other racks; the rest take parents in their rack\n"
		"                      (default 1; 0: no rack rule)\n"
		"  --tasks-max N       tasks the scheduler tracks at once (default 16384); a\n"
		"                      full table makes room by dropping the task idle longest\n"
		"                      that no host holds in full\n"
		"  --task-stale S      ...and whose peers made no progress for S s (default "
		"300)\n"
		"  --host-tasks-max N  tasks one peer may register at once (default 1024)\n"
		"  --seed-tasks-max N  the same for a seed, which keeps what it fetched (default\n"
		"                      16384)\n"
		"  --recv-mem-max MIB  all connections' receive buffers together (default 64,\n"
		"                      at least 1); over it the connection idle longest among\n"
		"                      those holding a frame in progress is closed\n"
		"  --send-mem-max MIB  all send queues together (default 64, at least 8);\n"
		"                      over it the peer idle longest with answers queued is\n"
		"                      closed\n"
		"  --conns-per-addr N  control connections one source address may hold (default\n"
		"                      256; 0: no limit); more are closed at accept\n"
		"  --requests-per-s N  requests one control connection may make per second (a\n"
		"                      second's worth at once; default 1000, 0: no limit); more\n"
		"                      are answered -EBUSY\n"
		"  --addr-requests-per-s N  requests one source address may make per second\n"
		"                      over all its connections (default 4000, 0: no limit);\n"
		"                      more are answered -EBUSY\n");
	/* two strings: one would pass the 4095 bytes C99 promises to support */
	fputs("  --api HOST:PORT     the management API (default 127.0.0.1:8080; port 0 picks)\n"
	      "  --no-api            run without the management API\n"
	      "  --allow-outbound CIDR  preheat URLs may name these loopback/link-local\n"
	      "                      addresses (repeatable; refused by default)\n"
	      "  --deny-outbound CIDR   preheat URLs may never name these (repeatable)\n"
	      "  --sync-dir DIR      a sync's file:// prefix may lie under DIR (repeatable;\n"
	      "                      refused by default)\n"
	      "  --api-tls-cert FILE  HTTPS on --api: its certificate chain (PEM); needed for an\n"
	      "                      --api address that is not loopback\n"
	      "  --api-tls-key FILE  its private key (PEM, mode 0600)\n"
	      "  --api-jobs-per-min N  job creations per token per minute (default 60)\n"
	      "  --api-routes        print the API's routes and exit\n"
	      "  --cluster-config FILE  JSON of daemon config keys stored as the cluster\n"
	      "                      configuration when the database holds none (PUT\n"
	      "                      /oapi/v1/cluster-config changes it later)\n"
	      "  --pki-dir DIR       the cluster CA: ca.pem, ca.key, server.pem, server.key,\n"
	      "                      crl.pem, created when missing (default: the --db path with\n"
	      "                      .pki appended); TLS on --listen from these files unless\n"
	      "                      --tls-* are given (plaintext beside it on loopback only)\n"
	      "  --cert-ttl DUR      life of the certificates it issues (default 24h, at least\n"
	      "                      10s); daemons renew at 2/3 of it\n"
	      "  --no-pki            issue no certificates (no join, renew or crl requests)\n"
	      "  --tls-cert FILE     TLS on the control channel: this scheduler's certificate\n"
	      "                      (PEM, role scheduler, the addresses it is dialled on)\n"
	      "  --tls-key FILE      its private key (PEM, mode 0600)\n"
	      "  --tls-ca FILE       the CA that every host's certificate must chain to\n"
	      "  --tls-crl FILE      revoked certificates (PEM CRL; reloaded when it changes)\n"
	      "  --insecure-plaintext  allow plaintext on a --listen or --api address that is\n"
	      "                      not loopback (warned; beside the CA's TLS on one port);\n"
	      "                      without it such an address needs the CA or the --tls-*\n"
	      "                      files (and --api stays on loopback or has --api-tls-*)\n"
	      "  --manager-db DB     the API's jobs, tokens and audit: a sqlite file or a\n"
	      "                      postgres://HOST:PORT/NAME URI that several control planes\n"
	      "                      share (password in PGPASSFILE; default: the --db file)\n"
	      "  --job-lease S       a job whose runner stopped is claimed after S s (default "
	      "15)\n"
	      "  --preheat-rate-limit BYTES  bytes/s all preheat fetches from origins may take\n"
	      "                      together, on every chosen daemon (e.g. 100MiB; default 0:\n"
	      "                      none); control planes on one --manager-db share it\n"
	      "  --role R            all (default): scheduler, API and jobs; manager: the API\n"
	      "                      alone (jobs are run by a scheduler on the same database);\n"
	      "                      scheduler: no API, runs the jobs managers made\n",
	      f);
}

static int parse_u32(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (vx_args_parse_u64(s, &v) != 0 || v < lo || v > hi) {
		fprintf(stderr, "vx scheduler: %s wants a number in %u..%u, got '%s'\n", flag, lo,
			hi, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

#define ALLOW_MAX 16

struct mgr_flags {
	struct vx_manager_cfg cfg;
	struct vx_tls_files tls; /* --tls-*: all NULL without TLS */
	bool insecure_plaintext;
	bool off;
	bool given; /* --api was given: failing to bind it is fatal */
	const char *allow[ALLOW_MAX];
	const char *deny[ALLOW_MAX];
	const char *sync_dirs[ALLOW_MAX]; /* --sync-dir */
};

static const struct option opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "db", required_argument, NULL, 'd' },
	{ "policy", required_argument, NULL, 'p' },
	{ "token", required_argument, NULL, 't' },
	{ "tokens", required_argument, NULL, 'T' },
	{ "insecure-open", no_argument, NULL, 'I' },
	{ "origin-max", required_argument, NULL, 'o' },
	{ "cands", required_argument, NULL, 'c' },
	{ "child-min-mbps", required_argument, NULL, 6 },
	{ "rack-fetchers", required_argument, NULL, 30 },
	{ "tasks-max", required_argument, NULL, 7 },
	{ "host-tasks-max", required_argument, NULL, 31 },
	{ "seed-tasks-max", required_argument, NULL, 32 },
	{ "task-stale", required_argument, NULL, 8 },
	{ "db-keep", required_argument, NULL, 9 },
	{ "recv-mem-max", required_argument, NULL, 10 },
	{ "send-mem-max", required_argument, NULL, 11 },
	{ "conns-per-addr", required_argument, NULL, 13 },
	{ "requests-per-s", required_argument, NULL, 14 },
	{ "addr-requests-per-s", required_argument, NULL, 17 },
	{ "log-level", required_argument, NULL, 'v' },
	{ "log-format", required_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ "api", required_argument, NULL, 'A' },
	{ "no-api", no_argument, NULL, 'N' },
	{ "allow-outbound", required_argument, NULL, 'O' },
	{ "deny-outbound", required_argument, NULL, 'X' },
	{ "api-jobs-per-min", required_argument, NULL, 'J' },
	{ "api-routes", no_argument, NULL, 'R' },
	{ "cluster-config", required_argument, NULL, 'G' },
	{ "pki-dir", required_argument, NULL, 'K' },
	{ "cert-ttl", required_argument, NULL, 'L' },
	{ "no-pki", no_argument, NULL, 'P' },
	{ "tls-cert", required_argument, NULL, 1 },
	{ "tls-key", required_argument, NULL, 2 },
	{ "tls-ca", required_argument, NULL, 3 },
	{ "tls-crl", required_argument, NULL, 4 },
	{ "insecure-plaintext", no_argument, NULL, 5 },
	{ "manager-db", required_argument, NULL, 'M' },
	{ "job-lease", required_argument, NULL, 'E' },
	{ "preheat-rate-limit", required_argument, NULL, 18 },
	{ "role", required_argument, NULL, 'r' },
	{ "sync-dir", required_argument, NULL, 12 },
	{ "api-tls-cert", required_argument, NULL, 15 },
	{ "api-tls-key", required_argument, NULL, 16 },
	{ NULL, 0, NULL, 0 },
};

static int parse_flags(int argc, char **argv, struct vx_sched_server_cfg *cfg, struct mgr_flags *mf)
{
	char host[256];
	uint16_t port;
	int o;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (vx_net_parse_hostport(optarg, VX_NET_PORT0, host, sizeof(host),
						  &port) != 0) {
				fprintf(stderr,
					"vx scheduler: --listen wants HOST:PORT or [V6]:PORT, got "
					"'%s'\n",
					optarg);
				return -EINVAL;
			}
			cfg->listen = optarg;
			break;
		case 'd':
			if (strncmp(optarg, "postgres", 8) == 0) {
				fprintf(stderr, "vx scheduler: --db is the scheduler's own sqlite "
						"file; give PostgreSQL as --manager-db\n");
				return -EINVAL;
			}
			cfg->db_path = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "vx") == 0) {
				cfg->sched.policy = VX_SCHED_POLICY_VX;
			} else if (strcmp(optarg, "dragonfly") == 0) {
				cfg->sched.policy = VX_SCHED_POLICY_DRAGONFLY;
			} else {
				fprintf(stderr,
					"vx scheduler: --policy is vx or dragonfly, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 't':
			if (!*optarg) {
				fprintf(stderr, "vx scheduler: --token must not be empty\n");
				return -EINVAL;
			}
			cfg->token = optarg;
			fprintf(stderr,
				"vx scheduler: --token is deprecated (it sets the peer token "
				"and shows in ps): use --tokens FILE\n");
			break;
		case 'T':
			cfg->tokens_path = optarg;
			break;
		case 'I':
			cfg->insecure_open = true;
			break;
		case 'o':
			if (parse_u32("--origin-max", optarg, 1, 64, &cfg->sched.origin_max))
				return -EINVAL;
			if (cfg->sched.origin_stalled_max < cfg->sched.origin_max)
				cfg->sched.origin_stalled_max = cfg->sched.origin_max;
			break;
		case 'c':
			if (parse_u32("--cands", optarg, 1, VX_SCHED_CANDS_MAX, &cfg->sched.cands))
				return -EINVAL;
			break;
		case 'v':
			if (vx_log_set_level_name(optarg) != 0) {
				fprintf(stderr, "vx scheduler: unknown log level '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'F':
			if (vx_log_set_format_name(optarg) != 0) {
				fprintf(stderr, "vx scheduler: --log-format: text or json\n");
				return -EINVAL;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'A':
			if (vx_net_parse_hostport(optarg, VX_NET_PORT0, host, sizeof(host),
						  &port) != 0) {
				fprintf(stderr, "vx scheduler: --api wants HOST:PORT, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			mf->cfg.listen = optarg;
			mf->given = true;
			break;
		case 'N':
			mf->off = true;
			break;
		case 'O':
		case 'X': {
			struct vx_cidr c;
			uint32_t *nr =
				o == 'O' ? &mf->cfg.nr_allow_outbound : &mf->cfg.nr_deny_outbound;

			if (*nr == ALLOW_MAX || vx_cidr_parse(optarg, strlen(optarg), &c)) {
				fprintf(stderr,
					"vx scheduler: --%s-outbound wants a CIDR (at most %d), "
					"got "
					"'%s'\n",
					o == 'O' ? "allow" : "deny", ALLOW_MAX, optarg);
				return -EINVAL;
			}
			(o == 'O' ? mf->allow : mf->deny)[(*nr)++] = optarg;
			break;
		}
		case 12:
			if (mf->cfg.nr_sync_dirs == ALLOW_MAX || optarg[0] != '/') {
				fprintf(stderr,
					"vx scheduler: --sync-dir wants an absolute directory (at "
					"most %d), got '%s'\n",
					ALLOW_MAX, optarg);
				return -EINVAL;
			}
			mf->sync_dirs[mf->cfg.nr_sync_dirs++] = optarg;
			break;
		case 'J':
			if (parse_u32("--api-jobs-per-min", optarg, 1, 100000,
				      &mf->cfg.jobs_per_min))
				return -EINVAL;
			break;
		case 'K':
			cfg->pki_dir = optarg;
			break;
		case 'P':
			cfg->pki = false;
			break;
		case 'L': {
			uint64_t ms;

			if (vx_args_parse_duration_ms(optarg, &ms) ||
			    ms < VX_PKI_CERT_TTL_MIN * 1000ull ||
			    ms > VX_PKI_CERT_TTL_MAX * 1000ull) {
				fprintf(stderr,
					"vx scheduler: --cert-ttl wants a duration from %us to "
					"%ud, "
					"got '%s'\n",
					VX_PKI_CERT_TTL_MIN, VX_PKI_CERT_TTL_MAX / 86400, optarg);
				return -EINVAL;
			}
			cfg->cert_ttl_s = (uint32_t)(ms / 1000);
			break;
		}
		case 1:
			mf->tls.cert = optarg;
			break;
		case 2:
			mf->tls.key = optarg;
			break;
		case 3:
			mf->tls.ca = optarg;
			break;
		case 4:
			mf->tls.crl = optarg;
			break;
		case 5:
			mf->insecure_plaintext = true;
			break;
		case 15:
			mf->cfg.tls_cert = optarg;
			break;
		case 16:
			mf->cfg.tls_key = optarg;
			break;
		case 6: {
			uint32_t mbps;

			if (parse_u32("--child-min-mbps", optarg, 0, 1000000, &mbps))
				return -EINVAL;
			cfg->sched.child_min_bps = (uint64_t)mbps * 1000000ull;
			break;
		}
		case 31:
			if (parse_u32("--host-tasks-max", optarg, 1, 1u << 22,
				      &cfg->sched.host_peers_max))
				return -EINVAL;
			break;
		case 32:
			if (parse_u32("--seed-tasks-max", optarg, 1, 1u << 22,
				      &cfg->sched.seed_peers_max))
				return -EINVAL;
			break;
		case 30:
			if (parse_u32("--rack-fetchers", optarg, 0, 1000000,
				      &cfg->sched.rack_fetchers))
				return -EINVAL;
			break;
		case 7:
			if (parse_u32("--tasks-max", optarg, 1, 1u << 22, &cfg->sched.tasks_max))
				return -EINVAL;
			break;
		case 8: {
			uint32_t sec;

			if (parse_u32("--task-stale", optarg, 1, 86400 * 30, &sec))
				return -EINVAL;
			cfg->sched.task_stale_ms = (uint64_t)sec * 1000u;
			break;
		}
		case 14:
			if (parse_u32("--requests-per-s", optarg, 0, 1u << 24,
				      &cfg->requests_per_s))
				return -EINVAL;
			break;
		case 17:
			if (parse_u32("--addr-requests-per-s", optarg, 0, 1u << 24,
				      &cfg->addr_requests_per_s))
				return -EINVAL;
			break;
		case 13:
			if (parse_u32("--conns-per-addr", optarg, 0, 1u << 20,
				      &cfg->conns_per_addr))
				return -EINVAL;
			break;
		case 9:
			if (parse_u32("--db-keep", optarg, 1, 86400u * 3650, &cfg->records_keep_s))
				return -EINVAL;
			break;
		case 10:
		case 11: {
			uint32_t mib;

			if (parse_u32(o == 10 ? "--recv-mem-max" : "--send-mem-max", optarg,
				      o == 10 ? 1 : 8, 1u << 16, &mib))
				return -EINVAL;
			*(o == 10 ? &cfg->recv_mem_max : &cfg->send_mem_max) = (uint64_t)mib << 20;
			break;
		}
		case 'M':
			mf->cfg.db_path = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "all") == 0) {
				mf->cfg.role = VX_MGR_ROLE_ALL;
			} else if (strcmp(optarg, "manager") == 0) {
				mf->cfg.role = VX_MGR_ROLE_MANAGER;
			} else if (strcmp(optarg, "scheduler") == 0) {
				mf->cfg.role = VX_MGR_ROLE_SCHEDULER;
			} else {
				fprintf(stderr,
					"vx scheduler: --role is all, manager or scheduler, got "
					"'%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'E':
			if (parse_u32("--job-lease", optarg, 2, 3600, &mf->cfg.job_lease_s))
				return -EINVAL;
			break;
		case 18:
			if (vx_args_parse_size(optarg, &mf->cfg.preheat_rate_bps) ||
			    mf->cfg.preheat_rate_bps > VX_CTL_RATE_MAX) {
				fprintf(stderr,
					"vx scheduler: --preheat-rate-limit is a size such as "
					"100MiB (at most 1TiB), got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'G': {
			char *buf = NULL;
			size_t got = 0;
			int fd = open(optarg, O_RDONLY | O_CLOEXEC);

			if (fd == -1 || vx_file_read_fd(fd, VX_CTL_CFG_DOC_MAX, &buf, &got)) {
				fprintf(stderr,
					"vx scheduler: --cluster-config %s: cannot read it\n",
					optarg);
				if (fd != -1)
					close(fd);
				return -EINVAL;
			}
			close(fd);
			vx_free((void *)mf->cfg.cluster_seed);
			mf->cfg.cluster_seed = buf; /* lives as long as the process */
			break;
		}
		case 'R':
			for (uint32_t i = 0; vx_manager_route(i); i++)
				printf("%s\n", vx_manager_route(i));
			return 1;
		default:
			fprintf(stderr, "vx scheduler: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vx scheduler: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if ((mf->tls.cert || mf->tls.key || mf->tls.ca || mf->tls.crl) &&
	    !(mf->tls.cert && mf->tls.key && mf->tls.ca)) {
		fprintf(stderr, "vx scheduler: --tls-cert, --tls-key and --tls-ca go together\n");
		return -EINVAL;
	}
	return 0;
}

/* --role manager: the API alone, on its own loop; no scheduler, no control channel. */
static int run_manager_role(struct mgr_flags *mf, const char *db_path, int sfd)
{
	struct vx_manager *mgr = NULL;
	int rc;

	if (mf->off) {
		fprintf(stderr,
			"vx scheduler: --role manager is the API: --no-api makes no sense\n");
		close(sfd);
		return VX_EXIT_USAGE;
	}
	if (!mf->cfg.db_path)
		mf->cfg.db_path = db_path;
	rc = vx_manager_new(&mgr, NULL, &mf->cfg);
	if (rc) {
		fprintf(stderr, "vx scheduler: cannot serve the API on %s: %s\n", mf->cfg.listen,
			rc == -EINVAL ? "bad address" : vx_strerror(rc));
		close(sfd);
		return VX_EXIT_FAILURE;
	}
	printf("vx scheduler: api on port %u\n", vx_manager_port(mgr));
	fflush(stdout);
	(void)vx_sd_notify("READY=1"); /* systemd Type=notify (deploy/systemd) */
	rc = vx_manager_run(mgr, sfd);
	vx_manager_free(mgr);
	close(sfd);
	if (rc) {
		fprintf(stderr, "vx scheduler: %s\n", vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	return VX_EXIT_OK;
}

/*
 * TLS whenever not loopback-only (spec/control.md section 10): the control channel on an
 * address that is not loopback needs the --tls-* files, the API (HTTP, no TLS) loopback, unless
 * --insecure-plaintext (warned). Returns 0, or an exit code after saying why.
 */
static int sched_tls(const struct vx_sched_server_cfg *cfg, const struct mgr_flags *mf,
		     struct vx_tls_ctx **tls)
{
	char err[VX_TLS_ERR_LEN];
	const char *api = !mf->off && !mf->cfg.tls_cert && !vx_cli_addr_loopback(mf->cfg.listen)
				  ? mf->cfg.listen
				  : NULL;

	*tls = NULL;
	if (mf->tls.cert) {
		int rc = vx_tls_ctx_new(tls, VX_TLS_SERVER_OPTIONAL_CERT, &mf->tls, err,
					sizeof(err));

		if (rc) {
			fprintf(stderr, "vx scheduler: TLS: %s\n", err);
			return VX_EXIT_FAILURE;
		}
		if (vx_tls_ctx_self(*tls)->role != VX_TLS_ROLE_SCHEDULER) {
			fprintf(stderr, "vx scheduler: TLS: %s names role %s, not scheduler\n",
				mf->tls.cert, vx_tls_role_name(vx_tls_ctx_self(*tls)->role));
			vx_tls_ctx_free(*tls);
			*tls = NULL;
			return VX_EXIT_FAILURE;
		}
		vx_tls_ctx_tick(*tls, "scheduler", vx_wall_s()); /* a certificate near its end */
	}
	if (mf->insecure_plaintext) {
		fprintf(stderr, "vx scheduler: warning: --insecure-plaintext: what this scheduler "
				"serves beyond loopback travels in plaintext\n");
		return 0;
	}
	/* with the CA (the default) and no --tls-*, TLS from the CA's files (sched_server.c) */
	if (!*tls && !cfg->pki && !vx_cli_addr_loopback(cfg->listen)) {
		fprintf(stderr,
			"vx scheduler: refusing plaintext on %s (not loopback): give --tls-cert, "
			"--tls-key and --tls-ca, drop --no-pki, listen on loopback, or pass "
			"--insecure-plaintext\n",
			cfg->listen);
		return VX_EXIT_USAGE;
	}
	if (api) {
		fprintf(stderr,
			"vx scheduler: refusing the management API on %s (not loopback, no TLS): "
			"give --api-tls-cert and --api-tls-key, put --api on loopback, or pass "
			"--insecure-plaintext\n",
			api);
		vx_tls_ctx_free(*tls);
		*tls = NULL;
		return VX_EXIT_USAGE;
	}
	return 0;
}

static int serve_sched(struct vx_sched_server_cfg *cfgp, struct mgr_flags *mfp)
{
	struct vx_sched_server_cfg cfg = *cfgp;
	struct mgr_flags mf = *mfp;
	struct vx_sched_server *srv;
	struct vx_manager *mgr = NULL;
	sigset_t set;
	int rc, sfd;
	vx_log_set_room("scheduler");

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
		perror("vx scheduler: sigprocmask");
		return VX_EXIT_FAILURE;
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd == -1) {
		perror("vx scheduler: signalfd");
		return VX_EXIT_FAILURE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mf.cfg.role == VX_MGR_ROLE_MANAGER)
		return run_manager_role(&mf, cfg.db_path, sfd);
	rc = vx_sched_server_new(&srv, &cfg);
	if (rc) {
		if (rc == VX_EDB)
			fprintf(stderr, "vx scheduler: cannot use database '%s' (see log above)\n",
				cfg.db_path);
		else if (rc == -EACCES || rc == -ENAMETOOLONG || rc == -EIO)
			fprintf(stderr,
				"vx scheduler: cannot use the tokens file or the PKI directory "
				"(see log above)\n");
		else
			fprintf(stderr, "vx scheduler: cannot listen on %s: %s\n", cfg.listen,
				vx_strerror(rc));
		close(sfd);
		return VX_EXIT_FAILURE;
	}
	/* where the tokens are, never the tokens themselves */
	vx_info("scheduler: join tokens in %s%s", vx_sched_server_tokens_path(srv),
		vx_sched_server_tokens_created(srv) ? " (created)" : "");
	if (cfg.insecure_open)
		fprintf(stderr,
			"vx scheduler: warning: --insecure-open: any host that reaches this "
			"port joins as a normal peer without a token\n");
	if (!mf.off) {
		if (!mf.cfg.db_path)
			mf.cfg.db_path = cfg.db_path;
		rc = vx_manager_new(&mgr, srv, &mf.cfg);
		if (rc == -EADDRINUSE && !mf.given) {
			fprintf(stderr,
				"vx scheduler: warning: the default API address %s is in use: "
				"running without the management API (give --api or --no-api)\n",
				mf.cfg.listen);
			rc = 0;
		}
		if (rc) {
			fprintf(stderr, "vx scheduler: cannot serve the API on %s: %s\n",
				mf.cfg.listen, rc == -EINVAL ? "bad address" : vx_strerror(rc));
			vx_sched_server_free(srv);
			close(sfd);
			return VX_EXIT_FAILURE;
		}
	}
	/* the port line is how scripts and tests learn a port chosen with :0 */
	printf("vx scheduler: listening on port %u\n", vx_sched_server_port(srv));
	if (mgr && mf.cfg.role != VX_MGR_ROLE_SCHEDULER) /* after the line above */
		printf("vx scheduler: api on port %u\n", vx_manager_port(mgr));
	fflush(stdout);
	(void)vx_sd_notify("READY=1"); /* systemd Type=notify (deploy/systemd) */
	rc = vx_sched_server_run(srv, sfd);
	vx_manager_free(mgr);
	vx_sched_server_free(srv);
	close(sfd);
	if (rc) {
		fprintf(stderr, "vx scheduler: %s\n", vx_strerror(rc));
		return VX_EXIT_FAILURE;
	}
	return VX_EXIT_OK;
}

/* The daemon's own parser and its regex compiler: a document every daemon would refuse is
 * refused here (400), not stored and handed out. */
static int cluster_check(const void *root, char *err, size_t err_len)
{
	struct vx_config *c = vx_malloc(sizeof(*c));
	int rc;

	if (!c) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = vx_config_cluster_parse(c, root, err, err_len);
	if (!rc)
		rc = vx_serve_rules_check(c, err, err_len);
	vx_free(c);
	return rc;
}

/*
 * argv with the flags of `--config FILE` (flag_conf.h) put first, after argv[0], and the
 * --config pair taken out: the command line's own flags come later and win where a flag is
 * given once. *@nargv is @argv itself without --config, else a new array (vx_free()).
 */
static int config_argv(int argc, char **argv, struct vx_flagconf *fc, int *nargc, char ***nargv)
{
	static const char *const refused[] = { "help", "api-routes", "config", NULL },
				 *const lists[] = { "allow-outbound", "deny-outbound", "sync-dir",
						    NULL };
	char err[640], **w;
	const char *path = NULL;
	int at = -1, width = 0, n = 0;

	*nargc = argc;
	*nargv = argv;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		int k = strcmp(argv[i], "--config") == 0	? 2
			: strncmp(argv[i], "--config=", 9) == 0 ? 1
								: 0;

		if (!k)
			continue;
		if (path || (k == 2 && i + 1 >= argc)) {
			fprintf(stderr, "vx scheduler: --config takes one FILE, once\n");
			return -EINVAL;
		}
		path = k == 2 ? argv[i + 1] : argv[i] + 9;
		at = i;
		width = k;
		i += k - 1;
	}
	if (!path)
		return 0;
	if (vx_flagconf_load_file(path, opts, refused, lists, fc, err, sizeof(err))) {
		fprintf(stderr, "vx scheduler: %s\n", err);
		return -EINVAL;
	}
	w = vx_calloc((size_t)argc + (size_t)fc->n + 1, sizeof(*w));
	if (!w) {
		vx_flagconf_free(fc);
		return -ENOMEM;
	}
	w[n++] = argv[0];
	for (int i = 0; i < fc->n; i++)
		w[n++] = fc->words[i];
	for (int i = 1; i < argc; i++) {
		if (i < at || i >= at + width)
			w[n++] = argv[i];
	}
	*nargc = n;
	*nargv = w;
	return 0;
}

static int run_scheduler(int argc, char **argv)
{
	struct vx_sched_server_cfg cfg;
	struct mgr_flags mf = { 0 };
	struct vx_flagconf fc = { 0 };
	char **all;
	int rc, n;

	vx_sched_server_cfg_default(&cfg);
	cfg.pki = true; /* the cluster CA (spec/control.md section 11); --no-pki turns it off */
	vx_manager_cfg_default(&mf.cfg);
	mf.cfg.cluster_check = cluster_check;
	mf.cfg.allow_outbound = mf.allow;
	mf.cfg.deny_outbound = mf.deny;
	mf.cfg.sync_dirs = mf.sync_dirs;
	if (config_argv(argc, argv, &fc, &n, &all))
		return VX_EXIT_USAGE;
	/* the flags' values point into @all and @fc: both live until the scheduler stops */
	rc = parse_flags(n, all, &cfg, &mf);
	if (rc) {
		rc = rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	} else {
		rc = sched_tls(&cfg, &mf, &cfg.tls);
		if (!rc) {
			/* plaintext beside the CA's TLS: loopback only, or asked for
			 * (spec/control.md 10) */
			cfg.plain_too = mf.insecure_plaintext || vx_cli_addr_loopback(cfg.listen);
			rc = serve_sched(&cfg, &mf);
			vx_tls_ctx_free(cfg.tls);
		}
	}
	if (all != argv)
		vx_free(all);
	vx_flagconf_free(&fc);
	return rc;
}

const struct vx_command vx_command_scheduler = {
	.name = "scheduler",
	.summary = "run the scheduler (control plane) service",
	.run = run_scheduler,
};
