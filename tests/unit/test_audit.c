// SPDX-License-Identifier: MIT
/* The decision log: rows round-trip with NULLs intact, close loses nothing, a
 * full queue drops and says so, the hash chain is recomputed here
 * independently (own serialiser, OpenSSL), two processes keep one chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <stdbool.h>
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
#include "audit/verify.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "policy/model.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!ward_test_mkdtemp(f->dir, sizeof(f->dir), "audit"))
		return -1;
	/* A subdirectory that does not exist yet: open must create it 0700. */
	snprintf(f->path, sizeof(f->path), "%s/sub/decisions.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (ward_test_rmtree(f->dir) != 0)
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
	static const char cols[] =
		"id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid,"
		" host, ip, port, protocol, method, path, rule, reason, policy_rev,"
		" session, via, uid, cgroup";
	static const int is_int[21] = { 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1,
					0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
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
		/* session and via only when one of the tail is set (schema
		 * version 2), uid and cgroup only when one of them is (3) */
		bool ext2 = sqlite3_column_type(st, 19) != SQLITE_NULL ||
			    sqlite3_column_type(st, 20) != SQLITE_NULL;
		bool ext = ext2 || sqlite3_column_type(st, 17) != SQLITE_NULL ||
			   sqlite3_column_type(st, 18) != SQLITE_NULL;
		for (int i = 0; i < (ext2 ? 21 : ext ? 19 : 17); i++)
			ser_col(c, st, i, is_int[i]);
		EVP_DigestFinal_ex(c, d, &dl);
		EVP_MD_CTX_free(c);
		for (int i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", d[i]);
		assert_string_equal((const char *)sqlite3_column_text(st, 21), hex);
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
	struct ward_decision empty = {
		.layer = "lifecycle", .action = "allow", .sandbox = "", .reason = ""
	};
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
	const char *want2[] = { "rest",
				"POST",
				"/repos/x/git-receive-pack",
				"github",
				"deny_rules matched \"quoted\"\n",
				"f00d" };
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
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "3");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "SELECT path, sha256, first_seen FROM binaries", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 2);
}

/* The exported hash must equal the independent one, and NULL must differ from "". */
static void test_hash_function(void **state WARD_UNUSED)
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
	r = (struct ward_audit_row){
		.id = 1, .ts_ns = 2, .layer = "fs", .action = "deny", .has_port = true, .port = 443
	};
	size_t n = ward_audit_row_canonical(&r, buf, sizeof(buf));
	static const uint8_t want[] = {
		1, 0, 0, 0, 0, 0,   0,	 0,   1,	 /* id */
		1, 0, 0, 0, 0, 0,   0,	 0,   2,	 /* ts_ns */
		0,					 /* sandbox NULL */
		2, 0, 0, 0, 2, 'f', 's',		 /* layer */
		2, 0, 0, 0, 4, 'd', 'e', 'n', 'y', 0, 0, /* binary, binary_sha256 */
		0,					 /* pid */
		0, 0,					 /* host, ip */
		1, 0, 0, 0, 0, 0,   0,	 1,   187,	 /* port 443 */
		0, 0, 0, 0, 0, 0,			 /* protocol .. policy_rev */
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
		struct ward_decision d = { .layer = "kernel",
					   .action = i % 3 ? "allow" : "deny",
					   .binary = "/usr/bin/curl",
					   .host = "example.com",
					   .port = 443,
					   .pid = 100 + i,
					   .sandbox = "bench",
					   .rule = "r",
					   .reason = reason,
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
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT reason FROM decisions WHERE layer = 'kernel'"
					    " ORDER BY id",
					    -1, &st, NULL),
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

/* Another connection holds the write lock, the writer stalls, the ring fills:
 * submit refuses with -EAGAIN, and once the lock is gone a log_dropped row
 * says how many were lost. */
static void test_queue_full(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct ward_decision d = { .layer = "proxy", .action = "allow", .host = "h" };
	int accepted = 0, refused = 0, r;
	sqlite3 *db, *blocker;
	sqlite3_stmt *st;
	int64_t logged = 0;

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	blocker = raw_open(f->path);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 300000 && refused < 10; i++) {
		r = ward_audit_submit(a, &d);
		if (r == 0)
			accepted++;
		else if (r == -EAGAIN)
			refused++;
		else
			fail_msg("submit: %d", r);
	}
	assert_int_equal(refused, 10);
	/* the ring (65536) plus at most one batch the writer took before it blocked */
	assert_true(accepted >= 65536 && accepted <= 65536 + 8192);
	assert_int_equal(ward_audit_dropped(a), 10);
	assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);

	assert_int_equal(ward_audit_flush(a), 0);
	assert_int_equal(count(f->path, "WHERE layer = 'proxy'"), accepted);
	db = raw_open(f->path);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT reason FROM decisions WHERE layer = 'lifecycle'"
					    " AND action = 'audit' AND rule = 'log_dropped'",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *reason = (const char *)sqlite3_column_text(st, 0);
		assert_int_equal(strncmp(reason, "dropped=", 8), 0);
		logged += atoll(reason + 8);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(logged, 10);
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path),
			 accepted + count(f->path, "WHERE layer='lifecycle'"));
}

