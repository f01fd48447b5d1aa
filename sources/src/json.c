/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c: the JSON documents sources/ reads from origins: OCI indexes and manifests, registry
 * token replies, WebHDFS FileStatus replies. jansson parses (json_loadb: explicit length,
 * strict UTF-8, duplicate keys rejected, nesting bounded by the library); we cap the size
 * before parsing and check every type before use. Fuzzed by tests/fuzz/fuzz_source_json.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "vx_digest.h"
#include "vx_source.h"
#include "vx_source_parse.h"

static json_t *load(const char *doc, size_t len)
{
	json_error_t err;

	if (!doc || len > VX_SOURCE_DOC_MAX)
		return NULL;
	return json_loadb(doc, len, JSON_REJECT_DUPLICATES, &err);
}

static const char *str_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool vx_source_oci_is_index(const char *doc, size_t len)
{
	json_t *root = load(doc, len);
	const char *mt;
	bool idx = false;

	if (!json_is_object(root))
		goto out;
	mt = str_of(root, "mediaType");
	if (mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
		   strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0))
		idx = true;
	else if (!mt && json_is_array(json_object_get(root, "manifests")) &&
		 !json_object_get(root, "layers"))
		idx = true;
out:
	json_decref(root);
	return idx;
}

int vx_source_oci_index_pick(const char *doc, size_t len, const char *os, const char *arch,
			     const char *variant, char *digest, size_t size)
{
	json_t *root = load(doc, len), *ms, *m;
	int rc = -EPROTO;
	size_t i;

	if (size)
		digest[0] = '\0';
	if (!json_is_object(root))
		goto out;
	ms = json_object_get(root, "manifests");
	if (!json_is_array(ms))
		goto out;
	rc = -ENOENT;
	json_array_foreach(ms, i, m)
	{
		const json_t *pf = json_object_get(m, "platform");
		const char *d = str_of(m, "digest");
		const char *pos, *parch, *pvar;

		if (!json_is_object(m) || !d ||
		    !vx_digest_spec_valid(d, strlen(d), VX_DIGEST_OCI)) {
			rc = -EPROTO;
			goto out;
		}
		if (!json_is_object(pf))
			continue;
		pos = str_of(pf, "os");
		parch = str_of(pf, "architecture");
		pvar = str_of(pf, "variant");
		if (!pos || !parch || strcmp(pos, os) != 0 || strcmp(parch, arch) != 0)
			continue;
		if (variant && variant[0] && (!pvar || strcmp(pvar, variant) != 0))
			continue;
		if (strlen(d) >= size) {
			rc = -EMSGSIZE;
			goto out;
		}
		memcpy(digest, d, strlen(d) + 1);
		rc = 0;
		goto out;
	}
out:
	json_decref(root);
	return rc;
}

static int blob_of(const json_t *b, vx_source_oci_blob_fn fn, void *arg)
{
	const char *d = str_of(b, "digest");
	const json_t *sz = json_object_get(b, "size");

	if (!json_is_object(b) || !d || !vx_digest_spec_valid(d, strlen(d), VX_DIGEST_OCI) ||
	    !json_is_integer(sz) || json_integer_value(sz) < 0)
		return -EPROTO;
	return fn(arg, d, (int64_t)json_integer_value(sz), str_of(b, "mediaType"));
}

int vx_source_oci_manifest_blobs(const char *doc, size_t len, vx_source_oci_blob_fn fn, void *arg)
{
	json_t *root = load(doc, len), *layers, *l;
	int rc = -EPROTO;
	size_t i;

	if (!json_is_object(root))
		goto out;
	layers = json_object_get(root, "layers");
	if (!json_is_object(json_object_get(root, "config")) || !json_is_array(layers))
		goto out;
	/* Check everything before the first callback: all or nothing. */
	json_array_foreach(layers, i, l)
	{
		const char *d = str_of(l, "digest");

		if (!json_is_object(l) || !d ||
		    !vx_digest_spec_valid(d, strlen(d), VX_DIGEST_OCI) ||
		    !json_is_integer(json_object_get(l, "size")))
			goto out;
	}
	rc = blob_of(json_object_get(root, "config"), fn, arg);
	json_array_foreach(layers, i, l)
	{
		if (rc)
			break;
		rc = blob_of(l, fn, arg);
	}
out:
	json_decref(root);
	return rc;
}

