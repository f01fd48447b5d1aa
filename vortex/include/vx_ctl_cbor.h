/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_ctl_cbor.h: what the two message protocols on the Vortex control tags share. A message is
 * one Vortex frame (vx_frame.h: 6-byte header, tag VX_TAG_CONTROL_REQUEST, _RESPONSE or _EVENT)
 * whose value is one CBOR map with small integer keys. Two protocols use that shape:
 *
 *   vx_ctl_msg.h  the scheduler protocol, peer <-> `vx scheduler` (spec/control.md)
 *   vx_api_msg.h  the local API, client <-> `vx serve` over a unix socket (spec/api.md)
 *
 * Both decode under the same hard limits (this header) before anything is allocated, borrow
 * strings from the decoded buffer, and keep keys 0-4 (rid, type, version, status, error) and
 * the key numbers they share with the same meaning, so a frame dump reads the same either way.
 */
#ifndef VX_CTL_CBOR_H
#define VX_CTL_CBOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_frame.h"

#define VX_CTL_VERSION	    1
#define VX_CTL_FRAME_MAX    VX_FRAME_CONTROL_MAX /* value bytes of one control frame */
#define VX_CTL_DEPTH_MAX    4			 /* CBOR nesting, the top map counts as 1 */
#define VX_CTL_KEYS_MAX	    64			 /* entries of the top map */
#define VX_CTL_STR_MAX	    8192		 /* bytes of one text string (URLs) */
#define VX_CTL_ID_MAX	    256	    /* bytes of a host id, address, idc, location, token */
#define VX_CTL_ERROR_MAX    1024    /* bytes of a response's error text */
#define VX_CTL_SKIP_MAX	    1024    /* unknown-key items skipped in one message */
#define VX_CTL_STATUS_MIN   (-4095) /* most negative status (vx_err.h codes) */
#define VX_CTL_REPLICAS_MAX 64	    /* persistent cache copies of one task (spec/control.md 14) */
#define VX_CTL_TTL_MAX	    (7ull * 24 * 3600) /* persistent cache TTL, s (Dragonfly: 7 d) */

/* A borrowed, not NUL-terminated byte range; len 0 and ptr NULL is absent/empty. */
struct vx_ctl_str {
	const char *ptr;
	uint32_t len;
};

/* Builds a struct vx_ctl_str over a NUL-terminated @s (borrowed); NULL gives the empty str. */
struct vx_ctl_str vx_ctl_str_of(const char *s);

/* True when @a holds exactly the bytes of NUL-terminated @s. */
bool vx_ctl_str_eq(struct vx_ctl_str a, const char *s);

/*
 * vx_ctl_strs_dup() - owned copies of @n strings at @in (borrowed): *@out gets @n
 * NUL-terminated strings and *@out_str the same as vx_ctl_str. Returns 0 (both NULL when @n is
 * 0) or -ENOMEM with nothing left allocated. Free with vx_ctl_strs_free().
 */
VX_MUST_CHECK int vx_ctl_strs_dup(const struct vx_ctl_str *in, uint32_t n, char ***out,
				  struct vx_ctl_str **out_str);
/* Frees what vx_ctl_strs_dup() gave (@n entries); NULLs are fine. */
void vx_ctl_strs_free(char **strs, struct vx_ctl_str *str, uint32_t n);

/* True for the three control tags a message may travel in. */
bool vx_ctl_tag_ok(uint8_t tag);

/*
 * A reader of a control-frame stream: vortex's incremental decoder (vx_frame.h) set up for
 * control frames, with its own value buffer that grows as value bytes arrive (up to
 * VX_CTL_FRAME_MAX, never by what a header merely declares) and shrinks back to
 * VX_CTL_READER_START once a frame over VX_CTL_READER_KEEP was taken. One per connection.
 */
#define VX_CTL_READER_START 4096u
#define VX_CTL_READER_KEEP  (64u << 10)

struct vx_ctl_reader {
	struct vx_frame_dec dec;
	uint8_t *buf;
	size_t cap;   /* bytes allocated at @buf */
	int err;      /* sticky: a frame that is not a control frame came */
	char why[64]; /* its text */
};

/* Prepares @r for a stream from its first byte. Returns 0 or -ENOMEM. */
VX_MUST_CHECK int vx_ctl_reader_init(struct vx_ctl_reader *r);
/* Starts @r (initialized) over for a new stream, keeping its buffer. */
void vx_ctl_reader_reset(struct vx_ctl_reader *r);
/* Frees the buffer; @r may be zeroed or initialized. */
void vx_ctl_reader_free(struct vx_ctl_reader *r);

/*
 * vx_ctl_reader_feed() - vx_frame_dec_feed() for control streams: @len bytes at @in (borrowed).
 * Returns n >= 1 with a control frame in *@f (its value lent until the next feed; n bytes used),
 * -EAGAIN when all of @in was used without completing a frame, or -EPROTO / -EMSGSIZE for a
 * broken stream, also for a frame whose tag is not a control tag. Errors are sticky;
 * vx_ctl_reader_why() says why.
 */
VX_MUST_CHECK ssize_t vx_ctl_reader_feed(struct vx_ctl_reader *r, const uint8_t *in, size_t len,
					 struct vx_frame *f);
/* Bytes of memory @r's buffer holds now (for a server's total budget). */
size_t vx_ctl_reader_mem(const struct vx_ctl_reader *r);
/* Why @r failed, as text. */
const char *vx_ctl_reader_why(const struct vx_ctl_reader *r);

#endif /* VX_CTL_CBOR_H */
