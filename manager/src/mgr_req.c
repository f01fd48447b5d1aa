/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_req.c: decoding of POST /oapi/v1/jobs bodies (Dragonfly's manager open API: type, args,
 * scheduler_cluster_ids) with jansson. Strict: unknown types, wrong field types and values out
 * of range are refused with a message naming the field; secrets are never echoed. This is the
 * decoder the API uses and the one tests/fuzz/fuzz_manager_req.c feeds.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mgr_int.h"
#include "vx_url.h"

int vx__mgr_url_host(const char *url, char *host, size_t host_len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && *h &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
		rc = 0;
		if (host)
			rc = snprintf(host, host_len, "%s", h) < (int)host_len ? 0 : -EINVAL;
	}
	curl_free(scheme);
	curl_free(h);
	curl_url_cleanup(u);
	return rc;
}

#define FAIL(...)                                    \
	do {                                         \
		snprintf(err, err_len, __VA_ARGS__); \
		return -EINVAL;                      \
	} while (0)

static const char *const type_names[] = { [MGR_JOB_PREHEAT] = "preheat",
					  [MGR_JOB_GET_TASK] = "get_task",
					  [MGR_JOB_DELETE_TASK] = "delete_task",
					  [MGR_JOB_GC] = "gc",
					  [MGR_JOB_SYNC_PEERS] = "sync_peers",
					  [MGR_JOB_PCACHE_IMPORT] = "persistent_cache_import",
					  [MGR_JOB_PCACHE_REPLICATE] = "persistent_cache_replicate",
					  [MGR_JOB_PCACHE_DELETE] = "persistent_cache_delete" };
static const char *const scope_names[] = { [MGR_SCOPE_SINGLE_SEED] = "single_seed_peer",
					   [MGR_SCOPE_ALL_SEEDS] = "all_seed_peers",
					   [MGR_SCOPE_ALL_PEERS] = "all_peers" };

bool vx__mgr_job_is_pcache(enum mgr_job_type t)
{
	return t == MGR_JOB_PCACHE_IMPORT || t == MGR_JOB_PCACHE_REPLICATE ||
	       t == MGR_JOB_PCACHE_DELETE;
}

const char *vx__mgr_job_type_name(enum mgr_job_type t)
{
	return t >= MGR_JOB_PREHEAT && t <= MGR_JOB_LAST ? type_names[t] : "?";
}

static int get_str(json_t *args, const char *key, char *out, size_t cap, char *err, size_t err_len)
{
	json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		FAIL("args.%s must be a string", key);
	if (json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v))
		FAIL("args.%s is too long or holds a NUL", key);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int vx__mgr_json_u32(json_t *o, const char *pfx, const char *key, uint32_t lo, uint32_t hi,
		     uint32_t *out, char *err, size_t err_len)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		FAIL("%s%s must be an integer in %u..%u", pfx, key, lo, hi);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int get_u32(json_t *args, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
		   char *err, size_t err_len)
{
	return vx__mgr_json_u32(args, "args.", key, lo, hi, out, err, err_len);
}

/* Headers a preheat may not set: they belong to the connection or to the piece reads. */
static bool header_reserved(const char *name, size_t len)
{
	static const char *const names[] = { "host",	   "content-length", "transfer-encoding",
					     "connection", "keep-alive",     "proxy-connection",
					     "te",	   "upgrade",	     "expect",
					     "range",	   "if-range" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
			return true;
	}
	return false;
}

