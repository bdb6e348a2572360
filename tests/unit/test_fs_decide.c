// SPDX-License-Identifier: MIT
/* bpf/fs_decide.h compiled on the host: which results are denials, the
 * access an open or a path syscall asks for, the token bucket, the
 * protected-path verdict shared by fanotify and bpf-lsm, the key of a
 * missing path, and what counts as another process's memory. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

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

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; older libc headers lack it */
#endif

/* The raw tracepoint's table against the C library's syscall numbers and the
 * prototypes in the man pages: which argument is the path, the second path,
 * their directory fds, the flags. */
static void test_syscall_table(void **state)
{
	enum { N = WARD_FS_NOARG };
	static const struct {
		long nr;
		struct ward_fs_sysc want;
	} t[] = {
		{ SYS_open, { WARD_FS_OP_OPEN, 0, N, N, N, 1, 0 } },
		{ SYS_openat, { WARD_FS_OP_OPENAT, 1, N, 0, N, 2, 0 } },
		{ SYS_openat2, { WARD_FS_OP_OPENAT2, 1, N, 0, N, N, 0 } },
		{ SYS_creat, { WARD_FS_OP_CREAT, 0, N, N, N, N, O_CREAT | O_WRONLY | O_TRUNC } },
		{ SYS_mkdir, { WARD_FS_OP_MKDIR, 0, N, N, N, N, 0 } },
		{ SYS_mkdirat, { WARD_FS_OP_MKDIRAT, 1, N, 0, N, N, 0 } },
		{ SYS_mknod, { WARD_FS_OP_MKNOD, 0, N, N, N, N, 0 } },
		{ SYS_mknodat, { WARD_FS_OP_MKNODAT, 1, N, 0, N, N, 0 } },
		{ SYS_unlink, { WARD_FS_OP_UNLINK, 0, N, N, N, N, 0 } },
		{ SYS_unlinkat, { WARD_FS_OP_UNLINKAT, 1, N, 0, N, 2, 0 } },
		{ SYS_rmdir, { WARD_FS_OP_RMDIR, 0, N, N, N, N, 0 } },
		{ SYS_rename, { WARD_FS_OP_RENAME, 0, 1, N, N, N, 0 } },
		{ SYS_renameat, { WARD_FS_OP_RENAMEAT, 1, 3, 0, 2, N, 0 } },
		{ SYS_renameat2, { WARD_FS_OP_RENAMEAT2, 1, 3, 0, 2, 4, 0 } },
		{ SYS_link, { WARD_FS_OP_LINK, 0, 1, N, N, N, 0 } },
		{ SYS_linkat, { WARD_FS_OP_LINKAT, 1, 3, 0, 2, 4, 0 } },
		{ SYS_symlink, { WARD_FS_OP_SYMLINK, 1, 0, N, N, N, 0 } },
		{ SYS_symlinkat, { WARD_FS_OP_SYMLINKAT, 2, 0, 1, N, N, 0 } },
		{ SYS_truncate, { WARD_FS_OP_TRUNCATE, 0, N, N, N, N, 0 } },
		{ SYS_chmod, { WARD_FS_OP_CHMOD, 0, N, N, N, 1, 0 } },
		{ SYS_fchmodat, { WARD_FS_OP_FCHMODAT, 1, N, 0, N, 2, 0 } },
		{ SYS_fchmodat2, { WARD_FS_OP_FCHMODAT2, 1, N, 0, N, 3, 0 } },
		{ SYS_chown, { WARD_FS_OP_CHOWN, 0, N, N, N, N, 0 } },
		{ SYS_lchown, { WARD_FS_OP_LCHOWN, 0, N, N, N, N, 0 } },
		{ SYS_fchownat, { WARD_FS_OP_FCHOWNAT, 1, N, 0, N, 4, 0 } },
		{ SYS_execve, { WARD_FS_OP_EXECVE, 0, N, N, N, N, 0 } },
		{ SYS_execveat, { WARD_FS_OP_EXECVEAT, 1, N, 0, N, 4, 0 } },
	};
	/* syscalls a sandbox makes all the time that are not followed; 5 is
	 * fstat on x86_64 but open for a 32-bit caller (the program skips those) */
	static const long other[] = { SYS_read,	  SYS_write,	  SYS_close,	 SYS_fstat,
				      SYS_mmap,	  SYS_newfstatat, SYS_statx,	 SYS_getdents64,
				      SYS_fchmod, SYS_fchown,	  SYS_ftruncate, SYS_exit_group,
				      -1,	  100000 };
	unsigned seen = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ward_fs_sysc s = { 0 };

		assert_int_equal(ward_fs_syscall(t[i].nr, &s), 1);
		assert_int_equal(s.op, t[i].want.op);
		assert_int_equal(s.path, t[i].want.path);
		assert_int_equal(s.path2, t[i].want.path2);
		assert_int_equal(s.dirfd, t[i].want.dirfd);
		assert_int_equal(s.dirfd2, t[i].want.dirfd2);
		assert_int_equal(s.flags, t[i].want.flags);
		assert_int_equal(s.fixed, t[i].want.fixed);
		assert_true(s.path < 6);
		seen |= 1u << s.op;
	}
	/* every path op but the LSM's file_open and the read/write family
	 * (ward_fs_fd_syscall) comes from exactly one syscall */
	for (unsigned op = WARD_FS_OP_OPEN; op < WARD_FS_OP_MAX; op++)
		if (op != WARD_FS_OP_FILE_OPEN && op != WARD_FS_OP_FD_IO)
			assert_true(seen & (1u << op));
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		struct ward_fs_sysc s = { 0 };

		assert_int_equal(ward_fs_syscall(other[i], &s), 0);
	}
}

