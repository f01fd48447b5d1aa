/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flag_conf.c: a command's flags from a YAML file (flag_conf.h), read with libyaml's event
 * parser (as config.c reads the daemon's file): a flat map of long options, each value made
 * into a "--name=value" word for the command's own getopt_long parser.
 */
#include "flag_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "vx_alloc.h"
#include "yaml_util.h"

#define FC_OPTS_MAX 128 /* options of a table a file may name (the ones past it: refused) */

struct fc_parse {
	const char *name;
	const struct option *opts;
	const char *const *refused;
	const char *const *lists;
	struct vx_flagconf *out;
	char *err;
	size_t err_len;
	bool seen[FC_OPTS_MAX];
};

static int fc_fail(struct fc_parse *f, const yaml_mark_t *m, const char *fmt, ...) VX_PRINTF(3, 4);

static int fc_fail(struct fc_parse *f, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vx_yaml_vfail(f->name, m, f->err, f->err_len, fmt, ap);
	va_end(ap);
	return rc;
}

void vx_flagconf_free(struct vx_flagconf *c)
{
	for (int i = 0; i < c->n; i++)
		vx_free(c->words[i]);
	vx_free(c->words);
	c->words = NULL;
	c->n = 0;
}

static int fc_next(yaml_parser_t *p, yaml_event_t *ev, struct fc_parse *f)
{
	return vx_yaml_next(p, ev, f->name, f->err, f->err_len);
}

static bool fc_in(const char *const *set, const char *flag)
{
	for (; set && *set; set++) {
		if (strcmp(*set, flag) == 0)
			return true;
	}
	return false;
}

/* The option @key names ('_' as '-'), or NULL. */
static const struct option *fc_option(const struct fc_parse *f, const char *key, char *flag,
				      size_t cap)
{
	size_t n = strlen(key);

	if (n == 0 || n >= cap)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		flag[i] = key[i] == '_' ? '-' : key[i];
	if (fc_in(f->refused, flag))
		return NULL;
	for (const struct option *o = f->opts; o->name && o - f->opts < FC_OPTS_MAX; o++) {
		if (strcmp(o->name, flag) == 0)
			return o;
	}
	return NULL;
}

static int fc_word(struct fc_parse *f, const yaml_mark_t *m, const char *flag, const char *value)
{
	size_t n;
	char *w;

	if (f->out->n >= VX_FLAGCONF_WORDS_MAX)
		return fc_fail(f, m, "more than %d values", VX_FLAGCONF_WORDS_MAX);
	if (value && strlen(value) > VX_FLAGCONF_VALUE_MAX)
		return fc_fail(f, m, "'%s': a value longer than %d bytes", flag,
			       VX_FLAGCONF_VALUE_MAX);
	n = strlen(flag) + (value ? strlen(value) + 1 : 0) + 3;
	w = vx_malloc(n);
	if (!w)
		return -ENOMEM;
	snprintf(w, n, "--%s%s%s", flag, value ? "=" : "", value ? value : "");
	f->out->words[f->out->n++] = w;
	return 0;
}

static bool fc_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no",
										  "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			*out = strcmp(v, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

/* The value of key @flag (option @o): its event @ev was read. */
static int fc_value(yaml_parser_t *p, struct fc_parse *f, const struct option *o, const char *flag,
		    yaml_event_t *ev)
{
	const char *v;
	bool on;
	int rc;

	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		if (o->has_arg == no_argument)
			return fc_fail(f, &ev->start_mark, "'%s' is true or false, not a list",
				       flag);
		if (!fc_in(f->lists, flag))
			return fc_fail(f, &ev->start_mark, "'%s' takes one value, not a list",
				       flag);
		for (;;) {
			yaml_event_t it;

			if ((rc = fc_next(p, &it, f)))
				return rc;
			if (it.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&it);
				return 0;
			}
			if (it.type != YAML_SCALAR_EVENT || !it.data.scalar.length)
				rc = fc_fail(f, &it.start_mark, "'%s' must be a list of values",
					     flag);
			else
				rc = fc_word(f, &it.start_mark, flag,
					     (const char *)it.data.scalar.value);
			yaml_event_delete(&it);
			if (rc)
				return rc;
		}
	}
	if (ev->type != YAML_SCALAR_EVENT)
		return fc_fail(f, &ev->start_mark, "'%s' takes a value, not a map", flag);
	v = (const char *)ev->data.scalar.value;
	if (!ev->data.scalar.length)
		return fc_fail(f, &ev->start_mark, "'%s' has no value", flag);
	if (o->has_arg == no_argument) {
		if (!fc_bool(v, &on))
			return fc_fail(f, &ev->start_mark, "'%s' is true or false, not '%s'", flag,
				       v);
		return on ? fc_word(f, &ev->start_mark, flag, NULL) : 0;
	}
	return fc_word(f, &ev->start_mark, flag, v);
}

