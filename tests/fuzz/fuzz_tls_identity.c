/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tls_identity.c: the certificate identity parser of vx_tls.h (vx_tls_identity_der(), the
 * same vx_tls_identity_of() the scheduler runs on every verified client certificate) over DER
 * certificates. Properties: a refusal says why and leaves the output untouched; an accepted
 * identity has a role, a host id of host-id characters and a tenant of tenant characters, both
 * NUL-terminated within their buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx_tls_id id;
	char err[VX_TLS_ERR_LEN] = "";
	size_t n;

	memset(&id, 0x5a, sizeof(id));
	if (vx_tls_identity_der(data, size, &id, err, sizeof(err))) {
		if (!err[0])
			abort();
		for (size_t i = 0; i < sizeof(id); i++) {
			if (((const uint8_t *)&id)[i] != 0x5a)
				abort();
		}
		return 0;
	}
	if (id.role == VX_TLS_ROLE_NONE || id.role > VX_TLS_ROLE_SCHEDULER)
		abort();
	n = strnlen(id.host_id, sizeof(id.host_id));
	if (n == 0 || n == sizeof(id.host_id))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!host_char(id.host_id[i]))
			abort();
	}
	n = strnlen(id.tenant, sizeof(id.tenant));
	if (n == sizeof(id.tenant))
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = id.tenant[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (i > 0 && (c == '.' || c == '_' || c == '-'))))
			abort();
	}
	return 0;
}
