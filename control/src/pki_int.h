/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki_int.h: the CA's state (vx_pki.h) shared by pki.c (certificates, CRL, files) and pki_db.c
 * (the sqlite tables: join tokens, issued and revoked serials). Private to control/.
 */
#ifndef VX_PKI_INT_H
#define VX_PKI_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdint.h>

#include "vx_pki.h"

struct vx_pki {
	char dir[4096];
	int dfd; /* the directory, O_PATH-free: every file is opened beneath it */
	sqlite3 *db;
	EVP_PKEY *ca_key;
	X509 *ca;
	char *ca_pem;
	size_t ca_pem_len;
	char pin[VX_PKI_PIN_HEX + 1];
	char *crl_pem; /* as last read from or written to crl.pem */
	size_t crl_len;
	int64_t crl_last, crl_next; /* its thisUpdate and nextUpdate (wall seconds) */
	int64_t crl_mtime_ns;	    /* crl.pem's mtime when read (another process may sign) */
	int64_t crl_nr;		    /* serials it lists */
};

/* One revoked serial, for the CRL. */
struct pki_revoked {
	char serial[VX_PKI_SERIAL_HEX + 1];
	int64_t when;
};

/* Only blanks follow the PEM object read from @b (no second object, no trailing junk). */
bool vx__pki_rest_blank(BIO *b);
int vx__pki_db_open(struct vx_pki *p, const char *path, char *err, size_t err_len);
int vx__pki_db_cert_add(struct vx_pki *p, const char *serial, const char *host_id,
			enum vx_pki_role role, const char *tenant, int64_t not_after);
/* Unexpired certificates issued to @host_id (-1: the database failed). */
int64_t vx__pki_db_certs_live(struct vx_pki *p, const char *host_id);
/* How many serials a CRL signed now would list (-1: the database failed). */
int64_t vx__pki_db_revoked_nr(struct vx_pki *p);
/* Every revoked serial not long expired; *@out owned (vx_free()). */
int vx__pki_db_revoked(struct vx_pki *p, struct pki_revoked **out, uint32_t *nr);

#endif /* VX_PKI_INT_H */