/* A woken writer in a stream of rows lingers for the ones behind: a row
 * right after a batch (the writer lingers) and a row after quiet (it does
 * not) both still reach the file by themselves (no flush, no close), and a
 * flush during the linger takes everything queued. */
static void test_linger(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct ward_decision d = { .layer = "proxy", .action = "allow", .host = "h" };
	int n = 0;

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	for (int k = 1; k <= 2; k++) {
		/* k=1: after quiet (none yet); k=2: right behind a batch (flushed) */
		assert_int_equal(ward_audit_submit(a, &d), 0);
		/* bounded: 1,000 x 5 ms; a linger is 10 ms at most */
		for (int i = 0;
		     i < 1000 && (n = count(f->path, "WHERE layer = 'proxy'")) < 21 * (k - 1) + 1;
		     i++)
			usleep(5000);
		assert_int_equal(n, 21 * (k - 1) + 1);
		for (int i = 0; i < 20; i++)
			assert_int_equal(ward_audit_submit(a, &d), 0);
		assert_int_equal(ward_audit_flush(a), 0);
		assert_int_equal(count(f->path, "WHERE layer = 'proxy'"), 21 * k);
	}
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 42);
}

/* Two processes append to one file at once: nothing lost, one chain,
 * contiguous ids. */
static void test_two_writers(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	const int N = 20000;
	int status;
	pid_t pid;

	/* create the file first so both start from the same schema */
	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	assert_int_equal(ward_audit_close(a), 0);

	/* halfway, a hand-over makes the interleaving certain however the two
	 * are scheduled: the child's first half committed, then a parent row,
	 * then the child's second half */
	int to_parent[2], to_child[2];
	char b = 0;

	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	struct ward_decision d = { .layer = "kernel",
				   .action = "allow",
				   .sandbox = pid == 0 ? "child" : "parent" };
	if (ward_audit_open(f->path, &a, &err) < 0) {
		if (pid == 0)
			_exit(10);
		fail_msg("open: %s", err.msg);
	}
	for (int i = 0; i < N; i++) {
		int r;

		/* the child's rows 0..N/2-1 committed, then the parent's row N/2
		 * submitted and committed, then the child's from N/2 on */
		if (i == N / 2 && pid == 0) {
			ward_audit_flush(a);
			if (write(to_parent[1], "x", 1) != 1 || read(to_child[0], &b, 1) != 1)
				_exit(13);
		} else if (i == N / 2) {
			assert_int_equal(read(to_parent[0], &b, 1), 1);
		}
		d.pid = i + 1;
		while ((r = ward_audit_submit(a, &d)) == -EAGAIN)
			usleep(500);
		if (r < 0 && pid == 0)
			_exit(12);
		assert_int_equal(r, 0);
		if (i == N / 2 && pid != 0) {
			ward_audit_flush(a);
			assert_int_equal(write(to_child[1], "x", 1), 1);
		}
		/* small batches with pauses let the other writer's transactions in
		 * between (SQLite's busy handler backs off) */
		if (i % 500 == 0) {
			ward_audit_flush(a);
			usleep(2000);
		}
	}
	if (pid == 0)
		_exit(ward_audit_close(a) < 0 ? 11 : 0);
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < 2; i++) {
		close(to_parent[i]);
		close(to_child[i]);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count(f->path, "WHERE sandbox = 'child'"), N);
	assert_int_equal(count(f->path, "WHERE sandbox = 'parent'"), N);
	/* they really interleaved: some parent row sits between child rows */
	assert_true(count(f->path, "WHERE sandbox = 'parent' AND id > (SELECT min(id) FROM"
				   " decisions WHERE sandbox = 'child') AND id < (SELECT max(id)"
				   " FROM decisions WHERE sandbox = 'child')") > 0);
	assert_int_equal(verify_chain(f->path), 2 * N);
}

