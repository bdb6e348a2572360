// SPDX-License-Identifier: MIT
/* Hidden paths (src/enforcer/fs_hidden.c): lexical normalisation, whether
 * the mount plan shows a path (binds, ward's files, /proc; the root tmpfs,
 * private /tmp and /dev do not; the plan's symlinks followed), and the
 * verdict against a real host directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "enforcer/fs_hidden.h"
#include "tmpdir.h"

static void norm_is(const char *in, const char *want)
{
	char out[PATH_MAX];

	assert_int_equal(ward_fs_path_normalize(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
	char small[8];

	(void)state;
	norm_is("/", "/");
	norm_is("//", "/");
	norm_is("/a/b", "/a/b");
	norm_is("/a//b/", "/a/b");
	norm_is("/a/./b/.", "/a/b");
	norm_is("/a/b/../c", "/a/c");
	norm_is("/a/b/../../..", "/");
	norm_is("/../../etc/passwd", "/etc/passwd");
	norm_is("/home/u/wd/../../u/.ssh/id", "/home/u/.ssh/id");
	norm_is("/a/..b/.c", "/a/..b/.c");
	assert_int_equal(ward_fs_path_normalize("a/b", small, sizeof(small)), -EINVAL);
	assert_int_equal(ward_fs_path_normalize("/abcdefgh", small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(ward_fs_path_normalize("/abcdef", small, sizeof(small)), 0);
}

/* a plan like ward_mount_plan_build makes for a workdir and /usr */
static struct ward_mount plan_v[] = {
	{ .path = "/usr", .kind = WARD_MNT_BIND },
	{ .path = "/lib", .kind = WARD_MNT_SYMLINK, .target = "usr/lib" },
	{ .path = "/lib64", .kind = WARD_MNT_SYMLINK, .target = "/usr/lib64" },
	{ .path = "/home/u/wd", .kind = WARD_MNT_BIND },
	{ .path = "/home/u/wd/.env", .kind = WARD_MNT_FILE },
	{ .path = "/etc/resolv.conf", .kind = WARD_MNT_FILE },
	{ .path = "/proc", .kind = WARD_MNT_PROC },
	{ .path = "/dev", .kind = WARD_MNT_DEV },
	{ .path = "/tmp", .kind = WARD_MNT_TMPFS },
	{ .path = "/loop", .kind = WARD_MNT_SYMLINK, .target = "/loop" },
};

static void test_in_plan(void **state)
{
	struct ward_mount_plan plan = { .v = plan_v, .n = sizeof(plan_v) / sizeof(plan_v[0]) };
	struct ward_fs_hidden *h;

	(void)state;
	assert_int_equal(ward_fs_hidden_new(&plan, &h), 0);
	/* under a bind: the host's own content */
	assert_true(ward_fs_hidden_in_plan(h, "/usr/lib/x86_64-linux-gnu/tls/libc.so.6"));
	assert_true(ward_fs_hidden_in_plan(h, "/usr"));
	assert_true(ward_fs_hidden_in_plan(h, "/home/u/wd/missing"));
	assert_true(ward_fs_hidden_in_plan(h, "/etc/resolv.conf"));
	assert_true(ward_fs_hidden_in_plan(h, "/proc/4242/status"));
	/* the plan's symlinks, relative and absolute */
	assert_true(ward_fs_hidden_in_plan(h, "/lib/x86_64-linux-gnu/libm.so.6"));
	assert_true(ward_fs_hidden_in_plan(h, "/lib64/ld-linux-x86-64.so.2"));
	/* a prefix is not a parent */
	assert_false(ward_fs_hidden_in_plan(h, "/usrx/lib"));
	assert_false(ward_fs_hidden_in_plan(h, "/home/u/wdx"));
	assert_false(ward_fs_hidden_in_plan(h, "/libx"));
	/* the root tmpfs between mount points */
	assert_false(ward_fs_hidden_in_plan(h, "/home/u/.ssh/id_ed25519"));
	assert_false(ward_fs_hidden_in_plan(h, "/root/.aws/credentials"));
	assert_false(ward_fs_hidden_in_plan(h, "/etc/passwd"));
	assert_false(ward_fs_hidden_in_plan(h, "/"));
	/* private: the host's /tmp and /dev are hidden */
	assert_false(ward_fs_hidden_in_plan(h, "/tmp/.X11-unix/X0"));
	assert_false(ward_fs_hidden_in_plan(h, "/dev/nvme0n1"));
	/* a loop of the plan's links ends, outside */
	assert_false(ward_fs_hidden_in_plan(h, "/loop/x"));
	ward_fs_hidden_free(h);

	/* no plan: nothing inside */
	assert_int_equal(ward_fs_hidden_new(NULL, &h), 0);
	assert_false(ward_fs_hidden_in_plan(h, "/usr/bin/true"));
	ward_fs_hidden_free(h);
}

