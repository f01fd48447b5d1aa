/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_image.c: an image preheat's manifest URL (http(s)://registry/v2/<repo>/manifests/<ref>)
 * resolved into its blob URLs (config and layers of the platform's manifest) through the
 * registry, with sources/'s oci client (vx_source_list: token auth, index by platform, digest
 * checks). That is blocking network I/O, so it runs on a thread of its own; the only state it
 * shares with the scheduler's thread is struct mgr_image, under its mutex: the scheduler's
 * thread polls it on each job tick (vx__mgr_image_poll) and never waits for the thread except
 * in vx__mgr_image_free (join) once the thread is done or the job is cancelled.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mgr_int.h"
#include "vx_alloc.h"
#include "vx_err.h"
#include "vx_source.h"

#define IMAGE_BLOBS_MAX 256

struct mgr_image {
	pthread_t th;
	pthread_mutex_t lock;
	bool done; /* under lock */
	int rc;	   /* under lock, once done */
	char err[160];
	char oci_url[MGR_URL_MAX];
	char blob_base[MGR_URL_MAX]; /* "http://host:port/v2/<repo>/blobs/" */
	char platform[64];
	char headers[MGR_HEADERS_MAX][MGR_HEADER_MAX]; /* the job's (credentials): wiped at free */
	uint32_t nr_headers;
	const struct vx_outbound_policy *outbound; /* the jobs' (outlives the thread) */
	char (*urls)[MGR_URL_MAX / 4];
	uint32_t nr;
};

static int on_entry(void *arg, const struct vx_source_entry *e)
{
	struct mgr_image *im = arg;

	if (im->nr == IMAGE_BLOBS_MAX)
		return -E2BIG;
	if (snprintf(im->urls[im->nr], sizeof(im->urls[0]), "%s%s", im->blob_base, e->name) >=
	    (int)sizeof(im->urls[0]))
		return -E2BIG;
	im->nr++;
	return 0;
}

static void *resolve(void *arg)
{
	struct mgr_image *im = arg;
	struct vx_source_opts opts = { 0 };
	struct vx_source_error detail = { 0 };
	struct vx_source_ctx *ctx = NULL;
	int rc;

	const char *hdrs[MGR_HEADERS_MAX];

	for (uint32_t i = 0; i < im->nr_headers; i++)
		hdrs[i] = im->headers[i];
	opts.headers = hdrs;
	opts.nr_headers = im->nr_headers;
	/* every connection: the registry, its redirects, the token realm its challenge names */
	opts.outbound = im->outbound;
	opts.oci_platform = im->platform[0] ? im->platform : NULL;
	rc = vx_source_ctx_new(&ctx, NULL);
	if (!rc)
		rc = vx_source_list(ctx, im->oci_url, &opts, on_entry, im, &detail);
	vx_source_ctx_free(ctx);
	pthread_mutex_lock(&im->lock);
	if (rc)
		snprintf(im->err, sizeof(im->err), "the registry did not resolve the image: %s",
			 rc == -E2BIG ? "too many blobs" : vx_strerror(rc));
	else if (!im->nr)
		snprintf(im->err, sizeof(im->err), "the image has no blobs");
	im->rc = rc ? rc : im->nr ? 0 : -ENOENT;
	im->done = true;
	pthread_mutex_unlock(&im->lock);
	return NULL;
}

/* "http(s)://host[:port]/v2/<repo>/manifests/<ref>" into the oci URL and the blob base. */
static int split(struct mgr_image *im, const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	const char *m, *ref;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
	m = strstr(path, "/manifests/");
	if (strncmp(path, "/v2/", 4) != 0 || !m || m == path + 4 || !m[11] || strchr(m + 11, '/'))
		goto out;
	ref = m + 11;
	if (snprintf(im->oci_url, sizeof(im->oci_url), "%s://%s%s%s/%.*s%s%s",
		     strcmp(scheme, "https") == 0 ? "oci" : "oci+http", host, port ? ":" : "",
		     port ? port : "", (int)(m - path - 4), path + 4,
		     strncmp(ref, "sha256:", 7) == 0 ? "@" : ":",
		     ref) >= (int)sizeof(im->oci_url) ||
	    snprintf(im->blob_base, sizeof(im->blob_base), "%s://%s%s%s%.*s/blobs/", scheme, host,
		     port ? ":" : "", port ? port : "", (int)(m - path),
		     path) >= (int)sizeof(im->blob_base))
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int vx__mgr_image_check(const char *url)
{
	struct mgr_image *im = vx_calloc(1, sizeof(*im)); /* not static: HTTP threads call this */
	int rc = im ? split(im, url) : -ENOMEM;

	vx_free(im);
	return rc;
}

int vx__mgr_image_start(struct mgr_image **out, const struct vx_mgr_job_req *r,
			const struct vx_outbound_policy *outbound)
{
	struct mgr_image *im = vx_calloc(1, sizeof(*im));
	int rc;

	if (!im)
		return -ENOMEM;
	im->urls = vx_calloc(IMAGE_BLOBS_MAX, sizeof(*im->urls));
	rc = im->urls ? split(im, r->url) : -ENOMEM;
	if (!rc) {
		snprintf(im->platform, sizeof(im->platform), "%s", r->platform);
		memcpy(im->headers, r->headers, sizeof(im->headers));
		im->nr_headers = r->nr_headers;
		im->outbound = outbound;
		pthread_mutex_init(&im->lock, NULL);
		rc = -pthread_create(&im->th, NULL, resolve, im);
		if (rc)
			pthread_mutex_destroy(&im->lock);
	}
	if (rc) {
		vx_free(im->urls);
		vx_free(im);
		return rc;
	}
	*out = im;
	return 0;
}

int vx__mgr_image_poll(struct mgr_image *im, uint32_t *n, char *err, size_t err_len)
{
	int rc = 1;

	pthread_mutex_lock(&im->lock);
	if (im->done) {
		rc = im->rc;
		*n = im->nr;
		snprintf(err, err_len, "%s", im->err);
	}
	pthread_mutex_unlock(&im->lock);
	return rc;
}

const char *vx__mgr_image_url(const struct mgr_image *im, uint32_t i)
{
	return im->urls[i];
}

void vx__mgr_image_free(struct mgr_image *im)
{
	if (!im)
		return;
	pthread_join(im->th, NULL);
	pthread_mutex_destroy(&im->lock);
	OPENSSL_cleanse(im->headers, sizeof(im->headers));
	vx_free(im->urls);
	vx_free(im);
}