static void test_store_policy(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	static char source[] = "version: 1\n# exact text, kept byte for byte\nlandlock: {}\n";
	static char compiled[] = "{\"version\":1}";
	struct ward_policy p = { .source = source,
				 .source_len = sizeof(source) - 1,
				 .compiled_json = compiled };
	struct ward_decision d = { .layer = "lifecycle", .action = "allow" };
	sqlite3 *db;
	sqlite3_stmt *st;

	ward_sha256_hex(compiled, strlen(compiled), p.rev);
	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	/* interleaved with rows: neither disturbs the other */
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_store_policy(a, &p, &err), 0);
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_store_policy(a, &p, &err), 0);
	struct ward_policy bad = { 0 };
	assert_int_equal(ward_audit_store_policy(a, &bad, &err), -EINVAL);
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(count(f->path, ""), 2);

	db = raw_open(f->path);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT rev, source, compiled, loaded_at FROM policies",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), p.rev);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), source);
	assert_string_equal((const char *)sqlite3_column_text(st, 2), compiled);
	assert_true(sqlite3_column_int64(st, 3) > 1700000000000000000ll);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

struct collected {
	int64_t ids[64];
	int n;
	char hash_last[65];
};

static int collect(const struct ward_audit_row *r, void *userdata)
{
	struct collected *c = userdata;

	if (c->n < 64)
		c->ids[c->n++] = r->id;
	snprintf(c->hash_last, sizeof(c->hash_last), "%s", r->hash);
	return 0;
}

static int stop_at_two(const struct ward_audit_row *r WARD_UNUSED, void *userdata)
{
	int *n = userdata;
	return ++*n == 2 ? 42 : 0;
}

