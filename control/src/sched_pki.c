/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_pki.c: join, renew and crl on the control channel (spec/control.md section 11). The
 * identity in a certificate is the scheduler's decision: the host id the daemon proves with its
 * host key (bound like a hello's, section 9) and the role of the join token, or of the host's
 * current certificate for a renewal; the CSR gives only the public key. A join token is never
 * logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sched_db.h"
#include "sched_pki.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_time.h"
#include "vx_tls.h"

static void answer(const struct sched_pki_req *q, struct vx_ctl_msg *r, char *cert, size_t cert_len)
{
	const char *pem;
	size_t len;

	if (cert) {
		r->cert = (const uint8_t *)cert;
		r->cert_len = (uint32_t)cert_len;
		r->ca = (const uint8_t *)vx_pki_ca_pem(q->pki, &len);
		r->ca_len = (uint32_t)len;
		r->has |= VX_CTL_F_CERT | VX_CTL_F_CA;
	}
	if (vx_pki_crl(q->pki, false, &pem, &len) == 0 && len <= VX_CTL_CRL_MAX) {
		r->crl = (const uint8_t *)pem;
		r->crl_len = (uint32_t)len;
		r->has |= VX_CTL_F_CRL;
	}
}

static int join_role(const struct sched_pki_req *q, const struct vx_ctl_msg *m, const char *kh,
		     enum vx_pki_role *role, char *tenant)
{
	char src[INET6_ADDRSTRLEN];
	/*
	 * The token first, unspent: a JOIN without one costs a hash and a lookup, and is refused
	 * with the connection closed, before its CSR costs a signature check.
	 */
	int rc = vx_pki_token_check(q->pki, m->token.ptr, m->token.len);

	if (!rc)
		rc = vx_pki_csr_check(m->csr, m->csr_len);
	if (!rc)
		rc = vx_pki_token_use(q->pki, m->token.ptr, m->token.len, role, tenant);
	else if (rc != -EACCES && rc != VX_EDB)
		return rc; /* a bad CSR spends no use of the token */
	if (rc) {
		vx_warn("pki: a join from %s was refused: unknown, expired or used-up token",
			q->seen_ip);
		return rc == VX_EDB ? -EIO : -EACCES;
	}
	rc = vx__sched_db_host_key(q->db, m->host_id, kh, vx__sched_key_src(q->seen_ip, src),
				   q->host_ids_per_addr, q->host_ids_max, vx_wall_s());
	if (vx__sched_db_flush(q->db) && !rc)
		rc = VX_EDB;
	if (rc == -EACCES)
		vx_warn("pki: a join from %s named a host id bound to another key: refused",
			q->seen_ip);
	return rc == VX_EDB ? -EIO : rc;
}

int vx__sched_pki_serve(const struct sched_pki_req *q, const struct vx_ctl_msg *m,
			struct vx_ctl_msg *r, char **owned)
{
	char kh[65], id[VX_PKI_HOST_ID_MAX + 1], serial[VX_PKI_SERIAL_HEX + 1];
	char tenant[VX_TLS_TENANT_MAX + 1] = "";
	enum vx_pki_role role;
	size_t len = 0;
	int rc;

	*owned = NULL;
	if (!q->pki)
		return -EOPNOTSUPP;
	if (m->host_id.len == 0 || m->host_id.len > VX_PKI_HOST_ID_MAX)
		return -EINVAL;
	if (m->host_key.len < VX_SCHED_HOST_KEY_MIN || vx__sched_host_key_hash(m->host_key, kh))
		return -EACCES;
	memcpy(id, m->host_id.ptr, m->host_id.len);
	id[m->host_id.len] = '\0';
	if (!vx_pki_host_id_ok(id))
		return -EINVAL; /* before a token's use is spent or a key bound */
	/* the CA writes through its own connection: end this turn's transaction first */
	if (vx__sched_db_flush(q->db))
		return -EIO;
	if (m->type == VX_CTL_JOIN) {
		rc = join_role(q, m, kh, &role, tenant);
	} else {
		rc = vx__sched_db_host_key_check(q->db, m->host_id, kh);
		if (!rc && m->type == VX_CTL_RENEW) {
			/* only a host holding a valid certificate renews, in the same role and
			 * tenant */
			rc = vx_pki_host_role(q->pki, id, strlen(id), &role, tenant);
			rc = rc == -ENOENT ? -EACCES : rc;
		}
		if (rc == -EACCES)
			vx_warn("pki: a %s from %s was refused: no valid certificate or wrong host "
				"key",
				vx_ctl_type_name(m->type), q->seen_ip);
		rc = rc == VX_EDB ? -EIO : rc;
	}
	if (rc)
		return rc;
	if (m->type != VX_CTL_CRL) {
		rc = vx_pki_issue(q->pki, m->csr, m->csr_len, id, role, tenant, q->cert_ttl_s,
				  owned, &len, serial);
		if (rc)
			return rc == VX_EDB ? -EIO : rc;
		vx_info("pki: issued a %s certificate to %s%s%s (serial %s) on %s",
			vx_pki_role_name(role), id, tenant[0] ? " of tenant " : "", tenant, serial,
			vx_ctl_type_name(m->type));
	}
	answer(q, r, *owned, len);
	return 0;
}
