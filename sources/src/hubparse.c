/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hubparse.c: the pure parsers of the model hub schemes (hub.c): hf:// and modelscope:// URLs,
 * the Hugging Face tree listing, the ModelScope file listing (jansson: size capped first,
 * every type checked) and the rel="next" target of a Link header. Fuzzed by
 * tests/fuzz/fuzz_source_hub.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "source_int.h"

#include "vx_err.h"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Copies the name of @n bytes at @p into @dst when it is an owner or repository name. */
static bool hub_name(const char *p, size_t n, char *dst)
{
	if (n == 0 || n > VX_SOURCE_HUB_NAME_MAX || (n == 1 && p[0] == '.') ||
	    (n == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!name_char(p[i]))
			return false;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* Segments of @p (@len bytes) separated by '/': none empty, ".", ".."; @p not empty. */
static bool segments_ok(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return false;
	while (i <= len) {
		size_t j = i;

		while (j < len && p[j] != '/')
			j++;
		if (j == i || (j - i == 1 && p[i] == '.') ||
		    (j - i == 2 && p[i] == '.' && p[i + 1] == '.'))
			return false;
		i = j + 1;
	}
	return true;
}

bool vx_source_hub_path_ok(const char *p, size_t len)
{
	if (len >= VX_SOURCE_HUB_PATH_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
	}
	return segments_ok(p, len);
}

static int bad(struct vx_source_hub_ref *r, const char *why)
{
	r->why = why;
	return VX_EURL;
}

int vx_source_hub_ref_parse(struct vx_source_hub_ref *r, const char *s, size_t len)
{
	const char *p, *end = s + len, *slash, *at;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (len >= VX_SOURCE_URL_MAX)
		return bad(r, "URL too long");
	if (len >= 5 && strncasecmp(s, "hf://", 5) == 0) {
		r->hub = VX_SOURCE_HUB_HF;
		p = s + 5;
	} else if (len >= 13 && strncasecmp(s, "modelscope://", 13) == 0) {
		r->hub = VX_SOURCE_HUB_MODELSCOPE;
		p = s + 13;
	} else {
		return bad(r, "not an hf:// or modelscope:// URL");
	}
	if (memchr(p, '?', (size_t)(end - p)) || memchr(p, '#', (size_t)(end - p)))
		return bad(r, "a hub URL takes no query or fragment (a revision is @REV)");
	if (r->hub == VX_SOURCE_HUB_HF && end - p > 9 && memcmp(p, "datasets/", 9) == 0) {
		r->kind = VX_SOURCE_HUB_DATASET;
		p += 9;
	} else if (r->hub == VX_SOURCE_HUB_HF && end - p > 7 && memcmp(p, "spaces/", 7) == 0) {
		r->kind = VX_SOURCE_HUB_SPACE;
		p += 7;
	} else if (end - p > 7 && memcmp(p, "models/", 7) == 0) {
		p += 7;
	}
	slash = memchr(p, '/', (size_t)(end - p));
	if (!slash || !hub_name(p, (size_t)(slash - p), r->owner))
		return bad(r, "expected OWNER/REPO: names of [A-Za-z0-9._-]");
	p = slash + 1;
	slash = memchr(p, '/', (size_t)(end - p));
	if (!slash)
		slash = end;
	at = memchr(p, '@', (size_t)(slash - p));
	if (!hub_name(p, (size_t)((at ? at : slash) - p), r->repo))
		return bad(r, "expected OWNER/REPO: names of [A-Za-z0-9._-]");
	if (at) {
		n = vx__pct_decode(at + 1, (size_t)(slash - at - 1), r->revision,
				   sizeof(r->revision));
		if (n <= 0)
			return bad(r, "bad revision after @");
		for (ssize_t i = 0; i < n; i++) {
			if (!name_char(r->revision[i]) && r->revision[i] != '/')
				return bad(r, "a revision is [A-Za-z0-9._/-] (percent-encode '/')");
		}
		/* git refuses ".." anywhere in a ref name */
		if (!segments_ok(r->revision, (size_t)n) || strstr(r->revision, ".."))
			return bad(r, "bad revision after @");
	}
	if (slash == end || slash + 1 == end) {
		r->dir = true;
		return 0;
	}
	p = slash + 1;
	r->dir = end[-1] == '/';
	n = vx__pct_decode(p, (size_t)(end - p - (r->dir ? 1 : 0)), r->path, sizeof(r->path));
	if (n <= 0 || !vx_source_hub_path_ok(r->path, (size_t)n))
		return bad(r, "bad path in the repository (empty, '.' or '..' segments, escapes)");
	return 0;
}

/* ---- Listings ----------------------------------------------------------------------------- */

static json_t *load(const char *doc, size_t len)
{
	json_error_t err;

	if (!doc || len > VX_SOURCE_DOC_MAX)
		return NULL;
	return json_loadb(doc, len, JSON_REJECT_DUPLICATES, &err);
}

/* A lowercase sha256 hex of @v (a string or absent) into @out; false when malformed. */
static bool sha256_of(const json_t *v, char out[65])
{
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) != 64)
		return false;
	s = json_string_value(v);
	for (size_t i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	memcpy(out, s, 65);
	return true;
}

/* Fills @f from the path string @pv and the size @sv; false when either is malformed. */
static bool file_common(const json_t *pv, const json_t *sv, struct vx_source_hub_file *f)
{
	if (!json_is_string(pv) ||
	    !vx_source_hub_path_ok(json_string_value(pv), json_string_length(pv)) ||
	    strlen(json_string_value(pv)) != json_string_length(pv))
		return false;
	f->path = json_string_value(pv);
	if (!sv && f->is_dir)
		return true;
	if (!json_is_integer(sv) || json_integer_value(sv) < 0)
		return false;
	f->size = (int64_t)json_integer_value(sv);
	return true;
}

/* The field names of one hub's listing entries. */
struct listing_keys {
	const char *type, *file, *dir, *path, *size;
	bool lfs; /* the sha256 is lfs.oid (Hugging Face), else "Sha256" (ModelScope) */
};

static const struct listing_keys hf_keys = { "type", "file", "directory", "path", "size", true };
static const struct listing_keys ms_keys = { "Type", "blob", "tree", "Path", "Size", false };

/* Calls @fn for each entry of the JSON array @arr; 0, @fn's value or -EPROTO. */
static int each_file(const json_t *arr, const struct listing_keys *k, vx_source_hub_file_fn fn,
		     void *arg)
{
	const json_t *e;
	size_t i;
	int rc;

	if (!json_is_array(arr))
		return -EPROTO;
	json_array_foreach(arr, i, e)
	{
		struct vx_source_hub_file f = { 0 };
		const json_t *type = json_object_get(e, k->type);
		const json_t *lfs = json_object_get(e, "lfs");
		bool sha_ok;

		if (!json_is_object(e) || !json_is_string(type))
			return -EPROTO;
		if (strcmp(json_string_value(type), k->dir) == 0)
			f.is_dir = true;
		else if (strcmp(json_string_value(type), k->file) != 0)
			return -EPROTO;
		if (!k->lfs)
			sha_ok = sha256_of(json_object_get(e, "Sha256"), f.sha256);
		else
			sha_ok = !lfs || json_is_null(lfs) ||
				 (json_is_object(lfs) &&
				  sha256_of(json_object_get(lfs, "oid"), f.sha256));
		if (!sha_ok ||
		    !file_common(json_object_get(e, k->path), json_object_get(e, k->size), &f))
			return -EPROTO;
		rc = fn(arg, &f);
		if (rc)
			return rc;
	}
	return 0;
}

int vx_source_hf_tree_parse(const char *doc, size_t len, vx_source_hub_file_fn fn, void *arg)
{
	json_t *root = load(doc, len);
	int rc = each_file(root, &hf_keys, fn, arg);

	json_decref(root);
	return rc;
}

int vx_source_ms_files_parse(const char *doc, size_t len, vx_source_hub_file_fn fn, void *arg)
{
	json_t *root = load(doc, len);
	const json_t *code = json_object_get(root, "Code");
	int rc = -EPROTO;

	if (json_is_object(root) && json_is_integer(code)) {
		if (json_integer_value(code) != 200)
			rc = -EREMOTEIO;
		else
			rc = each_file(json_object_get(json_object_get(root, "Data"), "Files"),
				       &ms_keys, fn, arg);
	}
	json_decref(root);
	return rc;
}

/*
 * Link: <https://hub/api/...&cursor=x>; rel="next", <...>; rel="prev". Only the link-value
 * whose rel parameter lists "next" counts; targets with a quote, space or control byte are
 * refused.
 */
int vx_source_link_next(const char *v, size_t len, char *out, size_t size)
{
	const char *p = v, *end = v + len;

	if (size)
		out[0] = '\0';
	while (p < end) {
		const char *lt, *gt, *stop;
		bool next = false;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p != '<')
			return -EPROTO;
		lt = p + 1;
		gt = memchr(lt, '>', (size_t)(end - lt));
		if (!gt)
			return -EPROTO;
		/* parameters up to the next ',' that is outside quotes */
		p = gt + 1;
		stop = p;
		for (bool q = false; stop < end && (q || *stop != ','); stop++) {
			if (*stop == '"')
				q = !q;
		}
		for (const char *r = p; r + 3 < stop; r++) {
			if (strncasecmp(r, "rel=", 4) != 0)
				continue;
			r += 4;
			if (r < stop && *r == '"')
				r++;
			if (stop - r >= 4 && strncasecmp(r, "next", 4) == 0 &&
			    (r + 4 == stop || r[4] == '"' || r[4] == ' ' || r[4] == ';'))
				next = true;
			break;
		}
		if (next) {
			size_t n = (size_t)(gt - lt);

			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)lt[i];

				if (c <= 0x20 || c == 0x7f || c == '"' || c == '<')
					return -EPROTO;
			}
			if (n == 0)
				return -EPROTO;
			if (n >= size)
				return -EMSGSIZE;
			memcpy(out, lt, n);
			out[n] = '\0';
			return 0;
		}
		p = stop;
	}
	return -ENOENT;
}
