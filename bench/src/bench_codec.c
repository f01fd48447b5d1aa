/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_codec.c: `vx-bench codec`: how fast the Vortex codec runs on one core: frame header
 * encode/decode, the incremental decoder over a stream of requests, DownloadPiece and
 * PieceContent value decoding, task ids of typical URLs, and CRC-32 for every implementation
 * side by side with zlib, the baseline, measured in the same run (in cache and out of cache).
 * Time is the thread's CPU time, not wall time, so other processes on a shared machine do not
 * count against us (they still share caches and memory bandwidth).
 *
 * Usage: vx-bench codec [--time-ms N] [--cold-mib N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vx_alloc.h"
#include "vx_digest.h"
#include "vx_frame.h"
#include "vx_task_id.h"
#include "vx_time.h"

#define TID "5844f27a257287e9b734256bb25603d8005422ced8c0377f15063ec11963b25f"

/* CPU time of the calling thread, in nanoseconds. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keeps results alive so the compiler cannot drop the measured work. */
static volatile uint64_t sink;

struct rate {
	uint64_t ops;
	uint64_t bytes;
	uint64_t ns;
};

static double per_s(const struct rate *r, uint64_t v)
{
	return r->ns ? (double)v * 1e9 / (double)r->ns : 0.0;
}

/* Runs @fn in batches until @budget_ns has passed. */
#define MEASURE(r, budget_ns, batch, body)                              \
	do {                                                            \
		uint64_t t0_ = cpu_ns(), t_;                            \
		(r)->ops = 0;                                           \
		do {                                                    \
			for (unsigned int i_ = 0; i_ < (batch); i_++) { \
				body;                                   \
			}                                               \
			(r)->ops += (batch);                            \
			t_ = cpu_ns();                                  \
		} while (t_ - t0_ < (budget_ns));                       \
		(r)->ns = t_ - t0_;                                     \
	} while (0)

static void bench_headers(uint64_t budget)
{
	struct vx_frame_hdr h = { .packet_id = 1, .tag = VX_TAG_DOWNLOAD_PIECE, .length = 68 };
	uint8_t out[VX_FRAME_HDR_LEN];
	struct rate r;

	MEASURE(&r, budget, 4096, {
		h.packet_id = (uint8_t)i_;
		vx_frame_hdr_encode(out, &h);
		sink += out[0];
	});
	printf("  %-34s %10.1f M frames/s\n", "header encode", per_s(&r, r.ops) / 1e6);
	MEASURE(&r, budget, 4096, {
		out[0] = (uint8_t)i_;
		vx_frame_hdr_decode(out, &h);
		sink += h.packet_id + h.length;
	});
	printf("  %-34s %10.1f M frames/s\n", "header decode", per_s(&r, r.ops) / 1e6);
}

static int bench_stream(uint64_t budget)
{
	enum { FRAMES = 1024 };
	struct vx_download_piece dp = { .task_id = TID };
	size_t frame_len = VX_FRAME_HDR_LEN + VX_DOWNLOAD_PIECE_LEN, n = FRAMES * frame_len;
	uint8_t *stream = vx_malloc(n), *buf = vx_malloc(VX_FRAME_DEC_BUF_MIN);
	struct vx_frame_dec d;
	struct vx_download_piece back;
	struct rate r;
	int rc = -ENOMEM;

	if (!stream || !buf)
		goto out_free;
	for (size_t i = 0; i < FRAMES; i++) {
		struct vx_frame_hdr h = { (uint8_t)i, VX_TAG_DOWNLOAD_PIECE,
					  VX_DOWNLOAD_PIECE_LEN };

		dp.piece_number = (uint32_t)i;
		vx_frame_hdr_encode(stream + i * frame_len, &h);
		if (vx_download_piece_encode(&dp, stream + i * frame_len + VX_FRAME_HDR_LEN) != 0)
			goto out_free;
	}
	vx_frame_dec_init(&d, buf, VX_FRAME_DEC_BUF_MIN, 0, 0);
	/* the decoder over a stream in 16 KiB reads, as a socket delivers it */
	MEASURE(&r, budget, 1, {
		size_t off = 0;

		while (off < n) {
			size_t avail = VX_MIN((size_t)16384 - off % 16384, n - off);
			struct vx_frame f;
			ssize_t got = vx_frame_dec_feed(&d, stream + off, avail, &f);

			if (got == -EAGAIN) {
				off += avail;
				continue;
			}
			if (got < 0)
				goto out_free;
			off += (size_t)got;
			sink += f.value_len;
		}
	});
	printf("  %-34s %10.1f M frames/s\n", "decoder, DownloadPiece stream",
	       per_s(&r, r.ops * FRAMES) / 1e6);
	MEASURE(&r, budget, 4096, {
		if (vx_download_piece_decode(stream + VX_FRAME_HDR_LEN, VX_DOWNLOAD_PIECE_LEN,
					     &back) == 0)
			sink += back.piece_number;
	});
	printf("  %-34s %10.1f M values/s\n", "DownloadPiece value decode", per_s(&r, r.ops) / 1e6);
	rc = 0;
out_free:
	vx_free(buf);
	vx_free(stream);
	return rc;
}

static int bench_content(uint64_t budget)
{
	struct vx_piece_content
		m = { .number = 3,
		      .length = 4u << 20,
		      .digest = "crc32:2533597436",
		      .digest_len = 16,
		      .parent_id = "10.0.0.7-host-7-6f1c3e9a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
		      .parent_id_len = 51,
		      .traffic_type = 1 },
		back;
	uint8_t v[256];
	ssize_t n = vx_piece_content_encode(&m, v, sizeof(v));
	struct rate r;

	if (n < 0)
		return (int)n;
	MEASURE(&r, budget, 4096, {
		if (vx_piece_content_decode(v, (size_t)n, &back) > 0)
			sink += back.length;
	});
	printf("  %-34s %10.1f M values/s\n", "PieceContent metadata decode",
	       per_s(&r, r.ops) / 1e6);
	MEASURE(&r, budget, 4096, {
		m.number = i_;
		if (vx_piece_content_encode(&m, v, sizeof(v)) > 0)
			sink += v[7];
	});
	printf("  %-34s %10.1f M values/s\n", "PieceContent metadata encode",
	       per_s(&r, r.ops) / 1e6);
	return 0;
}

static int bench_task_id(uint64_t budget)
{
	static const char *const urls[] = {
		"https://example.com/blobs/sha256/6f1c3e9a1b2c4d5e8f90a1b2c3d4e5f6",
		"https://bucket.s3.us-east-1.amazonaws.com/datasets/train/part-00017.parquet"
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2F"
		"us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600"
		"&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef&versionId=3",
	};
	char id[VX_TASK_ID_LEN + 1];
	char norm[VX_URL_OUT_MAX(512)];

	for (size_t u = 0; u < VX_ARRAY_SIZE(urls); u++) {
		struct vx_task_id_params p = { .url = urls[u], .tag = "t", .application = "a" };
		struct rate r;
		ssize_t n;

		MEASURE(&r, budget, 64, {
			n = vx_url_normalize_for_task_id(urls[u], strlen(urls[u]), NULL, 0, norm,
							 sizeof(norm), NULL);
			sink += (uint64_t)n;
		});
		printf("  %-34s %10.2f M URLs/s  (%zu-byte URL)\n",
		       u ? "URL normalize, signed S3 URL" : "URL normalize, plain URL",
		       per_s(&r, r.ops) / 1e6, strlen(urls[u]));
		MEASURE(&r, budget, 64, {
			if (vx_task_id_from_url(&p, id, NULL, 0, NULL) == 0)
				sink += (uint64_t)id[0];
		});
		printf("  %-34s %10.2f M ids/s\n",
		       u ? "task id (normalize+sha256), S3" : "task id (normalize+sha256), plain",
		       per_s(&r, r.ops) / 1e6);
	}
	return 0;
}

/* CRC over @nbufs buffers of @len bytes, round robin; GB/s. */
static double crc_rate(enum vx_crc32_impl impl, uint8_t *mem, size_t len, size_t nbufs,
		       uint64_t budget)
{
	struct rate r;
	uint32_t crc = 0;
	size_t k = 0;

	/* at least 1 MiB of work between two clock reads, which cost a system call each */
	unsigned int batch = len >= (1u << 20) ? 1u : (unsigned int)((1u << 20) / len);

	MEASURE(&r, budget, batch, {
		crc = vx_crc32_with(impl, crc, mem + k * len, len);
		k = (k + 1) % nbufs;
	});
	sink += crc;
	return per_s(&r, r.ops * len) / 1e9;
}

/* Rounds per CRC figure; implementations take turns so machine noise hits them alike. */
#define CRC_ROUNDS 7

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int bench_crc(uint64_t budget, size_t cold_mib)
{
	static const struct {
		const char *name;
		size_t len;
		int cold;
	} shapes[] = {
		{ "64 KiB, in cache", 64u << 10, 0 },
		{ "4 MiB piece, warm", 4u << 20, 0 },
		{ "4 MiB pieces, cold", 4u << 20, 1 },
		{ "1 KiB", 1024, 0 },
	};
	size_t mem_len = VX_MAX(cold_mib << 20, (size_t)8 << 20);
	uint8_t *mem = vx_aligned_alloc(64, mem_len);

	if (!mem)
		return -ENOMEM;
	for (size_t i = 0; i < mem_len; i++)
		mem[i] = (uint8_t)(i * 2654435761u >> 13);
	printf("\n  CRC-32, GB/s: median of %d interleaved rounds (ratio to zlib)\n", CRC_ROUNDS);
	printf("  vx_crc32 dispatches to: %s\n", vx_crc32_impl_name(vx_crc32_impl_selected()));
	printf("  %-22s", "buffer");
	for (int i = 0; i < VX_CRC32_IMPL_NR; i++) {
		if (vx_crc32_impl_available((enum vx_crc32_impl)i))
			printf(" %16s", vx_crc32_impl_name((enum vx_crc32_impl)i));
	}
	printf("\n");
	for (size_t s = 0; s < VX_ARRAY_SIZE(shapes); s++) {
		size_t nbufs = shapes[s].cold ? mem_len / shapes[s].len : 1;
		double g[VX_CRC32_IMPL_NR][CRC_ROUNDS], med[VX_CRC32_IMPL_NR];

		for (int r = 0; r < CRC_ROUNDS; r++) {
			for (int i = 0; i < VX_CRC32_IMPL_NR; i++) {
				if (vx_crc32_impl_available((enum vx_crc32_impl)i))
					g[i][r] =
						crc_rate((enum vx_crc32_impl)i, mem, shapes[s].len,
							 nbufs, budget / CRC_ROUNDS);
			}
		}
		printf("  %-22s", shapes[s].name);
		for (int i = 0; i < VX_CRC32_IMPL_NR; i++) {
			if (!vx_crc32_impl_available((enum vx_crc32_impl)i))
				continue;
			qsort(g[i], CRC_ROUNDS, sizeof(double), cmp_double);
			med[i] = g[i][CRC_ROUNDS / 2];
			printf(" %7.2f (%5.2fx)", med[i],
			       med[VX_CRC32_IMPL_ZLIB] > 0 ? med[i] / med[VX_CRC32_IMPL_ZLIB]
							   : 0.0);
		}
		printf("\n");
	}
	vx_free(mem);
	return 0;
}

static int run_codec(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "time-ms", required_argument, NULL, 't' },
		{ "cold-mib", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long time_ms = 300, cold_mib = 256;
	uint64_t budget;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 't':
		case 'c':
			errno = 0;
			if (c == 't')
				time_ms = strtoul(optarg, &end, 10);
			else
				cold_mib = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || (c == 't' && time_ms == 0) ||
			    (c == 't' && time_ms > 60000) || (c == 'c' && cold_mib > 4096)) {
				fprintf(stderr, "vx-bench codec: bad value '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: vx-bench codec [--time-ms N (300)] [--cold-mib N (256)]\n");
			return 0;
		default:
			return 2;
		}
	}
	budget = (uint64_t)time_ms * 1000000ull;
	printf("vx-bench codec: %lu ms of thread CPU time per measurement, one thread\n", time_ms);
	bench_headers(budget);
	rc = bench_stream(budget);
	if (!rc)
		rc = bench_content(budget);
	if (!rc)
		rc = bench_task_id(budget);
	if (!rc)
		rc = bench_crc(budget, cold_mib);
	if (rc) {
		fprintf(stderr, "vx-bench codec: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

const struct vx_bench vx_bench_codec = {
	.name = "codec",
	.summary = "codec rates: headers, decoder, values, task ids, CRC-32 vs zlib",
	.run = run_codec,
};
