/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pki.c: the cluster CA (vx_pki.h) without a network: its files and their modes, join
 * tokens (uses, expiry, another CA's pin, a wrong secret), issuing (the identity is ours, never
 * the CSR's), revocation seen by a second process's handle, and a CRL signed again when a
 * revoke's CRL lost the rename race to another signer, a host renewing in a loop capped, and a
 * revoked current serial ending a host's renewals. dragonfly-behaviour.md section 5.5 items 3
 * (tokens: 128-bit secrets stored hashed, expiry and use counts), 7 (a CA key per install: what
 * another made is refused), 13 (per-host limits: issued certificates) and 20 (certificates
 * bound to identity).
 */
#include "vx_test.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vx_alloc.h"
#include "vx_pki.h"
#include "vx_tls.h"

static char dir[64], db[128], pki_dir[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vx_test_pki.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(pki_dir, sizeof(pki_dir), "%s/s.db.pki", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct vx_pki *ca_open(void)
{
	struct vx_pki *p = NULL;
	char err[512] = "";

	assert_int_equal(vx_pki_open(&p, NULL, db, err, sizeof(err)), 0);
	return p;
}

/* A P-256 CSR in PEM whose subject and SAN claim @cn and the seed role. */
static char *csr_new(const char *cn, size_t *len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *s;

	assert_true(X509_REQ_set_pubkey(r, k));
	assert_true(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
					       (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_REQ_sign(r, k, EVP_sha256()));
	assert_true(PEM_write_bio_X509_REQ(b, r));
	s = vx_pki_bio_take(b, len);
	assert_non_null(s);
	BIO_free(b);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return s;
}

static void test_vx_pki_open__creates_files_with_modes(void **state)
{
	struct vx_pki *p = ca_open();
	const char *names[] = { "127.0.0.1", "sched.example" };
	char path[256], err[256];
	struct stat st;

	(void)state;
	assert_int_equal(vx_pki_server_cert(p, names, 2, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/ca.key", pki_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/server.key", pki_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(strlen(vx_pki_ca_pin(p)), VX_PKI_PIN_HEX);
	vx_pki_close(p);

	/* a server key others may read refuses it, as the CA key refuses the open */
	assert_int_equal(chmod(path, 0640), 0);
	p = ca_open();
	assert_int_equal(vx_pki_server_cert(p, names, 2, err, sizeof(err)), -EACCES);
	vx_pki_close(p);
	snprintf(path, sizeof(path), "%s/ca.key", pki_dir);
	assert_int_equal(chmod(path, 0604), 0);
	p = NULL;
	assert_int_equal(vx_pki_open(&p, NULL, db, err, sizeof(err)), -EACCES);
	assert_null(p);
	assert_non_null(strstr(err, "chmod 600"));
}

/*
 * dragonfly-behaviour.md 5.5 item 7 (a signing key generated per install, never a well-known
 * one; what another key made is refused): two installs get CAs of different keys (pins), and a
 * join token one made is refused by the other.
 */
static void test_vx_pki_open__key_per_install(void **state)
{
	struct vx_pki *p = ca_open(), *q = NULL;
	char tok[VX_PKI_TOKEN_LEN + 1], id[VX_PKI_TOKEN_ID_HEX + 1], db2[160], err[512] = "";
	enum vx_pki_role role = VX_PKI_ROLE_PEER;

	(void)state;
	snprintf(db2, sizeof(db2), "%s/other.db", dir);
	assert_int_equal(vx_pki_open(&q, NULL, db2, err, sizeof(err)), 0);
	assert_int_equal(strlen(vx_pki_ca_pin(q)), VX_PKI_PIN_HEX);
	assert_string_not_equal(vx_pki_ca_pin(p), vx_pki_ca_pin(q));
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_SEED, NULL, 60, 2, tok, id), 0);
	assert_int_equal(vx_pki_token_use(q, tok, strlen(tok), &role, NULL), -EACCES);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, NULL), 0);
	assert_int_equal(role, VX_PKI_ROLE_SEED);
	vx_pki_close(q);
	vx_pki_close(p);
}

static void test_vx_pki_token_use__uses_expiry_pin_secret(void **state)
{
	struct vx_pki *p = ca_open();
	char tok[VX_PKI_TOKEN_LEN + 1], id[VX_PKI_TOKEN_ID_HEX + 1], bad[VX_PKI_TOKEN_LEN + 1];
	enum vx_pki_role role = VX_PKI_ROLE_PEER;

	(void)state;
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_SEED, NULL, 60, 2, tok, id), 0);
	assert_int_equal(strlen(tok), VX_PKI_TOKEN_LEN);
	/* a wrong secret and another CA's pin spend nothing */
	memcpy(bad, tok, sizeof(bad));
	bad[5 + VX_PKI_TOKEN_ID_HEX + 1] ^= 1;
	assert_int_equal(vx_pki_token_use(p, bad, strlen(bad), &role, NULL), -EACCES);
	memcpy(bad, tok, sizeof(bad));
	bad[VX_PKI_TOKEN_LEN - 1] = bad[VX_PKI_TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(vx_pki_token_use(p, bad, strlen(bad), &role, NULL), -EACCES);
	/* two uses, then refused */
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, NULL), 0);
	assert_int_equal(role, VX_PKI_ROLE_SEED);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, NULL), 0);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, NULL), -EACCES);
	/* deleted: gone */
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_PEER, NULL, 60, 1, tok, id), 0);
	assert_int_equal(vx_pki_token_delete(p, id), 0);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, NULL), -EACCES);
	assert_int_equal(vx_pki_token_delete(p, id), -ENOENT);
	/* no peer token may ask for the scheduler role */
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_SCHEDULER, NULL, 60, 1, tok, id),
			 -EINVAL);
	vx_pki_close(p);
}

