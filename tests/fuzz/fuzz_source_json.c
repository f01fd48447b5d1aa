/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_json.c: the JSON documents sources/ reads from origins. The first byte picks the
 * reader (OCI index, OCI image manifest, registry token reply, WebHDFS FileStatus, WebHDFS
 * FileStatuses; a first byte 'T': a registry's tag list); the rest is the document. Outputs
 * must be NUL-terminated and sane.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vx_source_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_blob(void *arg, const char *digest, int64_t size, const char *media_type)
{
	(void)arg;
	(void)media_type;
	if (strncmp(digest, "sha", 3) != 0 || size < 0)
		abort();
	return 0;
}

static int on_status(void *arg, const struct vx_source_hdfs_status *st)
{
	(void)arg;
	if (st->length < 0 || strchr(st->name, '/') || !memchr(st->name, '\0', sizeof(st->name)))
		abort();
	return 0;
}

static int on_tag(void *arg, const char *tag)
{
	(void)arg;
	return tag ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data + 1;
	struct vx_source_hdfs_status st;
	char out[8192];

	if (size < 1)
		return 0;
	size--;
	if (data[0] == 'T') {
		if (vx_source_oci_tags_parse(doc, size, on_tag, NULL) > 0)
			abort();
		return 0;
	}
	switch (data[0] % 5) {
	case 0:
		(void)vx_source_oci_is_index(doc, size);
		if (vx_source_oci_index_pick(doc, size, "linux", "amd64", data[0] & 8 ? "v8" : NULL,
					     out, 80) == 0 &&
		    strncmp(out, "sha", 3) != 0)
			abort();
		break;
	case 1:
		if (vx_source_oci_manifest_blobs(doc, size, on_blob, NULL) > 0)
			abort();
		break;
	case 2:
		if (vx_source_token_parse(doc, size, out, sizeof(out)) == 0 && strchr(out, '\n'))
			abort();
		break;
	case 3:
		if (vx_source_hdfs_status_parse(doc, size, &st) == 0)
			(void)on_status(NULL, &st);
		break;
	default:
		if (vx_source_hdfs_list_parse(doc, size, on_status, NULL) > 0)
			abort();
		break;
	}
	return 0;
}
