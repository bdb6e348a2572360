// SPDX-License-Identifier: MIT
/* ward policy suggest, the filesystem (docs/learn.md, "Filesystem"): the
 * directory a learnt access is granted through, and a learn log turning into
 * a filesystem_policy that compiles and allows every row
 * (ward_case_fs_decide, the decision replay makes) while keeping what the
 * policy said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/suggest.h"
#include "audit/suggest_fs.h"
#include "policy/cases.h"
#include "policy/policy.h"

static void dir_of(const char *path, bool is_dir, const char *want)
{
	char out[256];

	assert_int_equal(ward_suggest_fs_dir(path, is_dir, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void directories(void **state)
{
	char small[4];

	(void)state;
	dir_of("/srv/data/file", false, "/srv/data");
	dir_of("/opt", true, "/opt");
	dir_of("/opt/", true, "/opt");
	dir_of("/.dockerenv", false, "/.dockerenv"); /* never "/" */
	dir_of("/home/u/.cache/pip/http/a/b", false, "/home/u/.cache/pip");
	dir_of("/home/u/.cache/pip/http/a", true, "/home/u/.cache/pip");
	dir_of("/dev/sda", false, "/dev/sda");
	assert_int_equal(ward_suggest_fs_dir("rel/x", false, small, sizeof(small)), -EINVAL);
	assert_int_equal(ward_suggest_fs_dir("/long/path", false, small, sizeof(small)), -ENOBUFS);
}

static const char logged[] = "version: 1\n"
			     "filesystem_policy:\n"
			     "  include_workdir: false\n"
			     "  read_only: [/usr, /srv/data/ro]\n"
			     "  read_write: [/var/cache/app]\n";

static int submit(struct ward_audit *a, struct ward_decision d, const char *rev)
{
	int r;

	d.sandbox = "0123456789ab";
	d.layer = "fs";
	d.policy_rev = rev;
	if (!d.rule)
		d.rule = "filesystem_policy";
	while ((r = ward_audit_submit(a, &d)) == -EAGAIN)
		ward_audit_flush(a);
	return r;
}

static const struct {
	const char *action, *binary, *method, *path, *reason;
	enum ward_case_access access;
} rows[] = {
	{ "audit", "/usr/bin/cat", "read", "/srv/data/other/file", "learn: ...; syscall=openat",
	  WARD_CASE_READ },
	{ "audit", "/usr/bin/sh", "write", "/srv/data/ro/new", "learn: ...; syscall=openat",
	  WARD_CASE_WRITE },
	{ "audit", "/opt/tool/bin/x", "exec", "/opt/tool/bin/x", "learn: ...; syscall=execve",
	  WARD_CASE_EXEC },
	{ "audit", "/usr/bin/ls", "read", "/opt/listing", "learn: ...; syscall=openat directory",
	  WARD_CASE_READ },
	{ "audit", "/usr/bin/cat", "read", "/.dockerenv", "learn: ...", WARD_CASE_READ },
	{ "deny", "/usr/bin/touch", "write,create", "/var/lib/x/y", "syscall=openat errno=EACCES",
	  WARD_CASE_WRITE },
};

static void learn_log_to_filesystem_policy(void **state)
{
	struct ward_test_db *t = *state;
	struct ward_policy *p = NULL, *s = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	struct ward_suggest_stats st;
	struct ward_audit *a = NULL;
	char *out = NULL, rule[256], why[512];
	size_t len = 0;
	FILE *f;

	assert_int_equal(ward_policy_load_buffer("logged.yaml", logged, sizeof(logged) - 1, &p, &d,
						 &err),
			 0);
	assert_int_equal(ward_audit_open(t->db, &a, &err), 0);
	assert_int_equal(ward_audit_store_policy(a, p, &err), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(submit(a,
					(struct ward_decision){ .action = rows[i].action,
								.binary = rows[i].binary,
								.method = rows[i].method,
								.path = rows[i].path,
								.reason = rows[i].reason },
					p->rev),
				 0);
	/* ward's /proc, a workdir row, a counter row, a protected-path row */
	assert_int_equal(submit(a,
				(struct ward_decision){ .action = "audit",
							.method = "read",
							.binary = "/usr/bin/ps",
							.path = "/proc/1/stat" },
				p->rev),
			 0);
	assert_int_equal(submit(a,
				(struct ward_decision){ .action = "audit",
							.method = "write",
							.binary = "/usr/bin/sh",
							.path = "/work/out",
							.rule = "include_workdir" },
				p->rev),
			 0);
	assert_int_equal(submit(a,
				(struct ward_decision){ .action = "audit",
							.reason = "learn: rate limit: 3 ..." },
				p->rev),
			 0);
	assert_int_equal(submit(a,
				(struct ward_decision){ .action = "deny",
							.method = "read",
							.binary = "/usr/bin/cat",
							.path = "/etc/keys/k",
							.rule = "filesystem_policy.binaries" },
				p->rev),
			 0);
	assert_int_equal(ward_audit_close(a), 0);

	f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(ward_suggest(t->db, NULL, f, &st, &err), 0);
	fclose(f);
	/* the policy's own paths, in its order, and the learnt ones */
	assert_non_null(strstr(out, "  include_workdir: true"));
	assert_non_null(strstr(out, "  read_only:\n    - \"/usr\"\n"));
	assert_non_null(strstr(out, "    - \"/srv/data/other\"  # learnt: 1 row, first by "
				    "/usr/bin/cat\n"));
	assert_non_null(strstr(out, "    - \"/opt/tool/bin\""));
	assert_non_null(strstr(out, "    - \"/opt/listing\""));
	assert_non_null(strstr(out, "    - \"/.dockerenv\""));
	assert_non_null(strstr(out, "    - \"/var/cache/app\"\n"));
	assert_non_null(strstr(out, "    - \"/var/lib/x\""));
	/* written: read-write, and the read-only entry would take it back */
	assert_non_null(
		strstr(out, "  read_write:\n    - \"/var/cache/app\"\n    - \"/srv/data/ro\""));
	assert_null(strstr(out, "    - \"/srv/data/ro\"\n  read_write"));
	assert_null(strstr(out, "/proc"));
	assert_null(strstr(out, "/work"));
	assert_null(strstr(out, "/etc/keys"));
	assert_null(strstr(out, "    - \"/\""));

	assert_int_equal(ward_policy_load_buffer("suggested.yaml", out, strlen(out), &s, &d, &err),
			 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_true(ward_case_fs_decide(s, NULL, rows[i].binary, rows[i].path,
						rows[i].access, rule, sizeof(rule), why,
						sizeof(why)));
	/* and under the logged policy they were refused (the test can fail) */
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_false(ward_case_fs_decide(p, NULL, rows[i].binary, rows[i].path,
						 rows[i].access, rule, sizeof(rule), why,
						 sizeof(why)));
	ward_diags_free(&d);
	ward_policy_free(s);
	ward_policy_free(p);
	free(out);
}

static int setup(void **state)
{
	return ward_test_db_setup(state, "suggest-fs");
}

static int teardown(void **state)
{
	return ward_test_db_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(directories),
		cmocka_unit_test_setup_teardown(learn_log_to_filesystem_policy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