static void expect_ids(struct ward_audit_reader *rd, const struct ward_audit_filter *flt,
		       const int64_t *want, int n)
{
	struct collected c = { 0 };
	struct ward_error err = { 0 };

	assert_int_equal(ward_audit_reader_each(rd, flt, collect, &c, &err), 0);
	assert_int_equal(c.n, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(c.ids[i], want[i]);
}

static void test_reader_filters(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct ward_audit_reader *rd = NULL;
	const uint64_t T = 1735787045000000000ull;
	const struct ward_decision rows[] = {
		{ .ts_ns = T,
		  .sandbox = "a",
		  .layer = "kernel",
		  .action = "deny",
		  .binary = "/usr/bin/nc",
		  .ip = "10.0.0.1",
		  .port = 80 },
		{ .ts_ns = T + 1,
		  .sandbox = "a",
		  .layer = "proxy",
		  .action = "allow",
		  .binary = "/usr/bin/curl",
		  .host = "api.github.com",
		  .port = 443 },
		{ .ts_ns = T + 2,
		  .sandbox = "b",
		  .layer = "proxy",
		  .action = "deny",
		  .binary = "/usr/bin/curl",
		  .host = "evil.example",
		  .port = 443 },
		{ .ts_ns = T + 3,
		  .sandbox = "b",
		  .layer = "l7",
		  .action = "audit",
		  .binary = "/usr/local/bin/node",
		  .host = "api.github.com",
		  .method = "POST" },
		{ .ts_ns = T + 4, .sandbox = "b", .layer = "lifecycle", .action = "allow" },
	};

	/* a missing log is -ENOENT with a message naming it */
	assert_int_equal(ward_audit_reader_open(f->path, &rd, &err), -ENOENT);
	assert_non_null(strstr(err.msg, f->path));

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(ward_audit_submit(a, &rows[i]), 0);
	assert_int_equal(ward_audit_close(a), 0);

	assert_int_equal(ward_audit_reader_open(f->path, &rd, &err), 0);
	expect_ids(rd, NULL, (const int64_t[]){ 1, 2, 3, 4, 5 }, 5);
	expect_ids(rd, &(struct ward_audit_filter){ .layer = "proxy" }, (const int64_t[]){ 2, 3 },
		   2);
	expect_ids(rd, &(struct ward_audit_filter){ .action = "deny" }, (const int64_t[]){ 1, 3 },
		   2);
	expect_ids(rd, &(struct ward_audit_filter){ .layer = "proxy", .action = "deny" },
		   (const int64_t[]){ 3 }, 1);
	expect_ids(rd, &(struct ward_audit_filter){ .binary = "/usr/bin/curl" },
		   (const int64_t[]){ 2, 3 }, 2);
	expect_ids(rd, &(struct ward_audit_filter){ .binary = "/usr/*" },
		   (const int64_t[]){ 1, 2, 3, 4 }, 4);
	expect_ids(rd, &(struct ward_audit_filter){ .host = "api.github.com" },
		   (const int64_t[]){ 2, 4 }, 2);
	expect_ids(rd, &(struct ward_audit_filter){ .host = "*.example" }, (const int64_t[]){ 3 },
		   1);
	expect_ids(rd, &(struct ward_audit_filter){ .sandbox = "b" }, (const int64_t[]){ 3, 4, 5 },
		   3);
	expect_ids(rd, &(struct ward_audit_filter){ .since_ns = T + 3 }, (const int64_t[]){ 4, 5 },
		   2);
	expect_ids(rd, &(struct ward_audit_filter){ .after_id = 3 }, (const int64_t[]){ 4, 5 }, 2);
	expect_ids(rd, &(struct ward_audit_filter){ .limit = 2 }, (const int64_t[]){ 1, 2 }, 2);
	expect_ids(rd, &(struct ward_audit_filter){ .sandbox = "a", .host = "evil.example" }, NULL,
		   0);
	/* SQL metacharacters are values, not SQL */
	expect_ids(rd, &(struct ward_audit_filter){ .layer = "x' OR '1'='1" }, NULL, 0);

	int n = 0;
	assert_int_equal(ward_audit_reader_each(rd, NULL, stop_at_two, &n, &err), 42);
	assert_int_equal(n, 2);

	/* the reader sees the stored hash, and it matches the exported function */
	struct collected c = { 0 };
	assert_int_equal(ward_audit_reader_each(rd, &(struct ward_audit_filter){ .limit = 1 },
						collect, &c, &err),
			 0);
	struct ward_audit_row r1 = { .id = 1,
				     .ts_ns = (int64_t)T,
				     .sandbox = "a",
				     .layer = "kernel",
				     .action = "deny",
				     .binary = "/usr/bin/nc",
				     .ip = "10.0.0.1",
				     .has_port = true,
				     .port = 80 };
	char h[65];
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r1, h), 0);
	assert_string_equal(c.hash_last, h);
	ward_audit_reader_close(rd);

	/* not a ward log */
	FILE *junk = fopen(f->path, "w");
	fputs("this is not sqlite", junk);
	fclose(junk);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	unlink(wal);
	assert_true(ward_audit_reader_open(f->path, &rd, &err) < 0);
}

