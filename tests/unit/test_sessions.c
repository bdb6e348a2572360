// SPDX-License-Identifier: MIT
/* Session summaries (audit/sessions.h) over a synthetic log written with the
 * real writer: start/exit rows, rows per layer and action, inference usage,
 * the sandbox filter, sorting by start, running sessions; `ward logs
 * --session`'s reader filter; a version 1 log has no sessions and still
 * reads. */
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

#include "audit/audit.h"
#include "audit/sessions.h"
#include "audit/verify.h"

#define SEC 1000000000ull

static void row(struct ward_audit *a, uint64_t ts, const char *sandbox, const char *session,
		const char *layer, const char *action, const char *binary, const char *rule,
		const char *reason)
{
	struct ward_decision d = {
		.ts_ns = ts,
		.sandbox = sandbox,
		.session = session,
		.layer = layer,
		.action = action,
		.binary = binary,
		.rule = rule,
		.reason = reason,
	};

	assert_int_equal(ward_audit_submit(a, &d), 0);
}

#define USAGE(in, out, cost)                                                                       \
	"api=chat.completions provider=openai model_requested=m model_sent=m status=200 "          \
	"stream=false prompt_tokens=" #in " completion_tokens=" #out " total_tokens=0 "            \
	"cached_tokens=0 cost_usd=" cost " prices=route latency_ms=1 ttfb_ms=1"

/* Two sandboxes; sb1 has session bbb (started second, ended by SIGKILL) and
 * aaa (started first, exit 3), sb2 has ccc (running), and ward run rows
 * without a session that belong to none. */
static void write_log(const char *path)
{
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;

	assert_int_equal(ward_audit_open(path, &a, &err), 0);
	row(a, 100 * SEC, "sb1", NULL, "lifecycle", "allow", "/bin/sh", "start", "layers=...");
	row(a, 101 * SEC, "sb1", "bbb", "lifecycle", "allow", "/usr/bin/python3", "start", "x");
	row(a, 102 * SEC, "sb1", "bbb", "kernel", "deny", "/usr/bin/python3", NULL, "no policy");
	row(a, 99 * SEC, "sb1", "aaa", "lifecycle", "allow", "/usr/bin/curl", "start", "x");
	row(a, 99 * SEC + 1, "sb1", "aaa", "proxy", "allow", "/usr/bin/curl", "github", "ok");
	row(a, 99 * SEC + 2, "sb1", "aaa", "proxy", "allow", "/usr/bin/curl", "github", "ok");
	row(a, 99 * SEC + 3, "sb1", "aaa", "proxy", "deny", "/usr/bin/curl", NULL, "host");
	row(a, 99 * SEC + 4, "sb1", "aaa", "inference", "allow", "/usr/bin/curl",
	    "inference.routes.default", USAGE(11, 7, "0.021400"));
	row(a, 99 * SEC + 5, "sb1", "aaa", "inference", "allow", "/usr/bin/curl",
	    "inference.routes.default", USAGE(5, 3, "unknown"));
	/* a budget row: audit, no usage of its own */
	row(a, 99 * SEC + 6, "sb1", "aaa", "inference", "audit", "/usr/bin/curl",
	    "inference.budget.max_tokens",
	    "budget_warning: 80% of inference.budget.max_tokens reached (budget_spent=26 "
	    "budget_max=30)");
	row(a, 103 * SEC, "sb1", "aaa", "lifecycle", "allow", "/usr/bin/curl", "exit", "status=3");
	row(a, 104 * SEC, "sb1", "bbb", "lifecycle", "allow", "/usr/bin/python3", "exit",
	    "signal=SIGKILL");
	row(a, 105 * SEC, "sb2", "ccc", "lifecycle", "allow", "/usr/bin/node", "start", "x");
	row(a, 106 * SEC, "sb2", "ccc", "dns", "deny", "/usr/bin/node", NULL, "nxdomain");
	row(a, 107 * SEC, "sb1", NULL, "kernel", "allow", "/bin/sh", NULL, "no session");
	assert_int_equal(ward_audit_close(a), 0);
}

static const struct ward_session_layer *layer(const struct ward_session_summary *s,
					      const char *name)
{
	for (size_t i = 0; i < s->n_layers; i++)
		if (!strcmp(s->layers[i].layer, name))
			return &s->layers[i];
	return NULL;
}

