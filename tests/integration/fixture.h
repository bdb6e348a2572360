/* SPDX-License-Identifier: MIT */
/* What the C integration tests that spawn copies of themselves share: a
 * setup command that must work, a copy of an executable (a new inode, so a new
 * identity), and one forked child per case (check.h counts its checks). */
#pragma once

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Run a setup command; a failure ends the test (setup, not a check). */
/* Where a test's temporary directory goes: $WARD_TEST_TMPDIR when set (the
 * test guest sets it: tests/integration/tmpdir.sh says why), else dflt. */
static inline const char *test_tmpbase(const char *dflt)
{
	const char *e = getenv("WARD_TEST_TMPDIR");

	return e && *e ? e : dflt;
}

static inline __attribute__((format(printf, 1, 2))) void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "setup failed: %s\n", cmd);
		exit(1);
	}
}

static inline int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	struct stat st;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0)
		return -1;
	for (off_t off = 0; off < st.st_size; off += n) {
		n = sendfile(out, in, NULL, (size_t)(st.st_size - off));
		if (n <= 0)
			return -1;
	}
	close(in);
	close(out);
	return 0;
}

/* One case in a forked child: its checks, its events; a crash or a failed
 * check fails the case (returns 1), and the next case starts from the same
 * fixture. The child leaves with _exit(): the parent's atexit cleanup is not
 * its to run. */
static inline int run_case(const char *name, void (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		failures = passes = 0;
		fn();
		fprintf(stderr, "%s %s: %d checks, %d failed\n", failures ? "FAIL" : "ok", name,
			passes + failures, failures);
		fflush(NULL);
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return 1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (!WIFEXITED(st))
			fprintf(stderr, "FAIL %s: killed by signal %d\n", name, WTERMSIG(st));
		return 1;
	}
	return 0;
}
