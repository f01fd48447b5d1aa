/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_err.h: the error convention. Fallible functions return 0 (or a byte count) on success and
 * a negative errno on failure. Conditions that no errno names get a VX_E* code in the reserved
 * range -4000..-4095. vx_strerror() names both. spec/errors.md maps them to the wire.
 */
#ifndef VX_ERR_H
#define VX_ERR_H

#include <errno.h>

enum vx_err {
	VX_EFIRST = -4000,
	VX_EPEER_CLOSE = -4000,	      /* the peer sent a Close frame */
	VX_EPEER_ERROR = -4001,	      /* the peer answered with an Error frame */
	VX_EDIGEST = -4002,	      /* content does not match its expected digest */
	VX_ETLS = -4003,	      /* TLS handshake or record failure */
	VX_EDB = -4004,		      /* sqlite failure other than BUSY */
	VX_EDB_BUSY = -4005,	      /* sqlite BUSY/LOCKED past its timeout */
	VX_ECBOR = -4006,	      /* CBOR well-formed but of the wrong shape or type */
	VX_ESOURCE_NOTFOUND = -4010,  /* origin says the object does not exist */
	VX_ESOURCE_DENIED = -4011,    /* origin refused access (401/403) */
	VX_ESOURCE_TRANSIENT = -4012, /* origin failed in a way worth retrying */
	VX_ESOURCE_BADREQ = -4013,    /* origin rejected the request as malformed */
	VX_ESOURCE_TOOLARGE = -4014,  /* object larger than allowed */
	VX_ESOURCE_PROTO = -4015,     /* origin broke its protocol */
	VX_EURL = -4020,	      /* URL could not be parsed */
	VX_ESCHEME = -4021,	      /* URL scheme not supported */
	VX_ENOPEERS = -4030,	      /* no parent can serve and back-to-source is disabled */
	VX_ELAST = -4095,
};

/*
 * vx_strerror() - a static, human-readable text for @err.
 * @err: a negative errno, a VX_E* code, or 0. Positive values are treated as errno numbers.
 * Returns a string that lives forever; never NULL. Thread-safe.
 */
const char *vx_strerror(int err);

/* True when @err lies in the VX_E* range. */
static inline int vx_err_is_vx(int err)
{
	return err <= VX_EFIRST && err >= VX_ELAST;
}

#endif /* VX_ERR_H */
