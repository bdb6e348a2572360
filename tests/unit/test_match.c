// SPDX-License-Identifier: MIT
/* Matchers: every rule of docs/matching.md, and the worst cases that must
 * stay polynomial. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy/match.h"

static void check_norm(const char *raw, const char *want)
{
	char out[512];
	int r = ward_host_normalize(raw, strlen(raw), out, sizeof(out));

	if (!want) {
		if (r >= 0)
			fail_msg("host '%s' normalised to '%s', expected refusal", raw, out);
		assert_int_equal(r, -EINVAL);
		return;
	}
	if (r < 0)
		fail_msg("host '%s' refused (%d), expected '%s'", raw, r, want);
	assert_string_equal(out, want);
	assert_int_equal(r, (int)strlen(want));
}

static void test_host_normalize(void **state)
{
	char small[4];

	check_norm("Api.GitHub.COM", "api.github.com");
	check_norm("api.github.com.", "api.github.com");
	check_norm("xn--bcher-kva.example", "xn--bcher-kva.example");
	check_norm("a-b.c", "a-b.c");
	check_norm("127.0.0.1", "127.0.0.1");
	check_norm("[::1]", "::1");
	check_norm("::1", "::1");
	check_norm("[0:0:0:0:0:0:0:1]", "::1");
	check_norm("[2001:DB8::0001]", "2001:db8::1");
	check_norm("[::ffff:127.0.0.1]", "::ffff:127.0.0.1");
	/* non-LDH and empty labels */
	check_norm("", NULL);
	check_norm(".", NULL);
	check_norm("a..b", NULL);
	check_norm(".a", NULL);
	check_norm("a.b..", NULL);
	check_norm("under_score.com", NULL);
	check_norm("sp ace.com", NULL);
	check_norm("nul\x01.com", NULL);
	check_norm("caf\xc3\xa9.com", NULL);
	check_norm("*.x.com", NULL);
	check_norm("a/b", NULL);
	check_norm("a@b", NULL);
	check_norm("host:80", NULL);
	check_norm("[::1", NULL);
	check_norm("[]", NULL);
	check_norm("[fe80::1%eth0]", NULL);
	check_norm("[127.0.0.1]", NULL);
	/* other spellings of addresses */
	check_norm("127.1", NULL);
	check_norm("0x7f000001", NULL);
	check_norm("0x7f.0.0.1", NULL);
	check_norm("2130706433", NULL);
	check_norm("017.0.0.1", NULL);
	check_norm("1.2.3.4.5", NULL);
	check_norm("256.0.0.1", NULL);
	check_norm("a.123", NULL);
	/* label and name lengths */
	char label[70];
	memset(label, 'a', 63);
	strcpy(label + 63, ".com");
	check_norm(label, label);
	memset(label, 'a', 64);
	strcpy(label + 64, ".com");
	check_norm(label, NULL);
	char name[300] = "";
	for (int i = 0; i < 63; i++)
		strcat(name, "abc.");
	strcat(name, "x"); /* 253 bytes */
	assert_int_equal(strlen(name), 253);
	check_norm(name, name);
	strcat(name, "y");
	check_norm(name, NULL);
	assert_int_equal(ward_host_normalize("example.com", 11, small, sizeof(small)), -ENOBUFS);
	/* len is honoured: no read past it */
	assert_int_equal(ward_host_normalize("ab.cXXX", 3, small, sizeof(small)), 2);
	assert_string_equal(small, "ab");
	assert_int_equal(ward_host_normalize("AbcXXX", 3, small, sizeof(small)), 3);
	assert_string_equal(small, "abc");
}

static void test_host_exact(void **state)
{
	assert_true(ward_match_host("api.github.com", "api.github.com"));
	assert_true(ward_match_host("api.github.com", "API.GitHub.Com"));
	assert_true(ward_match_host("api.github.com", "api.github.com."));
	assert_true(ward_match_host("api.github.com.", "api.github.com"));
	assert_true(ward_match_host("API.github.com", "api.github.com"));
	assert_false(ward_match_host("api.github.com", "github.com"));
	assert_false(ward_match_host("api.github.com", "xapi.github.com"));
	assert_false(ward_match_host("api.github.com", "api.github.com.evil.com"));
	assert_false(ward_match_host("api.github.com", "api.github.co"));
	assert_false(ward_match_host("api.github.com", "api.github.com.."));
	assert_false(ward_match_host("api.github.com", "api_github.com"));
	assert_false(ward_match_host("api.github.com", ""));
	assert_false(ward_match_host("", ""));
	assert_false(ward_match_host(NULL, "a.com"));
	assert_false(ward_match_host("a.com", NULL));
	/* a rule with a bad pattern fails closed */
	assert_false(ward_match_host("*", "a.com"));
	assert_false(ward_match_host("a.*.com", "a.b.com"));
	assert_false(ward_match_host("*x.com", "ax.com"));
}

