/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mgr_channel.c: publish/subscribe channels (spec/manager.md "Channels"): an ordered, durable
 * log of publications per channel in the manager's database (sqlite or PostgreSQL). A
 * publication names a persistent cache task (`vx publish FILE` imports it first) or an http(s)
 * URL, and the file name subscribers write it under; its sequence number is the channel's
 * last plus one, given in the same transaction that appends it (and that creates the channel
 * on its first publication), so numbers have no gap and a refused publication leaves nothing.
 * Subscribers read the publications after the last sequence they hold (`vx subscribe`).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mgr_int.h"
#include "vx_err.h"
#include "vx_log.h"
#include "vx_task_id.h"
#include "vx_time.h"
#include "vx_url.h"

static const char *const tables_lite[] = {
	"CREATE TABLE IF NOT EXISTS mgr_channels(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, token_id INTEGER NOT NULL,"
	" last_seq INTEGER NOT NULL DEFAULT 0)",
	"CREATE TABLE IF NOT EXISTS mgr_publications(channel_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, name TEXT NOT NULL, task_id TEXT, url TEXT,"
	" created INTEGER NOT NULL, token_id INTEGER NOT NULL, PRIMARY KEY(channel_id, seq))",
};
static const char *const tables_pg[] = {
	"CREATE TABLE IF NOT EXISTS mgr_channels(id BIGSERIAL PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE, created BIGINT NOT NULL, token_id BIGINT NOT NULL,"
	" last_seq BIGINT NOT NULL DEFAULT 0)",
	"CREATE TABLE IF NOT EXISTS mgr_publications(channel_id BIGINT NOT NULL,"
	" seq BIGINT NOT NULL, name TEXT NOT NULL, task_id TEXT, url TEXT,"
	" created BIGINT NOT NULL, token_id BIGINT NOT NULL, PRIMARY KEY(channel_id, seq))",
};

int vx__mgr_channel_tables(struct mgr_db *d)
{
	for (uint32_t i = 0; i < 2; i++) {
		if (vx__mgr_sql(d, NULL, d->pg ? tables_pg[i] : tables_lite[i], NULL))
			return VX_EDB;
	}
	return 0;
}

bool vx__mgr_channel_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-");

	return n && n <= MGR_CHANNEL_MAX && !s[n] && s[0] != '.' && s[0] != '-';
}

/* A file name a subscriber writes in its directory: no path, no dot file, printable. */
static bool file_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+");

	return n && n < MGR_FIELD_MAX && !s[n] && s[0] != '.' && s[0] != '-';
}

int vx_mgr_pub_req_decode(const char *body, size_t len, struct vx_mgr_pub_req *p, char *err,
			  size_t err_len)
{
	json_t *root, *v;
	json_error_t je;
	const char *k;
	int rc = -EINVAL;

	memset(p, 0, sizeof(*p));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root || !json_is_object(root)) {
		snprintf(err, err_len,
			 "the body must be a JSON object {\"name\", \"task_id\" or \"url\"}");
		goto out;
	}
	json_object_foreach(root, k, v)
	{
		const char *s = json_string_value(v);
		char *dst = !strcmp(k, "name")	    ? p->name
			    : !strcmp(k, "task_id") ? p->task_id
			    : !strcmp(k, "url")	    ? p->url
						    : NULL;
		size_t cap = !strcmp(k, "name")	     ? sizeof(p->name)
			     : !strcmp(k, "task_id") ? sizeof(p->task_id)
						     : sizeof(p->url);

		if (!dst) {
			snprintf(err, err_len, "unknown key %.64s (name, task_id, url)", k);
			goto out;
		}
		if (!s || json_string_length(v) >= cap || strlen(s) != json_string_length(v)) {
			snprintf(err, err_len, "%s must be a string of at most %zu bytes", k,
				 cap - 1);
			goto out;
		}
		memcpy(dst, s, json_string_length(v) + 1);
	}
	if (!file_name_ok(p->name))
		snprintf(err, err_len,
			 "name must be a file name: letters, digits, '.', '_', '-', '+', not "
			 "starting with '.' or '-'");
	else if (!p->task_id[0] == !p->url[0])
		snprintf(err, err_len, "give one of task_id (a persistent cache task) and url");
	else if (p->task_id[0] && !vx_task_id_valid(p->task_id, strlen(p->task_id)))
		snprintf(err, err_len, "task_id must be 64 lowercase hex characters");
	else if (p->url[0] && vx__mgr_url_host(p->url, NULL, 0))
		snprintf(err, err_len, "url must be an http or https URL with a host");
	else if (p->url[0] && vx_url_has_credentials(p->url, strlen(p->url)))
		snprintf(err, err_len,
			 "url must not carry credentials (every subscriber reads the channel)");
	else
		rc = 0;