static void test_vx_pki_issue__identity_is_ours(void **state)
{
	struct vx_pki *p = ca_open();
	char serial[VX_PKI_SERIAL_HEX + 1], *pem = NULL, *csr;
	size_t len = 0, clen = 0;
	enum vx_pki_role role;
	GENERAL_NAMES *gens;
	X509 *x;
	BIO *b;
	int uris = 0;

	(void)state;
	csr = csr_new("evil-0000000000000000", &clen);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "host-0123456789abcdef",
				      VX_PKI_ROLE_PEER, NULL, 60, &pem, &len, serial),
			 0);
	b = BIO_new_mem_buf(pem, (int)len);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *u = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);

		assert_int_equal(g->type, GEN_URI);
		assert_true(strcmp(u, "urn:vx:host:host-0123456789abcdef") == 0 ||
			    strcmp(u, "urn:vx:role:peer") == 0);
		uris++;
	}
	assert_int_equal(uris, 2);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	BIO_free(b);
	vx_free(pem);
	assert_int_equal(vx_pki_host_role(p, "host-0123456789abcdef", 21, &role, NULL), 0);
	assert_int_equal(role, VX_PKI_ROLE_PEER);
	/* a host id no CN can hold, or with a comma (a SAN list separator), is refused */
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "a,URI:urn:vx:role:seed",
				      VX_PKI_ROLE_PEER, NULL, 60, &pem, &len, serial),
			 -EINVAL);
	assert_null(pem);
	vx_free(csr);
	vx_pki_close(p);
}

/*
 * Tenants (issue 16): a join token made for a tenant hands it to the certificate it gets (as
 * urn:vx:tenant:, parsed back by the one identity parser), and a renewal keeps it (the CA's
 * record of the newest certificate). A bad tenant name makes no token and no certificate.
 */
static void test_vx_pki_token_use__tenant_reaches_the_certificate(void **state)
{
	struct vx_pki *p = ca_open();
	char tok[VX_PKI_TOKEN_LEN + 1], id[VX_PKI_TOKEN_ID_HEX + 1], why[128];
	char serial[VX_PKI_SERIAL_HEX + 1], tenant[VX_TLS_TENANT_MAX + 1], *pem = NULL, *csr;
	enum vx_pki_role role;
	struct vx_tls_id tid;
	size_t len = 0, clen = 0;
	X509 *x;
	BIO *b;

	(void)state;
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_PEER, "team-a", 60, 1, tok, id), 0);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, tenant), 0);
	assert_string_equal(tenant, "team-a");
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_PEER, NULL, 60, 1, tok, id), 0);
	assert_int_equal(vx_pki_token_use(p, tok, strlen(tok), &role, tenant), 0);
	assert_string_equal(tenant, "");
	assert_int_equal(vx_pki_token_create(p, VX_PKI_ROLE_PEER, "Team A", 60, 1, tok, id),
			 -EINVAL);
	csr = csr_new("t-1", &clen);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "t-1", VX_PKI_ROLE_PEER,
				      "bad,URI:urn:vx:role:seed", 60, &pem, &len, serial),
			 -EINVAL);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "t-1", VX_PKI_ROLE_PEER,
				      "team-a", 60, &pem, &len, serial),
			 0);
	b = BIO_new_mem_buf(pem, (int)len);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(vx_tls_identity_of(x, &tid, why, sizeof(why)), 0);
	assert_string_equal(tid.tenant, "team-a");
	assert_string_equal(tid.host_id, "t-1");
	X509_free(x);
	BIO_free(b);
	vx_free(pem);
	assert_int_equal(vx_pki_host_role(p, "t-1", 3, &role, tenant), 0);
	assert_string_equal(tenant, "team-a");
	vx_free(csr);
	vx_pki_close(p);
}