static void test_host_ip(void **state)
{
	assert_true(ward_match_host("127.0.0.1", "127.0.0.1"));
	assert_false(ward_match_host("127.0.0.1", "127.1"));
	assert_false(ward_match_host("127.0.0.1", "0x7f000001"));
	assert_false(ward_match_host("127.0.0.1", "127.0.0.2"));
	assert_true(ward_match_host("::1", "[::1]"));
	assert_true(ward_match_host("[::1]", "::1"));
	assert_true(ward_match_host("[::1]", "[0::01]"));
	assert_true(ward_match_host("2001:db8::1", "[2001:DB8:0:0::1]"));
	assert_false(ward_match_host("::1", "::2"));
	assert_false(ward_match_host("::ffff:127.0.0.1", "127.0.0.1"));
	/* wildcards never apply to addresses */
	assert_false(ward_match_host("*.0.0.1", "127.0.0.1"));
	assert_false(ward_match_host("**.0.1", "127.0.0.1"));
	assert_true(ward_host_is_ip("10.0.0.1"));
	assert_true(ward_host_is_ip("fe80::1"));
	assert_false(ward_host_is_ip("example.com"));
	assert_false(ward_host_is_ip(NULL));
}

static void test_host_wildcards(void **state)
{
	/* one label */
	assert_true(ward_match_host("*.x.com", "a.x.com"));
	assert_true(ward_match_host("*.x.com", "A.X.COM."));
	assert_true(ward_match_host("*.x.com", "a-b.x.com"));
	assert_false(ward_match_host("*.x.com", "x.com"));
	assert_false(ward_match_host("*.x.com", ".x.com"));
	assert_false(ward_match_host("*.x.com", "a.b.x.com"));
	assert_false(ward_match_host("*.x.com", "ax.com"));
	assert_false(ward_match_host("*.x.com", "a.x.com.evil"));
	assert_false(ward_match_host("*.x.com", "a.y.com"));
	assert_false(ward_match_host("*.x.com", "a_b.x.com"));
	/* one or more labels */
	assert_true(ward_match_host("**.x.com", "a.x.com"));
	assert_true(ward_match_host("**.x.com", "a.b.c.x.com"));
	assert_true(ward_match_host("**.x.com", "A.B.X.Com."));
	assert_false(ward_match_host("**.x.com", "x.com"));
	assert_false(ward_match_host("**.x.com", "ax.com"));
	assert_false(ward_match_host("**.x.com", "a.bx.com"));
	assert_false(ward_match_host("**.x.com", "a..x.com"));
	assert_false(ward_match_host("**.x.com", "x.com.evil.com"));
	assert_false(ward_match_host("***.x.com", "a.x.com"));
}

static void check_path(const char *raw, const char *want)
{
	char out[256];
	int r = ward_path_normalize(raw, out, sizeof(out));

	if (!want) {
		if (r >= 0)
			fail_msg("path '%s' normalised to '%s', expected refusal", raw, out);
		assert_int_equal(r, -EINVAL);
		return;
	}
	if (r < 0)
		fail_msg("path '%s' refused (%d), expected '%s'", raw, r, want);
	assert_string_equal(out, want);
	assert_int_equal(r, (int)strlen(want));
	/* normalisation is idempotent */
	char again[256];
	assert_int_equal(ward_path_normalize(out, again, sizeof(again)), r);
	assert_string_equal(again, out);
}

