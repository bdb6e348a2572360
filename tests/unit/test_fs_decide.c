// SPDX-License-Identifier: MIT
/* bpf/fs_decide.h compiled on the host: which results are denials, the
 * access an open or a path syscall asks for, the token bucket, and the
 * protected-path verdict shared by fanotify and bpf-lsm. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#include <cmocka.h>

#include "../../bpf/fs_decide.h"

static void test_denial(void **state)
{
	(void)state;
	assert_true(ward_fs_is_denial(-EACCES));
	assert_true(ward_fs_is_denial(-EPERM));
	assert_true(ward_fs_is_denial(-EROFS));
	assert_false(ward_fs_is_denial(0));
	assert_false(ward_fs_is_denial(3));
	assert_false(ward_fs_is_denial(-ENOENT));
	assert_false(ward_fs_is_denial(-EEXIST));
}

/* the flag values the header hard-codes are the system's */
static void test_flag_values(void **state)
{
	(void)state;
	assert_int_equal(WARD_O_WRONLY, O_WRONLY);
	assert_int_equal(WARD_O_RDWR, O_RDWR);
	assert_int_equal(WARD_O_CREAT, O_CREAT);
	assert_int_equal(WARD_O_TRUNC, O_TRUNC);
	assert_int_equal(WARD_O_DIRECTORY, O_DIRECTORY);
	assert_int_equal(WARD_O_TMPFILE | WARD_O_DIRECTORY, O_TMPFILE); /* __O_TMPFILE */
	assert_int_equal(WARD_AT_REMOVEDIR, AT_REMOVEDIR);
	assert_int_equal(WARD_FS_AT_FDCWD, AT_FDCWD);
	assert_int_equal(WARD_EACCES, EACCES);
	assert_int_equal(WARD_EROFS, EROFS);
}

static void test_open_access(void **state)
{
	(void)state;
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPENAT, O_RDONLY), WARD_FS_ACC_READ);
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPENAT, O_WRONLY), WARD_FS_ACC_WRITE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPEN, O_RDWR),
			 WARD_FS_ACC_READ | WARD_FS_ACC_WRITE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPENAT, O_WRONLY | O_CREAT | O_TRUNC),
			 WARD_FS_ACC_WRITE | WARD_FS_ACC_CREATE | WARD_FS_ACC_TRUNCATE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPENAT2, O_RDONLY | O_DIRECTORY),
			 WARD_FS_ACC_READ | WARD_FS_ACC_DIR);
	/* O_TMPFILE contains O_DIRECTORY's bit but creates a file */
	assert_int_equal(ward_fs_access(WARD_FS_OP_OPENAT, O_TMPFILE | O_RDWR),
			 WARD_FS_ACC_READ | WARD_FS_ACC_WRITE | WARD_FS_ACC_CREATE);
	/* creat() gets O_CREAT|O_WRONLY|O_TRUNC from the program */
	assert_int_equal(ward_fs_access(WARD_FS_OP_CREAT, O_CREAT | O_WRONLY | O_TRUNC),
			 WARD_FS_ACC_WRITE | WARD_FS_ACC_CREATE | WARD_FS_ACC_TRUNCATE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_FILE_OPEN, O_RDWR),
			 WARD_FS_ACC_READ | WARD_FS_ACC_WRITE);
}

static void test_path_access(void **state)
{
	(void)state;
	assert_int_equal(ward_fs_access(WARD_FS_OP_MKDIRAT, 0755),
			 WARD_FS_ACC_CREATE | WARD_FS_ACC_DIR);
	assert_int_equal(ward_fs_access(WARD_FS_OP_UNLINKAT, 0), WARD_FS_ACC_DELETE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_UNLINKAT, AT_REMOVEDIR),
			 WARD_FS_ACC_DELETE | WARD_FS_ACC_DIR);
	assert_int_equal(ward_fs_access(WARD_FS_OP_RMDIR, 0), WARD_FS_ACC_DELETE | WARD_FS_ACC_DIR);
	assert_int_equal(ward_fs_access(WARD_FS_OP_RENAMEAT2, 0), WARD_FS_ACC_RENAME);
	assert_int_equal(ward_fs_access(WARD_FS_OP_LINKAT, 0),
			 WARD_FS_ACC_LINK | WARD_FS_ACC_CREATE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_SYMLINK, 0), WARD_FS_ACC_CREATE);
	assert_int_equal(ward_fs_access(WARD_FS_OP_TRUNCATE, 0),
			 WARD_FS_ACC_WRITE | WARD_FS_ACC_TRUNCATE);
	/* chmod's mode never looks like open flags */
	assert_int_equal(ward_fs_access(WARD_FS_OP_FCHMODAT, 0777), WARD_FS_ACC_SETATTR);
	assert_int_equal(ward_fs_access(WARD_FS_OP_FCHOWNAT, 0), WARD_FS_ACC_SETATTR);
	assert_int_equal(ward_fs_access(WARD_FS_OP_EXECVE, 0), WARD_FS_ACC_EXEC);
	assert_int_equal(ward_fs_access(0, O_RDWR), 0);
	assert_int_equal(ward_fs_access(WARD_FS_OP_MAX, O_RDWR), 0);
}

