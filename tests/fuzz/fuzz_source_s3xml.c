/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_s3xml.c: S3 ListObjectsV2 pages through vx_source_s3_list_parse(). Items handed
 * to the callback must be non-empty keys of sane size; the token must be NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

/* fuzz_source_absxml.c includes this file with Azure's parser */
#ifndef VX_FUZZ_LIST_PARSE
#define VX_FUZZ_LIST_PARSE vx_source_s3_list_parse
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_item(void *arg, const struct vx_source_s3_item *it)
{
	(void)arg;
	if (it->key_len == 0 || it->key_len > 1024 || it->size < 0 || it->key[it->key_len] != '\0')
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_source_s3_page page;

	if (VX_FUZZ_LIST_PARSE((const char *)data, size, &page, on_item, NULL) == 0 &&
	    page.truncated && !page.next_token[0] && page.nr_items > 1000000)
		abort();
	if (!memchr(page.next_token, '\0', sizeof(page.next_token)))
		abort();
	return 0;
}
