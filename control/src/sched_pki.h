/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched_pki.h: the scheduler's side of cluster identity (spec/control.md section 11): the join,
 * renew and crl requests, served from the CA (vx_pki.h). Private to control/.
 */
#ifndef VX_SCHED_PKI_H
#define VX_SCHED_PKI_H

#include <stdint.h>

#include "vx_ctl_msg.h"
#include "vx_pki.h"

struct sched_db;

struct sched_pki_req {
	struct vx_pki *pki; /* NULL: this scheduler issues nothing (-EOPNOTSUPP) */
	struct sched_db *db;
	const char *seen_ip; /* the address the request comes from */
	uint32_t host_ids_per_addr, host_ids_max;
	uint32_t cert_ttl_s;
};

/*
 * vx__sched_pki_serve() - serve join, renew or crl request @m into response @r. Returns 0 or the
 * request's status (-EACCES: bad token, host key or no valid certificate; -EINVAL, -EPROTO,
 * -EBADMSG, -EMSGSIZE: the CSR). *@owned (vx_free() after @r is sent) holds @r's certificate.
 */
int vx__sched_pki_serve(const struct sched_pki_req *q, const struct vx_ctl_msg *m,
			struct vx_ctl_msg *r, char **owned);

#endif /* VX_SCHED_PKI_H */
