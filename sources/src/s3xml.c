/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3xml.c: a small, bounded XML reader for S3 ListObjectsV2 pages and Azure Blob Storage's
 * List Blobs pages (EnumerationResults, abs.c). Not a general XML parser:
 * it knows elements, end tags, self-closing tags, attributes (skipped), the XML declaration,
 * comments, CDATA-free text and the five predefined entities plus numeric references. Every
 * name, text and nesting level has a fixed cap; anything else is -EPROTO. Fuzzed by
 * tests/fuzz/fuzz_source_s3xml.c (both dialects).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source.h"
#include "vx_source_parse.h"

#include "vx_alloc.h"
#include "vx_compiler.h"

#define XML_DEPTH_MAX 8
#define XML_NAME_MAX  64
#define XML_TEXT_MAX  1024

struct xml_state {
	char stack[XML_DEPTH_MAX][XML_NAME_MAX + 1];
	int depth;
	char text[XML_TEXT_MAX + 1];
	size_t text_len;
	bool text_over;
	/* The <Contents> being read. */
	char key[XML_TEXT_MAX + 1];
	size_t key_len;
	char etag[XML_TEXT_MAX + 1];
	size_t etag_len;
	int64_t size;
	bool is_error;
	bool root_seen;
	bool abs; /* Azure's EnumerationResults, not S3's ListBucketResult */
};

/* Appends @n decoded bytes of character data; entity references are decoded here. */
static int text_add(struct xml_state *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '&') {
			const char *semi = memchr(p + i, ';', VX_MIN(n - i, (size_t)12));
			size_t el;
			unsigned long cp;

			if (!semi)
				return -EPROTO;
			el = (size_t)(semi - (p + i)) + 1;
			if (el == 5 && memcmp(p + i, "&amp;", 5) == 0)
				c = '&';
			else if (el == 4 && memcmp(p + i, "&lt;", 4) == 0)
				c = '<';
			else if (el == 4 && memcmp(p + i, "&gt;", 4) == 0)
				c = '>';
			else if (el == 6 && memcmp(p + i, "&quot;", 6) == 0)
				c = '"';
			else if (el == 6 && memcmp(p + i, "&apos;", 6) == 0)
				c = '\'';
			else if (el > 3 && p[i + 1] == '#') {
				char num[12];
				char *end;
				bool hex = p[i + 2] == 'x';

				memcpy(num, p + i + (hex ? 3 : 2), el - (hex ? 4 : 3));
				num[el - (hex ? 4 : 3)] = '\0';
				if (!num[0])
					return -EPROTO;
				cp = strtoul(num, &end, hex ? 16 : 10);
				/* Keys are bytes to us; only ASCII references are accepted. */
				if (*end || cp == 0 || cp > 0x7f)
					return -EPROTO;
				c = (char)cp;
			} else {
				return -EPROTO;
			}
			i += el - 1;
		} else if ((unsigned char)c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			return -EPROTO;
		}
		if (s->text_len == XML_TEXT_MAX) {
			s->text_over = true;
			continue;
		}
		s->text[s->text_len++] = c;
	}
	s->text[s->text_len] = '\0';
	return 0;
}

static bool in(const struct xml_state *s, const char *parent, const char *name)
{
	return s->depth >= 2 && strcmp(s->stack[s->depth - 1], name) == 0 &&
	       strcmp(s->stack[s->depth - 2], parent) == 0;
}

static int parse_i64(const char *t, int64_t *v)
{
	char *end;
	long long x;

	if (!t[0] || t[0] == '-' || strlen(t) > 18)
		return -EPROTO;
	x = strtoll(t, &end, 10);
	if (*end)
		return -EPROTO;
	*v = (int64_t)x;
	return 0;
}

