/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_task_id.c: the URL normalization behind task ids. The first byte picks the filter list
 * (default, none, or keys "a" and "b c"). Properties: VX_URL_OUT_MAX(len) always suffices; an
 * error leaves an empty string; a result is NUL-terminated text of the reported length with no
 * C0 controls or spaces outside an opaque path; normalizing a result again gives it back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_err.h"
#include "vx_task_id.h"
#include "vx_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out1[VX_URL_OUT_MAX(VX_URL_INPUT_MAX)];
static char out2[VX_URL_OUT_MAX(VX_URL_OUT_MAX(VX_URL_INPUT_MAX))];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const some[] = { "a", "b c" };
	const char *const *filters = NULL;
	size_t nr = 0;
	enum vx_url_error why;
	ssize_t n, m;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		filters = some;
		nr = (data[0] & 2) ? 2 : 0;
	}
	data++;
	size--;
	n = vx_url_normalize_for_task_id((const char *)data, size, filters, nr, out1,
					 VX_URL_OUT_MAX(size), &why);
	if (n < 0) {
		if (n == -ENOSPC || out1[0] != '\0')
			abort();
		if (n != VX_EURL && n != -E2BIG)
			abort();
		if (why == VX_URL_OK || vx_url_strerror(why) == NULL)
			abort();
		return 0;
	}
	if (strlen(out1) != (size_t)n)
		abort();
	if (n > VX_URL_INPUT_MAX)
		return 0;
	m = vx_url_normalize_for_task_id(out1, (size_t)n, filters, nr, out2, sizeof(out2), &why);
	if (m != n || memcmp(out1, out2, (size_t)n) != 0)
		abort();
	return 0;
}
