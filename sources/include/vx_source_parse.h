/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_source_parse.h: the pure parsers of the source layer, public so that the CLI can validate
 * input early and the fuzz targets can reach them. None of them allocates except where said;
 * none reads past the length it is given; each rejects bad input with a negative errno and
 * leaves its output zeroed.
 */
#ifndef VX_SOURCE_PARSE_H
#define VX_SOURCE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_digest.h"

/*
 * A parsed absolute URL. Every member points into @buf (NUL-terminated copies), so the struct
 * is self-contained and may be copied by value. Missing parts are "" (port is 0).
 */
struct vx_source_url {
	const char *scheme;   /* lower-cased: "https" */
	const char *user;     /* percent-decoded */
	const char *password; /* percent-decoded; secret */
	const char *host;     /* without brackets for IPv6 literals */
	uint16_t port;	      /* 0 when absent */
	bool ipv6;	      /* host is an IPv6 literal */
	const char *path;     /* raw (not decoded), begins with '/' or is "" */
	const char *query;    /* raw, without the '?' */
	const char *why;      /* after VX_EURL: what is wrong, for a message */
	char buf[8192 + 64];
};

/*
 * vx_source_url_parse() - parse "scheme://[user[:password]@]host[:port][/path][?query][#frag]".
 * @s: borrowed, @len bytes (no NUL needed). Rejects control bytes, spaces, an empty or
 * malformed host, a port out of 1..65535, bad percent escapes in user-info and lengths of
 * VX_SOURCE_URL_MAX or more. The fragment is dropped.
 * Returns 0 or VX_EURL (then @u->why says what is wrong).
 */
VX_MUST_CHECK int vx_source_url_parse(struct vx_source_url *u, const char *s, size_t len);

/*
 * vx_source_url_redact() - vx_url_redact() of the C string @s (NULL reads as "") into @out
 * (at most @size bytes, always NUL-terminated when @size > 0): user-info and credential query
 * values replaced by REDACTED; the form every log line and error detail uses.
 */
void vx_source_url_redact(const char *s, char *out, size_t size);

/* A byte range as a Content-Range header states it. */
struct vx_source_content_range {
	bool unsatisfied; /* "bytes * /N": only @total is set */
	uint64_t first;
	uint64_t last; /* inclusive */
	int64_t total; /* -1 for "*" */
};

/*
 * vx_source_content_range_parse() - parse a Content-Range value ("bytes 0-0/1234",
 * "bytes 5-9/(star)", "bytes (star)/1234") of @len bytes. Rejects first > last,
 * last >= total, numbers past 2^63-1 and any other unit. Returns 0 or -EPROTO.
 */
VX_MUST_CHECK int vx_source_content_range_parse(struct vx_source_content_range *cr, const char *s,
						size_t len);

/*
 * vx_source_header_split() - split one raw response header line of @len bytes ("Name: value",
 * CRLF or LF optional) into a name and a trimmed value, both pointing into the line.
 * Returns 0, -ENODATA for a status line or the empty end-of-headers line, or -EPROTO.
 */
VX_MUST_CHECK int vx_source_header_split(const char *line, size_t len, const char **name,
					 size_t *name_len, const char **value, size_t *value_len);

#define VX_SOURCE_CHALLENGE_PARAM_MAX 512u

/* A WWW-Authenticate challenge: the first Basic or Bearer one of the header. */
struct vx_source_challenge {
	char scheme[16]; /* "basic" or "bearer", lower-cased */
	char realm[VX_SOURCE_CHALLENGE_PARAM_MAX];
	char service[VX_SOURCE_CHALLENGE_PARAM_MAX];
	char scope[VX_SOURCE_CHALLENGE_PARAM_MAX];
	char error[64];
};

/*
 * vx_source_challenge_parse() - parse a WWW-Authenticate value of @len bytes. Quoted strings
 * with backslash escapes and bare tokens are accepted; a parameter longer than
 * VX_SOURCE_CHALLENGE_PARAM_MAX - 1 is -EMSGSIZE. Returns 0, -ENOENT when the header offers
 * neither Basic nor Bearer, or -EPROTO.
 */
VX_MUST_CHECK int vx_source_challenge_parse(struct vx_source_challenge *c, const char *s,
					    size_t len);

/* One object of an S3 ListObjectsV2 page, lent to the callback. */
struct vx_source_s3_item {
	const char *key;
	size_t key_len;
	int64_t size;
	const char *etag;
	size_t etag_len;
};