/*
 * A member that renews in a loop (a RENEW needs only its host key) made a certificate, a
 * pki_certs row and, once the operator revoked the host, a CRL entry per loop: about 11,000 of
 * them pass the 512 KiB a CRL may have, the scheduler then serves no CRL and refuses to start.
 * One host holds at most VX_PKI_CERTS_PER_HOST unexpired certificates.
 */
static void test_vx_pki_issue__certificates_per_host_capped(void **state)
{
	struct vx_pki *p = ca_open();
	char serial[VX_PKI_SERIAL_HEX + 1], *pem = NULL, *csr;
	size_t len = 0, clen = 0;
	unsigned ok = 0;
	int rc = 0;

	(void)state;
	csr = csr_new("x", &clen);
	for (unsigned i = 0; i < 3 * VX_PKI_CERTS_PER_HOST && !rc; i++) {
		rc = vx_pki_issue(p, (const uint8_t *)csr, clen, "loop-1", VX_PKI_ROLE_PEER, NULL,
				  60, &pem, &len, serial);
		vx_free(pem);
		pem = NULL;
		ok += rc == 0;
	}
	assert_int_equal(rc, -EBUSY);
	assert_int_equal(ok, VX_PKI_CERTS_PER_HOST);
	/* another host is not held back by it */
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "other-1", VX_PKI_ROLE_PEER,
				      NULL, 60, &pem, &len, serial),
			 0);
	vx_free(pem);
	vx_free(csr);
	vx_pki_close(p);
}

/*
 * Revoking a host's current serial must end its renewals: a RENEW (and a token-less hello)
 * took the role of the newest certificate not revoked, so an older one still valid (a renewal
 * overlaps the last third of the previous certificate's life) got the revoked host a fresh one.
 * And no host may be named "scheduler" (the scheduler's own certificate's host).
 */
static void test_vx_pki_host_role__newest_revoked_ends_it(void **state)
{
	struct vx_pki *p = ca_open();
	char s1[VX_PKI_SERIAL_HEX + 1], s2[VX_PKI_SERIAL_HEX + 1], *pem = NULL, *csr;
	size_t len = 0, clen = 0;
	enum vx_pki_role role;

	(void)state;
	csr = csr_new("x", &clen);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "h-2", VX_PKI_ROLE_SEED, NULL,
				      60, &pem, &len, s1),
			 0);
	vx_free(pem);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "h-2", VX_PKI_ROLE_SEED, NULL,
				      60, &pem, &len, s2),
			 0);
	vx_free(pem);
	assert_int_equal(vx_pki_host_role(p, "h-2", 3, &role, NULL), 0);
	assert_int_equal(vx_pki_revoke(p, s2), 1);
	assert_int_equal(vx_pki_host_role(p, "h-2", 3, &role, NULL), -ENOENT);
	/* revoking an older serial leaves the current one in use */
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "h-3", VX_PKI_ROLE_PEER, NULL,
				      60, &pem, &len, s1),
			 0);
	vx_free(pem);
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "h-3", VX_PKI_ROLE_PEER, NULL,
				      60, &pem, &len, s2),
			 0);
	vx_free(pem);
	assert_int_equal(vx_pki_revoke(p, s1), 1);
	assert_int_equal(vx_pki_host_role(p, "h-3", 3, &role, NULL), 0);
	assert_int_equal(role, VX_PKI_ROLE_PEER);
	/* the scheduler's name is not a host's */
	pem = NULL;
	assert_int_equal(vx_pki_issue(p, (const uint8_t *)csr, clen, "scheduler", VX_PKI_ROLE_PEER,
				      NULL, 60, &pem, &len, s1),
			 -EINVAL);
	assert_null(pem);
	vx_free(csr);
	vx_pki_close(p);
}

