/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_proxy_req.h: the registry mirror's request parsers, pure and fuzzed (fuzz_proxy_req):
 * the OCI distribution path ("/v2/", "/v2/<name>/manifests/<ref>", "/v2/<name>/blobs/<digest>",
 * "/v2/<name>/tags/list"), checked against the distribution spec's grammar, and a Range
 * header. The server (proxy.c) only acts on what comes out.
 */
#ifndef VX_PROXY_REQ_H
#define VX_PROXY_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

#define VX_PROXY_NAME_MAX 255 /* repository name bytes (distribution spec) */
#define VX_PROXY_REF_MAX  160 /* tag (128) or digest ("sha512:" + 128 hex) bytes */
#define VX_PROXY_PATH_MAX 1024

enum vx_proxy_route {
	VX_PROXY_ROUTE_BASE = 0,     /* /v2/ */
	VX_PROXY_ROUTE_MANIFEST = 1, /* /v2/<name>/manifests/<tag or digest> */
	VX_PROXY_ROUTE_BLOB = 2,     /* /v2/<name>/blobs/<digest> */
	VX_PROXY_ROUTE_TAGS = 3,     /* /v2/<name>/tags/list */
};

struct vx_proxy_req {
	enum vx_proxy_route route;
	char name[VX_PROXY_NAME_MAX + 1]; /* "" for the base route */
	char ref[VX_PROXY_REF_MAX + 1];	  /* tag or digest text; "" for base and tags */
	bool sha256;			  /* ref is "sha256:" and 64 lowercase hex digits */
};

/*
 * vx_proxy_req_parse() - parses the path of a request (@len bytes, no query, no NUL needed).
 * Returns 0 and fills @out, or -EINVAL (not a distribution path, or a name, tag or digest the
 * grammar refuses), -E2BIG (longer than the limits above), -ENOENT (a /v2/ path this mirror
 * does not serve, e.g. uploads). On error @out is zeroed.
 */
VX_MUST_CHECK int vx_proxy_req_parse(const char *path, size_t len, struct vx_proxy_req *out);

/* A Range header's first range, resolved against a content length. */
struct vx_proxy_range {
	uint64_t start, end; /* inclusive byte positions */
};

/*
 * vx_proxy_range_parse() - one "bytes=A-B", "bytes=A-" or "bytes=-N" range of header value
 * @s (@len bytes) against @length bytes of content.
 * Returns 1 and fills @out (a satisfiable range), 0 when the header is to be ignored (not a
 * single bytes range: the whole content is served), or -ERANGE (unsatisfiable: 416).
 */
VX_MUST_CHECK int vx_proxy_range_parse(const char *s, size_t len, uint64_t length,
				       struct vx_proxy_range *out);

#endif /* VX_PROXY_REQ_H */
