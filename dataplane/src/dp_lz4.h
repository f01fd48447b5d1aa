/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_lz4.h: lz4 piece bodies between vx peers (COMPRESSED_PIECE_CONTENT, spec/vortex.md 5.5),
 * private to dataplane/. The sender's decision (is compressing this piece worth it on this
 * connection?), the receiver's checked decompression, and the uploader's small cache of
 * compressed pieces (several children ask a seed for the same piece). liblz4 (Debian's
 * liblz4-1) does the block format; nothing here parses more than its lengths.
 */
#ifndef VX_DP_LZ4_H
#define VX_DP_LZ4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"
#include "vx_task_id.h"

/*
 * Pieces compressed at most this long: a body both sides hold whole in memory (the receiver a
 * compressed and a plain copy per connection). Longer ones always go raw; a compressed frame
 * announcing a longer piece is refused.
 */
#define VX_LZ4_PIECE_MAX (64u << 20)
/* Pieces shorter than this go raw: the frame's 5 bytes and a decompression buy nothing. */
#define VX_LZ4_PIECE_MIN (4u << 10)
/* The sample the sender compresses to guess a piece's ratio: its first 64 KiB. */
#define VX_LZ4_SAMPLE (64u << 10)
/* lz4's compression rate before any compression was timed (bytes/s; measured ~600 MB/s). */
#define VX_LZ4_RATE_GUESS (400ull << 20)

/*
 * vx__lz4_bound() - the largest compressed body a piece of @len bytes may have
 * (LZ4_compressBound(@len)); 0 when @len is 0 or above VX_LZ4_PIECE_MAX (not compressible on
 * the wire).
 */
uint32_t vx__lz4_bound(uint64_t len);

/*
 * vx__lz4_worth() - the sender's decision. Compressing a piece costs len/@lz4_rate of CPU
 * (nothing when @cached: the compressed body exists) and sends @ratio_pm/1000 of its bytes;
 * raw sends them all at @link_rate (bytes/s, what the connection delivers). True when the
 * compressed path takes at most 10/11 of the raw one (a 10 % margin for the receiver's
 * decompression and the guess's error). @link_rate 0 (unknown) counts as slow.
 */
bool vx__lz4_worth(uint64_t link_rate, uint64_t lz4_rate, uint32_t ratio_pm, bool cached);

/*
 * vx__lz4_decode() - the receiver's decompression of one COMPRESSED_PIECE_CONTENT body: the
 * @clen bytes at @src into exactly @len bytes at @dst. Returns 0, or -EPROTO when @clen is 0
 * or above vx__lz4_bound(@len), the block is malformed, or it does not decompress to exactly
 * @len bytes (then @dst holds garbage the caller drops).
 */
VX_MUST_CHECK int vx__lz4_decode(const uint8_t *src, uint32_t clen, uint8_t *dst, uint64_t len);

/*
 * vx__lz4_encode() - compresses @len bytes (at most VX_LZ4_PIECE_MAX) at @src into @dst of
 * @cap bytes (vx__lz4_bound(@len) always suffices). Returns the compressed length, or 0 when
 * it does not fit @cap.
 */
uint32_t vx__lz4_encode(const uint8_t *src, uint64_t len, uint8_t *dst, uint32_t cap);

/* ---- the uploader's cache of compressed pieces ------------------------------------------- */

/* Compressed pieces kept at once, and their bytes at most (a least recently used goes). */
#define VX_LZ4_CACHE_ENTRIES 16u
#define VX_LZ4_CACHE_BYTES   (64u << 20)

struct vx__lz4_piece {
	char task[VX_TASK_ID_LEN];
	uint32_t number;
	uint64_t len;  /* the piece's (uncompressed) length */
	uint32_t clen; /* compressed bytes at @data */
	uint32_t refs; /* answers sending from @data */
	uint64_t used_at;
	uint8_t *data; /* NULL: the slot is free */
};

struct vx__lz4_cache {
	struct vx__lz4_piece e[VX_LZ4_CACHE_ENTRIES];
	uint64_t clock;
	uint64_t bytes;	    /* compressed bytes held now */
	uint64_t bytes_max; /* the most ever held (the cache's memory, measured) */
};

/* The cached compressed piece @number of @task whose length is @len, referenced; or NULL. */
struct vx__lz4_piece *vx__lz4_cache_get(struct vx__lz4_cache *lc, const char *task, uint32_t number,
					uint64_t len);
/*
 * vx__lz4_cache_put() - enters @clen compressed bytes at @data (taken: malloc'd, freed by the
 * cache) for piece @number of @task (@len bytes plain), referenced. A least recently used entry
 * nobody sends from makes room; NULL (and @data freed) when every entry is in use or the bytes
 * would exceed VX_LZ4_CACHE_BYTES: the caller sends raw.
 */
struct vx__lz4_piece *vx__lz4_cache_put(struct vx__lz4_cache *lc, const char *task, uint32_t number,
					uint64_t len, uint8_t *data, uint32_t clen);
/* Drops a reference taken by get() or put(). */
void vx__lz4_cache_unref(struct vx__lz4_piece *p);
/* Frees every entry (none may be referenced, asserted). */
void vx__lz4_cache_clear(struct vx__lz4_cache *lc);

#endif /* VX_DP_LZ4_H */
