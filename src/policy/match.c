// SPDX-License-Identifier: MIT
/* Matchers. Globs use the greedy two-pointer algorithm with backtracking to
 * the last star only: it is exact whenever every non-star token consumes
 * exactly one symbol (a byte inside a segment, a segment for "**"), and it
 * is O(pattern * subject) with no recursion, so hostile input cannot make a
 * decision exponential. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "policy/match.h"

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- hosts ---- */

static int normalize_ipv6(const char *s, size_t len, char *out, size_t outsz)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	char txt[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	/* inet_pton refuses zone ids ("%eth0"), which have no meaning past this host. */
	if (inet_pton(AF_INET6, tmp, addr) != 1)
		return -EINVAL;
	if (!inet_ntop(AF_INET6, addr, txt, sizeof(txt)))
		return -EINVAL;
	len = strlen(txt);
	if (len + 1 > outsz)
		return -ENOBUFS;
	memcpy(out, txt, len + 1);
	return (int)len;
}

int ward_host_normalize(const char *raw, size_t len, char *out, size_t outsz)
{
	char tmp[WARD_HOST_MAX];
	struct in_addr a4;
	size_t label = 0;
	bool last_numeric = true;

	if (!raw || len == 0 || outsz == 0)
		return -EINVAL;
	if (raw[0] == '[') {
		if (len < 3 || raw[len - 1] != ']')
			return -EINVAL;
		return normalize_ipv6(raw + 1, len - 2, out, outsz);
	}
	if (memchr(raw, ':', len))
		return normalize_ipv6(raw, len, out, outsz);

	if (raw[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = lower(raw[i]);

		if (c == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
			last_numeric = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63)
				return -EINVAL;
			if (c < '0' || c > '9')
				last_numeric = false;
		} else {
			return -EINVAL;
		}
		tmp[i] = c;
	}
	if (label == 0)
		return -EINVAL;
	tmp[len] = '\0';

	if (last_numeric) {
		/* Only the canonical dotted quad is an address; "1.2.3.4.5" or "a.123"
		 * is neither an address nor a name any resolver should look up. */
		char txt[INET_ADDRSTRLEN];

		if (inet_pton(AF_INET, tmp, &a4) != 1 ||
		    !inet_ntop(AF_INET, &a4, txt, sizeof(txt)) || strcmp(txt, tmp) != 0)
			return -EINVAL;
	} else if (inet_aton(tmp, &a4)) {
		/* "0x7f000001" and friends: a resolver reads them as 127.0.0.1. */
		return -EINVAL;
	}
	if (len + 1 > outsz)
		return -ENOBUFS;
	memcpy(out, tmp, len + 1);
	return (int)len;
}

