/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_hostkey.c: the host's secret key (spec/peer.md): 256 random bits, hex, in
 * DATA_DIR/host.key (0600), made on first start and kept across restarts. Sent in every hello;
 * the scheduler binds the host id to its hash, so another host cannot take this host's id, and
 * the id itself is derived from the key (vx__peer_host_id), so nobody can predict it.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer_int.h"
#include "vx_err.h"
#include "vx_hex.h"

#define HOST_KEY_FILE  "host.key"
#define HOST_KEY_BYTES 32

static int key_create(int dfd, char *key, char *err, size_t err_len)
{
	uint8_t rnd[HOST_KEY_BYTES];
	char text[2 * HOST_KEY_BYTES + 1];
	int fd, rc = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, err_len, "getrandom failed");
		return -EIO;
	}
	vx_hex_encode(rnd, sizeof(rnd), key);
	key[2 * HOST_KEY_BYTES] = '\0';
	snprintf(text, sizeof(text), "%s", key);
	text[2 * HOST_KEY_BYTES] = '\n';
	fd = openat(dfd, HOST_KEY_FILE ".tmp",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot create %s: %s", HOST_KEY_FILE, vx_strerror(rc));
		return rc;
	}
	if (write(fd, text, sizeof(text)) != (ssize_t)sizeof(text) || fsync(fd) != 0 ||
	    renameat(dfd, HOST_KEY_FILE ".tmp", dfd, HOST_KEY_FILE) != 0) {
		rc = -EIO;
		snprintf(err, err_len, "cannot write %s", HOST_KEY_FILE);
		(void)unlinkat(dfd, HOST_KEY_FILE ".tmp", 0);
	}
	close(fd);
	explicit_bzero(text, sizeof(text));
	explicit_bzero(rnd, sizeof(rnd));
	return rc;
}

int vx__peer_host_key(const char *dir, char *key, char *err, size_t err_len)
{
	char buf[2 * HOST_KEY_BYTES + 2];
	struct stat st;
	ssize_t n;
	int dfd, fd, rc = -EINVAL;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open '%s': %s", dir, vx_strerror(rc));
		return rc;
	}
	fd = openat(dfd, HOST_KEY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		rc = key_create(dfd, key, err, err_len);
		close(dfd);
		return rc;
	}
	close(dfd);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s/%s: %s", dir, HOST_KEY_FILE,
			 vx_strerror(rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, err_len, "%s/%s must be a regular file of mode 0600", dir,
			 HOST_KEY_FILE);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n >= 2 * HOST_KEY_BYTES &&
	    (n == 2 * HOST_KEY_BYTES || buf[2 * HOST_KEY_BYTES] == '\n') &&
	    n <= 2 * HOST_KEY_BYTES + 1 && vx_hex_is_lower(buf, 2 * HOST_KEY_BYTES)) {
		memcpy(key, buf, 2 * HOST_KEY_BYTES);
		key[2 * HOST_KEY_BYTES] = '\0';
		rc = 0;
	} else {
		snprintf(err, err_len, "%s/%s is not 64 lowercase hex digits", dir, HOST_KEY_FILE);
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

#define HOST_ID_HASH_HEX 16 /* 64 bits of the key's sha256: not guessable, short to read */

void vx__peer_host_id(const char *key, const char *hostname, const char *ip, uint16_t port,
		      char *out, size_t len)
{
	uint8_t md[32];
	char hex[2 * sizeof(md) + 1];
	unsigned n = 0;

	if (!key || !*key) {
		snprintf(out, len, "%s-%s-%u", ip, hostname, port);
		return;
	}
	if (!EVP_Digest(key, strlen(key), md, &n, EVP_sha256(), NULL) || n != sizeof(md))
		memset(md, 0, sizeof(md)); /* not reached with a working libcrypto */
	vx_hex_encode(md, sizeof(md), hex);
	hex[HOST_ID_HASH_HEX] = '\0';
	/* the hostname is cut, never the hash: the id stays the key's */
	snprintf(out, len, "%.*s-%s",
		 (int)(len > HOST_ID_HASH_HEX + 2 ? len - HOST_ID_HASH_HEX - 2 : 0), hostname, hex);
}