static void test_summary(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_session_summary *s = NULL;
	struct ward_error err = { 0 };
	const struct ward_session_layer *l;
	size_t n = 0;

	write_log(f->db);
	assert_int_equal(ward_audit_sessions(f->db, NULL, &s, &n, &err), 0);
	assert_int_equal(n, 3);
	/* sorted by start: aaa (99 s), bbb (101 s), ccc (105 s) */
	assert_string_equal(s[0].id, "aaa");
	assert_string_equal(s[1].id, "bbb");
	assert_string_equal(s[2].id, "ccc");

	assert_string_equal(s[0].sandbox, "sb1");
	assert_string_equal(s[0].command, "/usr/bin/curl");
	assert_int_equal(s[0].start_ns, 99 * SEC);
	assert_int_equal(s[0].end_ns, 103 * SEC);
	assert_int_equal(s[0].duration_ms, 4000);
	assert_true(s[0].has_status);
	assert_int_equal(s[0].status, 3);
	l = layer(&s[0], "proxy");
	assert_non_null(l);
	assert_int_equal(l->allow, 2);
	assert_int_equal(l->deny, 1);
	assert_int_equal(l->audit, 0);
	l = layer(&s[0], "inference");
	assert_non_null(l);
	assert_int_equal(l->allow, 2);
	assert_int_equal(l->audit, 1);
	l = layer(&s[0], "lifecycle");
	assert_non_null(l);
	assert_int_equal(l->allow, 2);
	assert_null(layer(&s[0], "kernel"));
	assert_int_equal(s[0].calls, 2);
	assert_int_equal(s[0].tokens_in, 16);
	assert_int_equal(s[0].tokens_out, 10);
	assert_true(s[0].cost_usd > 0.0213 && s[0].cost_usd < 0.0215);
	assert_int_equal(s[0].unpriced, 1);

	assert_string_equal(s[1].command, "/usr/bin/python3");
	assert_true(s[1].has_status);
	assert_int_equal(s[1].status, 128 + 9);
	assert_int_equal(layer(&s[1], "kernel")->deny, 1);
	assert_int_equal(s[1].tokens_in, 0);

	/* running: no end, no status, duration up to now */
	assert_string_equal(s[2].sandbox, "sb2");
	assert_int_equal(s[2].end_ns, 0);
	assert_false(s[2].has_status);
	assert_true(s[2].duration_ms > 0);

	/* the JSON the daemon's sessions verb returns */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ward_audit_sessions_json(m, s, 2);
	fclose(m);
	assert_string_equal(
		buf,
		"[{\"id\":\"aaa\",\"sandbox\":\"sb1\",\"command\":\"/usr/bin/curl\","
		"\"start_ns\":99000000000,\"end_ns\":103000000000,\"duration_ms\":4000,"
		"\"status\":3,\"rows\":{\"inference\":{\"allow\":2,\"deny\":0,\"audit\":1},"
		"\"lifecycle\":{\"allow\":2,\"deny\":0,\"audit\":0},"
		"\"proxy\":{\"allow\":2,\"deny\":1,\"audit\":0}},\"tokens_in\":16,\"tokens_out\":10,"
		"\"cost_usd\":0.021400},"
		"{\"id\":\"bbb\",\"sandbox\":\"sb1\",\"command\":\"/usr/bin/python3\","
		"\"start_ns\":101000000000,\"end_ns\":104000000000,\"duration_ms\":3000,"
		"\"status\":137,\"rows\":{\"kernel\":{\"allow\":0,\"deny\":1,\"audit\":0},"
		"\"lifecycle\":{\"allow\":2,\"deny\":0,\"audit\":0}},\"tokens_in\":0,"
		"\"tokens_out\":0,\"cost_usd\":0.000000}]");
	free(buf);
	ward_audit_sessions_free(s, n);

	/* one sandbox only */
	assert_int_equal(ward_audit_sessions(f->db, "sb2", &s, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].id, "ccc");
	ward_audit_sessions_free(s, n);
	assert_int_equal(ward_audit_sessions(f->db, "nope", &s, &n, &err), 0);
	assert_int_equal(n, 0);
	ward_audit_sessions_free(s, n);
}

static int count_row(const struct ward_audit_row *r, void *ud)
{
	size_t *n = ud;

	assert_string_equal(r->session, "aaa");
	(*n)++;
	return 0;
}

