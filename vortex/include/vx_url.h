/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_url.h: the URL normalization Dragonfly applies before hashing a task id. Dragonfly parses
 * with Rust's `url` crate, which implements the WHATWG URL standard; vx reproduces its output
 * byte for byte for the URLs a task can name:
 *   - scheme lowercased; http, https, ws, wss, ftp and file are "special";
 *   - special hosts percent-decoded, lowercased, IPv4 forms (decimal, octal, hex, short forms)
 *     rewritten as dotted decimal, IPv6 literals compressed (RFC 5952 style, lowercase);
 *     other schemes keep their host as written (an "opaque host", C0-percent-encoded);
 *   - default port dropped (80 http/ws, 443 https/wss, 21 ftp), leading zeros of ports dropped;
 *   - user info, path and fragment percent-encoded with the WHATWG sets, dot segments resolved,
 *     backslashes read as slashes in special URLs, an empty special path becomes "/";
 *   - leading and trailing C0 controls and spaces trimmed, tabs and newlines removed.
 * Then the task-id rules: query pairs whose decoded key is in the filter list are dropped; if
 * none remain the query is removed, otherwise it is re-serialized as
 * application/x-www-form-urlencoded ("+" for space, everything but ASCII alphanumerics and
 * "*-._" percent-encoded, "flag" becomes "flag="), even when nothing was filtered; the fragment
 * is kept; if the result ends with "/" and the path is exactly "/", trailing slashes go.
 *
 * Not supported (rejected with VX_EURL, never silently hashed differently): internationalized
 * (non-ASCII) domain names, which need UTS #46 mapping; relative URLs (there is no base).
 * Pure code, no I/O; allocation-free (the caller gives the output buffer).
 */
#ifndef VX_URL_H
#define VX_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"

/* Longest URL accepted as input, in bytes. Longer input is rejected with -E2BIG. */
#define VX_URL_INPUT_MAX 8192
/*
 * Output room that always suffices for an input of @n bytes: every input byte expands to at
 * most 9 output bytes (an invalid UTF-8 byte in a decoded query becomes "%EF%BF%BD"), plus
 * room for "/" and a default path.
 */
#define VX_URL_OUT_MAX(n) ((size_t)(n)*9u + 16u)

/* Where the parse failed, for messages: see vx_url_strerror(). */
enum vx_url_error {
	VX_URL_OK = 0,
	VX_URL_ERR_EMPTY = 1,	   /* nothing left after trimming */
	VX_URL_ERR_TOO_LONG = 2,   /* input longer than VX_URL_INPUT_MAX */
	VX_URL_ERR_NOT_UTF8 = 3,   /* input is not valid UTF-8 */
	VX_URL_ERR_NO_SCHEME = 4,  /* no "scheme:" (relative URLs need a base) */
	VX_URL_ERR_EMPTY_HOST = 5, /* special scheme without a host */
	VX_URL_ERR_BAD_HOST = 6,   /* forbidden code point in the host */
	VX_URL_ERR_IDN = 7,	   /* non-ASCII domain: UTS #46 not supported */
	VX_URL_ERR_BAD_IPV4 = 8,   /* host looks like an IPv4 number but is not one */
	VX_URL_ERR_BAD_IPV6 = 9,   /* malformed [IPv6] literal */
	VX_URL_ERR_BAD_PORT = 10,  /* non-digit port or port above 65535 */
	VX_URL_ERR_NO_SPACE = 11,  /* output buffer too small */
	VX_URL_ERR_FILE_PORT = 12, /* file: URLs cannot carry a port or credentials */
	VX_URL_ERR_NR,
};

/*
 * vx_url_default_filtered_query_params() - the query keys a task id ignores when the caller
 * gives no list (signed-URL parameters of S3, GCS, OSS, OBS, COS and containerd's "ns").
 * Returns a static array (lives forever) and sets *@nr to its length.
 */
const char *const *vx_url_default_filtered_query_params(size_t *nr);

