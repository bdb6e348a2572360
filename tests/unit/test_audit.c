// SPDX-License-Identifier: MIT
/* The decision log: rows round-trip with NULLs intact, close loses nothing, a
 * full queue drops and says so, the hash chain is recomputed here
 * independently (own serialiser, OpenSSL), two processes keep one chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "policy/model.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/ward-test-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* A subdirectory that does not exist yet: open must create it 0700. */
	snprintf(f->path, sizeof(f->path), "%s/sub/decisions.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static int64_t count(const char *path, const char *where)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	char sql[256];
	int64_t n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM decisions %s", where);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* --- an independent implementation of the documented chain --- */

static void ser_null(EVP_MD_CTX *c)
{
	unsigned char z = 0;
	EVP_DigestUpdate(c, &z, 1);
}

static void ser_col(EVP_MD_CTX *c, sqlite3_stmt *st, int col, int is_int)
{
	unsigned char b[9];

	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		ser_null(c);
	} else if (is_int) {
		uint64_t v = (uint64_t)sqlite3_column_int64(st, col);
		b[0] = 1;
		for (int i = 0; i < 8; i++)
			b[1 + i] = (unsigned char)(v >> (8 * (7 - i)));
		EVP_DigestUpdate(c, b, 9);
	} else {
		const unsigned char *t = sqlite3_column_text(st, col);
		uint32_t n = (uint32_t)sqlite3_column_bytes(st, col);
		b[0] = 2;
		b[1] = n >> 24, b[2] = n >> 16, b[3] = n >> 8, b[4] = n;
		EVP_DigestUpdate(c, b, 5);
		EVP_DigestUpdate(c, t, n);
	}
}

/* Walks the whole table; returns the number of rows, fails on the first break. */
static int64_t verify_chain(const char *path)
{
	/* column order of the documented serialisation; 1 = integer */
	static const char cols[] = "id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid,"
				   " host, ip, port, protocol, method, path, rule, reason, policy_rev";
	static const int is_int[17] = { 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	char prev[65], sql[512], hex[65];
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	int64_t n = 0, last_id = 0;

	memset(prev, '0', 64);
	prev[64] = 0;
	snprintf(sql, sizeof(sql), "SELECT %s, hash FROM decisions ORDER BY id", cols);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		unsigned char d[32];
		unsigned int dl;

		assert_int_equal(sqlite3_column_int64(st, 0), last_id + 1);
		last_id = sqlite3_column_int64(st, 0);
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, prev, 64);
		for (int i = 0; i < 17; i++)
			ser_col(c, st, i, is_int[i]);
		EVP_DigestFinal_ex(c, d, &dl);
		EVP_MD_CTX_free(c);
		for (int i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", d[i]);
		assert_string_equal((const char *)sqlite3_column_text(st, 17), hex);
		memcpy(prev, hex, 65);
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct stat stt;
	char dir[160];
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	snprintf(dir, sizeof(dir), "%s/sub", f->dir);
	assert_int_equal(stat(dir, &stt), 0);
	assert_int_equal(stt.st_mode & 0777, 0700);
	assert_int_equal(stat(f->path, &stt), 0);
	assert_int_equal(stt.st_mode & 0777, 0600);

	struct ward_decision full = {
		.ts_ns = 1735787045123456789ull,
		.sandbox = "sb-1",
		.layer = "proxy",
		.action = "deny",
		.binary = "/usr/bin/curl",
		.binary_sha256 = "ab12",
		.pid = 4242,
		.host = "api.github.com",
		.ip = "140.82.112.6",
		.port = 443,
		.protocol = "rest",
		.method = "POST",
		.path = "/repos/x/git-receive-pack",
		.rule = "github",
		.reason = "deny_rules matched \"quoted\"\n",
		.policy_rev = "f00d",
	};
	struct ward_decision empty = { .layer = "lifecycle", .action = "allow", .sandbox = "",
				       .reason = "" };
	assert_int_equal(ward_audit_submit(a, &full), 0);
	assert_int_equal(ward_audit_submit(a, &empty), 0);
	/* The vocabularies are enforced. */
	struct ward_decision bad = { .layer = "nope", .action = "allow" };
	assert_int_equal(ward_audit_submit(a, &bad), -EINVAL);
	bad = (struct ward_decision){ .layer = "proxy", .action = "maybe" };
	assert_int_equal(ward_audit_submit(a, &bad), -EINVAL);
	bad = (struct ward_decision){ .action = "allow" };
	assert_int_equal(ward_audit_submit(a, &bad), -EINVAL);
	assert_int_equal(ward_audit_flush(a), 0);

	db = raw_open(f->path);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT id, ts_ns, sandbox, layer, action, binary,"
					    " binary_sha256, pid, host, ip, port, protocol, method,"
					    " path, rule, reason, policy_rev, hash FROM decisions"
					    " ORDER BY id",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 1);
	assert_int_equal(sqlite3_column_int64(st, 1), (int64_t)1735787045123456789ll);
	const char *want[] = { "sb-1", "proxy", "deny", "/usr/bin/curl", "ab12" };
	for (int i = 0; i < 5; i++)
		assert_string_equal((const char *)sqlite3_column_text(st, 2 + i), want[i]);
	assert_int_equal(sqlite3_column_int64(st, 7), 4242);
	assert_string_equal((const char *)sqlite3_column_text(st, 8), "api.github.com");
	assert_string_equal((const char *)sqlite3_column_text(st, 9), "140.82.112.6");
	assert_int_equal(sqlite3_column_int64(st, 10), 443);
	const char *want2[] = { "rest", "POST", "/repos/x/git-receive-pack", "github",
				"deny_rules matched \"quoted\"\n", "f00d" };
	for (int i = 0; i < 6; i++)
		assert_string_equal((const char *)sqlite3_column_text(st, 11 + i), want2[i]);
	assert_int_equal(sqlite3_column_bytes(st, 17), 64);

	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 2);
	/* ts 0 means now */
	assert_true(sqlite3_column_int64(st, 1) > 1700000000000000000ll);
	/* "" stays "", absent stays NULL; pid/port 0 are NULL */
	assert_int_equal(sqlite3_column_type(st, 2), SQLITE_TEXT);
	assert_int_equal(sqlite3_column_bytes(st, 2), 0);
	assert_int_equal(sqlite3_column_type(st, 15), SQLITE_TEXT);
	for (int i = 5; i <= 14; i++)
		assert_int_equal(sqlite3_column_type(st, i), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(st, 16), SQLITE_NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);

	/* WAL and the schema version */
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "1");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "SELECT path, sha256, first_seen FROM binaries", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 2);
}

