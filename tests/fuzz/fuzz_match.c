// SPDX-License-Identifier: MIT
/* Fuzz the matchers, differentially: the greedy glob engine must agree with a
 * plain dynamic-programming reference on every input small enough for it;
 * normalisation must be idempotent; a normalised name or path must match
 * itself. Input: pattern NUL subject [NUL query]. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_match: check failed: %s (line %d)\n", #c, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define REF_MAX 64

/* Reference: '*' = any run of bytes, by the textbook DP table. */
static bool ref_seg(const char *p, size_t pl, const char *s, size_t sl)
{
	bool t[REF_MAX + 1][REF_MAX + 1];

	for (size_t i = pl + 1; i-- > 0;) {
		for (size_t j = sl + 1; j-- > 0;) {
			if (i == pl)
				t[i][j] = j == sl;
			else if (p[i] == '*')
				t[i][j] = t[i + 1][j] || (j < sl && t[i][j + 1]);
			else
				t[i][j] = j < sl && p[i] == s[j] && t[i + 1][j + 1];
		}
	}
	return t[0][0];
}

struct segs {
	const char *p[REF_MAX];
	size_t len[REF_MAX];
	size_t n;
};

static bool split(const char *s, struct segs *out)
{
	out->n = 0;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (out->n == REF_MAX || len > REF_MAX)
			return false;
		out->p[out->n] = s;
		out->len[out->n++] = len;
		if (!e)
			return true;
		s = e + 1;
	}
}

/* Reference: "**" segments = any run of segments, by DP over segments. */
static int ref_glob(const char *glob, const char *path)
{
	struct segs g, s;
	bool t[REF_MAX + 1][REF_MAX + 1];

	if ((glob[0] == '/') != (path[0] == '/'))
		return 0;
	if (!split(glob + (glob[0] == '/'), &g) || !split(path + (path[0] == '/'), &s))
		return -1;
	for (size_t i = g.n + 1; i-- > 0;) {
		for (size_t j = s.n + 1; j-- > 0;) {
			if (i == g.n)
				t[i][j] = j == s.n;
			else if (g.len[i] == 2 && g.p[i][0] == '*' && g.p[i][1] == '*')
				t[i][j] = t[i + 1][j] || (j < s.n && t[i][j + 1]);
			else
				t[i][j] = j < s.n && ref_seg(g.p[i], g.len[i], s.p[j], s.len[j]) &&
					  t[i + 1][j + 1];
		}
	}
	return t[0][0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *pat, *subj, *query = "";
	char norm[8192], again[8192];
	const char *nul;
	int r, ref;

	if (size > 16384)
		return 0;
	buf = malloc(size + 2);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	pat = buf;
	nul = memchr(buf, '\0', size);
	subj = nul ? buf + (nul - buf) + 1 : buf + size;
	if (nul && (size_t)(subj - buf) < size) {
		char *q = memchr(subj, '\0', size - (size_t)(subj - buf));

		if (q && q < buf + size)
			query = q + 1;
	}

	/* globs against the reference */
	ref = ref_glob(pat, subj);
	if (ref >= 0)
		CHECK(ward_match_glob(pat, subj) == (ref == 1));
	if (strlen(pat) <= REF_MAX && strlen(subj) <= REF_MAX)
		CHECK(ward_match_value(pat, subj, strlen(subj)) ==
		      ref_seg(pat, strlen(pat), subj, strlen(subj)));
	CHECK(ward_match_glob(subj, subj));
	(void)ward_match_binary(pat, subj);
	(void)ward_match_request_path(pat, subj);
	(void)ward_match_method(pat, subj);

	/* paths: idempotent, self-matching */
	r = ward_path_normalize(subj, norm, sizeof(norm));
	if (r >= 0) {
		CHECK((size_t)r == strlen(norm) && norm[0] == '/');
		CHECK(!strstr(norm, "//") && !strstr(norm, "/../") && !strstr(norm, "/./"));
		CHECK(ward_path_normalize(norm, again, sizeof(again)) == r && !strcmp(norm, again));
		CHECK(ward_match_path(norm, norm));
		CHECK(ward_match_path("/**", norm));
	}

	/* hosts: idempotent, a normalised name matches itself and its wildcards */
	r = ward_host_normalize(subj, strlen(subj), norm, sizeof(norm));
	if (r >= 0) {
		CHECK(ward_host_normalize(norm, (size_t)r, again, sizeof(again)) == r &&
		      !strcmp(norm, again));
		CHECK(ward_match_host(norm, subj));
		if (!ward_host_is_ip(norm)) {
			const char *dot = strchr(norm, '.');
			char wild[WARD_HOST_MAX + 3];

			if (dot &&
			    ward_host_normalize(dot + 1, strlen(dot + 1), again, sizeof(again)) >=
				    0 &&
			    !ward_host_is_ip(again)) {
				snprintf(wild, sizeof(wild), "*.%s", dot + 1);
				CHECK(ward_match_host(wild, subj));
				snprintf(wild, sizeof(wild), "**.%s", dot + 1);
				CHECK(ward_match_host(wild, subj));
			}
		}
	}
	(void)ward_match_host(pat, subj);

	/* query: pattern is "key=glob" */
	{
		char *eq = strchr(pat, '=');

		if (eq) {
			struct ward_query_match m;

			*eq = '\0';
			m.key = pat;
			m.glob = eq + 1;
			(void)ward_match_query(&m, 1, query, strlen(query));
			(void)ward_match_query(&m, 1, subj, strlen(subj));
		}
	}
	free(buf);
	return 0;
}

#include "replay.h"
