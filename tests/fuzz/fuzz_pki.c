/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pki.c: the two parsers of the cluster CA (vx_pki.h) that take bytes from the network or
 * a user, the ones the scheduler and `vx serve` use: the join token (vx_pki_token_parse()) and
 * the CSR check (vx_pki_csr_check(), which the scheduler runs on every JOIN and RENEW before
 * anything is issued). The first byte picks the parser. Properties: a refused token leaves the
 * result zeroed; an accepted one is the input's own lowercase hex fields; a CSR check never
 * accepts more than VX_PKI_CSR_MAX bytes, and answers the same twice. First byte 2: the CRL
 * check a joined daemon runs on every list a scheduler sends (vx_pki_crl_check(), against a
 * fixed CA, with itself as the list held: never older than itself); 4: the pin of a certificate
 * (vx_pki_pem_pin(), run on every CA a scheduler sends). Both answer the same twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vx_hex.h"
#include "vx_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a P-256 CA of the seed corpus (crl_ok is its list, crl_foreign another key's) */
static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
			     "MIIBNTCB3aADAgECAgEBMAoGCCqGSM49BAMCMBgxFjAUBgNVBAMMDXZ4IGNsdXN0\n"
			     "ZXIgQ0EwIBcNMjYwMTAxMDAwMDAwWhgPMjEyNTEyMDgwMDAwMDBaMBgxFjAUBgNV\n"
			     "BAMMDXZ4IGNsdXN0ZXIgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARUY58C\n"
			     "eHkLGFewQdpssrIQt0ZZqEr3nYzMOzgbdbl8aga3OEIznOIUfsjhT7r4bmZk8U9X\n"
			     "SAa5Vu+ohEPznVd7oxYwFDASBgNVHRMBAf8ECDAGAQH/AgEAMAoGCCqGSM49BAMC\n"
			     "A0cAMEQCICkc7LV+txipf3wrDgoT/cTQMYMiqFkHKZsk3a/tLP4MAiAFeYT/fRmP\n"
			     "wOKoWwRICz2Euyk6Bss/ReUPHa6jEU1/9g==\n"
			     "-----END CERTIFICATE-----\n";

static void daemon_checks(const uint8_t *data, size_t size)
{
	char pin[VX_PKI_PIN_HEX + 1], again[VX_PKI_PIN_HEX + 1];
	int rc;

	if (data[0] == 2) {
		rc = vx_pki_crl_check(data + 1, size - 1, (const uint8_t *)ca_pem,
				      sizeof(ca_pem) - 1, data + 1, size - 1);
		if ((rc == 0 && size - 1 > VX_PKI_CRL_MAX) || rc == -ESTALE ||
		    rc != vx_pki_crl_check(data + 1, size - 1, (const uint8_t *)ca_pem,
					   sizeof(ca_pem) - 1, NULL, 0))
			abort();
		return;
	}
	rc = vx_pki_pem_pin(data + 1, size - 1, pin);
	if (rc != vx_pki_pem_pin(data + 1, size - 1, again) ||
	    (rc == 0 &&
	     (memcmp(pin, again, sizeof(pin)) != 0 || !vx_hex_is_lower(pin, VX_PKI_PIN_HEX))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_pki_token t, zero;

	if (size < 1)
		return 0;
	if (data[0] == 2 || data[0] == 4) {
		daemon_checks(data, size);
		return 0;
	}
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
