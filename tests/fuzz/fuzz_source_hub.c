/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_hub.c: the parsers of the model hub schemes (sources/src/hubparse.c), as
 * hub.c uses them. The first byte picks: a hub URL (vx_source_hub_ref_parse), a Hugging Face
 * tree page, a ModelScope file listing, a Link header (vx_source_link_next); the rest is the
 * input. What they hand out must keep the promises of vx_source_parse.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VX_SOURCE_HUB_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		abort();
}

static int on_file(void *arg, const struct vx_source_hub_file *f)
{
	(void)arg;
	if (!vx_source_hub_path_ok(f->path, strlen(f->path)) || f->size < 0 ||
	    (f->sha256[0] && strlen(f->sha256) != 64))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	struct vx_source_hub_ref r;
	char out[2048];

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 4) {
	case 0:
		if (vx_source_hub_ref_parse(&r, in, size) != 0) {
			if (!r.why)
				abort();
			break;
		}
		check_name(r.owner);
		check_name(r.repo);
		if (strstr(r.revision, "..") ||
		    (r.path[0] && !vx_source_hub_path_ok(r.path, strlen(r.path))) ||
		    (!r.path[0] && !r.dir))
			abort();
		break;
	case 1:
		if (vx_source_hf_tree_parse(in, size, on_file, NULL) > 0)
			abort();
		break;
	case 2:
		if (vx_source_ms_files_parse(in, size, on_file, NULL) > 0)
			abort();
		break;
	default:
		if (vx_source_link_next(in, size, out, sizeof(out)) == 0 &&
		    (!out[0] || strpbrk(out, " \t\r\n\"<>")))
			abort();
		break;
	}
	return 0;
}