static void test_parse_time(void **state WARD_UNUSED)
{
	const uint64_t now = 1735787045000000000ull; /* 2025-01-02T03:04:05Z */
	uint64_t t = 0;

	assert_int_equal(ward_audit_parse_time("2025-01-02T03:04:05Z", now, &t), 0);
	assert_int_equal(t, 1735787045000000000ull);
	assert_int_equal(ward_audit_parse_time("2025-01-02T04:04:05.25+01:00", now, &t), 0);
	assert_int_equal(t, 1735787045250000000ull);
	assert_int_equal(ward_audit_parse_time("2025-01-01T22:04:05-05:00", now, &t), 0);
	assert_int_equal(t, 1735787045000000000ull);
	assert_int_equal(ward_audit_parse_time("2025-01-02 03:04:05.000000001z", now, &t), 0);
	assert_int_equal(t, 1735787045000000001ull);
	assert_int_equal(ward_audit_parse_time("1735787045", now, &t), 0);
	assert_int_equal(t, 1735787045000000000ull);
	assert_int_equal(ward_audit_parse_time("1735787045.5", now, &t), 0);
	assert_int_equal(t, 1735787045500000000ull);
	assert_int_equal(ward_audit_parse_time("10m", now, &t), 0);
	assert_int_equal(t, now - 600000000000ull);
	assert_int_equal(ward_audit_parse_time("2h", now, &t), 0);
	assert_int_equal(t, now - 7200000000000ull);
	assert_int_equal(ward_audit_parse_time("1d", now, &t), 0);
	assert_int_equal(t, now - 86400000000000ull);
	assert_int_equal(ward_audit_parse_time("30s", now, &t), 0);
	assert_int_equal(t, now - 30000000000ull);
	assert_int_equal(ward_audit_parse_time("1w", now, &t), 0);
	assert_int_equal(t, now - 604800000000000ull);

	static const char *bad[] = {
		"",
		"x",
		"10y",
		"1h2",
		"-5m",
		"m",
		"2025-01-02",
		"2025-01-02T03:04:05",
		"2025-13-02T03:04:05Z",
		"2025-02-31T03:04:05Z",
		"2025-01-02T03:04:05+1:00",
		"2025-01-02T03:04:05Zjunk",
		"2025-01-02T3:04:05Z",
		"1.",
		"99999999999999999999999",
		"1735787045.5x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 12345;
		if (ward_audit_parse_time(bad[i], now, &t) == 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(t, 12345);
	}
}

/* A head row whose hash was tampered with: the writer refuses to extend a chain
 * it cannot link to, says so, counts the rows, and still closes promptly. */
static void test_broken_head(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	struct ward_decision d = { .layer = "fs", .action = "deny", .path = "/etc/shadow" };
	sqlite3 *db;

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_close(a), 0);
	db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db, "UPDATE decisions SET hash = 'edited'", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_flush(a), -EBADMSG);
	assert_int_equal(ward_audit_dropped(a), 1);
	/* returns (a writer that retried forever would hang: ctest's timeout) */
	assert_int_equal(ward_audit_close(a), -EBADMSG);
	assert_int_equal(count(f->path, ""), 1);
}

/* A log written before session and via existed (schema version 1) still
 * verifies, read-only and after the first read-write open migrated it; rows
 * with session or via chain them in; editing via is caught. */
static void test_schema_v1(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	struct ward_audit *a = NULL;
	struct ward_audit_row r = {
		.ts_ns = 7, .layer = "kernel", .action = "deny", .binary = "/usr/bin/curl"
	};
	char prev[65] = WARD_AUDIT_GENESIS_HASH, hash[65], sql[512];
	sqlite3 *db;

	snprintf(f->path, sizeof(f->path), "%s/v1.db", f->dir);
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(
			db,
			"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
			"INSERT INTO meta VALUES ('schema_version', '1');"
			"CREATE TABLE decisions(id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, sandbox TEXT,"
			" layer TEXT NOT NULL, action TEXT NOT NULL, binary TEXT, binary_sha256 TEXT,"
			" pid INTEGER, host TEXT, ip TEXT, port INTEGER, protocol TEXT, method TEXT, path TEXT,"
			" rule TEXT, reason TEXT, policy_rev TEXT, hash TEXT NOT NULL);"
			"CREATE TABLE policies(rev TEXT PRIMARY KEY, source TEXT NOT NULL,"
			" compiled TEXT NOT NULL, loaded_at INTEGER NOT NULL);",
			NULL, NULL, NULL),
		SQLITE_OK);
	for (int id = 1; id <= 2; id++) {
		r.id = id;
		assert_int_equal(ward_audit_row_hash(prev, &r, hash), 0);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO decisions(id, ts_ns, layer, action, binary, hash)"
			 " VALUES (%d, 7, 'kernel', 'deny', '/usr/bin/curl', '%s')",
			 id, hash);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		memcpy(prev, hash, 65);
	}
	sqlite3_close(db);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
	assert_int_equal(v.rows, 2);

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	struct ward_decision d = { .sandbox = "sb",
				   .session = "s1",
				   .layer = "kernel",
				   .action = "allow",
				   .binary = "/tmp/curl-copy",
				   .via = "/usr/bin/bash" };
	assert_int_equal(ward_audit_submit(a, &d), 0);
	d.session = NULL;
	d.via = NULL;
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 4);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
	assert_int_equal(v.rows, 4);

	db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db, "UPDATE decisions SET via = '/usr/bin/sh' WHERE id = 3",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_false(v.intact);
	assert_int_equal(v.bad_id, 3);
}