bool ward_host_is_ip(const char *host)
{
	unsigned char addr[16];

	if (!host)
		return false;
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

bool ward_match_host(const char *pattern, const char *host)
{
	char h[WARD_HOST_MAX], p[WARD_HOST_MAX];
	enum { EXACT, ONE_LABEL, ANY_LABELS } mode = EXACT;
	const char *suffix = pattern;
	int hl, pl;

	if (!pattern || !host)
		return false;
	if (strncmp(pattern, "**.", 3) == 0) {
		mode = ANY_LABELS;
		suffix = pattern + 3;
	} else if (strncmp(pattern, "*.", 2) == 0) {
		mode = ONE_LABEL;
		suffix = pattern + 2;
	}
	hl = ward_host_normalize(host, strlen(host), h, sizeof(h));
	if (hl < 0)
		return false;
	pl = ward_host_normalize(suffix, strlen(suffix), p, sizeof(p));
	if (pl < 0)
		return false;
	if (mode == EXACT)
		return hl == pl && memcmp(h, p, (size_t)hl) == 0;

	/* Wildcards name DNS labels; they never stand for parts of an address. */
	if (ward_host_is_ip(p) || ward_host_is_ip(h))
		return false;
	if (hl < pl + 2 || h[hl - pl - 1] != '.' || memcmp(h + hl - pl, p, (size_t)pl) != 0)
		return false;
	if (mode == ONE_LABEL && memchr(h, '.', (size_t)(hl - pl - 1)))
		return false;
	return true;
}

/* ---- paths ---- */

static bool unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* A "." or ".." segment, also as "..;params" (Tomcat and others strip the
 * parameters before resolving dot segments). */
static bool dot_segment(const char *seg, size_t len)
{
	const char *semi = memchr(seg, ';', len);

	if (semi)
		len = (size_t)(semi - seg);
	return (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.');
}

int ward_path_normalize(const char *raw, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, seg = 1;

	if (!raw || raw[0] != '/')
		return -EINVAL;
	if (outsz < 2)
		return -ENOBUFS;
	out[o++] = '/';
	for (const char *s = raw + 1; *s && *s != '?' && *s != '#'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '/') {
			if (dot_segment(out + seg, o - seg))
				return -EINVAL;
			if (out[o - 1] == '/')
				continue; /* collapse "//" */
			if (o + 2 > outsz)
				return -ENOBUFS;
			out[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
			int d;

			if (hi < 0 || lo < 0)
				return -EINVAL;
			d = hi << 4 | lo;
			s += 2;
			/* An encoded separator would let "/a%2F..%2Fb" mean two things. */
			if (d == 0 || d == '/' || d == '\\')
				return -EINVAL;
			if (unreserved(d)) {
				if (o + 2 > outsz)
					return -ENOBUFS;
				out[o++] = (char)d;
			} else {
				if (o + 4 > outsz)
					return -ENOBUFS;
				out[o++] = '%';
				out[o++] = hex[d >> 4];
				out[o++] = hex[d & 15];
			}
			continue;
		}
		/* Some upstreams treat '\' as '/': refuse rather than guess. */
		if (c < 0x21 || c > 0x7e || c == '\\')
			return -EINVAL;
		if (o + 2 > outsz)
			return -ENOBUFS;
		out[o++] = (char)c;
	}
	if (dot_segment(out + seg, o - seg))
		return -EINVAL;
	out[o] = '\0';
	return (int)o;
}

/* Glob within one segment: '*' is any run of bytes. */
static bool seg_match(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < sl) {
		if (pi < pl && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pl && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

static size_t seg_len(const char *s)
{
	const char *e = strchr(s, '/');

	return e ? (size_t)(e - s) : strlen(s);
}

/* Start of the next segment, NULL past the last one. */
static const char *seg_next(const char *s)
{
	const char *e = strchr(s, '/');

	return e ? e + 1 : NULL;
}

static bool is_dstar(const char *g)
{
	return g[0] == '*' && g[1] == '*' && (g[2] == '/' || g[2] == '\0');
}

bool ward_match_glob(const char *glob, const char *path)
{
	const char *g, *s, *star_g = NULL, *star_s = NULL;

	if (!glob || !path || (glob[0] == '/') != (path[0] == '/'))
		return false;
	g = glob + (glob[0] == '/');
	s = path + (path[0] == '/');

	while (s) {
		if (g && is_dstar(g)) {
			star_g = g;
			star_s = s;
			g = seg_next(g);
		} else if (g && seg_match(g, seg_len(g), s, seg_len(s))) {
			g = seg_next(g);
			s = seg_next(s);
		} else if (star_g) {
			/* Let the last "**" absorb one more segment and retry after it. */
			star_s = seg_next(star_s);
			s = star_s;
			g = seg_next(star_g);
		} else {
			return false;
		}
	}
	while (g && is_dstar(g))
		g = seg_next(g);
	return g == NULL;
}

bool ward_match_path(const char *glob, const char *path)
{
	return ward_match_glob(glob, path);
}

bool ward_match_request_path(const char *glob, const char *raw)
{
	char buf[8192];

	if (ward_path_normalize(raw, buf, sizeof(buf)) < 0)
		return false;
	return ward_match_glob(glob, buf);
}

bool ward_match_binary(const char *glob, const char *path)
{
	if (!glob || !path || glob[0] != '/' || path[0] != '/')
		return false;
	return ward_match_glob(glob, path);
}

/* ---- methods ---- */

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool ward_match_method(const char *pattern, const char *method)
{
	if (!pattern || !method || !method[0])
		return false;
	if (strcmp(pattern, "*") == 0) {
		for (const char *m = method; *m; m++)
			if (!tchar((unsigned char)*m))
				return false;
		return true;
	}
	return strcmp(pattern, method) == 0;
}

/* ---- query ---- */

bool ward_match_value(const char *glob, const char *s, size_t len)
{
	if (!glob || !s)
		return false;
	return seg_match(glob, strlen(glob), s, len);
}

/* Percent-decode s[0..len) into out; -1 on a bad escape, a NUL or no room. */
static int pct_decode(const char *s, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

bool ward_match_query(const struct ward_query_match *m, size_t n, const char *query, size_t len)
{
	char key[WARD_QUERY_VALUE_MAX], val[WARD_QUERY_VALUE_MAX];

	if (n == 0)
		return true;
	if (!m || (!query && len))
		return false;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		size_t pos = 0;

		if (!m[i].key || !m[i].glob)
			return false;
		while (pos < len) {
			const char *p = query + pos, *amp = memchr(p, '&', len - pos);
			size_t plen = amp ? (size_t)(amp - p) : len - pos;
			const char *eq = memchr(p, '=', plen);
			size_t klen = eq ? (size_t)(eq - p) : plen;
			int kl, vl;

			pos += plen + 1;
			if (plen == 0)
				continue;
			kl = pct_decode(p, klen, key, sizeof(key));
			vl = eq ? pct_decode(eq + 1, plen - klen - 1, val, sizeof(val))
				: pct_decode("", 0, val, sizeof(val));
			if (kl < 0 || vl < 0)
				return false;
			if (strlen(m[i].key) != (size_t)kl ||
			    memcmp(key, m[i].key, (size_t)kl) != 0)
				continue;
			/* Every occurrence must match: servers disagree on which one wins. */
			if (!ward_match_value(m[i].glob, val, (size_t)vl))
				return false;
			seen = true;
		}
		if (!seen)
			return false;
	}
	return true;
}
