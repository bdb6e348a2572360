// SPDX-License-Identifier: MIT
/* Landlock's audit records (src/enforcer/landlock_audit.c): the records as
 * the kernel formats them (security/landlock/audit.c, kernel/auditsc.c),
 * quoted and hex-encoded strings, malformed records refused, blockers mapped
 * to the fs layer's access names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enforcer/landlock_audit.h"
#include "ward/abi.h"

static struct ward_ll_audit_record rec;

static int parse(int type, const char *text)
{
	memset(&rec, 0x5a, sizeof(rec));
	return ward_ll_audit_parse(type, text, strlen(text), &rec);
}

static void test_access(void **state)
{
	(void)state;
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(1729738800.268:30): domain=195ba459b blockers=fs.refer "
			       "path=\"/usr/bin\" dev=\"vda2\" ino=351"),
			 0);
	assert_int_equal(rec.kind, WARD_LL_AUDIT_ACCESS);
	assert_int_equal(rec.serial, 30);
	assert_int_equal(rec.ts_ms, 1729738800268ull);
	assert_int_equal(rec.domain, 0x195ba459bull);
	assert_string_equal(rec.blockers, "fs.refer");
	assert_string_equal(rec.path, "/usr/bin");
	assert_int_equal(rec.ino, 351);

	/* several blockers; a path with a space is hex-encoded by the kernel */
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(1.005:7): domain=1a blockers=fs.make_reg,fs.refer "
			       "path=2F746D702F6120622F6322 dev=\"sda1\" ino=9"),
			 0);
	assert_string_equal(rec.blockers, "fs.make_reg,fs.refer");
	assert_string_equal(rec.path, "/tmp/a b/c\"");
	assert_int_equal(rec.ts_ms, 1005);

	/* a dentry is logged by name */
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(2.000:8): domain=1a blockers=fs.remove_file name=\"x\" "
			       "dev=\"sda1\" ino=10"),
			 0);
	assert_string_equal(rec.path, "x");

	/* the kernel's marker for a path it could not name */
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(2.000:8): domain=1a blockers=fs.read_file path=<too_long> "
			       "dev=\"sda1\" ino=10"),
			 0);
	assert_string_equal(rec.path, "<too_long>");

	/* no object at all (scopes, ptrace) */
	assert_int_equal(
		parse(WARD_AUDIT_LANDLOCK_ACCESS,
		      "audit(2.000:9): domain=1a blockers=scope.signal opid=5 ocomm=\"sh\""),
		0);
	assert_string_equal(rec.path, "");
	assert_int_equal(rec.ino, 0);
}

static void test_domain(void **state)
{
	(void)state;
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_DOMAIN,
			       "audit(1729738800.268:30): domain=195ba459b status=allocated "
			       "mode=enforcing pid=300 uid=0 exe=\"/root/sandboxer\" "
			       "comm=\"sandboxer\""),
			 0);
	assert_int_equal(rec.kind, WARD_LL_AUDIT_DOMAIN);
	assert_true(rec.allocated);
	assert_int_equal(rec.pid, 300);
	assert_string_equal(rec.exe, "/root/sandboxer");
	assert_string_equal(rec.comm, "sandboxer");

	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_DOMAIN,
			       "audit(1729738800.268:31): domain=195ba459b status=deallocated "
			       "denials=3"),
			 0);
	assert_false(rec.allocated);
	assert_int_equal(rec.denials, 3);

	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_DOMAIN,
			       "audit(1.000:1): domain=1 status=whatever"),
			 -EINVAL);
}