#define SEC_NS 1000000000ull

static void test_bucket_burst_then_rate(void **state)
{
	struct ward_fs_bucket b = { 0 };
	uint64_t t = 5 * SEC_NS;
	int sent = 0;

	(void)state;
	/* a burst at one instant: exactly the bucket */
	for (int i = 0; i < 10000; i++)
		sent += ward_fs_bucket_take(&b, t, 100, 200);
	assert_int_equal(sent, 200);
	/* a tenth of a second later: 10 more at 100/s */
	sent = 0;
	for (int i = 0; i < 1000; i++)
		sent += ward_fs_bucket_take(&b, t + SEC_NS / 10, 100, 200);
	assert_int_equal(sent, 10);
	/* a second of steady attempts, one per millisecond: about the rate */
	sent = 0;
	for (int i = 1; i <= 1000; i++)
		sent += ward_fs_bucket_take(&b, t + SEC_NS / 10 + (uint64_t)i * 1000000, 100, 200);
	assert_in_range(sent, 99, 101);
}

static void test_bucket_refill_capped(void **state)
{
	struct ward_fs_bucket b = { 0 };
	int sent = 0;

	(void)state;
	assert_true(ward_fs_bucket_take(&b, SEC_NS, 100, 200));
	/* an hour idle: full again, never more than the burst */
	for (int i = 0; i < 1000; i++)
		sent += ward_fs_bucket_take(&b, 3600 * SEC_NS, 100, 200);
	assert_int_equal(sent, 200);
	/* time going backwards (another CPU's older clock) adds nothing */
	assert_false(ward_fs_bucket_take(&b, 3599 * SEC_NS, 100, 200));
}

static void test_bucket_low_rate(void **state)
{
	struct ward_fs_bucket b = { 0 };

	(void)state;
	assert_true(ward_fs_bucket_take(&b, SEC_NS, 1, 1));
	assert_false(ward_fs_bucket_take(&b, SEC_NS + SEC_NS / 2, 1, 1));
	/* half a token kept from before: one more after another half second */
	assert_true(ward_fs_bucket_take(&b, 2 * SEC_NS, 1, 1));
}

static void test_protect(void **state)
{
	enum ward_fs_why why;

	(void)state;
	/* outside the sandbox: always allowed, whatever it opens */
	assert_int_equal(ward_fs_protect_decide(0, 0, 1, 0, &why), WARD_FS_ALLOW);
	assert_int_equal(why, WARD_FS_WHY_OUTSIDE);
	assert_int_equal(ward_fs_protect_decide(0, 0, 0, 0, &why), WARD_FS_ALLOW);
	/* not under a protected path */
	assert_int_equal(ward_fs_protect_decide(1, -1, 1, 0, &why), WARD_FS_ALLOW);
	assert_int_equal(why, WARD_FS_WHY_UNPROTECTED);
	/* the named executable */
	assert_int_equal(ward_fs_protect_decide(1, 3, 1, 1, &why), WARD_FS_ALLOW);
	assert_int_equal(why, WARD_FS_WHY_NAMED);
	/* another executable, a copy of the named one included (other inode) */
	assert_int_equal(ward_fs_protect_decide(1, 0, 1, 0, &why), WARD_FS_DENY);
	assert_int_equal(why, WARD_FS_WHY_OTHER_BINARY);
	/* unknown opener: fail closed, even if "allowed" was computed */
	assert_int_equal(ward_fs_protect_decide(1, 0, 0, 1, &why), WARD_FS_DENY);
	assert_int_equal(why, WARD_FS_WHY_UNKNOWN_OPENER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_denial),
		cmocka_unit_test(test_flag_values),
		cmocka_unit_test(test_open_access),
		cmocka_unit_test(test_path_access),
		cmocka_unit_test(test_bucket_burst_then_rate),
		cmocka_unit_test(test_bucket_refill_capped),
		cmocka_unit_test(test_bucket_low_rate),
		cmocka_unit_test(test_protect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
