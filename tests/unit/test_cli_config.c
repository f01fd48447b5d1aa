/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_config.c: the daemon config reader: defaults, every value type, flag overrides,
 * and each kind of bad input with the line and column it names.
 */
#include "vx_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "config.h"
#include "flag_conf.h"

static int load(struct vx_config *cfg, const char *yaml, char *err)
{
	vx_config_init(cfg);
	return vx_config_load_yaml(cfg, "t.yaml", yaml, strlen(yaml), err, VX_CONFIG_ERR_MAX);
}

static void test_config_init__defaults_validate(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&cfg);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.upload.listen, "0.0.0.0:4005");
	assert_true(cfg.download.back_to_source);
	assert_int_equal(cfg.storage.gc_high_percent, 80);
}

static void test_config_load_yaml__all_types(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX] = "";
	const char *yaml = "seed: yes\n"
			   "log_level: debug\n"
			   "schedulers: [127.0.0.1:8002, \"[::1]:8003\"]\n"
			   "upload:\n"
			   "  listen: 127.0.0.1:4105\n"
			   "  rate_limit: 100MiB\n"
			   "download:\n"
			   "  parent_wait: 30s\n"
			   "  back_to_source: true\n"
			   "storage:\n"
			   "  task_ttl: 2h\n"
			   "  direct_io: disabled\n";

	(void)state;
	assert_int_equal(load(&cfg, yaml, err), 0);
	assert_true(cfg.seed);
	assert_string_equal(cfg.log_level, "debug");
	assert_int_equal(cfg.nr_schedulers, 2);
	assert_string_equal(cfg.schedulers[1], "[::1]:8003");
	assert_string_equal(cfg.upload.listen, "127.0.0.1:4105");
	assert_true(cfg.upload.rate_limit_bps == 100ull << 20);
	assert_true(cfg.download.parent_wait_ms == 30000);
	assert_true(cfg.storage.task_ttl_ms == 7200000);
	assert_string_equal(cfg.storage.direct_io, "disabled");
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
}

/* A key kept in the schema but not built yet loads, and validation refuses it by name. */
static void test_config_validate__refuses_keys_not_supported_yet(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX] = "";
	const char *yaml = "proxy:\n"
			   "  rules:\n"
			   "    - blobs/sha256.*\n"
			   "    - \"\\\\.safetensors$\"\n";

	(void)state;
	assert_int_equal(load(&cfg, yaml, err), 0);
	assert_int_equal(cfg.proxy.nr_rules, 2);
	assert_string_equal(cfg.proxy.rules[1], "\\.safetensors$");
	/* applied now (the forward proxy): they load and validate */
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);

	/* tls.* are applied: cert, key and ca together, crl only with them */
	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "tls.ca", "ca.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tls.cert, tls.key and tls.ca go together: set all three or none");
	assert_int_equal(vx_config_set(&cfg, "tls.cert", "c.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_set(&cfg, "tls.key", "k.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
	assert_int_equal(vx_config_set(&cfg, "tls.crl", "crl.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_set(&cfg, "tls.insecure_plaintext", "true", err, sizeof(err)),
			 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
	assert_true(cfg.tls.insecure_plaintext);
	assert_string_equal(cfg.tls.crl, "crl.pem");
	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "tls.crl", "crl.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tls.crl needs tls.cert, tls.key and tls.ca");

	/* the default value of such a key is fine (a printed default config loads) */
	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "download.memory_limit", "64MiB", err, sizeof(err)),
			 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
	assert_int_equal(vx_config_set(&cfg, "download.memory_limit", "32MiB", err, sizeof(err)),
			 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "download.memory_limit: not applied yet"));
}

static void test_config_load_yaml__empty_document_is_defaults(void **state)
{
	struct vx_config cfg, def;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&def);
	assert_int_equal(load(&cfg, "# nothing here\n", err), 0);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
}

struct bad_case {
	const char *yaml;
	const char *msg; /* expected error text */
};

