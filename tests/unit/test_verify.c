// SPDX-License-Identifier: MIT
/* ward audit verify and retention: every kind of tampering is found at the
 * exact first bad id (edited, deleted, inserted, swapped rows; missing or
 * edited policies; a forged checkpoint), an intact log passes, and pruning
 * by age or size leaves a log that still verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "common/util.h"
#include "policy/policy.h"

static const char policy[] = "version: 1\n"
			     "network_policies:\n"
			     "  web:\n"
			     "    binaries: [{ path: /usr/bin/curl }]\n"
			     "    endpoints: [{ host: example.com, port: 443 }]\n";

static int setup(void **state)
{
	return ward_test_db_setup(state, "verify");
}

static int teardown(void **state)
{
	return ward_test_db_teardown(state);
}

/* n rows, ts_ns = base + i seconds, every one naming the stored policy */
static void fill(const char *db, int n, uint64_t base_ns)
{
	struct ward_audit *a = NULL;
	struct ward_error err = { 0 };
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	char host[32];

	assert_int_equal(ward_policy_load_buffer("p", policy, strlen(policy), &p, &d, &err), 0);
	ward_diags_free(&d);
	assert_int_equal(ward_audit_open(db, &a, &err), 0);
	assert_int_equal(ward_audit_store_policy(a, p, &err), 0);
	for (int i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "h%d.example.com", i);
		struct ward_decision dd = {
			.ts_ns = base_ns + (uint64_t)i * 1000000000ull,
			.sandbox = "sb",
			.layer = i % 2 ? "proxy" : "dns",
			.action = i % 3 ? "allow" : "deny",
			.binary = "/usr/bin/curl",
			.pid = 100 + i,
			.host = host,
			.port = 443,
			.rule = "web",
			.policy_rev = p->rev,
		};
		while (ward_audit_submit(a, &dd) == -EAGAIN)
			ward_audit_flush(a);
	}
	assert_int_equal(ward_audit_close(a), 0);
	ward_policy_free(p);
}

static void sql(const char *db, const char *q)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(h);
}

static void verify(const char *db, struct ward_audit_verify *v)
{
	struct ward_error err = { 0 };

	assert_int_equal(ward_audit_verify(db, 0, NULL, NULL, v, &err), 0);
}

static void test_intact(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_verify v;

	fill(f->db, 50, ward_now_ns());
	verify(f->db, &v);
	assert_true(v.intact);
	assert_int_equal(v.rows, 50);
	assert_int_equal(v.first_id, 1);
	assert_int_equal(v.last_id, 50);
	assert_int_equal(v.bad_id, 0);
	assert_int_equal(strlen(v.head), 64);
}

static void test_missing_log(void **state)
{
	struct ward_audit_verify v;
	struct ward_error err = { 0 };

	(void)state;
	assert_true(ward_audit_verify("/nonexistent/x.db", 0, NULL, NULL, &v, &err) < 0);
}

static void expect_bad(const char *db, int64_t id, const char *what)
{
	struct ward_audit_verify v;

	verify(db, &v);
	assert_false(v.intact);
	assert_int_equal(v.bad_id, id);
	if (!strstr(v.problem, what))
		fail_msg("problem '%s' does not mention '%s'", v.problem, what);
}

static void test_update(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	sql(f->db,
	    "UPDATE decisions SET action = CASE action WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE id = 9");
	expect_bad(f->db, 9, "hash mismatch");
}

static void test_update_null(void **state)
{
	struct ward_test_db *f = *state;

	/* NULL and "" differ in the chain */
	fill(f->db, 20, ward_now_ns());
	sql(f->db, "UPDATE decisions SET ip = '' WHERE id = 13");
	expect_bad(f->db, 13, "hash mismatch");
}

static void test_delete(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	sql(f->db, "DELETE FROM decisions WHERE id = 7");
	expect_bad(f->db, 8, "deleted");
}

static void test_delete_first(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	sql(f->db, "DELETE FROM decisions WHERE id = 1");
	expect_bad(f->db, 2, "deleted");
}

static void test_insert(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	/* a forged row at the end with a made-up hash */
	sql(f->db, "INSERT INTO decisions(id, ts_ns, layer, action, hash) VALUES (21, 1, 'proxy',"
		   " 'allow', '1111111111111111111111111111111111111111111111111111111111111111')");
	expect_bad(f->db, 21, "hash mismatch");
}

static void test_insert_before(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	sql(f->db, "INSERT INTO decisions(id, ts_ns, layer, action, hash) SELECT 0, ts_ns, layer,"
		   " action, hash FROM decisions WHERE id = 1");
	expect_bad(f->db, 0, "inserted");
}

static void test_reorder(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 20, ward_now_ns());
	/* swap the whole content of rows 5 and 6, hashes included */
	sql(f->db,
	    "UPDATE decisions SET id = -5 WHERE id = 5; UPDATE decisions SET id = 5 WHERE id = 6;"
	    " UPDATE decisions SET id = 6 WHERE id = -5");
	expect_bad(f->db, 5, "hash mismatch");
}

static void test_policy_tampering(void **state)
{
	struct ward_test_db *f = *state;

	fill(f->db, 10, ward_now_ns());
	sql(f->db, "UPDATE policies SET compiled = compiled || ' '");
	expect_bad(f->db, 1, "policy");
	sql(f->db, "DELETE FROM policies");
	expect_bad(f->db, 1, "not in the policies table");
}