/* ward logs --session: only that session's rows; the chain still verifies */
static void test_filter(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_filter flt = { .session = "aaa" };
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	size_t n = 0;

	write_log(f->db);
	assert_int_equal(ward_audit_reader_open(f->db, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, count_row, &n, &err), 0);
	assert_int_equal(n, 8);
	flt.layer = "proxy";
	n = 0;
	assert_int_equal(ward_audit_reader_each(rd, &flt, count_row, &n, &err), 0);
	assert_int_equal(n, 3);
	ward_audit_reader_close(rd);
	assert_int_equal(ward_audit_verify(f->db, 0, NULL, NULL, &v, &err), 0);
	assert_true(v.intact);
}

static int never(const struct ward_audit_row *r, void *ud)
{
	(void)r;
	(void)ud;
	fail_msg("a version 1 log has no session rows");
	return 0;
}

/* A log from before the session column: no sessions, no session rows, no error */
static void test_v1(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_audit_filter flt = { .session = "aaa" };
	struct ward_session_summary *s = NULL;
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };
	sqlite3 *db;
	size_t n = 7;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
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
			"INSERT INTO decisions(id, ts_ns, layer, action, hash) VALUES (1, 7, 'kernel',"
			" 'deny', 'x');",
			NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ward_audit_sessions(f->db, NULL, &s, &n, &err), 0);
	assert_int_equal(n, 0);
	ward_audit_sessions_free(s, n);
	assert_int_equal(ward_audit_reader_open(f->db, &rd, &err), 0);
	assert_int_equal(ward_audit_reader_each(rd, &flt, never, NULL, &err), 0);
	ward_audit_reader_close(rd);
}

/* Many sessions, interleaved, in two sandboxes with the same ids: each
 * (sandbox, session) counted apart (the table grows several times). */
static void test_many(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_session_summary *s = NULL;
	struct ward_error err = { 0 };
	struct ward_audit *a = NULL;
	char id[16];
	size_t n = 0;

	assert_int_equal(ward_audit_open(f->db, &a, &err), 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 300; i++) {
			snprintf(id, sizeof(id), "s%03d", i);
			row(a, (uint64_t)(1000 + i) * SEC + (uint64_t)round, i % 2 ? "sbA" : "sbB",
			    id, "kernel", round == 2 ? "deny" : "allow", "/bin/x", NULL, "x");
		}
	assert_int_equal(ward_audit_close(a), 0);
	assert_int_equal(ward_audit_sessions(f->db, NULL, &s, &n, &err), 0);
	assert_int_equal(n, 300);
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "s%03d", (int)i);
		assert_string_equal(s[i].id, id); /* by start */
		assert_string_equal(s[i].sandbox, i % 2 ? "sbA" : "sbB");
		assert_int_equal(s[i].n_layers, 1);
		assert_int_equal(s[i].layers[0].allow, 2);
		assert_int_equal(s[i].layers[0].deny, 1);
		assert_int_equal(s[i].start_ns, (int64_t)(1000 + i) * (int64_t)SEC);
		assert_null(s[i].command);
	}
	ward_audit_sessions_free(s, n);
	assert_int_equal(ward_audit_sessions(f->db, "sbA", &s, &n, &err), 0);
	assert_int_equal(n, 150);
	ward_audit_sessions_free(s, n);
}

static void test_exit_status(void **state)
{
	int s = -1;

	(void)state;
	assert_int_equal(ward_audit_exit_status("status=0", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(ward_audit_exit_status("status=127 (not found)", &s), 0);
	assert_int_equal(s, 127);
	assert_int_equal(ward_audit_exit_status("signal=SIGTERM", &s), 0);
	assert_int_equal(s, 128 + 15);
	assert_int_equal(ward_audit_exit_status("signal=SIGNOPE", &s), -EINVAL);
	assert_int_equal(ward_audit_exit_status("layers=x", &s), -EINVAL);
	assert_int_equal(ward_audit_exit_status(NULL, &s), -EINVAL);
}

static int setup(void **state)
{
	return ward_test_db_setup(state, "sessions");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_summary, setup, ward_test_db_teardown),
		cmocka_unit_test_setup_teardown(test_filter, setup, ward_test_db_teardown),
		cmocka_unit_test_setup_teardown(test_v1, setup, ward_test_db_teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, ward_test_db_teardown),
		cmocka_unit_test(test_exit_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
