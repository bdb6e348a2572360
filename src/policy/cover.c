// SPDX-License-Identifier: MIT
/* Pattern subsumption (cover.h): whether every string one pattern can match
 * another matches too, decided on the two patterns in the languages of
 * match.c. Sound, not complete: "no" may be a pattern pair that does cover
 * in fact (longer than the bounds below, or a union), never the reverse. */
#include "policy/cover.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/match.h"

/* Bounds of the pattern comparison; longer patterns are compared as equal
 * strings only (sound: at worst a refusal the notes explain). */
#define SEG_MAX 255 /* bytes of one segment or value glob */
#define SEGS_MAX 64 /* segments of a path glob */

/* Every string s stands for, g matches ('*': any run of bytes; a '*' of s
 * can only be taken by a '*' of g). Within one path segment, and for the
 * flat value globs of query matchers. */
static bool star_covers(const char *g, size_t gl, const char *s, size_t sl)
{
	bool nxt[SEG_MAX + 2], cur[SEG_MAX + 2];

	if (gl > SEG_MAX || sl > SEG_MAX)
		return gl == sl && !memcmp(g, s, gl);
	for (size_t b = 0; b <= sl; b++)
		nxt[b] = b == sl;
	for (size_t a = gl; a-- > 0;) {
		for (size_t b = sl + 1; b-- > 0;) {
			if (g[a] == '*')
				cur[b] = nxt[b] || (b < sl && cur[b + 1]);
			else
				cur[b] = b < sl && s[b] != '*' && g[a] == s[b] && nxt[b + 1];
		}
		memcpy(nxt, cur, sl + 1);
	}
	return nxt[0];
}

struct segs {
	const char *p[SEGS_MAX];
	size_t len[SEGS_MAX];
	size_t n;
};

/* An absolute glob into its segments ("/" is one empty segment, as in match.c). */
static bool split(const char *s, struct segs *out)
{
	out->n = 0;
	if (s[0] != '/')
		return false;
	for (s++;; s++) {
		size_t n = strcspn(s, "/");

		if (out->n == SEGS_MAX)
			return false;
		out->p[out->n] = s;
		out->len[out->n++] = n;
		s += n;
		if (!*s)
			return true;
	}
}

static bool is_dstar(const char *p, size_t n)
{
	return n == 2 && p[0] == '*' && p[1] == '*';
}

/* Every path the glob s matches, the glob g matches (ward_match_glob's
 * language: '*' within a segment, a "**" segment for any number of them). */
bool ward_cover_glob(const char *g, const char *s)
{
	struct segs G, S;
	bool dp[SEGS_MAX + 1][SEGS_MAX + 1];

	if (!strcmp(g, s))
		return true;
	if (!split(g, &G) || !split(s, &S))
		return false;
	for (size_t i = G.n + 1; i-- > 0;)
		for (size_t j = S.n + 1; j-- > 0;) {
			if (i == G.n)
				dp[i][j] = j == S.n;
			else if (is_dstar(G.p[i], G.len[i]))
				dp[i][j] = dp[i + 1][j] || (j < S.n && dp[i][j + 1]);
			else
				dp[i][j] = j < S.n && !is_dstar(S.p[j], S.len[j]) &&
					   star_covers(G.p[i], G.len[i], S.p[j], S.len[j]) &&
					   dp[i + 1][j + 1];
		}
	return dp[0][0];
}

/* Host patterns: exact (a name or an address), "*.D" (one label), "**.D"
 * (one or more). A wildcard is covered only by an equal one or by a "**."
 * of the same or a parent domain. */
bool ward_cover_host(const char *hp, const char *sp)
{
	const char *sd, *hd;
	size_t sl, hl;

	if (!strcmp(hp, sp))
		return true;
	if (sp[0] != '*')
		return ward_match_host(hp, sp);
	if (strncmp(hp, "**.", 3))
		return false;
	sd = sp + (sp[1] == '*' ? 3 : 2);
	hd = hp + 3;
	sl = strlen(sd);
	hl = strlen(hd);
	return (sl == hl && !strcmp(sd, hd)) ||
	       (sl > hl && sd[sl - hl - 1] == '.' && !strcmp(sd + sl - hl, hd));
}

static bool is_glob(const char *s)
{
	return strchr(s, '*') != NULL;
}

/* The kernel knows a binary by its file, so a symlink is its target: an
 * exact path is also covered when the file it names is one the host rule
 * names (same device and inode), or its resolved path is under the glob. */
static bool same_file(const char *hp, const char *sp)
{
	char real[PATH_MAX];
	struct stat a, b;

	if (!is_glob(hp))
		return stat(hp, &a) == 0 && stat(sp, &b) == 0 && a.st_dev == b.st_dev &&
		       a.st_ino == b.st_ino;
	return realpath(sp, real) && strcmp(real, sp) && ward_cover_glob(hp, real);
}

bool ward_cover_binary(const struct ward_binary *h, const struct ward_binary *s)
{
	if (s->ancestors && !h->ancestors)
		return false;
	if (h->sha256)
		return s->sha256 && !strcmp(h->sha256, s->sha256);
	if (s->sha256)
		return ward_cover_glob(h->path, "/**");
	return ward_cover_glob(h->path, s->path) ||
	       (!is_glob(s->path) && same_file(h->path, s->path));
}

bool ward_cover_method(const char *a, const char *u)
{
	return !strcmp(a, "*") || !strcmp(a, u);
}

/* Every matcher of a is implied by one of u's (same key, narrower value glob). */
bool ward_cover_query(const struct ward_l7_rule *a, const struct ward_l7_rule *u)
{
	for (size_t i = 0; i < a->n_query; i++) {
		const struct ward_query_match *q = &a->query[i];
		bool ok = false;

		for (size_t j = 0; j < u->n_query && !ok; j++)
			ok = !strcmp(q->key, u->query[j].key) &&
			     star_covers(q->glob, strlen(q->glob), u->query[j].glob,
					 strlen(u->query[j].glob));
		if (!ok)
			return false;
	}
	return true;
}

bool ward_cover_rule(const struct ward_l7_rule *a, const struct ward_l7_rule *u)
{
	return ward_cover_method(a->method, u->method) && ward_cover_glob(a->path, u->path) &&
	       ward_cover_query(a, u);
}

/* The bytes every path a glob matches starts with: up to the first '*', and
 * without the '/' before a "**" segment (a "/repos/" then "**" matches "/repos"). */
static size_t lit_prefix(const char *g)
{
	size_t n = strcspn(g, "*");

	if (g[n] && n && g[n - 1] == '/' && g[n + 1] == '*')
		n--;
	return n;
}

/* No request can match both (sound, not complete: then they may overlap). */
bool ward_rules_disjoint(const struct ward_l7_rule *a, const struct ward_l7_rule *b)
{
	size_t la = lit_prefix(a->path), lb = lit_prefix(b->path);

	if (strcmp(a->method, "*") && strcmp(b->method, "*") && strcmp(a->method, b->method))
		return true;
	return memcmp(a->path, b->path, la < lb ? la : lb) != 0;
}

bool ward_cover_cidr(const struct ward_cidr *h, const struct ward_cidr *s)
{
	unsigned bits = h->prefix, i;

	if (h->family != s->family || h->prefix > s->prefix)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (h->addr[i] != s->addr[i])
			return false;
	return !bits || !((h->addr[i] ^ s->addr[i]) & (uint8_t)(0xff << (8 - bits)));
}