static void test_parse_retain(void **state)
{
	struct ward_audit_retain r;

	(void)state;
	assert_int_equal(ward_audit_parse_retain("30d", &r), 0);
	assert_int_equal(r.max_age_ns, 30ull * 86400 * 1000000000ull);
	assert_int_equal(r.max_bytes, 0);
	assert_int_equal(ward_audit_parse_retain("500MB", &r), 0);
	assert_int_equal(r.max_bytes, 500000000ull);
	assert_int_equal(ward_audit_parse_retain("1GiB", &r), 0);
	assert_int_equal(r.max_bytes, 1ull << 30);
	assert_int_equal(ward_audit_parse_retain("10m,64K", &r), 0);
	assert_int_equal(r.max_age_ns, 600ull * 1000000000ull);
	assert_int_equal(r.max_bytes, 64000);
	assert_int_equal(ward_audit_parse_retain("5M", &r), 0);
	assert_int_equal(r.max_bytes, 5000000);
	assert_int_equal(ward_audit_parse_retain("", &r), -EINVAL);
	assert_int_equal(ward_audit_parse_retain("0d", &r), -EINVAL);
	assert_int_equal(ward_audit_parse_retain("3x", &r), -EINVAL);
	assert_int_equal(ward_audit_parse_retain("1d,2d", &r), -EINVAL);
	assert_int_equal(ward_audit_parse_retain("d", &r), -EINVAL);
}

static int64_t scalar(const char *db, const char *q)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void test_prune_age(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_retain rt = { .max_age_ns = 100ull * 1000000000ull };
	struct ward_audit_prune_result res;
	struct ward_audit_verify v;
	struct ward_error err = { 0 };
	uint64_t now = ward_now_ns();

	/* rows 1..300 one second apart, the last one now: keep the last 100 s */
	fill(f->db, 300, now - 299ull * 1000000000ull);
	assert_int_equal(ward_audit_prune(f->db, &rt, now, &res, &err), 0);
	assert_int_equal(res.pruned, 199);
	assert_int_equal(res.checkpoint_id, 199);
	assert_int_equal(res.marker_id, 301);
	assert_int_equal(scalar(f->db, "SELECT count(*) FROM decisions"), 102);
	assert_int_equal(
		scalar(f->db,
		       "SELECT count(*) FROM decisions WHERE layer = 'lifecycle'"
		       " AND rule = 'pruned' AND reason LIKE 'pruned 199 rows before id 200%'"),
		1);
	verify(f->db, &v);
	assert_true(v.intact);
	assert_int_equal(v.checkpoint_id, 199);
	assert_int_equal(v.first_id, 200);
	assert_int_equal(v.rows, 102);

	/* more rows after the prune keep chaining to the marker */
	fill(f->db, 5, now);
	verify(f->db, &v);
	assert_true(v.intact);
	assert_int_equal(v.last_id, 306);

	/* nothing old enough: no-op, no marker */
	assert_int_equal(ward_audit_prune(f->db, &rt, now, &res, &err), 0);
	assert_int_equal(res.pruned, 0);
	assert_int_equal(scalar(f->db, "SELECT max(id) FROM decisions"), 306);

	/* tampering after a prune is still found */
	sql(f->db, "UPDATE decisions SET host = 'x' WHERE id = 250");
	expect_bad(f->db, 250, "hash mismatch");
}

static void test_prune_size(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_retain rt = { .max_bytes = 200000 };
	struct ward_audit_prune_result res;
	struct ward_audit_verify v;
	struct ward_error err = { 0 };

	fill(f->db, 5000, ward_now_ns());
	assert_int_equal(ward_audit_prune(f->db, &rt, ward_now_ns(), &res, &err), 0);
	assert_true(res.pruned > 0);
	assert_true(res.bytes_before > rt.max_bytes);
	if (res.bytes_after > rt.max_bytes)
		fail_msg("%llu -> %llu bytes, %llu pruned", (unsigned long long)res.bytes_before,
			 (unsigned long long)res.bytes_after, (unsigned long long)res.pruned);
	verify(f->db, &v);
	assert_true(v.intact);
	assert_int_equal(v.checkpoint_id, (int64_t)res.pruned);
}

static void test_prune_refuses_broken(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_retain rt = { .max_age_ns = 1 };
	struct ward_audit_prune_result res;
	struct ward_error err = { 0 };

	fill(f->db, 20, ward_now_ns() - 1000000000000ull);
	sql(f->db, "UPDATE decisions SET action = 'allow' WHERE id = 4");
	assert_int_equal(ward_audit_prune(f->db, &rt, ward_now_ns(), &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "first bad id 4"));
	assert_int_equal(scalar(f->db, "SELECT count(*) FROM decisions"), 20);
}

static void test_forged_checkpoint(void **state)
{
	struct ward_test_db *f = *state;

	/* delete the first rows and claim a prune happened: no chained marker */
	fill(f->db, 20, ward_now_ns());
	sql(f->db,
	    "INSERT INTO meta(key, value) SELECT 'chain_checkpoint_id', '5';"
	    "INSERT INTO meta(key, value) SELECT 'chain_checkpoint_hash', hash FROM decisions"
	    " WHERE id = 5; DELETE FROM decisions WHERE id <= 5");
	expect_bad(f->db, 6, "not confirmed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
		cmocka_unit_test(test_missing_log),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_tampering, setup, teardown),
		cmocka_unit_test(test_parse_retain),
		cmocka_unit_test_setup_teardown(test_prune_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_refuses_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