static void test_config_load_yaml__errors_name_place_and_leave_config(void **state)
{
	static const struct bad_case cases[] = {
		{ "storage:\n  gc_hihg_percent: 5\n",
		  "t.yaml:2:3: unknown setting 'storage.gc_hihg_percent' (did you mean "
		  "'storage.gc_high_percent'?)" },
		{ "seed: true\nseed: false\n", "t.yaml:2:1: 'seed' is set twice" },
		{ "a: &x 1\n", "t.yaml:1:4: YAML anchors and aliases are not allowed" },
		{ "upload:\n  listen: 1.2.3.4\n", "t.yaml:2:11: 'upload.listen' must be HOST:PORT "
						  "(or [IPV6]:PORT), not '1.2.3.4'" },
		{ "upload:\n  max_connections: 0\n",
		  "t.yaml:2:20: 'upload.max_connections' is 0, outside [1, 1000000]" },
		{ "upload:\n  rate_limit: fast\n", "t.yaml:2:15: 'upload.rate_limit' must be a "
						   "size such as 512MiB or 10G, not 'fast'" },
		{ "download:\n  piece_timeout: 10\n", "t.yaml:2:18: 'download.piece_timeout' must "
						      "be a duration such as 250ms, 30s, 5m, "
						      "2h or 7d, not '10'" },
		{ "seed: maybe\n", "t.yaml:1:7: 'seed' must be true or false, not 'maybe'" },
		{ "log_level: loud\n",
		  "t.yaml:1:12: 'log_level' must be one of error|warn|info|debug, not 'loud'" },
		{ "storage: 5\n", "t.yaml:1:10: 'storage' is a section: give it a map" },
		{ "seed:\n  x: 1\n", "t.yaml:2:3: 'seed' takes a value, not a map" },
		{ "upload:\n  listen: [a]\n",
		  "t.yaml:2:11: 'upload.listen' takes one value, not a list" },
		{ "- a\n", "t.yaml:1:1: the top level must be a map of settings" },
		{ "bogus:\n  x: 1\n", "t.yaml:1:1: unknown section 'bogus'" },
	};
	struct vx_config cfg, def;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&def);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(load(&cfg, cases[i].yaml, err), -EINVAL);
		assert_string_equal(err, cases[i].msg);
		assert_memory_equal(&cfg, &def, sizeof(cfg));
	}
}

static void test_config_load_yaml__list_capacity(void **state)
{
	char yaml[8192], err[VX_CONFIG_ERR_MAX];
	struct vx_config cfg;
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "schedulers:\n");
	for (int i = 0; i <= VX_CONFIG_SCHEDULERS_MAX; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  - 127.0.0.1:%d\n", 9000 + i);
	assert_int_equal(load(&cfg, yaml, err), -EINVAL);
	assert_non_null(strstr(err, "'schedulers' has more than 16 entries"));
}

static void test_config_load_yaml__oversize(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&cfg);
	assert_int_equal(
		vx_config_load_yaml(&cfg, "t", "", VX_CONFIG_FILE_MAX + 1, err, sizeof(err)),
		-EMSGSIZE);
}

static void test_config_set__flags_override(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "storage.data_dir", "data", err, sizeof(err)), 0);
	assert_string_equal(cfg.storage.data_dir, "data");
	assert_int_equal(
		vx_config_set(&cfg, "schedulers", "127.0.0.1:1,127.0.0.1:2", err, sizeof(err)), 0);
	assert_int_equal(cfg.nr_schedulers, 2);
	assert_int_equal(vx_config_set(&cfg, "storag.data_dir", "x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown setting 'storag.data_dir' (did you mean "
				 "'storage.data_dir'?)");
}

static void test_config_validate__cross_field(void **state)
{
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	vx_config_init(&cfg);
	cfg.storage.gc_low_percent = 95;
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gc_low_percent"));

	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "tls.cert", "c.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tls.cert, tls.key and tls.ca go together"));

	vx_config_init(&cfg);
	cfg.seed = true;
	cfg.download.back_to_source = false;
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);

	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "schedulers", "nohost", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'nohost' is not HOST:PORT"));
}

/* source.upstream_cluster.* (spec/sources.md section 8): a proxy http[s]://HOST:PORT only. */
static void test_config_validate__upstream_cluster(void **state)
{
	static const char *const bad[] = { "ftp://h:1",	   "http://h",	  "http://u@h:1",
					   "http://h:1/x", "https://h:0", "h:1" };
	struct vx_config cfg;
	char err[VX_CONFIG_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < VX_ARRAY_SIZE(bad); i++) {
		vx_config_init(&cfg);
		assert_int_equal(vx_config_set(&cfg, "source.upstream_cluster.proxy", bad[i], err,
					       sizeof(err)),
				 0);
		assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "source.upstream_cluster.proxy must be"));
	}
	vx_config_init(&cfg);
	assert_int_equal(vx_config_set(&cfg, "source.upstream_cluster.proxy", "https://[::1]:4001",
				       err, sizeof(err)),
			 0);
	assert_int_equal(
		vx_config_set(&cfg, "source.upstream_cluster.ca", "ca.pem", err, sizeof(err)), 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), 0);
	assert_int_equal(vx_config_set(&cfg, "source.upstream_cluster.proxy",
				       "http://10.0.0.1:4001", err, sizeof(err)),
			 0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "source.upstream_cluster.ca is for an https:// proxy"));
	vx_config_init(&cfg);
	assert_int_equal(
		vx_config_set(&cfg, "source.upstream_cluster.token_file", "t", err, sizeof(err)),
		0);
	assert_int_equal(vx_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs source.upstream_cluster.proxy"));
}

