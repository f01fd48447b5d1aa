/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_proxy_fwd.h: the HTTP forward proxy's parsers, pure and fuzzed (fuzz_proxy_fwd): the
 * absolute-form request target ("GET http://host/path HTTP/1.1", RFC 9112 section 3.2.2, how
 * a client with HTTP_PROXY asks) and the rules (`proxy.rules`: POSIX extended regexes, one
 * match sends the URL through P2P). proxy.c only acts on what comes out.
 */
#ifndef VX_PROXY_FWD_H
#define VX_PROXY_FWD_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vx_compiler.h"

#define VX_PROXY_HOST_MAX    253  /* a DNS name's text */
#define VX_PROXY_FWD_URL_MAX 2048 /* the whole absolute-form target */
#define VX_PROXY_RULES_MAX   32
#define VX_PROXY_RULE_MAX    512 /* bytes of one rule */

struct vx_proxy_target {
	char host[VX_PROXY_HOST_MAX + 1]; /* lowercase name or IPv4, or IPv6 without brackets */
	bool ipv6;
	bool https;			    /* "https://" (only inside an intercepted tunnel) */
	uint16_t port;			    /* 80 (443 for https) when the target names none */
	char url[VX_PROXY_FWD_URL_MAX + 1]; /* the target as given, scheme and host lowercased */
};

/*
 * vx_proxy_target_parse() - @len bytes at @s (no NUL needed) as an absolute-form target:
 * "http[s]://" host [":" port] [path-abempty] ["?" query] (the caller refuses https but for
 * the requests of an intercepted CONNECT tunnel, which it builds itself);
 * host: a DNS name (letters, digits, '-', '.'; labels of 1..63, no leading or trailing '-'),
 * a dotted IPv4, or "[IPv6]" (inet_pton's, no zone); port 1..65535 without leading zeros.
 * Refused: user-info ('@' before the path), a fragment ('#'), bytes outside visible ASCII,
 * an empty host. Returns 0; -EINVAL (malformed) or -E2BIG (over VX_PROXY_FWD_URL_MAX) with
 * @out zeroed.
 */
VX_MUST_CHECK int vx_proxy_target_parse(const char *s, size_t len, struct vx_proxy_target *out);

/* A CONNECT request's head (RFC 9110 section 9.3.6): the authority-form target. */
struct vx_proxy_connect {
	char host[VX_PROXY_HOST_MAX + 1]; /* lowercase name or IPv4, or IPv6 without brackets */
	bool ipv6;
	uint16_t port; /* always given */
};

#define VX_PROXY_CONNECT_HEAD_MAX 8192 /* bytes of a CONNECT request line and headers */

/*
 * vx_proxy_connect_parse() - the first @len bytes a client sent (no NUL needed), read as a
 * CONNECT head: "CONNECT" SP host ":" port SP "HTTP/1.0|1.1" CRLF, header lines
 * (token ":" visible ASCII, SP and HTAB; no obs-fold), an empty line. Host and port as
 * vx_proxy_target_parse() takes them (the port is required). Only CRLF ends a line.
 * Returns the head's length in bytes (what follows it is the tunnel's first data), 0 when the
 * head is not complete yet and @len < @max (read more), -E2BIG when @max bytes (at most
 * VX_PROXY_CONNECT_HEAD_MAX) hold no complete head, -EINVAL (malformed, or not CONNECT); on
 * anything but a positive return @out is zeroed.
 */
VX_MUST_CHECK int vx_proxy_connect_parse(const char *buf, size_t len, size_t max,
					 struct vx_proxy_connect *out);

/* The compiled rules. */
struct vx_proxy_rules {
	regex_t re[VX_PROXY_RULES_MAX];
	uint32_t n;
};

/* The rules used when `proxy.rules` is empty: registry blobs and large files by extension. */
extern const char *const vx_proxy_rules_default[];

/*
 * vx_proxy_rules_compile() - compile @n patterns (NUL-terminated, each at most
 * VX_PROXY_RULE_MAX bytes, case-insensitive POSIX ERE) into @r. Refused, as their cost is not
 * bounded: back-references, a quantifier right after another ("a++"), more than 16
 * quantifiers, a bound {n,m} over 100; @n 0: vx_proxy_rules_default. Returns 0; -EINVAL (a bad
 * pattern: its number and regerror() text in @err) or -E2BIG (too many or too long) with
 * nothing left allocated.
 */
VX_MUST_CHECK int vx_proxy_rules_compile(struct vx_proxy_rules *r, const char *const *pats,
					 uint32_t n, char *err, size_t err_len);

/*
 * The rules of URLs that never go P2P, checked before the P2P rules when
 * `proxy.direct_rules` is empty: package repositories' metadata (APT dists/, Yum repodata/,
 * Maven maven-metadata.xml, Alpine APKINDEX), which changes under one URL.
 */
extern const char *const vx_proxy_direct_default[];

/* vx_proxy_rules_compile() for the config key @key ("proxy.direct_rules"), named in @err,
 * with @defaults (NULL-terminated) when @n is 0. */
VX_MUST_CHECK int vx_proxy_rules_compile_as(struct vx_proxy_rules *r, const char *const *pats,
					    uint32_t n, const char *const *defaults,
					    const char *key, char *err, size_t err_len);

/* True when some rule matches @url (NUL-terminated). */
bool vx_proxy_rules_match(const struct vx_proxy_rules *r, const char *url);

/* Frees what vx_proxy_rules_compile() made; a zeroed @r is a no-op. */
void vx_proxy_rules_free(struct vx_proxy_rules *r);

#endif /* VX_PROXY_FWD_H */