static void test_path_normalize(void **state)
{
	char tiny[6];

	check_path("/", "/");
	check_path("/repos/a/b", "/repos/a/b");
	check_path("/repos/a/b?x=1", "/repos/a/b");
	check_path("/repos#frag", "/repos");
	check_path("//repos///a//", "/repos/a/");
	check_path("/%72%65pos", "/repos");
	check_path("/a%2d%2E%5f%7E", "/a-._~");
	check_path("/a%20b", "/a%20b");
	check_path("/a%3fb", "/a%3Fb");
	check_path("/a%25b", "/a%25b");
	check_path("/a%3Bb", "/a%3Bb");
	check_path("/.well-known/x", "/.well-known/x");
	check_path("/a/...", "/a/...");
	check_path("/a/.b/..c", "/a/.b/..c");
	check_path("/a;b=c/d", "/a;b=c/d");
	/* refused */
	check_path("", NULL);
	check_path("repos", NULL);
	check_path("*", NULL);
	check_path("http://x/", NULL);
	check_path("/repos/%2e%2e/admin", NULL);
	check_path("/repos/%2E%2e/admin", NULL);
	check_path("/repos/../admin", NULL);
	check_path("/repos/./admin", NULL);
	check_path("/repos/.%2e/admin", NULL);
	check_path("/repos/..", NULL);
	check_path("/repos/.", NULL);
	check_path("/repos/%2e", NULL);
	check_path("/..;/admin", NULL);
	check_path("/repos/..;x=1/admin", NULL);
	check_path("/a%2Fb", NULL);
	check_path("/a%2fb", NULL);
	check_path("/a%5Cb", NULL);
	check_path("/a\\b", NULL);
	check_path("/a%00b", NULL);
	check_path("/a%", NULL);
	check_path("/a%4", NULL);
	check_path("/a%zz", NULL);
	check_path("/a%4g", NULL);
	check_path("/a b", NULL);
	check_path("/a\tb", NULL);
	check_path("/a\x7f", NULL);
	check_path("/caf\xc3\xa9", NULL);
	/* buffer limits */
	assert_int_equal(ward_path_normalize("/abcdef", tiny, sizeof(tiny)), -ENOBUFS);
	assert_int_equal(ward_path_normalize("/ab%20", tiny, sizeof(tiny)), -ENOBUFS);
	assert_int_equal(ward_path_normalize("/a%20", tiny, sizeof(tiny)), 5);
	assert_int_equal(ward_path_normalize("/abcd", tiny, sizeof(tiny)), 5);
	assert_int_equal(ward_path_normalize("/", tiny, 1), -ENOBUFS);
}

static void test_path_glob(void **state)
{
	/* literal */
	assert_true(ward_match_path("/repos", "/repos"));
	assert_false(ward_match_path("/repos", "/repos/"));
	assert_false(ward_match_path("/repos", "/Repos"));
	assert_false(ward_match_path("/repos", "/reposx"));
	assert_true(ward_match_path("/", "/"));
	assert_false(ward_match_path("/", "/a"));
	/* '*' within one segment */
	assert_true(ward_match_path("/repos/*", "/repos/a"));
	assert_true(ward_match_path("/repos/*", "/repos/"));
	assert_false(ward_match_path("/repos/*", "/repos"));
	assert_false(ward_match_path("/repos/*", "/repos/a/b"));
	assert_true(ward_match_path("/repos/*/issues", "/repos/a/issues"));
	assert_false(ward_match_path("/repos/*/issues", "/repos/a/b/issues"));
	assert_true(ward_match_path("/v*/models", "/v1/models"));
	assert_false(ward_match_path("/v*/models", "/x1/models"));
	assert_true(ward_match_path("/a*b*c", "/abc"));
	assert_true(ward_match_path("/a*b*c", "/aXbYbZc"));
	assert_false(ward_match_path("/a*b*c", "/aXbYbZcd"));
	assert_true(ward_match_path("/info/refs*", "/info/refs"));
	assert_true(ward_match_path("/info/refs*", "/info/refs.txt"));
	assert_false(ward_match_path("/info/refs*", "/info/refs/x"));
	/* '**' any number of segments, zero included */
	assert_true(ward_match_path("/repos/**", "/repos"));
	assert_true(ward_match_path("/repos/**", "/repos/"));
	assert_true(ward_match_path("/repos/**", "/repos/a"));
	assert_true(ward_match_path("/repos/**", "/repos/a/b/c"));
	assert_false(ward_match_path("/repos/**", "/reposx"));
	assert_false(ward_match_path("/repos/**", "/repo"));
	assert_false(ward_match_path("/repos/**", "/"));
	assert_true(ward_match_path("/**", "/"));
	assert_true(ward_match_path("/**", "/a/b"));
	assert_true(ward_match_path("/**/info/refs*", "/x/y.git/info/refs"));
	assert_true(ward_match_path("/**/info/refs*", "/info/refs"));
	assert_false(ward_match_path("/**/info/refs*", "/x/y.git/info/refsx/y"));
	assert_true(ward_match_request_path("/**/info/refs*",
					    "/x/y.git/info/refs?service=git-upload-pack"));
	assert_true(ward_match_path("/**/git-receive-pack", "/o/r.git/git-receive-pack"));
	assert_false(ward_match_path("/**/git-receive-pack", "/o/r.git/git-receive-pack/x"));
	assert_true(ward_match_path("/a/**/b/**/c", "/a/b/c"));
	assert_true(ward_match_path("/a/**/b/**/c", "/a/x/b/y/z/c"));
	assert_true(ward_match_path("/a/**/b/**/c", "/a/b/b/b/c"));
	assert_false(ward_match_path("/a/**/b/**/c", "/a/x/c"));
	assert_true(ward_match_path("/a/**/**/c", "/a/c"));
	assert_true(ward_match_path("/a/**/*.git/x", "/a/b/c/r.git/x"));
	assert_false(ward_match_path("/a/**/*.git/x", "/a/b/c/r.gi/x"));
	/* '**' only counts as a whole segment; otherwise it is '*' */
	assert_true(ward_match_path("/a**", "/abc"));
	assert_false(ward_match_path("/a**", "/abc/d"));
	/* absolute vs relative never match */
	assert_false(ward_match_path("repos/**", "/repos"));
	assert_false(ward_match_path("/repos/**", "repos"));
	assert_true(ward_match_glob("a/*", "a/b"));
	assert_false(ward_match_path(NULL, "/"));
	assert_false(ward_match_path("/", NULL));
}