/* The <Contents> or <Blob> just read is complete: hand it over and reset. */
static int item_done(struct xml_state *s, struct vx_source_s3_page *page, vx_source_s3_item_fn fn,
		     void *arg)
{
	struct vx_source_s3_item it = {
		.key = s->key,
		.key_len = s->key_len,
		.size = s->size,
		.etag = s->etag,
		.etag_len = s->etag_len,
	};
	int rc;

	if (!s->key_len || s->size < 0)
		return -EPROTO;
	page->nr_items++;
	rc = fn ? fn(arg, &it) : 0;
	if (rc)
		return rc;
	s->key_len = 0;
	s->key[0] = '\0';
	s->etag_len = 0;
	s->etag[0] = '\0';
	s->size = -1;
	return 0;
}

static int take_key(struct xml_state *s)
{
	if (s->text_over || s->text_len == 0)
		return -EPROTO;
	memcpy(s->key, s->text, s->text_len + 1);
	s->key_len = s->text_len;
	return 0;
}

/*
 * Azure: EnumerationResults > Blobs > Blob > Name, Blob > Properties > Content-Length and
 * Etag; NextMarker (empty on the last page). BlobPrefix entries (only with a delimiter,
 * which abs.c never sends) are not items.
 */
static int on_close_abs(struct xml_state *s, struct vx_source_s3_page *page,
			vx_source_s3_item_fn fn, void *arg)
{
	bool blob = s->depth >= 3 && strcmp(s->stack[1], "Blobs") == 0 &&
		    strcmp(s->stack[2], "Blob") == 0;

	if (s->depth == 2 && strcmp(s->stack[1], "NextMarker") == 0) {
		if (s->text_over || s->text_len >= sizeof(page->next_token))
			return -EPROTO;
		memcpy(page->next_token, s->text, s->text_len + 1);
		page->truncated = s->text_len > 0;
	} else if (blob && s->depth == 4 && strcmp(s->stack[3], "Name") == 0) {
		return take_key(s);
	} else if (blob && s->depth == 5 && in(s, "Properties", "Content-Length")) {
		if (parse_i64(s->text, &s->size))
			return -EPROTO;
	} else if (blob && s->depth == 5 && in(s, "Properties", "Etag")) {
		memcpy(s->etag, s->text, s->text_len + 1);
		s->etag_len = s->text_len;
	} else if (blob && s->depth == 3) {
		return item_done(s, page, fn, arg);
	}
	return 0;
}

/* An element closes: collect what it says. */
static int on_close(struct xml_state *s, struct vx_source_s3_page *page, vx_source_s3_item_fn fn,
		    void *arg)
{
	if (s->abs)
		return on_close_abs(s, page, fn, arg);
	if (s->depth == 2 && strcmp(s->stack[1], "IsTruncated") == 0) {
		page->truncated = strcmp(s->text, "true") == 0;
	} else if (s->depth == 2 && strcmp(s->stack[1], "NextContinuationToken") == 0) {
		if (s->text_over || s->text_len >= sizeof(page->next_token))
			return -EPROTO;
		memcpy(page->next_token, s->text, s->text_len + 1);
	} else if (in(s, "Contents", "Key")) {
		return take_key(s);
	} else if (in(s, "Contents", "Size")) {
		if (parse_i64(s->text, &s->size))
			return -EPROTO;
	} else if (in(s, "Contents", "ETag")) {
		memcpy(s->etag, s->text, s->text_len + 1);
		s->etag_len = s->text_len;
	} else if (s->depth == 2 && strcmp(s->stack[1], "Contents") == 0) {
		return item_done(s, page, fn, arg);
	}
	return 0;
}

/* Reads a tag name at p (after '<' or '</'); returns its length or 0. */
static size_t name_len(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && (p[n] == '_' || p[n] == '-' || p[n] == '.' || p[n] == ':' ||
			       (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
			       (p[n] >= '0' && p[n] <= '9')))
		n++;
	return n;
}

/* Skips "<?...?>" or "<!--...-->"; returns the new position or NULL. */
static const char *skip_special(const char *p, const char *end)
{
	const char *q;

	if (end - p >= 2 && p[1] == '?') {
		q = memmem(p, (size_t)(end - p), "?>", 2);
		return q ? q + 2 : NULL;
	}
	if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
		q = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
		return q ? q + 3 : NULL;
	}
	return NULL;
}

