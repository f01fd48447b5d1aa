/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_tls.h: one TLS connection of the data plane as a byte engine, private to dataplane/.
 * OpenSSL does the handshake over two buffers of ours (a custom memory BIO); the application
 * records are then sealed and opened by dp_tlsrec.h over the same buffers: the owner receives
 * ciphertext with io_uring straight into rx space and sends it straight from tx data, and a
 * record is encrypted from the caller's bytes into tx and decrypted from rx into the caller's
 * buffer, with no copy in between. Nothing
 * here touches a socket or the ring; the upload server and the fetcher drive it from their
 * completions. A buffer region lent to the kernel (rx_space .. rx_commit, tx_data ..
 * tx_consume) is never moved meanwhile.
 */
#ifndef VX_DP_TLS_INT_H
#define VX_DP_TLS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_compiler.h"
#include "vx_dp_tls.h"
#include "vx_tls.h"

/* Room for one full TLS record on the wire (16 KiB of plaintext, header, tag, padding). */
#define VX__TLS_RECORD (16384u + 256u + 5u)
/*
 * An upload connection: requests in (two records); out, two body rounds of 128 KiB of
 * plaintext, one being sent while the next is encrypted.
 */
#define VX__TLS_TX_PLAIN (128u << 10)
#define VX__TLS_UP_RX	 (2u * VX__TLS_RECORD)
#define VX__TLS_UP_TX	 (2u * (VX__TLS_TX_PLAIN + 8u * 64u) + 4096u)
/* A fetcher connection: bodies in (16 records a receive), requests out (one record). */
#define VX__TLS_FX_RX (16u * VX__TLS_RECORD)
#define VX__TLS_FX_TX (2u * VX__TLS_RECORD)

struct vx__tls;

/*
 * vx__tls_new() - a connection over @ctx (borrowed; outlives it), as the server or the
 * client, with @rx_cap bytes for received and @tx_cap for outgoing ciphertext (each at least
 * VX__TLS_RECORD). TLS 1.3 and peer verification are required whatever @ctx says.
 * Returns 0, -EINVAL or -ENOMEM.
 */
VX_MUST_CHECK int vx__tls_new(struct vx__tls **out, struct ssl_ctx_st *ctx, bool server,
			      uint32_t rx_cap, uint32_t tx_cap);
void vx__tls_free(struct vx__tls *t);

/* Where to receive ciphertext and how much fits (0: full); lent until vx__tls_rx_commit(). */
uint8_t *vx__tls_rx_space(struct vx__tls *t, uint32_t *room);
/* @n bytes arrived in the space (0 when the receive failed: ends the loan). */
void vx__tls_rx_commit(struct vx__tls *t, uint32_t n);
/* Room a receive would get now (no receive lent): small while many records wait to be read. */
uint32_t vx__tls_rx_room(const struct vx__tls *t);
/* The received ciphertext not read yet (@len bytes; before the handshake began:
 * the connection's first bytes). */
const uint8_t *vx__tls_rx_data(const struct vx__tls *t, uint32_t *len);
/* Received bytes not turned into plaintext yet (read them before receiving). */
bool vx__tls_rx_buffered(const struct vx__tls *t);

/* Ciphertext to send (NULL when none); lent until vx__tls_tx_consume(). */
const uint8_t *vx__tls_tx_data(struct vx__tls *t, uint32_t *len);
/* @n bytes of it were sent (0 ends the loan too). */
void vx__tls_tx_consume(struct vx__tls *t, uint32_t n);
/* Room for more ciphertext: at least one full record. */
bool vx__tls_tx_room(const struct vx__tls *t);

/*
 * vx__tls_handshake() - moves the handshake on with what was received. Returns 1 when done
 * (the peer's certificate verified; identity in vx__tls_peer()), 0 when more bytes are needed
 * (send tx data first), or -EPROTO / -EKEYREJECTED (verification failed). Failures are logged
 * at debug level with OpenSSL's reason.
 */
int vx__tls_handshake(struct vx__tls *t);
bool vx__tls_done(const struct vx__tls *t);
/* The peer's certificate against @ctx as it is now (vx_tls_peer_recheck); 0 before the handshake. */
int vx__tls_recheck(const struct vx__tls *t, struct ssl_ctx_st *ctx);
/* The verified peer (after the handshake); -EPERM when its certificate names no vx identity. */
int vx__tls_peer(const struct vx__tls *t, const struct vx_tls_id **out);

/*
 * vx__tls_use_keys() - the records from now on with the application traffic secrets (@rx_secret
 * the peer's, @tx_secret ours, @secret_len bytes each) of TLS 1.3 cipher suite @suite. The
 * handshake's end calls it with what OpenSSL derived; the tests and the fuzz target call it
 * to get an engine in that state with secrets they know. Returns 0, -EINVAL or -ENOMEM.
 */
VX_MUST_CHECK int vx__tls_use_keys(struct vx__tls *t, uint16_t suite, const uint8_t *rx_secret,
				   const uint8_t *tx_secret, size_t secret_len);

/*
 * vx__tls_read() - plaintext into @buf. Returns bytes (> 0), 0 at the peer's close_notify,
 * -EAGAIN when more ciphertext is needed, or -EPROTO (a bad record, an alert, a KeyUpdate or any
 * other handshake message but a ticket to a client, the record limit): the connection is over,
 * and nothing of a record that failed was handed out.
 */
ssize_t vx__tls_read(struct vx__tls *t, void *buf, size_t len);
/*
 * vx__tls_write() - encrypts up to @len bytes of @buf into tx. Returns the bytes taken (> 0),
 * -EAGAIN when tx has no room (send it first), or -EPROTO.
 */
ssize_t vx__tls_write(struct vx__tls *t, const void *buf, size_t len);

#endif /* VX_DP_TLS_INT_H */