static void test_request_path(void **state)
{
	/* the escape cannot leave the rule */
	assert_false(ward_match_request_path("/repos/**", "/repos/%2e%2e/admin"));
	assert_false(ward_match_request_path("/repos/**", "/repos/../admin"));
	assert_false(ward_match_request_path("/repos/**", "/repos/a%2Fb"));
	/* decoding of unreserved bytes is what lets a rule see the real name */
	assert_true(ward_match_request_path("/repos/admin", "/repos/%61dmin"));
	assert_true(ward_match_request_path("/repos/admin", "//repos//admin"));
	assert_true(ward_match_request_path("/a b", "/a%20b") == false);
	assert_true(ward_match_request_path("/a%20b", "/a%20b"));
	assert_true(ward_match_request_path("/a%20b", "/a%20b?x"));
	assert_false(ward_match_request_path("/**", "no-slash"));
}

static void test_binary(void **state)
{
	assert_true(ward_match_binary("/usr/bin/git", "/usr/bin/git"));
	assert_false(ward_match_binary("/usr/bin/git", "/usr/bin/gitk"));
	assert_true(ward_match_binary("/usr/bin/*", "/usr/bin/curl"));
	assert_false(ward_match_binary("/usr/bin/*", "/usr/bin/x/curl"));
	assert_true(ward_match_binary("/usr/lib/**", "/usr/lib/git-core/git-remote-https"));
	assert_true(ward_match_binary("/usr/**/python3*", "/usr/bin/python3.11"));
	assert_true(ward_match_binary("/usr/**/python3*", "/usr/local/lib/x/python3"));
	assert_false(ward_match_binary("/usr/**/python3*", "/opt/bin/python3"));
	assert_true(
		ward_match_binary("/home/*/.nvm/**/node", "/home/u/.nvm/versions/v20/bin/node"));
	assert_false(ward_match_binary("/home/*/.nvm/**/node", "/home/u/x/.nvm/bin/node"));
	assert_false(ward_match_binary("usr/bin/*", "usr/bin/x"));
	assert_false(ward_match_binary("/usr/bin/*", "curl"));
}

static void test_method(void **state)
{
	assert_true(ward_match_method("GET", "GET"));
	assert_false(ward_match_method("GET", "get"));
	assert_false(ward_match_method("GET", "GETX"));
	assert_false(ward_match_method("GET", "POST"));
	assert_true(ward_match_method("*", "PROPFIND"));
	assert_true(ward_match_method("*", "GET"));
	assert_false(ward_match_method("*", ""));
	assert_false(ward_match_method("*", "GE T"));
	assert_false(ward_match_method("*", "GET\r"));
	assert_false(ward_match_method("GET", NULL));
	assert_false(ward_match_method(NULL, "GET"));
}

static void test_value_glob(void **state)
{
	assert_true(ward_match_value("main", "main", 4));
	assert_false(ward_match_value("main", "mainx", 5));
	assert_true(ward_match_value("*", "", 0));
	assert_true(ward_match_value("release/*", "release/1.2/x", 13));
	assert_true(ward_match_value("*-rc*", "v1-rc2", 6));
	assert_false(ward_match_value("*-rc*", "v1rc2", 5));
	/* length is honoured */
	assert_true(ward_match_value("ab", "abc", 2));
}

