/* SPDX-License-Identifier: Apache-2.0 */
/*
 * task_id.c: Dragonfly task ids: SHA-256 (OpenSSL EVP) over the normalized URL and the task
 * fields, over explicit content, or over a whole file for persistent cache tasks.
 */
#include "vx_task_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_err.h"
#include "vx_hex.h"

struct vx_task_id_hasher {
	EVP_MD_CTX *md;
	bool spent;
};

static void hex_out(const uint8_t digest[32], char out[VX_TASK_ID_LEN + 1])
{
	vx_hex_encode(digest, VX_TASK_ID_LEN / 2, out);
}

bool vx_task_id_valid(const char *s, size_t len)
{
	return len == VX_TASK_ID_LEN && vx_hex_is_lower(s, len);
}

static int md_update_str(EVP_MD_CTX *md, const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, VX_TASK_ID_FIELD_MAX + 1);
	if (n > VX_TASK_ID_FIELD_MAX)
		return -E2BIG;
	if (n && EVP_DigestUpdate(md, s, n) != 1)
		return -EIO;
	return 0;
}

static int md_update_piece_length(EVP_MD_CTX *md, uint64_t piece_length)
{
	char num[24];
	int n;

	if (piece_length == 0)
		return 0;
	n = snprintf(num, sizeof(num), "%" PRIu64, piece_length);
	VX_ASSERT(n > 0 && (size_t)n < sizeof(num));
	return EVP_DigestUpdate(md, num, (size_t)n) == 1 ? 0 : -EIO;
}

static int md_final_hex(EVP_MD_CTX *md, char out[VX_TASK_ID_LEN + 1])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(md, digest, &n) != 1 || n != 32)
		return -EIO;
	hex_out(digest, out);
	return 0;
}

int vx_task_id_from_url(const struct vx_task_id_params *p, char out[VX_TASK_ID_LEN + 1],
			char *normalized, size_t normalized_len, enum vx_url_error *why)
{
	EVP_MD_CTX *md = NULL;
	size_t url_len, cap;
	char *norm;
	ssize_t n;
	int rc;

	VX_ASSERT(p != NULL);
	VX_ASSERT(p->url != NULL);
	VX_ASSERT(out != NULL);
	out[0] = '\0';
	if (normalized && normalized_len)
		normalized[0] = '\0';
	url_len = strnlen(p->url, VX_URL_INPUT_MAX + 1);
	if (url_len > VX_URL_INPUT_MAX) {
		if (why)
			*why = VX_URL_ERR_TOO_LONG;
		return -E2BIG;
	}
	cap = VX_URL_OUT_MAX(url_len);
	norm = vx_malloc(cap);
	if (!norm)
		return -ENOMEM;
	n = vx_url_normalize_for_task_id(p->url, url_len, p->filtered_params, p->nr_filtered_params,
					 norm, cap, why);
	if (n < 0) {
		rc = (int)n;
		goto out_free_norm;
	}
	md = EVP_MD_CTX_new();
	if (!md) {
		rc = -ENOMEM;
		goto out_free_norm;
	}
	rc = -EIO;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, norm, (size_t)n) != 1)
		goto out_free_md;
	rc = md_update_str(md, p->tag);
	if (!rc)
		rc = md_update_str(md, p->application);
	if (!rc)
		rc = md_update_str(md, p->revision);
	if (!rc)
		rc = md_update_piece_length(md, p->piece_length);
	if (!rc)
		rc = EVP_DigestUpdate(md, "STANDARD", 8) == 1 ? 0 : -EIO;
	if (!rc)
		rc = md_final_hex(md, out);
	if (!rc && normalized && normalized_len) {
		if ((size_t)n + 1 > normalized_len) {
			rc = -ENOSPC;
			out[0] = '\0';
		} else {
			memcpy(normalized, norm, (size_t)n + 1);
		}
	}
out_free_md:
	EVP_MD_CTX_free(md);
out_free_norm:
	vx_free(norm);
	return rc;
}

int vx_task_id_from_source(const char *url, const char *tag, const char *app, uint64_t piece_length,
			   const char *const *filtered, size_t nr_filtered,
			   char out[VX_TASK_ID_LEN + 1])
{
	const struct vx_task_id_params tp = {
		.url = url,
		.tag = tag,
		.application = app,
		.piece_length = piece_length,
		.filtered_params = nr_filtered ? filtered : NULL,
		.nr_filtered_params = nr_filtered,
	};

	return vx_task_id_from_url(&tp, out, NULL, 0, NULL);
}

int vx_task_id_from_content(const void *content, size_t len, char out[VX_TASK_ID_LEN + 1])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	VX_ASSERT(content != NULL || len == 0);
	if (EVP_Digest(len ? content : "", len, digest, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -EIO;
	hex_out(digest, out);
	return 0;
}

int vx_task_id_hasher_new(struct vx_task_id_hasher **out)
{
	struct vx_task_id_hasher *h;
	int rc;

	*out = NULL;
	h = vx_calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->md = EVP_MD_CTX_new();
	if (!h->md) {
		rc = -ENOMEM;
		goto err_free_hasher;
	}
	if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		rc = -EIO;
		goto err_free_md;
	}
	*out = h;
	return 0;
err_free_md:
	EVP_MD_CTX_free(h->md);
err_free_hasher:
	vx_free(h);
	return rc;
}

int vx_task_id_hasher_update(struct vx_task_id_hasher *h, const void *buf, size_t len)
{
	VX_ASSERT(h != NULL);
	VX_ASSERT(!h->spent);
	VX_ASSERT(buf != NULL || len == 0);
	if (len == 0)
		return 0;
	return EVP_DigestUpdate(h->md, buf, len) == 1 ? 0 : -EIO;
}

int vx_task_id_hasher_final_persistent_cache(struct vx_task_id_hasher *h, const char *tag,
					     const char *application, uint64_t piece_length,
					     char out[VX_TASK_ID_LEN + 1])
{
	int rc;

	VX_ASSERT(h != NULL);
	VX_ASSERT(!h->spent);
	h->spent = true;
	rc = md_update_str(h->md, tag);
	if (!rc)
		rc = md_update_str(h->md, application);
	if (!rc)
		rc = md_update_piece_length(h->md, piece_length);
	if (!rc)
		rc = EVP_DigestUpdate(h->md, "PERSISTENT_CACHE", 16) == 1 ? 0 : -EIO;
	if (!rc)
		rc = md_final_hex(h->md, out);
	return rc;
}

void vx_task_id_hasher_free(struct vx_task_id_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	vx_free(h);
}