out:
	json_decref(root);
	return rc;
}

int vx__mgr_channel_publish(struct mgr_db *d, const char *channel, const struct vx_mgr_pub_req *p,
			    int64_t token, int64_t *seq)
{
	struct mgr_rows *rows = NULL;
	int64_t now = vx_wall_s(), id;
	int rc;

	if (!vx__mgr_channel_name_ok(channel))
		return -EINVAL;
	rc = vx__mgr_db_begin(d);
	if (rc)
		return rc;
	/* created on the first publication, in the transaction that appends it */
	rc = vx__mgr_sql(d, NULL,
			 "INSERT INTO mgr_channels(name, created, token_id) VALUES(?, ?, ?)"
			 " ON CONFLICT(name) DO NOTHING",
			 "sii", channel, now, token);
	if (!rc)
		rc = vx__mgr_sql(d, &rows,
				 "UPDATE mgr_channels SET last_seq = last_seq + 1 WHERE name = ?"
				 " RETURNING id, last_seq",
				 "s", channel);
	if (!rc && vx__mgr_rows_n(rows) != 1)
		rc = VX_EDB;
	if (!rc) {
		id = vx__mgr_rows_i(rows, 0, 0);
		*seq = vx__mgr_rows_i(rows, 0, 1);
		rc = vx__mgr_sql(d, NULL,
				 "INSERT INTO mgr_publications(channel_id, seq, name, task_id, url,"
				 " created, token_id) VALUES(?, ?, ?, ?, ?, ?, ?)",
				 "iisssii", id, *seq, p->name, p->task_id[0] ? p->task_id : NULL,
				 p->url[0] ? p->url : NULL, now, token);
	}
	vx__mgr_rows_free(rows);
	if (vx__mgr_db_end(d, !rc) && !rc)
		rc = VX_EDB;
	if (!rc)
		vx_info("manager: channel %s: publication %" PRId64 " (%s)", channel, *seq,
			p->name);
	return rc;
}

json_t *vx__mgr_channel_read(struct mgr_db *d, const char *channel, int64_t after, uint32_t limit)
{
	struct mgr_rows *rows = NULL;
	json_t *a, *o;
	int64_t last, id;

	if (!vx__mgr_channel_name_ok(channel) ||
	    vx__mgr_sql(d, &rows, "SELECT id, last_seq FROM mgr_channels WHERE name = ?", "s",
			channel) ||
	    vx__mgr_rows_n(rows) != 1) {
		vx__mgr_rows_free(rows);
		return NULL;
	}
	last = vx__mgr_rows_i(rows, 0, 1);
	id = vx__mgr_rows_i(rows, 0, 0);
	vx__mgr_rows_free(rows);
	rows = NULL;
	o = json_pack("{s:s, s:I, s:[]}", "channel", channel, "last_seq", (json_int_t)last,
		      "publications");
	a = json_object_get(o, "publications");
	if (vx__mgr_sql(d, &rows,
			"SELECT seq, name, task_id, url, created FROM mgr_publications WHERE"
			" channel_id = ? AND seq > ? ORDER BY seq LIMIT ?",
			"iii", id, after, (int64_t)limit) == 0) {
		for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++) {
			char c[32];

			vx__mgr_rfc3339(vx__mgr_rows_i(rows, i, 4), c);
			json_array_append_new(
				a, json_pack("{s:I, s:s, s:s?, s:s?, s:s}", "seq",
					     (json_int_t)vx__mgr_rows_i(rows, i, 0), "name",
					     vx__mgr_rows_s(rows, i, 1, NULL), "task_id",
					     vx__mgr_rows_s(rows, i, 2, NULL), "url",
					     vx__mgr_rows_s(rows, i, 3, NULL), "created_at", c));
		}
	}
	vx__mgr_rows_free(rows);
	return o;
}

json_t *vx__mgr_channel_list(struct mgr_db *d)
{
	struct mgr_rows *rows = NULL;
	json_t *a = json_array();

	if (vx__mgr_sql(d, &rows,
			"SELECT name, last_seq FROM mgr_channels ORDER BY name LIMIT 1000", NULL))
		return a;
	for (uint32_t i = 0; i < vx__mgr_rows_n(rows); i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "name",
						   vx__mgr_rows_s(rows, i, 0, NULL), "last_seq",
						   (json_int_t)vx__mgr_rows_i(rows, i, 1)));
	vx__mgr_rows_free(rows);
	return a;
}
