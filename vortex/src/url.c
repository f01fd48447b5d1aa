/* SPDX-License-Identifier: Apache-2.0 */
/*
 * url.c: WHATWG URL normalization for task ids (see vx_url.h). Placeholder until the parser
 * lands: rejects every URL.
 */
#include "vx_url.h"

#include <errno.h>

#include "vx_err.h"

const char *const vx_url_default_filtered_query_params[] = {
	"X-Amz-Algorithm",
	"X-Amz-Credential",
	"X-Amz-Date",
	"X-Amz-Expires",
	"X-Amz-SignedHeaders",
	"X-Amz-Signature",
	"X-Amz-Security-Token",
	"X-Amz-User-Agent",
	"X-Goog-Algorithm",
	"X-Goog-Credential",
	"X-Goog-Date",
	"X-Goog-Expires",
	"X-Goog-SignedHeaders",
	"X-Goog-Signature",
	"OSSAccessKeyId",
	"Expires",
	"Signature",
	"SecurityToken",
	"AccessKeyId",
	"Signature",
	"Expires",
	"X-Obs-Date",
	"X-Obs-Security-Token",
	"q-sign-algorithm",
	"q-ak",
	"q-sign-time",
	"q-key-time",
	"q-header-list",
	"q-url-param-list",
	"q-signature",
	"x-cos-security-token",
	"ns",
};
const size_t vx_url_default_filtered_query_params_nr =
	sizeof(vx_url_default_filtered_query_params) /
	sizeof(vx_url_default_filtered_query_params[0]);

ssize_t vx_url_normalize_for_task_id(const char *url, size_t url_len, const char *const *filters,
				     size_t nr_filters, char *out, size_t out_len,
				     enum vx_url_error *why)
{
	(void)url;
	(void)url_len;
	(void)filters;
	(void)nr_filters;
	if (out_len)
		out[0] = '\0';
	if (why)
		*why = VX_URL_ERR_NO_SCHEME;
	return VX_EURL;
}

const char *vx_url_strerror(enum vx_url_error why)
{
	(void)why;
	return "invalid URL";
}