static void test_args__numbers_sizes_durations_addresses(void **state)
{
	char host[64];
	uint16_t port;
	uint64_t v;

	(void)state;
	assert_int_equal(vx_args_parse_u64("18446744073709551615", &v), 0);
	assert_int_equal(vx_args_parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(vx_args_parse_u64("12x", &v), -EINVAL);
	assert_int_equal(vx_args_parse_u64("", &v), -EINVAL);
	assert_int_equal(vx_args_parse_size("4MiB", &v), 0);
	assert_true(v == 4u << 20);
	assert_int_equal(vx_args_parse_size("2g", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(vx_args_parse_size("99999999999T", &v), -ERANGE);
	assert_int_equal(vx_args_parse_size("4 MiB", &v), -EINVAL);
	assert_int_equal(vx_args_parse_duration_ms("250ms", &v), 0);
	assert_true(v == 250);
	assert_int_equal(vx_args_parse_duration_ms("7d", &v), 0);
	assert_true(v == 7ull * 86400000);
	assert_int_equal(vx_args_parse_duration_ms("0", &v), 0);
	assert_int_equal(vx_args_parse_duration_ms("5", &v), -EINVAL);
	assert_int_equal(vx_args_parse_hostport("127.0.0.1:4005", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 4005);
	assert_int_equal(vx_args_parse_hostport("[::1]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(vx_args_parse_hostport("::1:80", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(vx_args_parse_hostport("h:0", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(vx_args_parse_hostport("h:65536", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(vx_args_parse_hostport(":80", host, sizeof(host), &port), -EINVAL);
}

/* `vx scheduler --config`: YAML flags become "--name=value" words in the file's order. */
static const struct option fc_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "insecure-open", no_argument, NULL, 'I' },
	{ "no-pki", no_argument, NULL, 'P' },
	{ "allow-outbound", required_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
static const char *const fc_refused[] = { "help", NULL };
static const char *const fc_lists[] = { "allow-outbound", NULL };

static int fc_load(const char *text, struct vx_flagconf *fc, char *err, size_t err_len)
{
	return vx_flagconf_load("f.yaml", text, strlen(text), fc_opts, fc_refused, fc_lists, fc,
				err, err_len);
}

static void test_flagconf__words_in_order(void **state)
{
	struct vx_flagconf fc;
	char err[256] = "";

	(void)state;
	assert_int_equal(fc_load("# flags\nlisten: 0.0.0.0:8002\ninsecure_open: true\n"
				 "no-pki: false\nallow_outbound: [10.0.0.0/8, 127.0.0.0/8]\n",
				 &fc, err, sizeof(err)),
			 0);
	assert_int_equal(fc.n, 4);
	assert_string_equal(fc.words[0], "--listen=0.0.0.0:8002");
	assert_string_equal(fc.words[1], "--insecure-open");
	assert_string_equal(fc.words[2], "--allow-outbound=10.0.0.0/8");
	assert_string_equal(fc.words[3], "--allow-outbound=127.0.0.0/8");
	vx_flagconf_free(&fc);
	assert_int_equal(fc_load("", &fc, err, sizeof(err)), 0); /* an empty file: no flags */
	assert_int_equal(fc.n, 0);
	vx_flagconf_free(&fc);
}

static void test_flagconf__refusals_name_the_place(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "listen: a\nlisen: b\n", "f.yaml:2:1: 'lisen' is not a flag of this command" },
		{ "help: true\n", "f.yaml:1:1: 'help' is not a flag of this command" },
		{ "listen: [a, b]\n", "f.yaml:1:9: 'listen' takes one value, not a list" },
		{ "insecure_open: maybe\n", "f.yaml:1:16: 'insecure-open' is true or false" },
		{ "listen: a\nlisten: b\n", "f.yaml:2:1: 'listen' is set twice" },
		{ "listen:\n", "f.yaml:1:8: 'listen' has no value" },
		{ "listen: {a: b}\n", "f.yaml:1:9: 'listen' takes a value, not a map" },
		{ "listen: &x a\n", "f.yaml:1:9: YAML anchors and aliases are not allowed" },
		{ "- listen\n", "f.yaml:1:1: the top level must be a map of flags" },
		{ "listen: 'a\n", "f.yaml:" },
	};
	struct vx_flagconf fc;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(fc_load(bad[i].text, &fc, err, sizeof(err)), -EINVAL);
		assert_int_equal(fc.n, 0);
		assert_null(fc.words);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("input %zu: got '%s', want '%s...'", i, err, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_init__defaults_validate),
		cmocka_unit_test(test_config_load_yaml__all_types),
		cmocka_unit_test(test_config_load_yaml__empty_document_is_defaults),
		cmocka_unit_test(test_config_load_yaml__errors_name_place_and_leave_config),
		cmocka_unit_test(test_config_load_yaml__list_capacity),
		cmocka_unit_test(test_config_load_yaml__oversize),
		cmocka_unit_test(test_config_set__flags_override),
		cmocka_unit_test(test_config_validate__cross_field),
		cmocka_unit_test(test_config_validate__upstream_cluster),
		cmocka_unit_test(test_config_validate__refuses_keys_not_supported_yet),
		cmocka_unit_test(test_args__numbers_sizes_durations_addresses),
		cmocka_unit_test(test_flagconf__words_in_order),
		cmocka_unit_test(test_flagconf__refusals_name_the_place),
	};

	return cmocka_run_group_tests_name("cli_config", tests, NULL, NULL);
}
