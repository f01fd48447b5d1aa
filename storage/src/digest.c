/* SPDX-License-Identifier: Apache-2.0 */
/*
 * digest.c: checks a task's whole content against the digest a user gave to `vx get --digest`
 * (parsed by vortex's vx_digest_spec_parse()): sha256 and sha512 through openssl EVP, crc32
 * through vx_crc32. The content is read through the task's buffered fd in 1 MiB chunks, capped
 * per call like every store read.
 */
#include "store_int.h"

#include <errno.h>
#include <string.h>
#include <openssl/evp.h>

#include "vx_alloc.h"
#include "vx_assert.h"
#include "vx_digest.h"
#include "vx_err.h"

#define DIGEST_CHUNK (1u << 20)

/* Digest of [0, len) of @fd into @got (d->len bytes). */
static int digest_fd(int fd, uint64_t len, const struct vx_digest_spec *d, uint8_t *got)
{
	EVP_MD_CTX *md = NULL;
	uint8_t *buf;
	uint32_t crc = 0;
	int err = 0;

	buf = vx_malloc(DIGEST_CHUNK);
	if (!buf)
		return -ENOMEM;
	if (d->algo != VX_DIGEST_CRC32) {
		md = EVP_MD_CTX_new();
		if (!md ||
		    EVP_DigestInit_ex(md, d->algo == VX_DIGEST_SHA256 ? EVP_sha256() : EVP_sha512(),
				      NULL) != 1) {
			err = -EIO;
			goto out;
		}
	}
	for (uint64_t off = 0; off < len;) {
		size_t n = (size_t)VX_MIN(len - off, (uint64_t)DIGEST_CHUNK);
		ssize_t r = vx__file_pread_all(fd, buf, n, off);

		if (r < 0) {
			err = (int)r;
			goto out;
		}
		if (md && EVP_DigestUpdate(md, buf, n) != 1) {
			err = -EIO;
			goto out;
		}
		if (!md)
			crc = vx_crc32(crc, buf, n);
		off += n;
	}
	if (md) {
		unsigned int out_len = 0;

		if (EVP_DigestFinal_ex(md, got, &out_len) != 1 || out_len != d->len)
			err = -EIO;
	} else {
		got[0] = (uint8_t)(crc >> 24);
		got[1] = (uint8_t)(crc >> 16);
		got[2] = (uint8_t)(crc >> 8);
		got[3] = (uint8_t)crc;
	}
out:
	EVP_MD_CTX_free(md);
	vx_free(buf);
	return err;
}

int vx_store_task_check_digest(struct vx_store_task *t, const struct vx_digest_spec *want)
{
	uint8_t got[64];
	bool complete, matched;
	int err;

	VX_ASSERT(t);
	VX_ASSERT(want);
	VX_ASSERT(want->len <= sizeof(got));
	pthread_mutex_lock(&t->lock);
	complete = t->state == VX_STORE_TASK_COMPLETE;
	matched = complete && t->digest_ok_len == want->len &&
		  t->digest_ok_algo == (int)want->algo &&
		  memcmp(t->digest_ok, want->value, want->len) == 0;
	pthread_mutex_unlock(&t->lock);
	if (!complete)
		return -EAGAIN;
	if (matched)
		return 0; /* a complete task's content never changes */
	err = digest_fd(t->fd, t->content_length, want, got);
	if (err)
		return err;
	if (memcmp(got, want->value, want->len) != 0)
		return VX_EDIGEST;
	pthread_mutex_lock(&t->lock);
	memcpy(t->digest_ok, got, want->len);
	t->digest_ok_len = (uint8_t)want->len;
	t->digest_ok_algo = (int)want->algo;
	pthread_mutex_unlock(&t->lock);
	return 0;
}
