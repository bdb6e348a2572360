/* SPDX-License-Identifier: MIT */
/* What the bench drivers share: n iterations of an operation timed in a
 * child that first joined a cgroup (so that cgroup's programs see it), the
 * nanoseconds per iteration sent back through a pipe; and the comparison for
 * medians. Header-only: each driver is one executable (CMakeLists.txt). */
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

/* the median of n sorted values */
static inline double bench_median(const double *v, int n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* user + system time of RUSAGE_SELF or RUSAGE_CHILDREN, in ns */
static inline uint64_t bench_cpu_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* one connect()+close() to the IPv4 address in data */
static inline int bench_connect_close_op(void *data)
{
	const struct sockaddr_in *sin = data;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* RST instead of TIME_WAIT: thousands of rounds, one address pair */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

/* ns per connect()+close() to addr:port, measured in a child inside the
 * cgroup at cg: wall clock returned, and in *ret_cpu the CPU time per call
 * (the child's, plus this process's threads meanwhile: acceptors, event
 * readers), which a loaded machine disturbs far less */
static inline double bench_connect_close(const char *cg, const char *addr, uint16_t port, int n,
					 double *ret_cpu)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	uint64_t self0 = bench_cpu_ns(RUSAGE_SELF), kids0 = bench_cpu_ns(RUSAGE_CHILDREN);
	double wall;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	wall = bench_in_cgroup(cg, n, bench_connect_close_op, &sin);
	*ret_cpu = (double)(bench_cpu_ns(RUSAGE_SELF) - self0 + bench_cpu_ns(RUSAGE_CHILDREN) -
			    kids0) /
		   n;
	return wall;
}