/*
 * vx_url_normalize_for_task_id() - the exact string Dragonfly hashes for @url.
 * @url, @url_len: borrowed input, need not be NUL-terminated; must be valid UTF-8.
 * @filters, @nr_filters: borrowed query keys to drop (exact, case-sensitive match on the
 *   decoded key). @filters NULL means the default list above; a non-NULL list with
 *   @nr_filters 0 means "drop nothing".
 * @out, @out_len: borrowed output; gets the normalized URL and a NUL. VX_URL_OUT_MAX(url_len)
 *   bytes always suffice.
 * @why: optional (may be NULL); set to the reason on failure, VX_URL_OK on success.
 * Returns the length written (without the NUL), VX_EURL for an invalid URL, -E2BIG for input
 * longer than VX_URL_INPUT_MAX, or -ENOSPC when @out is too small. On failure @out holds an
 * empty string (when @out_len > 0): nothing half-written.
 */
VX_MUST_CHECK ssize_t vx_url_normalize_for_task_id(const char *url, size_t url_len,
						   const char *const *filters, size_t nr_filters,
						   char *out, size_t out_len,
						   enum vx_url_error *why);

/*
 * Redaction: the only form in which a URL may be logged, shown to another user, or stored where
 * it outlives the process (scheduler database, audit lines, error messages). The user-info
 * ("user:pass@") becomes "REDACTED@"; the value of every query parameter whose key is in the
 * credential list (the task-id filter keys but "ns", and the signed-URL keys of S3 SigV2/SigV4, GCS, OSS,
 * OBS, COS, Azure SAS (sig, se, sv, sp, ...), CloudFront (Policy, Key-Pair-Id, Signature,
 * Expires) and token/access_token and the like, matched case-insensitively on the decoded key)
 * becomes "REDACTED"; a fragment becomes "#REDACTED". Everything else is kept verbatim for
 * debugging. Works on any bytes (no validation); pure, no allocation. spec/vortex.md lists the
 * keys.
 */
#define VX_URL_REDACTED "REDACTED"
/* Output room for log lines: longer redacted URLs are cut (never inside a secret's place). */
#define VX_URL_LOG_MAX 1024

/*
 * vx_url_redact() - write the redacted form of @url (@len bytes, need not be NUL-terminated;
 * NULL reads as "") into @out (@out_len bytes, always NUL-terminated when @out_len > 0; cut to
 * fit). Returns @out ("" when @out_len is 0), so it can stand as a printf argument.
 */
const char *vx_url_redact(const char *url, size_t len, char *out, size_t out_len);

/*
 * vx_url_redact_keys() - vx_url_redact() that also hides the values of the request's own
 * filtered query keys @keys (@nr_keys; NULL entries ignored): a key a request removes from its
 * task id is a credential of that request (spec/vortex.md 7.1).
 */
const char *vx_url_redact_keys(const char *url, size_t len, const char *const *keys,
			       uint32_t nr_keys, char *out, size_t out_len);

/* vx_url_redact() of the C string @url (NULL reads as ""). */
const char *vx_url_redact_str(const char *url, char *out, size_t out_len);

/* The redacted @u (a C string or NULL) in a buffer that lives for the enclosing block. */
#define VX_URL_SAFE(u) vx_url_redact_str((u), (char[VX_URL_LOG_MAX]){ 0 }, VX_URL_LOG_MAX)

/*
 * vx_url_has_credentials() - whether @url (@len bytes) carries user-info or a query parameter
 * of the credential list: a download of such a URL is private (spec/peer.md).
 */
bool vx_url_has_credentials(const char *url, size_t len);

/* vx_url_has_credentials(), also true for a query key among the request's filtered @keys. */
bool vx_url_has_credentials_keys(const char *url, size_t len, const char *const *keys,
				 uint32_t nr_keys);

/* Static text for @why ("URL has no scheme"), never NULL. */
const char *vx_url_strerror(enum vx_url_error why);

#endif /* VX_URL_H */