/* the key of a path as the kernel reads it: buffer and length from
 * bpf_probe_read_user_str */
static uint64_t key_of(const char *path, uint64_t salt, char fill)
{
	__u64 words[WARD_FS_PATH_MAX / 8];
	size_t n = strlen(path) + 1;

	memset(words, fill, sizeof(words));
	memcpy(words, path, n);
	return ward_fs_path_key(words, (long)n, salt);
}

static void test_path_key(void **state)
{
	char longer[WARD_FS_PATH_MAX];

	(void)state;
	/* bytes after the NUL (a previous, longer path) do not count */
	assert_true(key_of("/root/.aws/credentials", 7, 0) ==
		    key_of("/root/.aws/credentials", 7, 'x'));
	assert_true(key_of("/a", 7, 0) == key_of("/a", 7, '\xff'));
	/* every byte counts, the length too, and the salt */
	assert_true(key_of("/root/.aws/credentials", 7, 0) !=
		    key_of("/root/.aws/credentialt", 7, 0));
	assert_true(key_of("/root/.aws/credentials", 7, 0) !=
		    key_of("/root/.aws/credential", 7, 0));
	assert_true(key_of("/a", 7, 0) != key_of("/a/", 7, 0));
	assert_true(key_of("x", 1, 0) != key_of("x", 2, 0));
	assert_true(key_of("", 7, 0) != key_of("/", 7, 0));
	/* a word boundary: 8 and 9 bytes */
	assert_true(key_of("/1234567", 7, 0) != key_of("/12345678", 7, 0));
	/* the longest path the kernel reads */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(key_of(longer, 7, 0) == key_of(longer, 7, 'z'));
	longer[sizeof(longer) - 2] = 'b';
	assert_true(key_of(longer, 7, 0) != key_of(longer, 8, 0));
}

static int procfile(const char *name)
{
	char buf[16] = { 0 };

	strncpy(buf, name, sizeof(buf) - 1);
	return ward_fs_procfile(buf);
}

static void test_procfile(void **state)
{
	(void)state;
	assert_int_equal(procfile("mem"), WARD_FS_PROC_MEM);
	assert_int_equal(procfile("environ"), WARD_FS_PROC_ENVIRON);
	assert_int_equal(procfile("meminfo"), 0);
	assert_int_equal(procfile("me"), 0);
	assert_int_equal(procfile("environment"), 0);
	assert_int_equal(procfile("maps"), 0);
	assert_int_equal(procfile(""), 0);
}

/* the read/write family's descriptor argument, checked against the C
 * library's numbers (x86_64) and the i386 table */
static void test_fd_syscalls(void **state)
{
	(void)state;
#ifdef __x86_64__
	const long fd0[] = { SYS_read,	  SYS_write,	SYS_pread64, SYS_pwrite64,
			     SYS_readv,	  SYS_writev,	SYS_preadv,  SYS_pwritev,
			     SYS_preadv2, SYS_pwritev2, SYS_splice,  SYS_copy_file_range };

	for (size_t i = 0; i < sizeof(fd0) / sizeof(fd0[0]); i++)
		assert_int_equal(ward_fs_fd_syscall(fd0[i], 0), 0);
	assert_int_equal(ward_fs_fd_syscall(SYS_sendfile, 0), 1);
	assert_int_equal(ward_fs_fd_syscall(SYS_openat, 0), -1);
	assert_int_equal(ward_fs_fd_syscall(SYS_close, 0), -1);
	assert_int_equal(ward_fs_fd_syscall(SYS_lseek, 0), -1);
	assert_false(ward_fs_compat_open(SYS_openat));
#endif
	/* i386 (arch/x86/entry/syscalls/syscall_32.tbl) */
	assert_int_equal(ward_fs_fd_syscall(3, 1), 0);	 /* read */
	assert_int_equal(ward_fs_fd_syscall(180, 1), 0); /* pread64 */
	assert_int_equal(ward_fs_fd_syscall(187, 1), 1); /* sendfile */
	assert_int_equal(ward_fs_fd_syscall(6, 1), -1);	 /* close */
	assert_true(ward_fs_compat_open(5));		 /* open */
	assert_true(ward_fs_compat_open(295));		 /* openat */
	assert_false(ward_fs_compat_open(6));
	assert_true(ward_fs_is_open(WARD_FS_OP_OPENAT));
	assert_false(ward_fs_is_open(WARD_FS_OP_MKDIR));
	assert_int_equal(WARD_ENOENT, ENOENT);
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
		cmocka_unit_test(test_syscall_table),
		cmocka_unit_test(test_path_key),
		cmocka_unit_test(test_procfile),
		cmocka_unit_test(test_fd_syscalls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
