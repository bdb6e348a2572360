/* SPDX-License-Identifier: MIT */
/* What the bench drivers share: n iterations of an operation timed in a
 * child that first joined a cgroup (so that cgroup's programs see it), the
 * nanoseconds per iteration sent back through a pipe; and the comparison for
 * medians. Header-only: each driver is one executable (CMakeLists.txt). */
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

/* one iteration; 0 when it went as expected */
typedef int (*bench_op_fn)(void *data);

/* ns per op(data) over n iterations in a child inside the cgroup at cg; -1
 * when the child failed (could not join, an iteration failed) */
static inline double bench_in_cgroup(const char *cg, int n, bench_op_fn op, void *data)
{
	int pfd[2];
	double ns = -1;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char path[PATH_MAX + 32], buf[32];
		uint64_t t0;
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		fd = open(path, O_WRONLY);
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(1);
		close(fd);
		t0 = ward_mono_ns();
		for (int i = 0; i < n; i++)
			if (op(data) != 0)
				_exit(2);
		ns = (double)(ward_mono_ns() - t0) / n;
		if (write(pfd[1], &ns, sizeof(ns)) != sizeof(ns))
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = -1;
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ns;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}