/* The top-level map; its MAPPING_START was read. */
static int fc_map(yaml_parser_t *p, struct fc_parse *f)
{
	char flag[64];
	yaml_event_t ev;
	int rc;

	for (;;) {
		const struct option *o;
		yaml_mark_t at;

		if ((rc = fc_next(p, &ev, f)))
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			rc = fc_fail(f, &ev.start_mark, "expected a flag's name");
			yaml_event_delete(&ev);
			return rc;
		}
		at = ev.start_mark;
		o = fc_option(f, (const char *)ev.data.scalar.value, flag, sizeof(flag));
		if (!o) {
			rc = fc_fail(f, &at, "'%.64s' is not a flag of this command",
				     (const char *)ev.data.scalar.value);
			yaml_event_delete(&ev);
			return rc;
		}
		yaml_event_delete(&ev);
		if (f->seen[o - f->opts])
			return fc_fail(f, &at, "'%s' is set twice (a list gives several values)",
				       flag);
		f->seen[o - f->opts] = true;
		if ((rc = fc_next(p, &ev, f)))
			return rc;
		rc = fc_value(p, f, o, flag, &ev);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
	}
}

int vx_flagconf_load(const char *name, const char *text, size_t len, const struct option *opts,
		     const char *const *refused, const char *const *lists, struct vx_flagconf *out,
		     char *err, size_t err_len)
{
	struct fc_parse f = { .name = name,
			      .opts = opts,
			      .refused = refused,
			      .lists = lists,
			      .out = out,
			      .err = err,
			      .err_len = err_len };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false, top = false;
	int rc = 0;

	out->words = NULL;
	out->n = 0;
	if (len > VX_CONFIG_FILE_MAX) {
		snprintf(err, err_len, "%s: larger than %u bytes", name, VX_CONFIG_FILE_MAX);
		return -EMSGSIZE;
	}
	out->words = vx_calloc(VX_FLAGCONF_WORDS_MAX, sizeof(*out->words));
	if (!out->words || !yaml_parser_initialize(&parser)) {
		vx_free(out->words);
		out->words = NULL;
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if ((rc = fc_next(&parser, &ev, &f)))
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
			/* one document of one map: a second map is another document's */
			rc = top ? fc_fail(&f, &ev.start_mark, "one map of flags, not several")
				 : fc_map(&parser, &f);
			top = true;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length) /* an empty document: no flags */
				rc = fc_fail(&f, &ev.start_mark,
					     "the top level must be a map of flags");
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = fc_fail(&f, &ev.start_mark, "the top level must be a map of flags");
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc)
		vx_flagconf_free(out);
	return rc;
}

int vx_flagconf_load_file(const char *path, const struct option *opts, const char *const *refused,
			  const char *const *lists, struct vx_flagconf *out, char *err,
			  size_t err_len)
{
	char *buf;
	size_t len;
	int rc;

	out->words = NULL;
	out->n = 0;
	rc = vx_config_read_file(path, &buf, &len, err, err_len);
	if (rc)
		return rc;
	rc = vx_flagconf_load(path, buf, len, opts, refused, lists, out, err, err_len);
	vx_free(buf);
	return rc;
}
