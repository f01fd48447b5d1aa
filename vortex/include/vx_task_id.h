/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_task_id.h: task ids exactly as Dragonfly derives them, so the same URL names the same task
 * on every vx and Dragonfly peer. A task id is the lowercase hex SHA-256 of a plain
 * concatenation, with absent or empty fields adding nothing:
 *
 *   URL task:              normalized_url || tag || application || revision
 *                          || decimal(piece_length, when fixed by the user) || "STANDARD"
 *   content task:          the given content alone
 *   persistent cache task: file bytes || tag || application
 *                          || decimal(piece_length, when fixed) || "PERSISTENT_CACHE"
 *
 * normalized_url is vx_url_normalize_for_task_id() (see vx_url.h). The persistent cache form
 * hashes a whole file, so it has an incremental API: init, update any number of times, final.
 */
#ifndef VX_TASK_ID_H
#define VX_TASK_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_url.h"

/* Lowercase hex SHA-256; buffers are VX_TASK_ID_LEN + 1 bytes with the NUL. */
#define VX_TASK_ID_LEN 64
/* Longest tag, application or revision accepted, in bytes (rejected with -E2BIG above). */
#define VX_TASK_ID_FIELD_MAX 4096

/* What a URL task id is derived from. Every pointer is borrowed for the call. */
struct vx_task_id_params {
	const char *url;		    /* NUL-terminated, required */
	const char *tag;		    /* NULL or "" adds nothing */
	const char *application;	    /* NULL or "" adds nothing */
	const char *revision;		    /* NULL or "" adds nothing */
	uint64_t piece_length;		    /* user-fixed piece length; 0 = not fixed */
	const char *const *filtered_params; /* NULL = the default list (vx_url.h) */
	size_t nr_filtered_params;	    /* entries of filtered_params */
};

/*
 * vx_task_id_from_url() - the Dragonfly task id of a URL download.
 * @p: borrowed parameters (see above).
 * @out: gets VX_TASK_ID_LEN lowercase hex characters and a NUL.
 * @normalized, @normalized_len: optional (NULL/0 to skip); gets the normalized URL that was
 *   hashed, NUL-terminated, for debugging cache misses; truncated output is -ENOSPC.
 * @why: optional; the URL error reason when VX_EURL is returned.
 * Returns 0, VX_EURL (invalid URL), -E2BIG (URL or field too long), -ENOSPC (@normalized too
 * small), or -ENOMEM. Allocates a scratch buffer for the call (not a piece-path function).
 */
VX_MUST_CHECK int vx_task_id_from_url(const struct vx_task_id_params *p,
				      char out[VX_TASK_ID_LEN + 1], char *normalized,
				      size_t normalized_len, enum vx_url_error *why);

/*
 * vx_task_id_from_source() - vx_task_id_from_url() of a source as requests, tasks and triggers
 * carry it: @tag and @app may be NULL, @piece_length 0 when not fixed, @filtered NULL or
 * @nr_filtered 0 for the default list. Same returns.
 */
VX_MUST_CHECK int vx_task_id_from_source(const char *url, const char *tag, const char *app,
					 uint64_t piece_length, const char *const *filtered,
					 size_t nr_filtered, char out[VX_TASK_ID_LEN + 1]);

/*
 * vx_task_id_from_content() - the task id when the caller gives explicit "content for
 * calculating task id": sha256(@content). @content: borrowed, @len bytes (NULL if 0).
 * Returns 0 or -ENOMEM / -EIO (crypto library failure).
 */
VX_MUST_CHECK int vx_task_id_from_content(const void *content, size_t len,
					  char out[VX_TASK_ID_LEN + 1]);

/* Incremental persistent-cache task id; opaque, heap-allocated. */
struct vx_task_id_hasher;

/*
 * vx_task_id_hasher_new() - starts a persistent cache task id over file bytes.
 * Returns 0 and *@out owned (free with vx_task_id_hasher_free), or -ENOMEM / -EIO.
 */
VX_MUST_CHECK int vx_task_id_hasher_new(struct vx_task_id_hasher **out);
/* Hashes @len more file bytes at @buf (borrowed). Returns 0 or -EIO. */
VX_MUST_CHECK int vx_task_id_hasher_update(struct vx_task_id_hasher *h, const void *buf,
					   size_t len);
/*
 * vx_task_id_hasher_final_persistent_cache() - appends tag, application, piece length
 * (0 = not fixed) and "PERSISTENT_CACHE", and writes the id to @out. @tag and @application
 * may be NULL. The hasher is spent afterwards: only _free is allowed.
 * Returns 0, -E2BIG (field too long) or -EIO.
 */
VX_MUST_CHECK int vx_task_id_hasher_final_persistent_cache(struct vx_task_id_hasher *h,
							   const char *tag, const char *application,
							   uint64_t piece_length,
							   char out[VX_TASK_ID_LEN + 1]);
/* Takes @h; NULL is a no-op. */
void vx_task_id_hasher_free(struct vx_task_id_hasher *h);

/*
 * vx_task_id_valid() - true when @len bytes at @s are a task id: exactly VX_TASK_ID_LEN
 * lowercase hex characters. @s: borrowed.
 */
bool vx_task_id_valid(const char *s, size_t len);

#endif /* VX_TASK_ID_H */