/* uid and cgroup (schema version 3): a row without them hashes as before
 * (the documented bytes of the row with session and via, nothing appended);
 * with them the hash differs when either changes, NULL differs from 0 and
 * from ""; they go through the writer and the reader; editing one is caught. */
static int read_uid_row(const struct ward_audit_row *row, void *userdata)
{
	struct ward_audit_row *out = userdata;

	if (row->id == 2) {
		out->has_uid = row->has_uid;
		out->uid = row->uid;
		out->cgroup = row->cgroup ? strdup(row->cgroup) : NULL;
		out->session = row->session ? strdup(row->session) : NULL;
	}
	return 0;
}

static void test_uid_cgroup(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	struct ward_audit *a = NULL;
	struct ward_audit_reader *rd = NULL;
	struct ward_audit_row r = { .id = 1, .ts_ns = 2, .layer = "fs", .action = "deny",
				    .session = "s1" };
	struct ward_audit_row got = { 0 };
	char h0[65], h1[65], h2[65], h3[65], h4[65], h5[65];
	uint8_t b0[256], b1[256];
	size_t n0, n1;

	/* session alone: the 17 fields, then session and via, nothing more */
	n0 = ward_audit_row_canonical(&r, b0, sizeof(b0));
	static const uint8_t tail2[] = { 2, 0, 0, 0, 2, 's', '1', 0 };
	assert_true(n0 > sizeof(tail2));
	assert_memory_equal(b0 + n0 - sizeof(tail2), tail2, sizeof(tail2));
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h0), 0);
	/* uid 1000: session, via, then uid and cgroup (NULL) appended */
	r.has_uid = true;
	r.uid = 1000;
	n1 = ward_audit_row_canonical(&r, b1, sizeof(b1));
	static const uint8_t tail4[] = { 1, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0 };
	assert_int_equal(n1, n0 + sizeof(tail4));
	assert_memory_equal(b1, b0, n0);
	assert_memory_equal(b1 + n0, tail4, sizeof(tail4));
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h1), 0);
	assert_string_not_equal(h0, h1);
	r.uid = 1001;
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h2), 0);
	assert_string_not_equal(h1, h2);
	r.uid = 0; /* root is a uid, not NULL */
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h3), 0);
	assert_string_not_equal(h0, h3);
	r.cgroup = "/user.slice";
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h4), 0);
	assert_string_not_equal(h3, h4);
	r.cgroup = "/user.slicf";
	assert_int_equal(ward_audit_row_hash(WARD_AUDIT_GENESIS_HASH, &r, h5), 0);
	assert_string_not_equal(h4, h5);
	/* cgroup alone (no session, via, uid): the tail is there, "" is not NULL */
	r = (struct ward_audit_row){ .id = 1, .ts_ns = 2, .layer = "fs", .action = "deny" };
	n0 = ward_audit_row_canonical(&r, b0, sizeof(b0));
	r.cgroup = "";
	n1 = ward_audit_row_canonical(&r, b1, sizeof(b1));
	assert_int_equal(n1, n0 + 1 + 1 + 1 + 5);
	assert_memory_equal(b1, b0, n0);

	/* through the writer and the reader */
	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	struct ward_decision d = { .sandbox = "host", .layer = "kernel", .action = "deny",
				   .binary = "/usr/bin/curl", .pid = 42 };
	assert_int_equal(ward_audit_submit(a, &d), 0); /* id 1: no uid, no cgroup */
	d.has_uid = true;
	d.uid = 0;
	d.cgroup = "/rows-test.scope";
	assert_int_equal(ward_audit_submit(a, &d), 0); /* id 2 */
	d.uid = 65534;
	d.cgroup = NULL;
	assert_int_equal(ward_audit_submit(a, &d), 0); /* id 3 */
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 3);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
	assert_int_equal(ward_audit_reader_open(f->path, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, NULL, read_uid_row, &got, &err), 0);
	ward_audit_reader_close(rd);
	assert_true(got.has_uid);
	assert_int_equal(got.uid, 0);
	assert_string_equal(got.cgroup, "/rows-test.scope");
	assert_null(got.session);
	free((char *)got.cgroup);

	sqlite3 *db = raw_open(f->path);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM decisions WHERE id = 1 AND"
					    " uid IS NULL AND cgroup IS NULL",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "UPDATE decisions SET uid = 1000 WHERE id = 3", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_false(v.intact);
	assert_int_equal(v.bad_id, 3);
	db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE decisions SET uid = 65534 WHERE id = 3;"
				      "UPDATE decisions SET cgroup = '/other' WHERE id = 2",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_false(v.intact);
	assert_int_equal(v.bad_id, 2);
}

