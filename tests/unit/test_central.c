// SPDX-License-Identifier: MIT
/* fleet/central without a server: the GLOB -> regular expression translation
 * that keeps `ward logs --db --binary/--dest` globs meaning what SQLite's GLOB
 * means locally, and the chain API the central verifier feeds (a row edited,
 * a gap, a checkpoint anchor) giving the local verifier's answers. The
 * PostgreSQL side is tests/integration/test_central.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "fleet/central.h"

static void expect_regex(const char *glob, const char *want)
{
	char out[256];

	assert_int_equal(ward_central_glob_regex(glob, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

/* the translation matches what GLOB matches (POSIX ERE here; PostgreSQL's
 * ARE agrees on this subset) */
static bool matches(const char *glob, const char *s)
{
	char re[256];
	regex_t r;
	bool m;

	assert_int_equal(ward_central_glob_regex(glob, re, sizeof(re)), 0);
	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	m = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return m;
}

static void test_glob_regex(void **state)
{
	char small[8];

	(void)state;
	expect_regex("*.evil", "^.*\\.evil$");
	expect_regex("/usr/bin/[cg]*", "^/usr/bin/[cg].*$");
	expect_regex("a?b", "^a.b$");
	expect_regex("x+(y)|{z}$^", "^x\\+\\(y\\)\\|\\{z\\}\\$\\^$");
	expect_regex("a[", "^a\\[$");
	expect_regex("[]a]", "^[]a]$");
	expect_regex("[^a]b", "^[^a]b$");
	assert_int_equal(ward_central_glob_regex("abcdefgh", small, sizeof(small)), -ENAMETOOLONG);

	assert_true(matches("/usr/bin/python3*", "/usr/bin/python3.11"));
	assert_false(matches("/usr/bin/python3*", "/usr/local/bin/python3"));
	assert_true(matches("*.example.com", "api.example.com"));
	assert_false(matches("*.example.com", "api.exampleXcom"));
	assert_true(matches("/usr/bin/[cg]*", "/usr/bin/curl"));
	assert_false(matches("/usr/bin/[cg]*", "/usr/bin/wget"));
	assert_false(matches("/usr/bin/[^cg]*", "/usr/bin/curl"));
	assert_true(matches("a.b", "a.b"));
	assert_false(matches("a.b", "axb"));
}

static void chain_rows(struct ward_audit_row *rows, int n, int64_t first, const char *prev)
{
	static char hashes[8][65];
	char p[65];

	memcpy(p, prev, 65);
	for (int i = 0; i < n; i++) {
		rows[i] = (struct ward_audit_row){ .id = first + i,
						   .ts_ns = 1000 + i,
						   .layer = "kernel",
						   .action = "deny",
						   .binary = "/usr/bin/curl" };
		assert_int_equal(ward_audit_row_hash(p, &rows[i], hashes[i]), 0);
		rows[i].hash = hashes[i];
		memcpy(p, hashes[i], 65);
	}
}

static void test_chain_api(void **state)
{
	struct ward_audit_row rows[4];
	struct ward_audit_verify v;
	struct ward_audit_chain *c;
	char ckpt[65];

	(void)state;
	chain_rows(rows, 4, 1, WARD_AUDIT_GENESIS_HASH);
	c = ward_audit_chain_new(&v);
	assert_non_null(c);
	for (int i = 0; i < 4; i++)
		assert_true(ward_audit_chain_row(c, &rows[i]));
	ward_audit_chain_end(c);
	assert_true(v.intact);
	assert_int_equal(v.rows, 4);
	assert_string_equal(v.head, rows[3].hash);
	ward_audit_chain_free(c);

	/* a gap: id 3 after id 1 */
	c = ward_audit_chain_new(&v);
	assert_true(ward_audit_chain_row(c, &rows[0]));
	assert_false(ward_audit_chain_row(c, &rows[2]));
	assert_false(v.intact);
	assert_int_equal(v.bad_id, 3);
	assert_non_null(strstr(v.problem, "a row is missing"));
	ward_audit_chain_free(c);

	/* an edited row */
	rows[1].reason = "edited";
	c = ward_audit_chain_new(&v);
	assert_true(ward_audit_chain_row(c, &rows[0]));
	assert_false(ward_audit_chain_row(c, &rows[1]));
	assert_int_equal(v.bad_id, 2);
	assert_non_null(strstr(v.problem, "hash mismatch"));
	ward_audit_chain_free(c);
	rows[1].reason = NULL;

	/* anchored at a checkpoint: the walk starts after it, and without a
	 * chained "pruned" row vouching for it, the end says so */
	memcpy(ckpt, rows[1].hash, 65);
	c = ward_audit_chain_new(&v);
	ward_audit_chain_checkpoint(c, 2, ckpt);
	assert_true(ward_audit_chain_row(c, &rows[2]));
	assert_true(ward_audit_chain_row(c, &rows[3]));
	assert_true(v.intact);
	assert_int_equal(v.checkpoint_id, 2);
	ward_audit_chain_end(c);
	assert_false(v.intact);
	assert_non_null(strstr(v.problem, "not confirmed"));
	ward_audit_chain_free(c);

	/* a malformed checkpoint */
	c = ward_audit_chain_new(&v);
	ward_audit_chain_checkpoint(c, 2, "short");
	assert_false(v.intact);
	assert_int_equal(v.bad_id, 0);
	ward_audit_chain_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_regex),
		cmocka_unit_test(test_chain_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
