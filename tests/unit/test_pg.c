// SPDX-License-Identifier: MIT
/* src/fleet/pg: the URL shown in messages and status files never carries the
 * password; the reconnect backoff doubles and stays bounded; the embedded
 * schema is the file in the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/pg.h"

static void redacts(const char *url, const char *want)
{
	char out[256];

	ward_pg_url_redact(url, out, sizeof(out));
	assert_string_equal(out, want);
	assert_null(strstr(out, "s3cret"));
}

static void test_redact(void **state)
{
	(void)state;
	redacts("postgresql://ward:s3cret@db.example:5432/ward",
		"postgresql://ward@db.example:5432/ward");
	redacts("postgres://ward@db/ward", "postgres://ward@db/ward");
	redacts("postgresql:///ward?host=/tmp/x&port=54361&user=postgres",
		"postgresql:///ward?host=/tmp/x&port=54361&user=postgres");
	redacts("postgresql://db/ward?user=u&password=s3cret",
		"postgresql://db/ward?user=u&password=***");
	/* an @ after the path is not the user part */
	redacts("postgresql://db/ward?application_name=a@b",
		"postgresql://db/ward?application_name=a@b");
	redacts("host=db user=u password=s3cret dbname=ward",
		"host=db user=u password=*** dbname=ward");
	redacts("host=db password=s3cret", "host=db password=***");
}

static void test_redact_truncates(void **state)
{
	char out[16];

	(void)state;
	ward_pg_url_redact("postgresql://ward:s3cret@a-very-long-host-name/ward", out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_null(strstr(out, "s3c"));
}

static void test_backoff(void **state)
{
	struct ward_pg_backoff b = { 0 };
	const uint32_t want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(ward_pg_backoff_next(&b), want[i]);
	ward_pg_backoff_reset(&b);
	assert_int_equal(ward_pg_backoff_next(&b), 100);
}

static void test_schema_embedded(void **state)
{
	const char *sql = ward_pg_schema_sql();
	FILE *f = fopen("src/fleet/schema.sql", "r");
	char *file;
	long n;

	(void)state;
	assert_non_null(sql);
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	file = calloc(1, (size_t)n + 1);
	assert_non_null(file);
	assert_int_equal(fread(file, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	assert_string_equal(sql, file);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_redact_truncates),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_schema_embedded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