/* A version 2 log (session and via, no uid and cgroup) verifies as it is and
 * after the read-write open that adds the columns. */
static void test_schema_v2(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	struct ward_audit *a = NULL;
	struct ward_audit_row r = { .ts_ns = 7, .layer = "kernel", .action = "deny",
				    .binary = "/usr/bin/curl", .session = "s9" };
	char prev[65] = WARD_AUDIT_GENESIS_HASH, hash[65], sql[512];
	sqlite3 *db;

	snprintf(f->path, sizeof(f->path), "%s/v2.db", f->dir);
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(
			db,
			"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
			"INSERT INTO meta VALUES ('schema_version', '2');"
			"CREATE TABLE decisions(id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, sandbox TEXT,"
			" layer TEXT NOT NULL, action TEXT NOT NULL, binary TEXT, binary_sha256 TEXT,"
			" pid INTEGER, host TEXT, ip TEXT, port INTEGER, protocol TEXT, method TEXT, path TEXT,"
			" rule TEXT, reason TEXT, policy_rev TEXT, hash TEXT NOT NULL, session TEXT,"
			" via TEXT);"
			"CREATE TABLE policies(rev TEXT PRIMARY KEY, source TEXT NOT NULL,"
			" compiled TEXT NOT NULL, loaded_at INTEGER NOT NULL);",
			NULL, NULL, NULL),
		SQLITE_OK);
	for (int id = 1; id <= 2; id++) {
		r.id = id;
		assert_int_equal(ward_audit_row_hash(prev, &r, hash), 0);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO decisions(id, ts_ns, layer, action, binary, session, hash)"
			 " VALUES (%d, 7, 'kernel', 'deny', '/usr/bin/curl', 's9', '%s')",
			 id, hash);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		memcpy(prev, hash, 65);
	}
	sqlite3_close(db);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
	assert_int_equal(v.rows, 2);

	assert_int_equal(ward_audit_open(f->path, &a, &err), 0);
	struct ward_decision d = { .layer = "kernel", .action = "deny", .has_uid = true,
				   .uid = 1000, .cgroup = "/user.slice" };
	assert_int_equal(ward_audit_submit(a, &d), 0);
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(verify_chain(f->path), 3);
	assert_int_equal(ward_audit_verify(f->path, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
	assert_int_equal(v.rows, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test(test_hash_function),
		cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_filters, setup, teardown),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test_setup_teardown(test_broken_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_v2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
