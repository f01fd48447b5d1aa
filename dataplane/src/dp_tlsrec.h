/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_tlsrec.h: TLS 1.3 application-data records (RFC 8446 section 5.2) sealed and opened over
 * our own buffers, private to dataplane/. OpenSSL does the handshake; the data plane's engine
 * (dp_tls.c) then takes the two application traffic secrets, derives key and iv (section 7.3,
 * OpenSSL's TLS13-KDF) and moves the bytes itself: a record is encrypted from where the body
 * is (the piece mapping) straight into the send buffer, and decrypted from the receive buffer
 * straight to where the reader wants it, with no record buffer in between. The parsers
 * (header, inner plaintext, post-handshake messages) are pure and fuzzed
 * (tests/fuzz/fuzz_dp_tls.c).
 */
#ifndef VX_DP_TLSREC_H
#define VX_DP_TLSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

#define VX__TLSREC_HDR	      5u
#define VX__TLSREC_TAG	      16u
#define VX__TLSREC_MAX_PLAIN  16384u	      /* 2^14 bytes of content a record */
#define VX__TLSREC_MAX_CIPHER (16384u + 256u) /* the longest body a peer may send */
/* What a sealed record adds to its content: header, inner content type, tag. */
#define VX__TLSREC_OVERHEAD (VX__TLSREC_HDR + 1u + VX__TLSREC_TAG)
/*
 * Records one key may seal or open: RFC 8446 section 5.5 puts AES-GCM's limit at 2^24.5 full
 * records; the connection ends before it (256 GiB of 16 KiB records) rather than updating keys.
 */
#define VX__TLSREC_SEQ_MAX    (1ull << 24)
#define VX__TLSREC_SECRET_MAX 48u /* SHA-384 */

enum vx__tlsrec_type {
	VX__TLSREC_ALERT = 21,
	VX__TLSREC_HANDSHAKE = 22,
	VX__TLSREC_APP = 23,
};

/* One direction's key: the AEAD with its key set, the static iv, the next sequence number. */
struct vx__tlsrec_key {
	struct evp_cipher_ctx_st *aead;
	uint8_t iv[12];
	bool enc;
	uint64_t seq;
};

/*
 * vx__tlsrec_key_init() - key and iv from a traffic @secret (HKDF-Expand-Label "key" and "iv")
 * for the TLS 1.3 cipher suite @suite (0x1301 AES-128-GCM, 0x1302 AES-256-GCM with SHA-384,
 * 0x1303 ChaCha20-Poly1305), to seal (@enc) or to open. Returns 0, -EINVAL (a suite or secret
 * length it does not know) or -ENOMEM. The derived key is wiped from our memory at once.
 */
VX_MUST_CHECK int vx__tlsrec_key_init(struct vx__tlsrec_key *k, uint16_t suite,
				      const uint8_t *secret, size_t secret_len, bool enc);
/* Frees the AEAD (OpenSSL wipes its key schedule) and wipes the iv. */
void vx__tlsrec_key_wipe(struct vx__tlsrec_key *k);

/*
 * vx__tlsrec_header() - the record header at @p (@avail bytes): its body length in @body_len.
 * Returns 0, -EAGAIN (fewer than 5 bytes), or -EPROTO: not application_data (the only outer
 * type after the handshake), not version 0x0303, a body shorter than a tag or over 2^14+256.
 */
VX_MUST_CHECK int vx__tlsrec_header(const uint8_t *p, size_t avail, uint32_t *body_len);

/*
 * vx__tlsrec_inner() - an opened record's inner plaintext (@len bytes: content, type, zero
 * padding): its real type in @type and content length in @content_len. Returns 0, or -EPROTO
 * (all zeros: no type; content over 2^14).
 */
VX_MUST_CHECK int vx__tlsrec_inner(const uint8_t *p, size_t len, uint8_t *type,
				   size_t *content_len);

/*
 * vx__tlsrec_post_handshake() - handshake messages received after the switch (@len bytes of
 * one record's content). A client takes whole NewSessionTicket messages and drops them (we
 * never resume); anything else (KeyUpdate, a certificate request, a ticket to a server, a
 * message split across records) returns -EPROTO with what it was in @what.
 */
VX_MUST_CHECK int vx__tlsrec_post_handshake(const uint8_t *p, size_t len, bool client,
					    const char **what);

/*
 * vx__tlsrec_seal() - one record of @len (<= 2^14) bytes of @plain with inner type @type, to
 * @out (room for @len + VX__TLSREC_OVERHEAD; @plain may be @out + 5: in place). Returns the
 * record's size, or -EPROTO (the key's record limit reached, or OpenSSL failed).
 */
VX_MUST_CHECK int vx__tlsrec_seal(struct vx__tlsrec_key *k, uint8_t *out, const uint8_t *plain,
				  size_t len, uint8_t type);

/*
 * vx__tlsrec_open() - opens the record at @rec (header checked, @body_len body bytes after it)
 * to @out (room for @body_len - 16; may be @rec + 5: in place). Returns 0, -EBADMSG (the tag
 * does not match: @out is wiped, nothing of the record is left) or -EPROTO (record limit).
 */
VX_MUST_CHECK int vx__tlsrec_open(struct vx__tlsrec_key *k, const uint8_t *rec, uint32_t body_len,
				  uint8_t *out);

#endif /* VX_DP_TLSREC_H */