static void test_syscall(void **state)
{
	(void)state;
	/* pid is not ppid; the quoted comm holds no space, exe is hex-encoded */
	assert_int_equal(parse(WARD_AUDIT_SYSCALL,
			       "audit(1729738800.268:30): arch=c000003e syscall=257 success=no "
			       "exit=-13 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=299 pid=300 "
			       "auid=4294967295 uid=4243 gid=4243 euid=4243 suid=4243 fsuid=4243 "
			       "egid=4243 sgid=4243 fsgid=4243 tty=(none) ses=4294967295 "
			       "comm=\"cat\" exe=2F7573722F62696E2F6D7920636174 key=(null)"),
			 0);
	assert_int_equal(rec.kind, WARD_LL_AUDIT_SYSCALL);
	assert_int_equal(rec.syscall, 257);
	assert_int_equal(rec.exit, -13);
	assert_int_equal(rec.pid, 300);
	assert_string_equal(rec.comm, "cat");
	assert_string_equal(rec.exe, "/usr/bin/my cat");

	assert_int_equal(parse(WARD_AUDIT_EOE, "audit(1729738800.268:30): "), 0);
	assert_int_equal(rec.kind, WARD_LL_AUDIT_EOE);
	assert_int_equal(rec.serial, 30);

	/* a type this module does not read */
	assert_int_equal(parse(1327, "audit(1.000:2): proctitle=636174"), 0);
	assert_int_equal(rec.kind, WARD_LL_AUDIT_OTHER);
}

static void test_malformed(void **state)
{
	char big[PATH_MAX + 128];

	(void)state;
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS, "domain=1 blockers=fs.read_file"),
			 -EINVAL);
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS, "audit(1.000:2): blockers=fs.read_file"),
			 -EINVAL);
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS, "audit(1.000:2): domain=xyz blockers=a"),
			 -EINVAL);
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(1.000:2): domain=1 blockers=fs.read_file path=\"/etc"),
			 -EINVAL);
	/* odd or non-hex digits are not a path */
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(1.000:2): domain=1 blockers=fs.read_file path=2F6"),
			 -EINVAL);
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS,
			       "audit(1.000:2): domain=1 blockers=fs.read_file path=2G"),
			 -EINVAL);
	assert_int_equal(parse(WARD_AUDIT_SYSCALL, "audit(1.000:2): arch=c000003e pid=3"), -EINVAL);
	/* a path longer than PATH_MAX is refused, not cut */
	snprintf(big, sizeof(big), "audit(1.000:2): domain=1 blockers=fs.read_file path=\"/");
	memset(big + strlen(big), 'a', sizeof(big) - 2 - strlen(big));
	big[sizeof(big) - 2] = '"';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(WARD_AUDIT_LANDLOCK_ACCESS, big), -EINVAL);
	/* the length is respected: the text is not NUL-terminated */
	const char *t = "audit(1.000:2): domain=1 blockers=fs.read_file path=\"/etc/x\" GARBAGE";
	assert_int_equal(ward_ll_audit_parse(WARD_AUDIT_LANDLOCK_ACCESS, t, strlen(t) - 8, &rec),
			 0);
	assert_string_equal(rec.path, "/etc/x");
	assert_int_equal(ward_ll_audit_parse(WARD_AUDIT_LANDLOCK_ACCESS, t, strlen(t) - 10, &rec),
			 -EINVAL);
}

static void test_access_names(void **state)
{
	(void)state;
	assert_int_equal(ward_ll_audit_access("fs.read_file"), WARD_FS_ACC_READ);
	assert_int_equal(ward_ll_audit_access("fs.write_file,fs.truncate"),
			 WARD_FS_ACC_WRITE | WARD_FS_ACC_TRUNCATE);
	assert_int_equal(ward_ll_audit_access("fs.make_dir"), WARD_FS_ACC_CREATE | WARD_FS_ACC_DIR);
	assert_int_equal(ward_ll_audit_access("fs.remove_file"), WARD_FS_ACC_DELETE);
	assert_int_equal(ward_ll_audit_access("fs.execute"), WARD_FS_ACC_EXEC);
	assert_int_equal(ward_ll_audit_access("fs.refer"), WARD_FS_ACC_RENAME | WARD_FS_ACC_LINK);
	/* a prefix is not a name; network and scopes are not filesystem rights */
	assert_int_equal(ward_ll_audit_access("fs.read"), 0);
	assert_int_equal(ward_ll_audit_access("net.connect_tcp"), 0);
	assert_int_equal(ward_ll_audit_access("scope.signal"), 0);
	assert_int_equal(ward_ll_audit_access(""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access),	     cmocka_unit_test(test_domain),
		cmocka_unit_test(test_syscall),	     cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_access_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
