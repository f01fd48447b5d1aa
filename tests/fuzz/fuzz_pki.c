/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pki.c: the two parsers of the cluster CA (vx_pki.h) that take bytes from the network or
 * a user, the ones the scheduler and `vx serve` use: the join token (vx_pki_token_parse()) and
 * the CSR check (vx_pki_csr_check(), which the scheduler runs on every JOIN and RENEW before
 * anything is issued). The first byte picks the parser. Properties: a refused token leaves the
 * result zeroed; an accepted one is the input's own lowercase hex fields; a CSR check never
 * accepts more than VX_PKI_CSR_MAX bytes, and answers the same twice.
 */
#include <stdlib.h>
#include <string.h>

#include "vx_hex.h"
#include "vx_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_pki_token t, zero;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		int rc = vx_pki_csr_check(data + 1, size - 1);

		if (rc == 0 && size - 1 > VX_PKI_CSR_MAX)
			abort();
		if (rc != vx_pki_csr_check(data + 1, size - 1))
			abort();
		return 0;
	}
	memset(&zero, 0, sizeof(zero));
	if (vx_pki_token_parse((const char *)data + 1, size - 1, &t)) {
		if (memcmp(&t, &zero, sizeof(t)) != 0)
			abort();
		return 0;
	}
	if (strlen(t.id) != VX_PKI_TOKEN_ID_HEX || strlen(t.secret) != VX_PKI_TOKEN_SECRET_HEX ||
	    strlen(t.pin) != VX_PKI_PIN_HEX || !vx_hex_is_lower(t.pin, VX_PKI_PIN_HEX) ||
	    memcmp(data + 1, "vxj1.", 5) != 0 || memcmp(data + 6, t.id, VX_PKI_TOKEN_ID_HEX) != 0)
		abort();
	return 0;
}
