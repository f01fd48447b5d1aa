/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.c: names for errno values and VX_E* codes.
 */
#include "vx_err.h"

#include <string.h>

static const char *vx_err_name(int err)
{
	switch (err) {
	case VX_EPEER_CLOSE:
		return "peer closed the connection";
	case VX_EPEER_ERROR:
		return "peer answered with an error";
	case VX_EDIGEST:
		return "digest mismatch";
	case VX_ETLS:
		return "TLS failure";
	case VX_EDB:
		return "metadata database error";
	case VX_EDB_BUSY:
		return "metadata database busy";
	case VX_ECBOR:
		return "malformed control message";
	case VX_ESOURCE_NOTFOUND:
		return "not found at the source";
	case VX_ESOURCE_DENIED:
		return "access denied by the source";
	case VX_ESOURCE_TRANSIENT:
		return "source temporarily failed";
	case VX_ESOURCE_BADREQ:
		return "source rejected the request";
	case VX_ESOURCE_TOOLARGE:
		return "object too large";
	case VX_ESOURCE_PROTO:
		return "source protocol error";
	case VX_EURL:
		return "invalid URL";
	case VX_ESCHEME:
		return "unsupported URL scheme";
	case VX_ENOPEERS:
		return "no peer has the content and back-to-source is disabled";
	default:
		return NULL;
	}
}

const char *vx_strerror(int err)
{
	const char *name;

	if (err == 0)
		return "success";
	if (err > 0)
		err = -err;
	if (vx_err_is_vx(err)) {
		name = vx_err_name(err);
		return name ? name : "unknown vx error";
	}
	/* strerrordesc_np() is thread-safe and static, unlike strerror(). */
	name = strerrordesc_np(-err);
	return name ? name : "unknown error";
}
