/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c: the Prometheus text exposition (format 0.0.4) of the metrics in metrics_defs.c.
 * A scrape reads each cell once, relaxed, and prints: "# HELP", "# TYPE", then one line per
 * series ("name{label="value"} N"); a histogram's buckets are cumulative, "+Inf" equals
 * _count, and _sum is in the metric's base unit (seconds, bytes).
 */
#include "vx_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_alloc.h"
#include "vx_compiler.h"

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void VX_PRINTF(2, 3) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *b;
	int n;

	for (;;) {
		if (o->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if (o->len + (size_t)n < o->cap) {
			o->len += (size_t)n;
			return;
		}
		cap = o->cap ? o->cap * 2 : 16384;
		while (cap <= o->len + (size_t)n)
			cap *= 2;
		b = vx_realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

atomic_bool vx__metrics_on = true;

void vx_metrics_set_enabled(bool on)
{
	atomic_store(&vx__metrics_on, on);
}

void vx_metric_set_reader(struct vx_metric *m, int64_t (*read)(void *arg, uint32_t value),
			  void *arg)
{
	m->read_arg = arg;
	m->read = read;
}

int64_t vx_metric_value(const struct vx_metric *m, uint32_t v)
{
	if (m->read)
		return m->read(m->read_arg, v);
	return atomic_load_explicit(&m->cells[v], memory_order_relaxed);
}

static uint32_t n2(const struct vx_metric *m)
{
	return m->nr_values2 ? m->nr_values2 : 1;
}

/* `{a="x",b="y"` for series @s (no closing brace: a histogram adds le) or "" */
static void labels(struct out *o, const struct vx_metric *m, uint32_t s, bool open_only)
{
	if (!m->label) {
		if (open_only)
			put(o, "{");
		return;
	}
	put(o, "{%s=\"%s\"", m->label, m->values[s / n2(m)]);
	if (m->label2)
		put(o, ",%s=\"%s\"", m->label2, m->values2[s % n2(m)]);
	if (open_only)
		put(o, ",");
	else
		put(o, "}");
}

static void scaled(struct out *o, uint64_t x, uint64_t scale)
{
	if (scale <= 1)
		put(o, "%" PRIu64, x);
	else
		put(o, "%.9g", (double)x / (double)scale);
}

static void histogram(struct out *o, const struct vx_metric *m, uint32_t s)
{
	const _Atomic int64_t *c = &m->cells[s * (m->nr_bounds + 2)];
	uint64_t cum = 0, sum;

	for (uint32_t i = 0; i <= m->nr_bounds; i++) {
		cum += (uint64_t)atomic_load_explicit(&c[i], memory_order_relaxed);
		put(o, "%s_bucket", m->name);
		labels(o, m, s, true);
		put(o, "le=\"");
		if (i < m->nr_bounds)
			scaled(o, m->bounds[i], m->scale);
		else
			put(o, "+Inf");
		put(o, "\"} %" PRIu64 "\n", cum);
	}
	sum = (uint64_t)atomic_load_explicit(&c[m->nr_bounds + 1], memory_order_relaxed);
	put(o, "%s_sum", m->name);
	labels(o, m, s, false);
	put(o, " ");
	scaled(o, sum, m->scale);
	put(o, "\n%s_count", m->name);
	labels(o, m, s, false);
	put(o, " %" PRIu64 "\n", cum);
}

extern struct vx_metric *const vx__metrics_all[];
extern const uint32_t vx__metrics_nr;

int vx_metrics_write(uint32_t rooms, char **out, size_t *len)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	struct out o = { 0 };

	*out = NULL;
	*len = 0;
	for (uint32_t i = 0; i < vx__metrics_nr; i++) {
		const struct vx_metric *m = vx__metrics_all[i];
		uint32_t nr = (m->nr_values ? m->nr_values : 1) * n2(m);

		if (!(m->rooms & rooms))
			continue;
		put(&o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->type]);
		for (uint32_t s = 0; s < nr; s++) {
			if (m->type == VX_METRIC_HISTOGRAM) {
				histogram(&o, m, s);
				continue;
			}
			put(&o, "%s", m->name);
			labels(&o, m, s, false);
			put(&o, " %" PRId64 "\n", vx_metric_value(m, s));
		}
	}
	if (o.oom) {
		vx_free(o.buf);
		return -ENOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}

int vx_metrics_find(const char *text, size_t len, const char *name, int64_t *out)
{
	size_t n = strlen(name), i = 0;

	while (i < len) {
		const char *line = text + i, *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;

		i += ll + 1;
		if (ll > n + 1 && ll - n - 1 < 32 && memcmp(line, name, n) == 0 && line[n] == ' ') {
			char num[32], *end;
			long long v;

			memcpy(num, line + n + 1, ll - n - 1);
			num[ll - n - 1] = '\0';
			errno = 0;
			v = strtoll(num, &end, 10);
			if (end == num || end != num + (ll - n - 1) || errno)
				return -ENOENT;
			*out = v;
			return 0;
		}
	}
	return -ENOENT;
}
