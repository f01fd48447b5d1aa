/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_metrics.h: counters, gauges and histograms with fixed buckets, exposed in the Prometheus
 * text format 0.0.4 (spec/metrics.md). Every metric of vx is defined once, in
 * vx_metrics_defs.h, as a static object with its cells: there is nothing to register and
 * nothing to look up by name at run time.
 *
 * Cheap on the piece path: an update is one relaxed atomic add (or store) on a cell, no lock,
 * no allocation, from any thread. A scrape reads every cell once (relaxed): a scrape racing
 * updates sees each cell at some moment, which is all Prometheus asks of a counter.
 *
 * Low cardinality: a metric has at most two labels, whose values come from fixed sets
 * (enums; the names are in the definition). Never a task id, a URL or a host name as a label.
 */
#ifndef VX_METRICS_H
#define VX_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_metrics_defs.h"

enum vx_metric_type { VX_METRIC_COUNTER, VX_METRIC_GAUGE, VX_METRIC_HISTOGRAM };

/* Which daemon shows a metric (a scrape passes the set it shows). */
#define VX_METRICS_PEER	 (1u << 0) /* vx serve: data plane, origin, store, proxy, local API */
#define VX_METRICS_SCHED (1u << 1) /* vx scheduler: control plane, manager */
#define VX_METRICS_ALL	 (VX_METRICS_PEER | VX_METRICS_SCHED)

#define VX_METRIC_LABELS_MAX  8
#define VX_METRIC_BUCKETS_MAX 16

struct vx_metric {
	const char *name; /* vx_..., units in the name, _total for counters */
	const char *help; /* one line, no backslash or newline */
	enum vx_metric_type type;
	uint32_t rooms;		   /* VX_METRICS_* */
	const char *label;	   /* the label's name, or NULL: one unlabelled series */
	const char *const *values; /* label values, nr_values of them (0 when no label) */
	uint32_t nr_values;
	/* a second label (or NULL): series index = first * nr_values2 + second */
	/* (series: max(nr_values, 1) * max(nr_values2, 1)) */
	const char *label2;
	const char *const *values2;
	uint32_t nr_values2; /* 0 when no second label */
	/*
	 * Histograms: upper bounds in the observation's unit (integers, ascending), and the
	 * unit's size in the metric's base unit: observations in microseconds of a _seconds
	 * histogram have scale 1000000.
	 */
	const uint64_t *bounds;
	uint32_t nr_bounds;
	uint64_t scale;
	/* one cell each (counter, gauge) or nr_bounds + 2
	 * (bucket..., +Inf, sum) */
	_Atomic int64_t *cells;
	/* gauges computed when scraped (free space, registered hosts): replaces the cells */
	int64_t (*read)(void *arg, uint32_t value);
	void *read_arg;
};

/* Updates are on unless vx_metrics_set_enabled(false) (vx-bench pair measures their cost). */
extern atomic_bool vx__metrics_on;
void vx_metrics_set_enabled(bool on);

/* Adds @n to series @v (the label value's index; 0 with no label) of a counter or gauge. */
static inline void vx_metric_add(struct vx_metric *m, uint32_t v, int64_t n)
{
	if (atomic_load_explicit(&vx__metrics_on, memory_order_relaxed))
		atomic_fetch_add_explicit(&m->cells[v], n, memory_order_relaxed);
}

static inline void vx_metric_inc(struct vx_metric *m, uint32_t v)
{
	vx_metric_add(m, v, 1);
}

static inline void vx_metric_set(struct vx_metric *m, uint32_t v, int64_t n)
{
	atomic_store_explicit(&m->cells[v], n, memory_order_relaxed);
}

/* Observes @x (in the histogram's observation unit) in series @v: two relaxed adds. */
static inline void vx_metric_observe(struct vx_metric *m, uint32_t v, uint64_t x)
{
	_Atomic int64_t *c = &m->cells[v * (m->nr_bounds + 2)];
	uint32_t i = 0;

	if (!atomic_load_explicit(&vx__metrics_on, memory_order_relaxed))
		return;
	while (i < m->nr_bounds && x > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&c[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c[m->nr_bounds + 1], (int64_t)x, memory_order_relaxed);
}

/* A piece from a peer passed its digest check after @cost_us µs (the fetcher, one call). */
static inline void vx_metric_piece_ok(uint64_t cost_us)
{
	vx_metric_inc(&vx_m_pieces, VX_M_PIECE_OK);
	vx_metric_observe(&vx_m_piece_seconds, 0, cost_us);
}

/* @n content bytes went to a peer; @piece_end: the piece's last ones (the upload server). */
static inline void vx_metric_upload(uint64_t n, int piece_end)
{
	vx_metric_add(&vx_m_upload_bytes, 0, (int64_t)n);
	vx_metric_add(&vx_m_pieces_uploaded, 0, piece_end);
}

/* Sets a gauge computed at scrape time; @read is called on the scraping thread. */
void vx_metric_set_reader(struct vx_metric *m, int64_t (*read)(void *arg, uint32_t value),
			  void *arg);

/*
 * vx_metrics_write() - the exposition of every metric whose rooms meet @rooms, in the
 * Prometheus text format 0.0.4, into a heap buffer (*@out, *@len; the caller vx_free()s it).
 * Returns 0 or -ENOMEM.
 */
VX_MUST_CHECK int vx_metrics_write(uint32_t rooms, char **out, size_t *len);

/*
 * vx_metrics_find() - the integer value of series @series ("name" or "name{l=\"v\"}", exactly as
 * vx_metrics_write() prints it) in exposition text @text (@len bytes, need not be
 * NUL-terminated): 0 and *@out, or -ENOENT (absent, or its value is not an integer). Pure;
 * fuzzed (fuzz_metrics_find). `vx status` and `vx top` read a daemon's /metrics with it.
 */
VX_MUST_CHECK int vx_metrics_find(const char *text, size_t len, const char *series, int64_t *out);

/* The current value of a counter or gauge series (tests, `vx status`). */
int64_t vx_metric_value(const struct vx_metric *m, uint32_t v);

/* The content type of the exposition. */
#define VX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif /* VX_METRICS_H */