/* One ListObjectsV2 page. */
struct vx_source_s3_page {
	bool truncated;
	char next_token[1024]; /* NextContinuationToken, XML entities decoded */
	uint32_t nr_items;
};

typedef int (*vx_source_s3_item_fn)(void *arg, const struct vx_source_s3_item *item);

/*
 * vx_source_s3_list_parse() - parse a ListObjectsV2Result document of @len bytes (at most
 * VX_SOURCE_DOC_MAX), calling @fn for each <Contents> with its Key (entities decoded, in a
 * scratch buffer lent for the call), Size and ETag. A bounded, non-validating reader of the few
 * elements needed: nesting deeper than 8, names over 64 bytes, keys over 1024 bytes, unknown
 * entities, a missing root element or an unterminated tag are -EPROTO. An <Error> document
 * is -EREMOTEIO. Returns 0, @fn's negative value, or those errors.
 */
VX_MUST_CHECK int vx_source_s3_list_parse(const char *doc, size_t len,
					  struct vx_source_s3_page *page, vx_source_s3_item_fn fn,
					  void *arg);

/*
 * vx_source_abs_list_parse() - the same for an Azure Blob Storage List Blobs page
 * (<EnumerationResults>): @fn gets each <Blob>'s Name, Properties/Content-Length and Etag;
 * page->next_token is <NextMarker> and page->truncated says it is not empty. Same bounds and
 * errors (an <Error> document is -EREMOTEIO).
 */
VX_MUST_CHECK int vx_source_abs_list_parse(const char *doc, size_t len,
					   struct vx_source_s3_page *page, vx_source_s3_item_fn fn,
					   void *arg);

/* One header to sign: lower-case name, trimmed value. */
struct vx_source_sigv4_hdr {
	const char *name;
	const char *value;
};

#define VX_SOURCE_SIGV4_HDRS_MAX 8u

/* Everything an AWS Signature Version 4 signature covers. All borrowed. */
struct vx_source_sigv4_req {
	const char *method;	 /* "GET" */
	const char *canon_uri;	 /* path, already URI-encoded the S3 way ("/bucket/a%20b") */
	const char *canon_query; /* "k=v&k2=v2", encoded and sorted by key; "" for none */
	const struct vx_source_sigv4_hdr *hdrs; /* host and x-amz-* included; any order */
	uint32_t nr_hdrs;			/* at most VX_SOURCE_SIGV4_HDRS_MAX */
	const char *payload_sha256;		/* hex, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;			/* "20130524T000000Z" */
	const char *region;
	const char *service; /* "s3" */
	const char *access_key;
	const char *secret_key; /* secret */
};

/*
 * vx_source_sigv4_sign() - the value of the Authorization header for @r, written into @out
 * (at most @size bytes). Headers are sorted here. Returns 0, -EINVAL for a missing field or
 * too many headers, -EMSGSIZE when @out is too small, -ENOMEM when the digest fails.
 */
VX_MUST_CHECK int vx_source_sigv4_sign(const struct vx_source_sigv4_req *r, char *out, size_t size);

/*
 * vx_source_uri_encode() - AWS URI encoding of @len bytes of @s into @out (at most @size
 * bytes, NUL included): unreserved characters stay, '/' stays when @keep_slash, everything else
 * becomes %XX. Returns 0 or -EMSGSIZE.
 */
VX_MUST_CHECK int vx_source_uri_encode(const char *s, size_t len, bool keep_slash, char *out,
				       size_t size);

/* ---- JSON documents (jansson; each document at most VX_SOURCE_DOC_MAX bytes) ---------------- */

#define VX_SOURCE_OCI_DIGEST_MAX (VX_DIGEST_SPEC_MAX + 1u) /* the longest digest text + NUL */

/*
 * vx_source_oci_index_pick() - from an OCI image index or Docker manifest list of @len bytes,
 * the digest of the first manifest whose platform matches @os and @arch (and @variant when it
 * is non-NULL and non-empty), written to @digest (at most @size bytes).
 * Returns 0, -ENOENT when no entry matches, -EPROTO for a malformed document or digest.
 */
VX_MUST_CHECK int vx_source_oci_index_pick(const char *doc, size_t len, const char *os,
					   const char *arch, const char *variant, char *digest,
					   size_t size);

/* A blob named by an image manifest: lent to the callback. */
typedef int (*vx_source_oci_blob_fn)(void *arg, const char *digest, int64_t size,
				     const char *media_type);

/*
 * vx_source_oci_manifest_blobs() - call @fn for the config and then each layer of an image
 * manifest of @len bytes. Returns 0, @fn's negative value, or -EPROTO for a malformed
 * manifest (no config, a layer without digest or size, a bad digest).
 */