static void test_check_host(void **state)
{
	char dir[64], path[PATH_MAX], wd[PATH_MAX], target[PATH_MAX], got[PATH_MAX];
	struct ward_mount v[1];
	struct ward_mount_plan plan = { .v = v, .n = 1 };
	struct ward_fs_hidden *h;
	int fd;

	(void)state;
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "fs-hidden"));
	snprintf(wd, sizeof(wd), "%s/wd", dir);
	assert_int_equal(mkdir(wd, 0755), 0);
	snprintf(path, sizeof(path), "%s/secret", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	v[0] = (struct ward_mount){ .path = wd, .kind = WARD_MNT_BIND };
	assert_int_equal(ward_fs_hidden_new(&plan, &h), 0);

	/* on the host, outside the plan: hidden, however it was spelled */
	assert_int_equal(ward_fs_hidden_check(h, path, false, NULL, 0), WARD_FS_MISSING_HIDDEN);
	snprintf(path, sizeof(path), "%s/wd/../secret", dir);
	assert_int_equal(ward_fs_hidden_check(h, path, false, NULL, 0), WARD_FS_MISSING_HIDDEN);
	/* nowhere */
	snprintf(path, sizeof(path), "%s/nothing", dir);
	assert_int_equal(ward_fs_hidden_check(h, path, false, NULL, 0), WARD_FS_MISSING_QUIET);
	/* created in a directory the host has and the plan hides */
	assert_int_equal(ward_fs_hidden_check(h, path, true, NULL, 0), WARD_FS_MISSING_HIDDEN);
	snprintf(path, sizeof(path), "%s/nodir/new", dir);
	assert_int_equal(ward_fs_hidden_check(h, path, true, NULL, 0), WARD_FS_MISSING_QUIET);
	/* under the bind: the host has it neither (or the sandbox would) */
	snprintf(path, sizeof(path), "%s/wd/missing", dir);
	assert_int_equal(ward_fs_hidden_check(h, path, false, NULL, 0), WARD_FS_MISSING_QUIET);
	assert_int_equal(ward_fs_hidden_check(h, path, true, NULL, 0), WARD_FS_MISSING_QUIET);
	/* the bind's own directory exists on the host, but is in the plan */
	assert_int_equal(ward_fs_hidden_check(h, wd, false, NULL, 0), WARD_FS_MISSING_QUIET);
	assert_int_equal(ward_fs_hidden_check(h, "relative", false, NULL, 0),
			 WARD_FS_MISSING_QUIET);
	/* the loader's cache: opened at every exec, never a row (when the host
	 * has it: it is outside this plan) */
	if (access("/etc/ld.so.cache", F_OK) == 0) {
		assert_int_equal(ward_fs_hidden_check(h, "/etc/ld.so.cache", false, NULL, 0),
				 WARD_FS_MISSING_QUIET);
		assert_int_equal(ward_fs_hidden_check(h, "/etc/../etc/ld.so.cache", false, NULL, 0),
				 WARD_FS_MISSING_QUIET);
	}
	if (access("/etc/hostname", F_OK) == 0)
		assert_int_equal(ward_fs_hidden_check(h, "/etc/hostname", false, NULL, 0),
				 WARD_FS_MISSING_HIDDEN);
	/* in a mapped directory, a host symlink to a place the plan hides */
	snprintf(path, sizeof(path), "%s/wd/link", dir);
	snprintf(target, sizeof(target), "%s/secret", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(ward_fs_hidden_check(h, path, false, got, sizeof(got)),
			 WARD_FS_MISSING_HIDDEN);
	assert_string_equal(got, target);
	/* ... and to a place it shows, or to nothing */
	snprintf(path, sizeof(path), "%s/wd/inside", dir);
	assert_int_equal(symlink(wd, path), 0);
	assert_int_equal(ward_fs_hidden_check(h, path, false, got, sizeof(got)),
			 WARD_FS_MISSING_QUIET);
	assert_string_equal(got, "");
	snprintf(path, sizeof(path), "%s/wd/dangling", dir);
	assert_int_equal(symlink("/nonexistent/ward", path), 0);
	assert_int_equal(ward_fs_hidden_check(h, path, false, got, sizeof(got)),
			 WARD_FS_MISSING_QUIET);
	ward_fs_hidden_free(h);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_in_plan),
		cmocka_unit_test(test_check_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
