/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_harness.h: helpers shared by the data-plane integration tests: a vx upload server
 * on its own thread (own loop, own ring) serving a file task, a raw blocking-socket client
 * that behaves exactly like Dragonfly's downloader, and file helpers.
 */
#ifndef VX_DATAPLANE_HARNESS_H
#define VX_DATAPLANE_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "vx_file_task.h"
#include "vx_loop.h"
#include "vx_upload.h"

#define VX_H_TASK_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct vx_h_server {
	pthread_t thread;
	struct vx_upload_cfg cfg;
	struct vx_file_task *task; /* owned by the harness; loop thread once started */
	struct vx_loop *loop;
	struct vx_upload *up;
	struct sockaddr_in addr; /* where it listens */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
	int start_err;
	/* Mailbox from the test thread: pieces to mark finished (or missing). */
	uint32_t mbox[64];
	bool mbox_finished[64];
	uint32_t mbox_len;
	struct vx_upload_stats stats; /* copied at each tick and at exit */
	uint32_t lent_at_exit;
};

/* Writes @len bytes of a deterministic pattern (seeded by @seed) to a new file at @path. */
void vx_h_write_pattern(const char *path, uint64_t len, uint32_t seed);
/* Makes a temporary directory (mkdtemp) and returns its path in @out (PATH_MAX). */
void vx_h_tmpdir(char *out);
/* Removes @dir and every file in it (one level). */
void vx_h_rmdir(const char *dir);
/* Removes @dir and everything below it. */
void vx_h_rmtree(const char *dir);
/* True when the two files have identical bytes. */
bool vx_h_files_equal(const char *a, const char *b);

/*
 * Starts a server thread serving @path as task VX_H_TASK_ID. @cfg may be NULL for defaults
 * (with port 0 on 127.0.0.1). @seed_all: every piece finished.
 */
void vx_h_server_start(struct vx_h_server *s, const char *path, uint64_t content_length,
		       uint64_t piece_length, const struct vx_upload_cfg *cfg);
/* Marks a piece finished / missing, through the server's loop. */
void vx_h_server_set(struct vx_h_server *s, uint32_t number, bool finished);
/* Marks @nr pieces finished in one go (one loop wakeup: their HAVEs may share a frame). */
void vx_h_server_finish_many(struct vx_h_server *s, const uint32_t *numbers, uint32_t nr);
/* Stops the server thread and checks nothing leaked. */
void vx_h_server_stop(struct vx_h_server *s);

/* Raw Dragonfly-like client helpers (blocking sockets, timeouts of 5 s). */
int vx_h_connect(const struct sockaddr_in *addr);
int vx_h_send_all(int fd, const void *buf, size_t len);
int vx_h_recv_all(int fd, void *buf, size_t len);
/* Sends a DownloadPiece frame (tag 0) for @task_id / @number. */
int vx_h_send_download(int fd, const char *task_id, uint32_t number);
/* Sends a CANCEL frame for @task_id / @number. */
int vx_h_send_cancel(int fd, const char *task_id, uint32_t number);
/* Sends a vx HELLO and reads the server's HELLO; returns its feature bits or -1. */
int vx_h_hello(int fd);

struct vx_h_answer {
	uint8_t tag;
	uint32_t number;
	uint64_t offset;
	uint64_t length;
	char digest[32];
	uint8_t error_code;
	char error_msg[256];
	uint8_t *body; /* malloc'd, length bytes (NULL for errors) */
};

/*
 * Reads one answer exactly as Dragonfly's downloader does: 6-byte header, then for a content
 * tag the 4-byte metadata length, the metadata and exactly `length` body bytes; for Error the
 * value. Returns 0, or -1 on EOF / error.
 */
int vx_h_read_answer(int fd, struct vx_h_answer *a);
void vx_h_answer_free(struct vx_h_answer *a);

/*
 * A raw-socket test server that behaves like Dragonfly's uploader: one DownloadPiece per
 * connection, answered with PieceContent (digest "crc32:<decimal>") and the body, then close;
 * any other tag (a vx HELLO) drops the connection. Modes make it misbehave on purpose.
 */
enum vx_h_raw_mode {
	VX_H_RAW_DRAGONFLY = 0, /* correct */
	VX_H_RAW_CORRUPT = 1,	/* flips one body byte, keeps the honest-looking digest */
	VX_H_RAW_DIE_MID = 2,	/* sends the head and half the body, then closes */
	VX_H_RAW_STALL = 3,	/* reads the request and never answers */
	/*
	 * Speaks vx (HELLO, no availability: it has every piece, pipelined answers); the
	 * first connection is closed on its first request, unanswered (an idle limit
	 * crossing the request), the later ones are served.
	 */
	VX_H_RAW_VX_CLOSE_FIRST = 4,
	/*
	 * Speak vx offering LZ4 (HELLO PIPELINE | LZ4, every piece) and answer every request
	 * with COMPRESSED_PIECE_CONTENT (spec/vortex.md 5.5): correct, or spoiled.
	 */
	VX_H_RAW_LZ4 = 5,
	VX_H_RAW_LZ4_BAD_BLOCK = 6,  /* the block opens with a match: it does not decompress */
	VX_H_RAW_LZ4_OVER_BOUND = 7, /* compressed_length above LZ4_compressBound(piece) */
	VX_H_RAW_LZ4_CORRUPT = 8,    /* a valid block of the piece with one byte flipped */
	VX_H_RAW_LZ4_SHORT = 9,	     /* a valid block of the piece less its last byte */
};

struct vx_h_raw {
	pthread_t thread;
	int lfd;
	enum vx_h_raw_mode mode;
	const uint8_t *content; /* borrowed */
	uint64_t len;
	uint64_t piece;
	struct sockaddr_in addr;
	atomic_int stop;
	volatile int active;		/* connection threads alive */
	volatile int served;		/* answers completed */
	volatile int hellos;		/* connections dropped on a non-Dragonfly tag */
	volatile int accepted;		/* connections accepted */
	volatile int closed_unanswered; /* VX_CLOSE_FIRST: requests closed on */
	pthread_mutex_t lock;
};

void vx_h_raw_start(struct vx_h_raw *r, enum vx_h_raw_mode mode, const uint8_t *content,
		    uint64_t len, uint64_t piece);
void vx_h_raw_stop(struct vx_h_raw *r);

#endif /* VX_DATAPLANE_HARNESS_H */