static int add_header(struct vx_mgr_job_req *r, const char *name, const char *value, char *err,
		      size_t err_len)
{
	size_t nl = strlen(name);

	if (r->nr_headers == MGR_HEADERS_MAX)
		FAIL("args.headers: at most %d headers", MGR_HEADERS_MAX);
	if (!nl || strspn(name, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ") != nl)
		FAIL("args.headers: a header name must be an HTTP token");
	if (header_reserved(name, nl))
		FAIL("args.headers: %s may not be set by a job", name);
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
			FAIL("args.headers: the value of %s holds a control character", name);
	}
	if (snprintf(r->headers[r->nr_headers], MGR_HEADER_MAX, "%s: %s", name, value) >=
	    MGR_HEADER_MAX)
		FAIL("args.headers: %s is longer than %d bytes", name, MGR_HEADER_MAX - 1);
	r->nr_headers++;
	return 0;
}

/*
 * args.headers (an object of strings, Dragonfly's map) and args.username/args.password
 * (registry credentials, sent to the origin as Basic: a daemon answers a registry's token
 * challenge with them). Messages name fields, never values.
 */
static int decode_credentials(json_t *args, struct vx_mgr_job_req *r, char *err, size_t err_len)
{
	json_t *h = json_object_get(args, "headers"), *u = json_object_get(args, "username"),
	       *pw = json_object_get(args, "password"), *v;
	char userpass[512];
	unsigned char b64[700];
	const char *name;
	bool auth = false;
	int n;

	if (h && json_is_null(h))
		h = NULL;
	if (u && json_is_null(u))
		u = NULL;
	if (pw && json_is_null(pw))
		pw = NULL;
	if ((h && json_object_size(h)) || u || pw) {
		if (r->type != MGR_JOB_PREHEAT)
			FAIL("args.headers, args.username and args.password apply to preheat only");
	}
	if (h && !json_is_object(h))
		FAIL("args.headers must be an object of strings");
	json_object_foreach(h, name, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			FAIL("args.headers.%.64s must be a string without NUL", name);
		if (add_header(r, name, json_string_value(v), err, err_len))
			return -EINVAL;
		auth |= strcasecmp(name, "authorization") == 0;
	}
	if (!u && !pw)
		return 0;
	if (!u || !json_is_string(u) || !json_string_length(u) ||
	    strlen(json_string_value(u)) != json_string_length(u) ||
	    strchr(json_string_value(u), ':') || json_string_length(u) > 255)
		FAIL("args.username must be a string of 1..255 bytes without ':' or NUL");
	if (pw && (!json_is_string(pw) || strlen(json_string_value(pw)) != json_string_length(pw) ||
		   json_string_length(pw) > 255))
		FAIL("args.password must be a string of at most 255 bytes without NUL");
	if (auth)
		FAIL("args.username and an Authorization header: give one of them");
	n = snprintf(userpass, sizeof(userpass), "%s:%s", json_string_value(u),
		     pw ? json_string_value(pw) : "");
	EVP_EncodeBlock(b64, (const unsigned char *)userpass, n);
	OPENSSL_cleanse(userpass, sizeof(userpass));
	n = add_header(r, "Authorization", "", err, err_len);
	if (!n)
		snprintf(r->headers[r->nr_headers - 1], MGR_HEADER_MAX, "Authorization: Basic %s",
			 (const char *)b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	return n;
}

static int decode_args(json_t *args, struct vx_mgr_job_req *r, char *err, size_t err_len)
{
	json_t *v;
	uint32_t pl = 0;

	if (get_str(args, "url", r->url, sizeof(r->url), err, err_len) ||
	    get_str(args, "task_id", r->task_id, sizeof(r->task_id), err, err_len) ||
	    get_str(args, "tag", r->tag, sizeof(r->tag), err, err_len) ||
	    get_str(args, "application", r->application, sizeof(r->application), err, err_len) ||
	    get_str(args, "filtered_query_params", r->filtered, sizeof(r->filtered), err,
		    err_len) ||
	    get_u32(args, "count", 1, 100000, &r->count, err, err_len) ||
	    get_u32(args, "replicas", 1, 64, &r->replicas, err, err_len) ||
	    get_u32(args, "percentage", 1, 100, &r->percentage, err, err_len) ||
	    get_u32(args, "timeout", 1, 86400, &r->timeout_s, err, err_len) ||
	    get_u32(args, "concurrent_task_count", 1, 1000, &r->concurrent_tasks, err, err_len) ||
	    get_u32(args, "concurrent_peer_count", 1, 100000, &r->concurrent_peers, err, err_len) ||
	    get_u32(args, "retention_days", 1, 3650, &r->retention_days, err, err_len))
		return -EINVAL;
	v = json_object_get(args, "piece_length");
	if (v && !json_is_null(v)) {
		if (get_u32(args, "piece_length", 1, 1u << 30, &pl, err, err_len))
			return -EINVAL;
		if (pl & (pl - 1) || pl < (1u << 20))
			FAIL("args.piece_length must be a power of two of at least 1 MiB");
		r->piece_length = pl;
	}
	if (r->task_id[0] && !vx_task_id_valid(r->task_id, strlen(r->task_id)))
		FAIL("args.task_id must be 64 lowercase hex characters");
	v = json_object_get(args, "scope");
	if (v && !json_is_null(v)) {
		size_t i;

		if (!json_is_string(v))
			FAIL("args.scope must be a string");
		for (i = 0; i < 3 && strcmp(json_string_value(v), scope_names[i]) != 0; i++)
			;
		if (i == 3)
			FAIL("args.scope must be single_seed_peer, all_seed_peers or all_peers");
		r->scope = (enum mgr_scope)i;
	}
	v = json_object_get(args, "ips");
	if (v && !json_is_null(v)) {
		size_t i;
		json_t *e;

		if (!json_is_array(v) || json_array_size(v) > MGR_IPS_MAX)
			FAIL("args.ips must be an array of at most %d addresses", MGR_IPS_MAX);
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) || json_string_length(e) >= sizeof(r->ips[0]) ||
			    strlen(json_string_value(e)) != json_string_length(e))
				FAIL("args.ips[%zu] must be an address", i);
			memcpy(r->ips[r->nr_ips++], json_string_value(e),
			       json_string_length(e) + 1);
		}
	}
	v = json_object_get(args, "type");
	if (v && !json_is_null(v)) {
		if (json_is_string(v) && strcmp(json_string_value(v), "image") == 0)
			r->image = true;
		else if (!json_is_string(v) || strcmp(json_string_value(v), "file") != 0)
			FAIL("args.type must be file or image");
	}
	if (get_str(args, "platform", r->platform, sizeof(r->platform), err, err_len))
		return -EINVAL;
	/* Dragonfly's name ("preheating content in cache storage"): the memory tier here */
	v = json_object_get(args, "load_to_cache");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v))
			FAIL("args.load_to_cache must be true or false");
		r->to_memory = json_is_true(v);
	}
	return decode_credentials(args, r, err, err_len);
}

