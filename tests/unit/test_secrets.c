// SPDX-License-Identifier: MIT
/* The secret store: set/get/list/rm on a real directory, the file and
 * directory modes, bad names and values, atomic replacement, a rotation seen
 * by a second store object on the same directory at its next get, and that
 * no value ever reaches an error message. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/secrets.h"
#include "tmpdir.h"

#define VAL_A "tok-A-s3cret-0123456789"
#define VAL_B "tok-B-r0tated-9876543210"

struct fixture {
	char root[64];
	char dir[128];
	struct ward_secrets *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ward_error err = { 0 };

	if (!f || !ward_test_mkdtemp(f->root, sizeof(f->root), "secrets"))
		return -1;
	/* two levels that do not exist yet: open creates them */
	snprintf(f->dir, sizeof(f->dir), "%s/state/secrets", f->root);
	if (ward_secrets_open(f->dir, &f->s, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ward_secrets_unref(f->s);
	ward_test_rmtree(f->root);
	free(f);
	return 0;
}

static int get(struct ward_secrets *s, const char *name, char *buf, size_t len)
{
	return ward_secret_get(s, name, buf, len);
}

static void test_set_get_list_rm(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_secret_info *list = NULL;
	size_t n = 99;
	char buf[256];
	struct stat st;
	char path[256];

	assert_int_equal(get(f->s, "tok", buf, sizeof(buf)), -ENOENT);
	assert_false(ward_secret_exists(f->s, "tok"));
	assert_int_equal(ward_secret_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(list);

	assert_int_equal(ward_secret_set(f->s, "tok", VAL_A, strlen(VAL_A), &err), 0);
	assert_int_equal(ward_secret_set(f->s, "a.b-c_D9", "x", 1, &err), 0);
	assert_int_equal(get(f->s, "tok", buf, sizeof(buf)), (int)strlen(VAL_A));
	assert_string_equal(buf, VAL_A);
	assert_true(ward_secret_exists(f->s, "tok"));
	/* a buffer too small for the value and its NUL */
	assert_int_equal(get(f->s, "tok", buf, strlen(VAL_A)), -ENOBUFS);

	/* mode 0700 for the directory, 0600 for the file, owned by us */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	snprintf(path, sizeof(path), "%s/tok", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());

	assert_int_equal(ward_secret_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "a.b-c_D9");
	assert_string_equal(list[1].name, "tok");
	assert_int_equal(list[1].set_ns,
			 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	free(list);

	assert_int_equal(ward_secret_rm(f->s, "tok", &err), 0);
	assert_int_equal(get(f->s, "tok", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(ward_secret_rm(f->s, "tok", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "'tok' is not set"));
	assert_int_equal(ward_secret_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	free(list);
}

static void test_bad_names_and_values(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	char name[WARD_SECRET_NAME_MAX + 2];
	char buf[64];
	char *big;

	static const char *const bad[] = { "", ".", "..", "a/b", "a b", "tok\n", "#tmp.x", "é" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_false(ward_secret_name_valid(bad[i]));
		assert_int_equal(ward_secret_set(f->s, bad[i], "v", 1, &err), -EINVAL);
		assert_int_equal(ward_secret_get(f->s, bad[i], buf, sizeof(buf)), -EINVAL);
	}
	memset(name, 'n', sizeof(name));
	name[WARD_SECRET_NAME_MAX] = '\0';
	assert_true(ward_secret_name_valid(name));
	name[WARD_SECRET_NAME_MAX] = 'n';
	name[WARD_SECRET_NAME_MAX + 1] = '\0';
	assert_false(ward_secret_name_valid(name));
	assert_true(ward_secret_name_valid("..."));

	/* NUL inside, empty, over 64 KiB: refused, and the message has no value */
	assert_int_equal(ward_secret_set(f->s, "nul", VAL_A "\0x", sizeof(VAL_A) + 1, &err),
			 -EINVAL);
	assert_null(strstr(err.msg, VAL_A));
	assert_non_null(strstr(err.msg, "'nul'"));
	assert_int_equal(ward_secret_set(f->s, "empty", "", 0, &err), -EINVAL);
	big = malloc(WARD_SECRET_VALUE_MAX + 1);
	assert_non_null(big);
	memset(big, 'v', WARD_SECRET_VALUE_MAX + 1);
	assert_int_equal(ward_secret_set(f->s, "big", big, WARD_SECRET_VALUE_MAX + 1, &err),
			 -E2BIG);
	assert_null(strstr(err.msg, "vvvv"));
	/* exactly 64 KiB is fine, with any byte but NUL */
	for (size_t i = 0; i < WARD_SECRET_VALUE_MAX; i++)
		big[i] = (char)(1 + i % 255);
	assert_int_equal(ward_secret_set(f->s, "big", big, WARD_SECRET_VALUE_MAX, &err), 0);
	{
		char *out = malloc(WARD_SECRET_VALUE_MAX + 1);

		assert_int_equal(ward_secret_get(f->s, "big", out, WARD_SECRET_VALUE_MAX + 1),
				 (int)WARD_SECRET_VALUE_MAX);
		assert_memory_equal(out, big, WARD_SECRET_VALUE_MAX);
		free(out);
	}
	free(big);
}

/* A second store object (another process's view) on the same directory sees
 * every rotation at its very next get, including one right after another. */
static void test_rotation_seen_by_other_store(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_secrets *reader = NULL;
	char buf[256], val[64];

	assert_int_equal(ward_secrets_open(f->dir, &reader, &err), 0);
	assert_int_equal(ward_secret_set(f->s, "tok", VAL_A, strlen(VAL_A), &err), 0);
	assert_int_equal(get(reader, "tok", buf, sizeof(buf)), (int)strlen(VAL_A));
	assert_string_equal(buf, VAL_A);
	/* cached now; the writer replaces the file */
	assert_int_equal(ward_secret_set(f->s, "tok", VAL_B, strlen(VAL_B), &err), 0);
	assert_int_equal(get(reader, "tok", buf, sizeof(buf)), (int)strlen(VAL_B));
	assert_string_equal(buf, VAL_B);
	for (int i = 0; i < 200; i++) {
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(ward_secret_set(f->s, "tok", val, strlen(val), &err), 0);
		assert_int_equal(get(reader, "tok", buf, sizeof(buf)), (int)strlen(val));
		assert_string_equal(buf, val);
	}
	/* removed elsewhere: gone at the next get */
	assert_int_equal(ward_secret_rm(f->s, "tok", &err), 0);
	assert_int_equal(get(reader, "tok", buf, sizeof(buf)), -ENOENT);
	/* written by any tool that follows the protocol (tmp + rename) */
	{
		char tmp[256], dst[256];
		int fd;

		snprintf(tmp, sizeof(tmp), "%s/#tmp.outside", f->dir);
		snprintf(dst, sizeof(dst), "%s/tok", f->dir);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, VAL_A, strlen(VAL_A)), (ssize_t)strlen(VAL_A));
		close(fd);
		assert_int_equal(rename(tmp, dst), 0);
	}
	assert_int_equal(get(reader, "tok", buf, sizeof(buf)), (int)strlen(VAL_A));
	assert_string_equal(buf, VAL_A);
	ward_secrets_unref(reader);
}

/* Replacement is atomic: a reader never sees a partial or empty value
 * between the two versions (a child rotates while the parent reads). */
static void test_atomic_replace(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_secrets *reader = NULL;
	char a[4096], b[4096], buf[8192];
	pid_t pid;
	int status, seen_a = 0, seen_b = 0;

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memset(b, 'b', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	assert_int_equal(ward_secret_set(f->s, "tok", a, strlen(a), &err), 0);
	assert_int_equal(ward_secrets_open(f->dir, &reader, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 300; i++)
			if (ward_secret_set(f->s, "tok", i % 2 ? a : b, 4095, &err) < 0)
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < 3000; i++) {
		int n = get(reader, "tok", buf, sizeof(buf));

		assert_int_equal(n, 4095);
		assert_true(!strcmp(buf, a) || !strcmp(buf, b));
		seen_a += buf[0] == 'a';
		seen_b += buf[0] == 'b';
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(seen_a > 0);
	/* no temporary file is left, and list never shows one */
	{
		struct ward_secret_info *list = NULL;
		size_t n = 0;

		assert_int_equal(ward_secret_list(f->s, &list, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_string_equal(list[0].name, "tok");
		free(list);
	}
	ward_secrets_unref(reader);
}

/* A directory others may enter or a file others may read is refused. */
static void test_permissions_enforced(void **state)
{
	struct fixture *f = *state;
	struct ward_error err = { 0 };
	struct ward_secrets *s2 = NULL;
	char path[256], buf[64];

	assert_int_equal(ward_secret_set(f->s, "tok", VAL_A, strlen(VAL_A), &err), 0);
	snprintf(path, sizeof(path), "%s/tok", f->dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(get(f->s, "tok", buf, sizeof(buf)), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(get(f->s, "tok", buf, sizeof(buf)), (int)strlen(VAL_A));

	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(ward_secrets_open(f->dir, &s2, &err), -EPERM);
	assert_non_null(strstr(err.msg, "mode 0755"));
	assert_null(strstr(err.msg, VAL_A));
	assert_int_equal(chmod(f->dir, 0700), 0);

	/* a symlink in place of a secret is not followed */
	snprintf(path, sizeof(path), "%s/link", f->dir);
	assert_int_equal(symlink("tok", path), 0);
	assert_int_equal(get(f->s, "link", buf, sizeof(buf)), -EPERM);
}

/* WARD_STATE picks the default directory. */
static void test_default_dir(void **state)
{
	struct fixture *f = *state;
	char buf[256], want[256];
	struct ward_secrets *s = NULL;
	struct ward_error err = { 0 };

	setenv("WARD_STATE", f->root, 1);
	assert_int_equal(ward_secrets_default_dir(buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/secrets", f->root);
	assert_string_equal(buf, want);
	assert_int_equal(ward_secrets_open(NULL, &s, &err), 0);
	assert_string_equal(ward_secrets_dir(s), want);
	{
		/* the default store is shared within the process */
		struct ward_secrets *s2 = NULL;

		assert_int_equal(ward_secrets_open(NULL, &s2, &err), 0);
		assert_ptr_equal(s2, s);
		ward_secrets_unref(s2);
	}
	ward_secrets_unref(s);
	s = NULL;
	if (geteuid() == 0) {
		assert_int_equal(ward_secrets_open_local(&s, &err), 0);
		assert_string_equal(ward_secrets_dir(s), want);
		ward_secrets_unref(s);
	} else {
		assert_int_equal(ward_secrets_open_local(&s, &err), -EPERM);
		assert_null(s);
	}
	unsetenv("WARD_STATE");
	assert_int_equal(ward_secrets_default_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/ward/secrets");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_list_rm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_seen_by_other_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permissions_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
