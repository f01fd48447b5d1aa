/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_download_piece.c: DownloadPiece (and CANCEL, INTEREST) values: anything accepted is a
 * lowercase-hex task id and re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_frame_ext.h"
#include "vx_piece.h"
#include "vx_task_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_download_piece r;
	struct vx_interest i;
	uint8_t out[VX_DOWNLOAD_PIECE_LEN];

	if (vx_download_piece_decode(data, size, &r) == 0) {
		if (size != VX_DOWNLOAD_PIECE_LEN ||
		    !vx_task_id_valid(r.task_id, strlen(r.task_id)))
			abort();
		if (vx_download_piece_encode(&r, out) != 0 || memcmp(out, data, size) != 0)
			abort();
	}
	if (vx_interest_decode(data, size, &i) == 0) {
		if (vx_interest_encode(&i, out) != 0 || memcmp(out, data, VX_INTEREST_LEN) != 0)
			abort();
	}
	return 0;
}