json_t *vx__mgr_json_object(const char *body, size_t len, char *err, size_t err_len)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(err, err_len, "the body is not JSON: %s (line %d, column %d)", je.text,
			 je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_len, "the body must be a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

int vx_mgr_job_req_decode(const char *body, size_t len, struct vx_mgr_job_req *r, char *err,
			  size_t err_len)
{
	json_t *root, *v, *args;
	int rc = -EINVAL;

	memset(r, 0, sizeof(*r));
	root = vx__mgr_json_object(body, len, err, err_len);
	if (!root)
		return -EINVAL;
	v = json_object_get(root, "type");
	if (!json_is_string(v)) {
		snprintf(err, err_len,
			 "type is missing (preheat, get_task, delete_task, sync_peers, gc, "
			 "persistent_cache_import, persistent_cache_replicate, "
			 "persistent_cache_delete)");
		goto out;
	}
	for (int t = MGR_JOB_PREHEAT; t <= MGR_JOB_LAST; t++) {
		if (strcmp(json_string_value(v), type_names[t]) == 0)
			r->type = (enum mgr_job_type)t;
	}
	if (!r->type) {
		snprintf(err, err_len,
			 "unknown job type (preheat, get_task, delete_task, sync_peers, gc, "
			 "persistent_cache_import, persistent_cache_replicate, "
			 "persistent_cache_delete)");
		goto out;
	}
	v = json_object_get(root, "scheduler_cluster_ids");
	if (v && !json_is_null(v)) {
		size_t i;
		json_t *e;

		if (!json_is_array(v) || json_array_size(v) > 16) {
			snprintf(err, err_len, "scheduler_cluster_ids must be an array of ids");
			goto out;
		}
		json_array_foreach(v, i, e)
		{
			if (!json_is_integer(e) || json_integer_value(e) < 1 ||
			    json_integer_value(e) > UINT32_MAX) {
				snprintf(err, err_len, "scheduler_cluster_ids[%zu] is not an id",
					 i);
				goto out;
			}
			r->clusters[r->nr_clusters++] = (uint32_t)json_integer_value(e);
		}
	}
	v = json_object_get(root, "webhook");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(r->webhook) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    vx__mgr_url_host(json_string_value(v), NULL, 0)) {
			snprintf(err, err_len, "webhook must be an http or https URL with a host");
			goto out;
		}
		memcpy(r->webhook, json_string_value(v), json_string_length(v) + 1);
	}
	args = json_object_get(root, "args");
	if (args && !json_is_object(args) && !json_is_null(args)) {
		snprintf(err, err_len, "args must be an object");
		goto out;
	}
	if (json_is_object(args) && decode_args(args, r, err, err_len))
		goto out;
	if ((r->type == MGR_JOB_PREHEAT && !r->url[0]) ||
	    ((r->type == MGR_JOB_GET_TASK || r->type == MGR_JOB_DELETE_TASK) && !r->url[0] &&
	     !r->task_id[0])) {
		snprintf(err, err_len, "args.url%s is required",
			 r->type == MGR_JOB_PREHEAT ? "" : " or args.task_id");
		goto out;
	}
	if (vx__mgr_job_is_pcache(r->type) &&
	    (!r->task_id[0] || r->url[0] || (r->type == MGR_JOB_PCACHE_REPLICATE && !r->replicas) ||
	     (r->type == MGR_JOB_PCACHE_IMPORT && !r->nr_ips))) {
		snprintf(err, err_len, "args.task_id%s is required (and no args.url)",
			 r->type == MGR_JOB_PCACHE_REPLICATE ? " and args.replicas"
			 : r->type == MGR_JOB_PCACHE_IMPORT  ? " and args.ips"
							     : "");
		goto out;
	}
	if (r->url[0] && vx__mgr_url_host(r->url, NULL, 0)) {
		snprintf(err, err_len, "args.url must be an http or https URL with a host");
		goto out;
	}
	if (r->image && (r->type != MGR_JOB_PREHEAT || vx__mgr_image_check(r->url))) {
		snprintf(err, err_len,
			 "args.url of an image must be http(s)://REGISTRY/v2/REPO/manifests/REF");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

json_t *vx__mgr_job_args(const struct vx_mgr_job_req *r)
{
	char safe[VX_URL_LOG_MAX];
	json_t *a = json_object();

	if (r->url[0])
		json_object_set_new(a, "url",
				    json_string(vx_url_redact_str(r->url, safe, sizeof(safe))));
	if (r->task_id[0])
		json_object_set_new(a, "task_id", json_string(r->task_id));
	if (r->tag[0])
		json_object_set_new(a, "tag", json_string(r->tag));
	if (r->application[0])
		json_object_set_new(a, "application", json_string(r->application));
	if (r->filtered[0])
		json_object_set_new(a, "filtered_query_params", json_string(r->filtered));
	if (r->piece_length)
		json_object_set_new(a, "piece_length", json_integer((json_int_t)r->piece_length));
	if (r->type == MGR_JOB_PREHEAT) {
		json_object_set_new(a, "type", json_string(r->image ? "image" : "file"));
		if (r->platform[0])
			json_object_set_new(a, "platform", json_string(r->platform));
		if (r->to_memory)
			json_object_set_new(a, "load_to_cache", json_true());
	}
	/* every type takes a scope: a stored request decodes to the same one (fuzz_manager_req) */
	if (r->type == MGR_JOB_PREHEAT || r->scope != MGR_SCOPE_SINGLE_SEED)
		json_object_set_new(a, "scope", json_string(scope_names[r->scope]));
	if (r->count)
		json_object_set_new(a, "count", json_integer(r->count));
	if (r->replicas)
		json_object_set_new(a, "replicas", json_integer(r->replicas));
	if (r->percentage)
		json_object_set_new(a, "percentage", json_integer(r->percentage));
	if (r->nr_ips) {
		json_t *ips = json_array();

		for (uint32_t i = 0; i < r->nr_ips; i++)
			json_array_append_new(ips, json_string(r->ips[i]));
		json_object_set_new(a, "ips", ips);
	}
	if (r->timeout_s)
		json_object_set_new(a, "timeout", json_integer(r->timeout_s));
	if (r->concurrent_tasks)
		json_object_set_new(a, "concurrent_task_count", json_integer(r->concurrent_tasks));
	if (r->concurrent_peers)
		json_object_set_new(a, "concurrent_peer_count", json_integer(r->concurrent_peers));
	if (r->retention_days)
		json_object_set_new(a, "retention_days", json_integer(r->retention_days));
	return a;
}

char *vx__mgr_job_req_encode(const struct vx_mgr_job_req *r)
{
	char safe[VX_URL_LOG_MAX], *q;
	json_t *req;

	if (strcmp(vx_url_redact_str(r->url, safe, sizeof(safe)), r->url) != 0 || r->nr_headers)
		return NULL;
	req = json_pack("{s:s, s:o}", "type", vx__mgr_job_type_name(r->type), "args",
			vx__mgr_job_args(r));
	q = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return q;
}

bool vx__mgr_blob_digest(const char *url, char *out, size_t cap)
{
	const char *b = strstr(url, "/v2/"), *d, *hex;
	size_t want, n;

	if (!b || !(d = strstr(b + 3, "/blobs/")))
		return false;
	while (strstr(d + 1, "/blobs/")) /* the last one: a repository may be named blobs */
		d = strstr(d + 1, "/blobs/");
	d += 7;
	if (strncmp(d, "sha256:", 7) == 0)
		want = 64;
	else if (strncmp(d, "sha512:", 7) == 0)
		want = 128;
	else
		return false;
	hex = d + 7;
	n = strspn(hex, "0123456789abcdef");
	if (n != want || hex[n] != '\0' || (size_t)(hex + n - d) >= cap)
		return false;
	memcpy(out, d, (size_t)(hex + n - d) + 1);
	return true;
}

int vx__mgr_req_task_id(const struct vx_mgr_job_req *r, char out[VX_TASK_ID_LEN + 1], char *err,
			size_t err_len)
{
	struct vx_task_id_params p = { 0 };
	const char *params[32];
	char buf[MGR_FIELD_MAX], *save = NULL, *tok;
	char digest[VX_CTL_CONTENT_MAX + 1];
	size_t n = 0;

	if (r->task_id[0]) {
		memcpy(out, r->task_id, VX_TASK_ID_LEN + 1);
		return 0;
	}
	if (vx__mgr_blob_digest(r->url, digest, sizeof(digest))) {
		if (vx_task_id_from_content(digest, strlen(digest), out))
			FAIL("args.url: no task id can be made of its digest");
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", r->filtered);
	for (tok = strtok_r(buf, "&", &save); tok && n < 32; tok = strtok_r(NULL, "&", &save))
		params[n++] = tok;
	p.url = r->url;
	p.tag = r->tag;
	p.application = r->application;
	p.piece_length = r->piece_length;
	if (n) {
		p.filtered_params = params;
		p.nr_filtered_params = n;
	}
	if (vx_task_id_from_url(&p, out, NULL, 0, NULL))
		FAIL("args.url: no task id can be made of it");
	return 0;
}
