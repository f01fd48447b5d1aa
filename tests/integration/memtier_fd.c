/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtier_fd.c SOCKET URL: a libvx reader of the memory tier, for peer_memtier.sh. Asks the
 * daemon on SOCKET for URL with memory set through vx_client_open_content() and prints one line
 * describing the descriptor it got: "sha256=<hex> size=<n> sealed=<0|1> rdonly=<0|1>", where
 * sealed means every seal of the memory tier (write, grow, shrink, seal) is on. Exit 0 with a
 * descriptor, 1 without one (the daemon's message on stderr).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "vx_client.h"

int main(int argc, char **argv)
{
	struct vx_download_request req = { 0 };
	struct vx_download_result res;
	unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned int mdlen = 0;
	struct vx_client *c;
	struct stat st;
	EVP_MD_CTX *ctx;
	off_t off = 0;
	ssize_t n;
	int fd, rc, seals, want = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;

	if (argc != 3) {
		fprintf(stderr, "usage: memtier_fd SOCKET URL\n");
		return 2;
	}
	rc = vx_client_connect(&c, argv[1], 10000);
	if (rc) {
		fprintf(stderr, "memtier_fd: connect: %d\n", rc);
		return 1;
	}
	req.url = argv[2];
	req.memory = true;
	rc = vx_client_open_content(c, &req, &fd, &res);
	vx_client_close(c);
	if (rc) {
		fprintf(stderr, "memtier_fd: no descriptor: %d %s\n", rc, res.msg);
		return 1;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		return 1;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) != 0)
		return 1;
	printf("sha256=");
	for (unsigned int i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf(" size=%lld sealed=%d rdonly=%d\n", (long long)st.st_size,
	       seals >= 0 && (seals & want) == want, (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	close(fd);
	return 0;
}