/* The exported hash must equal the independent one, and NULL must differ from "". */
static void test_hash_function(void **state)
{
	struct ward_audit_row r = { .id = 1, .ts_ns = 5, .layer = "fs", .action = "deny" };
	char h1[65], h2[65], h3[65];
	uint8_t buf[256];

	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h1), 0);
	r.sandbox = "";
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h2), 0);
	assert_string_not_equal(h1, h2);
	/* shifting bytes between adjacent fields changes the hash */
	r.sandbox = NULL;
	r.layer = "f";
	r.action = "sdeny";
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h3), 0);
	assert_string_not_equal(h1, h3);
	/* the documented layout, byte for byte, for a small row */
	r = (struct ward_audit_row){ .id = 1, .ts_ns = 2, .layer = "fs", .action = "deny",
				     .has_port = true, .port = 443 };
	size_t n = ward_audit_row_canonical(&r, buf, sizeof(buf));
	static const uint8_t want[] = {
		1, 0, 0, 0, 0, 0, 0, 0, 1, /* id */
		1, 0, 0, 0, 0, 0, 0, 0, 2, /* ts_ns */
		0,			   /* sandbox NULL */
		2, 0, 0, 0, 2, 'f', 's',   /* layer */
		2, 0, 0, 0, 4, 'd', 'e', 'n', 'y',
		0, 0,			    /* binary, binary_sha256 */
		0,			    /* pid */
		0, 0,			    /* host, ip */
		1, 0, 0, 0, 0, 0, 0, 1, 187, /* port 443 */
		0, 0, 0, 0, 0, 0,	    /* protocol .. policy_rev */
	};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	char shorthash[65] = "short";
	assert_int_equal(ward_audit_row_hash(shorthash, &r, h1), -EINVAL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100k rows, close, every one is there; also the throughput figure. */
static void test_close_flushes(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	const int N = 100000;
	int retries = 0;
	char reason[32];

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	double t0 = now_s();
	for (int i = 0; i < N; i++) {
		snprintf(reason, sizeof(reason), "row %d", i);
		struct ward_decision d = { .layer = "kernel", .action = i % 3 ? "allow" : "deny",
					   .binary = "/usr/bin/curl", .host = "example.com",
					   .port = 443, .pid = 100 + i, .sandbox = "bench",
					   .rule = "r", .reason = reason,
					   .policy_rev = "0123456789abcdef" };
		int r;
		while ((r = ward_audit_submit(a, &d)) == -EAGAIN) {
			retries++;
			usleep(1000);
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(ward_audit_close(a), 0);
	double dt = now_s() - t0;
	print_message("audit writer: %d rows in %.3f s = %.0f rows/s (%d queue-full retries)\n", N,
		      dt, N / dt, retries);
	assert_int_equal(count(f->path, "WHERE layer = 'kernel'"), N);
	/* in submission order */
	sqlite3 *db = raw_open(f->path);
	sqlite3_stmt *st;
	int i = 0;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT reason FROM decisions WHERE layer = 'kernel'"
						" ORDER BY id", -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(reason, sizeof(reason), "row %d", i++);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), reason);
	}
	assert_int_equal(i, N);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(verify_chain(f->path), count(f->path, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test(test_hash_function),
		cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