VX_MUST_CHECK int vx_source_oci_manifest_blobs(const char *doc, size_t len,
					       vx_source_oci_blob_fn fn, void *arg);

/*
 * vx_source_oci_is_index() - true when the document of @len bytes is an index / manifest list
 * (by its mediaType, or by having "manifests" and no "layers").
 */
bool vx_source_oci_is_index(const char *doc, size_t len);

typedef int (*vx_source_oci_tag_fn)(void *arg, const char *tag);

/*
 * vx_source_oci_tags_parse() - call @fn for each tag of a registry's tag list
 * ({"name": ..., "tags": [...]}, GET /v2/NAME/tags/list; "tags" may be null: no tag) of @len
 * bytes. The tags are strings as given (the caller checks their form). Returns 0, @fn's
 * negative value, or -EPROTO for anything else.
 */
VX_MUST_CHECK int vx_source_oci_tags_parse(const char *doc, size_t len, vx_source_oci_tag_fn fn,
					   void *arg);

/*
 * vx_source_token_parse() - the bearer token of a registry token reply ("token" or
 * "access_token") into @tok (at most @size bytes). Returns 0, -ENOENT, -EMSGSIZE or -EPROTO.
 */
VX_MUST_CHECK int vx_source_token_parse(const char *doc, size_t len, char *tok, size_t size);

/* One WebHDFS FileStatus. */
struct vx_source_hdfs_status {
	char name[256]; /* pathSuffix; "" for GETFILESTATUS */
	int64_t length;
	int64_t mtime_ms;
	bool is_dir;
};

typedef int (*vx_source_hdfs_status_fn)(void *arg, const struct vx_source_hdfs_status *st);

/*
 * vx_source_hdfs_status_parse() - a GETFILESTATUS reply ({"FileStatus": {...}}) of @len
 * bytes. Returns 0 or -EPROTO; a RemoteException document is -EREMOTEIO.
 */
VX_MUST_CHECK int vx_source_hdfs_status_parse(const char *doc, size_t len,
					      struct vx_source_hdfs_status *st);

/*
 * vx_source_hdfs_list_parse() - a LISTSTATUS reply ({"FileStatuses": {"FileStatus": [...]}})
 * of @len bytes; @fn gets each entry. Names with '/' or that are "." or ".." are -EPROTO.
 * Returns 0, @fn's negative value, -EPROTO or -EREMOTEIO.
 */
VX_MUST_CHECK int vx_source_hdfs_list_parse(const char *doc, size_t len,
					    vx_source_hdfs_status_fn fn, void *arg);

/* ---- Model hubs: hf:// (Hugging Face) and modelscope:// (spec/sources.md, "Model hubs") --- */

#define VX_SOURCE_HUB_NAME_MAX 96u   /* bytes of an owner or repository name */
#define VX_SOURCE_HUB_REV_MAX  256u  /* bytes of a decoded revision, NUL included */
#define VX_SOURCE_HUB_PATH_MAX 4096u /* bytes of a decoded path in a repository, NUL included */

enum vx_source_hub {
	VX_SOURCE_HUB_HF = 0,	      /* hf:// */
	VX_SOURCE_HUB_MODELSCOPE = 1, /* modelscope:// */
};

enum vx_source_hub_kind {
	VX_SOURCE_HUB_MODEL = 0,
	VX_SOURCE_HUB_DATASET = 1, /* hf://datasets/... */
	VX_SOURCE_HUB_SPACE = 2,   /* hf://spaces/... */
};

/* What a hub URL names. Every string is NUL-terminated and inside the struct. */
struct vx_source_hub_ref {
	enum vx_source_hub hub;
	enum vx_source_hub_kind kind;
	char owner[VX_SOURCE_HUB_NAME_MAX + 1];
	char repo[VX_SOURCE_HUB_NAME_MAX + 1];
	char revision[VX_SOURCE_HUB_REV_MAX]; /* decoded; "" when the URL gives none */
	char path[VX_SOURCE_HUB_PATH_MAX];    /* decoded, no leading '/'; "" for the repository */
	bool dir;			      /* names the repository or ends with '/' */
	const char *why;		      /* after VX_EURL: what is wrong */
};