static bool crl_lists(const char *pem, size_t len, const char *serial)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509_CRL *crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	STACK_OF(X509_REVOKED) *rv = crl ? X509_CRL_get_REVOKED(crl) : NULL;
	bool found = false;

	for (int i = 0; rv && i < sk_X509_REVOKED_num(rv); i++) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(
			X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rv, i)), NULL);
		char *hex = BN_bn2hex(bn);

		for (char *c = hex; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
		found |= strcmp(hex, serial) == 0;
		OPENSSL_free(hex);
		BN_free(bn);
	}
	X509_CRL_free(crl);
	BIO_free(b);
	return found;
}

static void test_vx_pki_revoke__seen_by_another_handle(void **state)
{
	struct vx_pki *sched = ca_open(), *cli = ca_open();
	char serial[VX_PKI_SERIAL_HEX + 1], *pem = NULL, *csr, *old, path[256];
	size_t len = 0, clen = 0, old_len;
	enum vx_pki_role role;
	const char *crl;
	FILE *f;

	(void)state;
	csr = csr_new("x", &clen);
	assert_int_equal(vx_pki_issue(sched, (const uint8_t *)csr, clen, "h-1", VX_PKI_ROLE_SEED,
				      NULL, 60, &pem, &len, serial),
			 0);
	vx_free(pem);
	vx_free(csr);
	assert_int_equal(vx_pki_crl(sched, false, &crl, &len), 0);
	assert_false(crl_lists(crl, len, serial));
	old = vx_strndup(crl, len); /* a valid CRL of this CA without the serial */
	old_len = len;
	/* `vx cert revoke` in another process: the scheduler's handle sees it */
	assert_int_equal(vx_pki_revoke(cli, serial), 1);
	assert_int_equal(vx_pki_revoke(cli, serial), 0); /* already */
	assert_int_equal(vx_pki_revoke(cli, "no-such-host"), -ENOENT);
	assert_int_equal(vx_pki_host_role(sched, "h-1", 3, &role, NULL), -ENOENT);
	assert_int_equal(vx_pki_crl(sched, false, &crl, &len), 0);
	assert_true(crl_lists(crl, len, serial));
	vx_pki_close(cli);

	/* the race: an older list, signed before the revoke, renamed over the new one */
	snprintf(path, sizeof(path), "%s/crl.pem", pki_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(old, 1, old_len, f), old_len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(vx_pki_crl(sched, false, &crl, &len), 0);
	assert_true(crl_lists(crl, len, serial));
	vx_free(old);
	vx_pki_close(sched);
}

static void test_vx_pki_token_parse__strict(void **state)
{
	struct vx_pki_token t;
	const char *ok = "vxj1.0123456789ab.0123456789abcdef0123456789abcdef."
			 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[VX_PKI_TOKEN_LEN + 8];

	(void)state;
	assert_int_equal(vx_pki_token_parse(ok, strlen(ok), &t), 0);
	assert_string_equal(t.id, "0123456789ab");
	snprintf(buf, sizeof(buf), "%s\n", ok);
	assert_int_equal(vx_pki_token_parse(buf, strlen(buf), &t), 0);
	snprintf(buf, sizeof(buf), "%s\n\n", ok);
	assert_int_equal(vx_pki_token_parse(buf, strlen(buf), &t), -EINVAL);
	snprintf(buf, sizeof(buf), "%s", ok);
	buf[6] = 'A';
	assert_int_equal(vx_pki_token_parse(buf, strlen(buf), &t), -EINVAL);
	assert_int_equal(t.id[0], '\0');
	buf[6] = '1';
	buf[4] = '-';
	assert_int_equal(vx_pki_token_parse(buf, strlen(buf), &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vx_pki_open__key_per_install, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_open__creates_files_with_modes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_token_use__uses_expiry_pin_secret,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_issue__identity_is_ours, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_vx_pki_token_use__tenant_reaches_the_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_issue__certificates_per_host_capped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_host_role__newest_revoked_ends_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_vx_pki_revoke__seen_by_another_handle, setup,
						teardown),
		cmocka_unit_test(test_vx_pki_token_parse__strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