int vx_source_token_parse(const char *doc, size_t len, char *tok, size_t size)
{
	json_t *root = load(doc, len);
	const char *t;
	int rc = -EPROTO;

	if (size)
		tok[0] = '\0';
	if (!json_is_object(root))
		goto out;
	t = str_of(root, "token");
	if (!t || !t[0])
		t = str_of(root, "access_token");
	rc = -ENOENT;
	if (!t || !t[0])
		goto out;
	rc = -EMSGSIZE;
	if (strlen(t) >= size)
		goto out;
	rc = -EPROTO;
	for (const char *c = t; *c; c++) {
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			goto out; /* it goes into a header line */
	}
	memcpy(tok, t, strlen(t) + 1);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static int hdfs_status_of(const json_t *o, struct vx_source_hdfs_status *st)
{
	const char *type = str_of(o, "type");
	const char *name = str_of(o, "pathSuffix");
	const json_t *len = json_object_get(o, "length");
	const json_t *mt = json_object_get(o, "modificationTime");

	memset(st, 0, sizeof(*st));
	if (!json_is_object(o) || !type || !json_is_integer(len) || json_integer_value(len) < 0)
		return -EPROTO;
	if (strcmp(type, "DIRECTORY") == 0)
		st->is_dir = true;
	else if (strcmp(type, "FILE") != 0)
		return -EPROTO; /* symlinks are not followed */
	if (name) {
		if (strlen(name) >= sizeof(st->name) || strchr(name, '/') ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return -EPROTO;
		memcpy(st->name, name, strlen(name) + 1);
	}
	st->length = (int64_t)json_integer_value(len);
	st->mtime_ms = json_is_integer(mt) ? (int64_t)json_integer_value(mt) : 0;
	return 0;
}

int vx_source_hdfs_status_parse(const char *doc, size_t len, struct vx_source_hdfs_status *st)
{
	json_t *root = load(doc, len);
	int rc = -EPROTO;

	memset(st, 0, sizeof(*st));
	if (!json_is_object(root))
		goto out;
	if (json_object_get(root, "RemoteException")) {
		rc = -EREMOTEIO;
		goto out;
	}
	rc = hdfs_status_of(json_object_get(root, "FileStatus"), st);
out:
	json_decref(root);
	return rc;
}

int vx_source_hdfs_list_parse(const char *doc, size_t len, vx_source_hdfs_status_fn fn, void *arg)
{
	json_t *root = load(doc, len), *arr, *e;
	struct vx_source_hdfs_status st;
	int rc = -EPROTO;
	size_t i;

	if (!json_is_object(root))
		goto out;
	if (json_object_get(root, "RemoteException")) {
		rc = -EREMOTEIO;
		goto out;
	}
	arr = json_object_get(json_object_get(root, "FileStatuses"), "FileStatus");
	if (!json_is_array(arr))
		goto out;
	json_array_foreach(arr, i, e)
	{
		if (hdfs_status_of(e, &st) != 0)
			goto out;
	}
	rc = 0;
	json_array_foreach(arr, i, e)
	{
		if (hdfs_status_of(e, &st) == 0)
			rc = fn(arg, &st);
		if (rc)
			break;
	}
out:
	json_decref(root);
	return rc;
}

int vx_source_oci_tags_parse(const char *doc, size_t len, vx_source_oci_tag_fn fn, void *arg)
{
	json_t *root = load(doc, len), *tags, *t;
	int rc = -EPROTO;
	size_t i;

	if (!json_is_object(root))
		goto out;
	tags = json_object_get(root, "tags");
	if (json_is_null(tags) || !tags) {
		rc = 0;
		goto out;
	}
	if (!json_is_array(tags))
		goto out;
	rc = 0;
	json_array_foreach(tags, i, t)
	{
		if (!json_is_string(t)) {
			rc = -EPROTO;
			break;
		}
		rc = fn(arg, json_string_value(t));
		if (rc)
			break;
	}
out:
	json_decref(root);
	return rc;
}
