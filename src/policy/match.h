/* SPDX-License-Identifier: MIT */
/* Compiled matchers for hosts, L7 paths, methods, query strings and binary
 * paths. Pure functions over NUL-terminated strings: no allocation, no
 * recursion, worst case O(pattern * subject). The exact semantics are in
 * docs/matching.md; the proxy, `ward policy explain` and `ward replay` all
 * decide through these, so they must agree with that document. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy/model.h"

/* A host name is at most 253 bytes; an IPv6 literal text at most 45. */
#define WARD_HOST_MAX 256
/* Longest query key or value (decoded) a query matcher looks at; longer ones never match. */
#define WARD_QUERY_VALUE_MAX 2048

/* Canonical host: lower case, one trailing dot removed, IPv6 brackets removed
 * and the address printed in RFC 5952 form. Names must be LDH labels
 * (1-63 bytes of [a-z0-9-], total <= 253); a name that inet_aton() would read
 * as a non-canonical IPv4 address ("127.1", "0x7f000001", "017.0.0.1") is
 * refused so a rule cannot be sidestepped by another spelling of an address.
 * Returns the length written, -EINVAL when refused, -ENOBUFS when out is small. */
int ward_host_normalize(const char *raw, size_t len, char *out, size_t outsz);

/* True when host is an IPv4 or IPv6 literal (as ward_host_normalize() leaves it). */
bool ward_host_is_ip(const char *host);

/* pattern: exact name or IP, "*.x.com" (exactly one label before x.com) or
 * "**.x.com" (one or more labels). host: anything from the wire; it is
 * normalised first and an invalid host never matches. */
bool ward_match_host(const char *pattern, const char *host);

/* Normalise the path of a request-target (the bytes before '?' or '#'; the
 * rest of raw is ignored): percent-decode unreserved characters, upper-case
 * the hex of every other escape, collapse duplicate slashes. Refuses with
 * -EINVAL: no leading '/', bytes outside 0x21-0x7e, a raw or encoded
 * backslash, an encoded '/' or NUL, a bad escape, and any "." or ".." segment
 * (also encoded, also with ";params"). -ENOBUFS when out is too small.
 * Returns the length written (out is NUL-terminated). */
int ward_path_normalize(const char *raw, char *out, size_t outsz);

/* Segment glob on a '/'-separated string: '*' matches any run of bytes inside
 * one segment (possibly empty), a whole segment "**" matches zero or more
 * segments. Everything else is literal and case-sensitive. glob and path must
 * both be absolute or both relative. path must already be normalised. */
bool ward_match_glob(const char *glob, const char *path);

/* L7 path rule against a normalised path (ward_path_normalize()). */
bool ward_match_path(const char *glob, const char *path);

/* Same, but normalises raw first (query split off); a refused path never matches. */
bool ward_match_request_path(const char *glob, const char *raw);

/* Binary path glob against an absolute executable path (no percent decoding). */
bool ward_match_binary(const char *glob, const char *path);

/* Method: "*" matches any token; otherwise exact and case-sensitive ("GET"). */
bool ward_match_method(const char *pattern, const char *method);

/* Flat glob for values: '*' matches any run of bytes, '/' included. */
bool ward_match_value(const char *glob, const char *s, size_t len);

/* Every matcher in m must hold for the query string (without the '?'): its key
 * must occur, and every occurrence's value must match its glob. Keys compare
 * exactly after percent-decoding; values are percent-decoded ('+' stays '+')
 * before matching. A bad escape or decoded NUL anywhere means no match.
 * n == 0 always matches. */
bool ward_match_query(const struct ward_query_match *m, size_t n, const char *query, size_t len);
