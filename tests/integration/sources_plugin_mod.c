/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sources_plugin_mod.c: a source plug-in built by the tests as a shared object (CMake MODULE).
 * It serves mem://<length>/<name>: <length> bytes where byte i is (i * 31 + 7) & 0xff, ranges
 * at any offset; mem://dir lists three such objects. Built a second time with
 * VX_TEST_PLUGIN_ABI=99 to check that the host refuses an ABI it does not speak.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_plugin.h"

#ifndef VX_TEST_PLUGIN_ABI
#define VX_TEST_PLUGIN_ABI VX_SOURCE_PLUGIN_ABI_V1
#endif

const struct vx_source_plugin_v1 *vx_source_plugin_v1(void);

static int mem_length(const char *url, uint64_t *len)
{
	char *end;

	if (strncmp(url, "mem://", 6) != 0)
		return -EINVAL;
	*len = strtoull(url + 6, &end, 10);
	if (end == url + 6 || (*end != '/' && *end != '\0'))
		return -4010; /* VX_ESOURCE_NOTFOUND: part of the ABI */
	return 0;
}

static int mem_stat(const struct vx_source_plugin_req *req, struct vx_source_plugin_stat *st)
{
	uint64_t len;
	int rc;

	if (strcmp(req->url, "mem://dir") == 0) {
		st->is_dir = 1;
		return 0;
	}
	rc = mem_length(req->url, &len);
	if (rc)
		return rc;
	st->length = (int64_t)len;
	st->ranges = 1;
	snprintf(st->etag, sizeof(st->etag), "\"mem-%llu\"", (unsigned long long)len);
	return 0;
}

static int mem_read(const struct vx_source_plugin_req *req, uint64_t offset, uint64_t length,
		    vx_source_plugin_sink_fn sink, void *host_arg)
{
	unsigned char buf[4096];
	uint64_t len, end;
	int rc;

	rc = mem_length(req->url, &len);
	if (rc)
		return rc;
	end = length == UINT64_MAX ? len : offset + length;
	if (offset > len || end > len)
		return -4013; /* VX_ESOURCE_BADREQ */
	while (offset < end) {
		uint64_t n = end - offset < sizeof(buf) ? end - offset : sizeof(buf);

		for (uint64_t i = 0; i < n; i++)
			buf[i] = (unsigned char)(((offset + i) * 31 + 7) & 0xff);
		rc = sink(host_arg, buf, n);
		if (rc)
			return rc;
		offset += n;
	}
	return 0;
}

static int mem_list(const struct vx_source_plugin_req *req, vx_source_plugin_entry_fn entry,
		    void *host_arg)
{
	static const struct {
		const char *name;
		int64_t len;
	} items[] = { { "10/a", 10 }, { "1000/b", 1000 }, { "99999/c", 99999 } };
	int rc;

	if (strcmp(req->url, "mem://dir") != 0)
		return -ENOTDIR;
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		rc = entry(host_arg, items[i].name, items[i].len, 0);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct vx_source_plugin_v1 mem_plugin = {
	.abi_version = VX_TEST_PLUGIN_ABI,
	.struct_size = sizeof(struct vx_source_plugin_v1),
	.name = "mem-test",
	.schemes = { "mem", NULL },
	.stat = mem_stat,
	.read = mem_read,
	.list = mem_list,
};

const struct vx_source_plugin_v1 *vx_source_plugin_v1(void)
{
	return &mem_plugin;
}
