/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_source_plugin.h: the ABI of source plug-ins, version 1. A plug-in is a shared object that
 * exports one C function:
 *
 *     const struct vx_source_plugin_v1 *vx_source_plugin_v1(void);
 *
 * returning a pointer to a static table that stays valid while the object is loaded. The host
 * checks abi_version == VX_SOURCE_PLUGIN_ABI_V1 and struct_size >= the size it knows, so a
 * later version may append members. Only plain C types cross the boundary: no vx struct, no
 * allocation made on one side and freed on the other. Plug-in functions are blocking; the host
 * calls read from its plug-in thread, one call at a time per context, and stat and list from
 * the caller of vx_source_open() / vx_source_list(), so a plug-in must be thread-safe. It
 * returns 0 or a negative errno / VX_ESOURCE_* code (values from vx_err.h are part of the ABI).
 */
#ifndef VX_SOURCE_PLUGIN_H
#define VX_SOURCE_PLUGIN_H

#include <stdint.h>

#define VX_SOURCE_PLUGIN_ABI_V1	     1u
#define VX_SOURCE_PLUGIN_SYMBOL	     "vx_source_plugin_v1"
#define VX_SOURCE_PLUGIN_SCHEMES_MAX 8u

/* What a plug-in's stat fills in. The host zeroes it first; length -1 means unknown. */
struct vx_source_plugin_stat {
	int64_t length;
	int32_t ranges; /* nonzero: reads at any offset work */
	int32_t is_dir;
	char etag[128];
};

/* Request options a plug-in gets: the user's headers as "Name: value", borrowed for the call. */
struct vx_source_plugin_req {
	const char *url;
	const char *const *headers;
	uint32_t nr_headers;
	uint32_t timeout_ms;
};

/* Body bytes for the host; lent for the call. Returns 0 or a negative value: then stop. */
typedef int (*vx_source_plugin_sink_fn)(void *host_arg, const void *data, uint64_t len);
/* A listing entry (name relative to the listed URL); returns 0 or a negative value: stop. */
typedef int (*vx_source_plugin_entry_fn)(void *host_arg, const char *name, int64_t length,
					 int32_t is_dir);

struct vx_source_plugin_v1 {
	uint32_t abi_version; /* VX_SOURCE_PLUGIN_ABI_V1 */
	uint32_t struct_size; /* sizeof(struct vx_source_plugin_v1) as the plug-in was built */
	const char *name;     /* for logs */
	const char *schemes[VX_SOURCE_PLUGIN_SCHEMES_MAX]; /* lower-case, NULL after the last */
	int (*stat)(const struct vx_source_plugin_req *req, struct vx_source_plugin_stat *st);
	/* Sends exactly @length bytes at @offset (length UINT64_MAX: to the end) to @sink. */
	int (*read)(const struct vx_source_plugin_req *req, uint64_t offset, uint64_t length,
		    vx_source_plugin_sink_fn sink, void *host_arg);
	/* May be NULL: the scheme cannot list. */
	int (*list)(const struct vx_source_plugin_req *req, vx_source_plugin_entry_fn entry,
		    void *host_arg);
};

typedef const struct vx_source_plugin_v1 *(*vx_source_plugin_v1_fn)(void);

#endif /* VX_SOURCE_PLUGIN_H */