static void test_query(void **state)
{
	struct ward_query_match svc[] = { { .key = "service", .glob = "git-upload-pack" } };
	struct ward_query_match two[] = { { .key = "a", .glob = "1*" },
					  { .key = "b", .glob = "*" } };
	struct ward_query_match sp[] = { { .key = "q x", .glob = "a+b c" } };
	const char *q;

#define Q(m, s) ward_match_query(m, ARRAY_SIZE(m), s, strlen(s))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
	assert_true(Q(svc, "service=git-upload-pack"));
	assert_true(Q(svc, "x=1&service=git-upload-pack&y"));
	assert_true(Q(svc, "service=git-upload%2Dpack"));
	assert_false(Q(svc, "service=git-receive-pack"));
	assert_false(Q(svc, "Service=git-upload-pack"));
	assert_false(Q(svc, "services=git-upload-pack"));
	assert_false(Q(svc, ""));
	assert_false(Q(svc, "service"));
	/* every occurrence must match */
	assert_false(Q(svc, "service=git-upload-pack&service=git-receive-pack"));
	assert_true(Q(svc, "service=git-upload-pack&&service=git-upload-pack"));
	/* bad escapes and NUL never match */
	assert_false(Q(svc, "service=git-upload-pack&x=%zz"));
	assert_false(Q(svc, "service=git-upload-pack%00"));
	assert_false(Q(svc, "service=git-upload-pack%"));
	/* several matchers: all must hold */
	assert_true(Q(two, "a=12&b="));
	assert_true(Q(two, "b=x&a=1"));
	assert_false(Q(two, "a=12"));
	assert_false(Q(two, "a=2&b=1"));
	/* decoded key, '+' stays literal */
	assert_true(Q(sp, "q%20x=a+b%20c"));
	assert_false(Q(sp, "q+x=a+b%20c"));
	/* no matchers: anything goes */
	assert_true(ward_match_query(NULL, 0, NULL, 0));
	assert_true(ward_match_query(svc, 0, "x", 1));
	/* the length is honoured */
	q = "service=git-upload-packXXXX";
	assert_true(ward_match_query(svc, 1, q, strlen("service=git-upload-pack")));
	/* oversize values fail closed */
	char *big = malloc(WARD_QUERY_VALUE_MAX + 32);
	assert_non_null(big);
	strcpy(big, "service=");
	memset(big + 8, 'a', WARD_QUERY_VALUE_MAX);
	big[8 + WARD_QUERY_VALUE_MAX] = '\0';
	struct ward_query_match any[] = { { .key = "service", .glob = "*" } };
	assert_false(Q(any, big));
	free(big);
#undef Q
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A backtracking matcher takes exponential time here; ours must not. */
static void test_pathological(void **state)
{
	enum { SEGS = 4000, STARS = 40, BYTES = 20000 };
	char *path = malloc(SEGS * 2 + 2), *glob = malloc(STARS * 5 + 8);
	char *seg = malloc(BYTES + 2), *sglob = malloc(STARS * 2 + 8);
	double t0, t;

	assert_non_null(path);
	assert_non_null(glob);
	assert_non_null(seg);
	assert_non_null(sglob);
	/* segment level: a "**" then "a" segment, repeated, then "b", against "/a/a/.../a" */
	char *p = path;
	for (int i = 0; i < SEGS; i++) {
		*p++ = '/';
		*p++ = 'a';
	}
	*p = '\0';
	p = glob;
	for (int i = 0; i < STARS; i++)
		p += sprintf(p, "/**/a");
	strcpy(p, "/b");
	/* byte level: star-a repeated inside one segment, then star-b, against "/aaaa...a" */
	seg[0] = '/';
	memset(seg + 1, 'a', BYTES);
	seg[BYTES + 1] = '\0';
	p = sglob;
	*p++ = '/';
	for (int i = 0; i < STARS; i++) {
		*p++ = '*';
		*p++ = 'a';
	}
	strcpy(p, "*b");

	t0 = now_ms();
	assert_false(ward_match_path(glob, path));
	assert_false(ward_match_path(sglob, seg));
	assert_false(ward_match_binary(glob, path));
	assert_false(ward_match_value(sglob + 1, seg + 1, BYTES));
	glob[strlen(glob) - 1] = 'a'; /* now it matches */
	assert_true(ward_match_path(glob, path));
	t = now_ms() - t0;
	print_message("pathological globs: %.2f ms\n", t);
	assert_true(t < 500.0);
	free(path);
	free(glob);
	free(seg);
	free(sglob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_normalize), cmocka_unit_test(test_host_exact),
		cmocka_unit_test(test_host_ip),	       cmocka_unit_test(test_host_wildcards),
		cmocka_unit_test(test_path_normalize), cmocka_unit_test(test_path_glob),
		cmocka_unit_test(test_request_path),   cmocka_unit_test(test_binary),
		cmocka_unit_test(test_method),	       cmocka_unit_test(test_value_glob),
		cmocka_unit_test(test_query),	       cmocka_unit_test(test_pathological),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
