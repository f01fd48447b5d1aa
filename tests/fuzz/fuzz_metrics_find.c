/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_metrics_find.c: common's reader of the Prometheus text exposition (vx_metrics_find),
 * which `vx status` and `vx top` run over a daemon's /metrics body. The input's first line is
 * the series looked for, the rest the body. Properties: no read outside the body; a value
 * found is the integer printed right after "series " on a line of its own, nothing else on it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char series[128], *body;
	size_t n, blen;
	int64_t v = 0x5a5a;
	char line[200];

	if (!nl || (size_t)(nl - data) >= sizeof(series) || memchr(data, 0, (size_t)(nl - data)))
		return 0;
	n = (size_t)(nl - data);
	memcpy(series, data, n);
	series[n] = '\0';
	blen = size - n - 1;
	body = malloc(blen ? blen : 1); /* exactly the body: ASan sees a read past it */
	if (!body)
		return 0;
	memcpy(body, nl + 1, blen);
	if (vx_metrics_find(body, blen, series, &v) == 0) {
		/* a line "series VALUE" is in the body (VALUE as written: "06172" is 6172) */
		int w = snprintf(line, sizeof(line), "%s ", series);

		if (w > 0 && (size_t)w < sizeof(line) && !memmem(body, blen, line, (size_t)w))
			abort();
	} else if (v != 0x5a5a) {
		abort(); /* a miss leaves the output alone */
	}
	free(body);
	return 0;
}