static int list_parse(const char *doc, size_t len, struct vx_source_s3_page *page,
		      vx_source_s3_item_fn fn, void *arg, bool abs)
{
	const char *p = doc, *end = doc + len;
	struct xml_state *s;
	int rc = -EPROTO;

	memset(page, 0, sizeof(*page));
	if (len > VX_SOURCE_DOC_MAX)
		return -EMSGSIZE;
	s = vx_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->size = -1;
	s->abs = abs;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		size_t nl;

		if (!lt)
			lt = end;
		if (lt > p) {
			if (s->depth == 0) {
				for (const char *c = p; c < lt; c++) {
					if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t')
						goto out;
				}
			} else if (text_add(s, p, (size_t)(lt - p))) {
				goto out;
			}
		}
		if (lt == end)
			break;
		p = lt;
		if (end - p >= 2 && (p[1] == '?' || p[1] == '!')) {
			p = skip_special(p, end);
			if (!p)
				goto out;
			continue;
		}
		if (end - p >= 2 && p[1] == '/') {
			nl = name_len(p + 2, end);
			if (!nl || s->depth == 0 || nl != strlen(s->stack[s->depth - 1]) ||
			    memcmp(p + 2, s->stack[s->depth - 1], nl) != 0)
				goto out;
			p += 2 + nl;
			while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
				p++;
			if (p == end || *p != '>')
				goto out;
			p++;
			rc = on_close(s, page, fn, arg);
			if (rc)
				goto out;
			rc = -EPROTO;
			s->depth--;
			s->text_len = 0;
			s->text[0] = '\0';
			s->text_over = false;
			continue;
		}
		nl = name_len(p + 1, end);
		if (!nl || nl > XML_NAME_MAX || s->depth == XML_DEPTH_MAX)
			goto out;
		if (s->depth == 0) {
			if (s->root_seen)
				goto out;
			s->root_seen = true;
			if (nl == 5 && memcmp(p + 1, "Error", 5) == 0)
				s->is_error = true;
			else if (!abs && !(nl == 16 && memcmp(p + 1, "ListBucketResult", 16) == 0))
				goto out;
			else if (abs && !(nl == 18 && memcmp(p + 1, "EnumerationResults", 18) == 0))
				goto out;
		}
		memcpy(s->stack[s->depth], p + 1, nl);
		s->stack[s->depth][nl] = '\0';
		s->depth++;
		s->text_len = 0;
		s->text[0] = '\0';
		s->text_over = false;
		/* Attributes are skipped; quoted values may hold '>'. */
		p += 1 + nl;
		while (p < end && *p != '>' && *p != '/') {
			if (*p == '"' || *p == '\'') {
				const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));

				if (!q)
					goto out;
				p = q;
			}
			p++;
		}
		if (p == end)
			goto out;
		if (*p == '/') {
			if (end - p < 2 || p[1] != '>')
				goto out;
			p += 2;
			rc = on_close(s, page, fn, arg);
			if (rc)
				goto out;
			rc = -EPROTO;
			s->depth--;
			continue;
		}
		p++;
	}
	if (!s->root_seen || s->depth != 0)
		goto out;
	rc = s->is_error ? -EREMOTEIO : 0;
out:
	vx_free(s);
	if (rc && rc != -EREMOTEIO) {
		page->truncated = false;
		page->next_token[0] = '\0';
	}
	return rc;
}

int vx_source_s3_list_parse(const char *doc, size_t len, struct vx_source_s3_page *page,
			    vx_source_s3_item_fn fn, void *arg)
{
	return list_parse(doc, len, page, fn, arg, false);
}

int vx_source_abs_list_parse(const char *doc, size_t len, struct vx_source_s3_page *page,
			     vx_source_s3_item_fn fn, void *arg)
{
	return list_parse(doc, len, page, fn, arg, true);
}