/*
 * vx_source_hub_ref_parse() - "hf://[datasets/|spaces/]OWNER/REPO[@REV][/PATH]" or
 * "modelscope://OWNER/REPO[@REV][/PATH]" of @len bytes (the scheme case-insensitive, names
 * case-sensitive). OWNER and REPO: 1 to 96 of [A-Za-z0-9._-], not "." or "..". REV and PATH
 * are percent-decoded; REV is [A-Za-z0-9._/-] without ".." or "." segments ("refs%2Fpr%2F1"
 * is refs/pr/1; no ".." anywhere, as in git refs); PATH has no empty, "." or ".." segment and no control byte. No user-info,
 * port, query or fragment. Returns 0 or VX_EURL (@r->why says what is wrong).
 */
VX_MUST_CHECK int vx_source_hub_ref_parse(struct vx_source_hub_ref *r, const char *s, size_t len);

/*
 * vx_source_hub_path_ok() - true when @p (@len bytes, decoded) is a relative path a listing
 * may name: not empty, no leading or trailing '/', no empty, "." or ".." segment, no control
 * byte or backslash, shorter than VX_SOURCE_HUB_PATH_MAX.
 */
bool vx_source_hub_path_ok(const char *p, size_t len);

/* One file of a hub listing; lent for the callback. */
struct vx_source_hub_file {
	const char *path; /* from the repository's root, checked with vx_source_hub_path_ok() */
	int64_t size;	  /* bytes, >= 0 */
	bool is_dir;
	char sha256[65]; /* lowercase hex of the content (LFS / Sha256 field); "" when none */
};

typedef int (*vx_source_hub_file_fn)(void *arg, const struct vx_source_hub_file *f);

/*
 * vx_source_hf_tree_parse() - one page of the Hugging Face tree API
 * (GET /api/models/OWNER/REPO/tree/REV?recursive=true: a JSON array of {"type": "file" |
 * "directory", "path", "size", "lfs": {"oid": sha256 hex}}) of @len bytes; @fn gets each
 * entry. Returns 0, @fn's negative value, or -EPROTO (not such an array, a bad path, size or
 * oid: nothing of a bad page is trusted, but @fn may have seen the entries before it).
 */
VX_MUST_CHECK int vx_source_hf_tree_parse(const char *doc, size_t len, vx_source_hub_file_fn fn,
					  void *arg);

/*
 * vx_source_ms_files_parse() - a ModelScope file listing
 * (GET /api/v1/models/OWNER/REPO/repo/files?Revision=REV&Recursive=true: {"Code": 200,
 * "Data": {"Files": [{"Path", "Type": "blob" | "tree", "Size", "Sha256"}]}}) of @len bytes.
 * Returns as vx_source_hf_tree_parse(); a Code other than 200 is -EREMOTEIO.
 */
VX_MUST_CHECK int vx_source_ms_files_parse(const char *doc, size_t len, vx_source_hub_file_fn fn,
					   void *arg);

/*
 * vx_source_link_next() - the target of rel="next" in an HTTP Link header value of @len bytes
 * into @out (@size bytes). Returns 0, -ENOENT when there is none, -EMSGSIZE or -EPROTO.
 */
VX_MUST_CHECK int vx_source_link_next(const char *v, size_t len, char *out, size_t size);

/* Entries one directory index page may name (more: -E2BIG), and the longest href kept. */
#define VX_SOURCE_INDEX_MAX	 100000u
#define VX_SOURCE_INDEX_HREF_MAX 4096u

/*
 * One entry of an HTTP directory index page: @href as the page wrote it (HTML entities
 * resolved, still percent-encoded: what to append to the page's URL) and @name, the decoded
 * file or directory name (no '/'); @is_dir when the href ends in '/'.
 */
typedef int (*vx_source_index_fn)(void *arg, const char *href, const char *name, bool is_dir);

/*
 * vx_source_html_index_parse() - the entries of an HTTP directory index page of @len bytes
 * (nginx autoindex, Apache mod_autoindex, lighttpd, python's http.server): the href of every
 * <a> tag whose target is one plain name below the page. Skipped, never followed: absolute
 * URLs (a scheme), paths from the root ('/'), queries and fragments (Apache's sort links),
 * "." and "..", a name with '/' inside or a decoded '/', NUL, control byte or backslash, an
 * href longer than VX_SOURCE_INDEX_HREF_MAX, and a repeat of the href just seen (an icon link
 * beside its name). Returns 0, @fn's nonzero value, or -E2BIG (more than VX_SOURCE_INDEX_MAX
 * entries, or @len above VX_SOURCE_DOC_MAX).
 */
VX_MUST_CHECK int vx_source_html_index_parse(const char *doc, size_t len, vx_source_index_fn fn,
					     void *arg);

#endif /* VX_SOURCE_PARSE_H */
