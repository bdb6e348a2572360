// SPDX-License-Identifier: MIT
/* The cost of ward_secret_get on the request path: a cached value (one
 * non-blocking read of the inotify descriptor, the check for a rotation)
 * against reading the file every time, and the first get after a rotation.
 * Median of ROUNDS interleaved rounds of N gets each, in a temporary store.
 * Usage: secret_bench [N] [ROUNDS]. Prints ns per get. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/secrets.h"

#define MAX_ROUNDS 101

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* What a get without the cache would cost at least: open + read + close. */
static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	return (int)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	int rounds = argc > 2 ? atoi(argv[2]) : 21;
	double cached[MAX_ROUNDS], uncached[MAX_ROUNDS], rotated[MAX_ROUNDS];
	char root[] = "/tmp/ward-secret-bench-XXXXXX", dir[64], path[96], buf[256];
	struct ward_error err = { 0 };
	struct ward_secrets *w = NULL, *r = NULL;
	const char *v = "sk-bench-0123456789abcdef0123456789abcdef";
	uint64_t t;

	if (n < 1 || n > 10000000 || rounds < 1 || rounds > MAX_ROUNDS || !mkdtemp(root))
		return 2;
	snprintf(dir, sizeof(dir), "%s/secrets", root);
	snprintf(path, sizeof(path), "%s/tok", dir);
	if (ward_secrets_open(dir, &w, &err) < 0 || ward_secrets_open(dir, &r, &err) < 0 ||
	    ward_secret_set(w, "tok", v, strlen(v), &err) < 0) {
		fprintf(stderr, "secret_bench: %s\n", err.msg);
		return 1;
	}
	for (int k = 0; k < rounds; k++) {
		t = now_ns();
		for (long i = 0; i < n; i++)
			if (ward_secret_get(r, "tok", buf, sizeof(buf)) < 0)
				return 1;
		cached[k] = (double)(now_ns() - t) / (double)n;
		t = now_ns();
		for (long i = 0; i < n; i++)
			if (read_file(path, buf, sizeof(buf)) < 0)
				return 1;
		uncached[k] = (double)(now_ns() - t) / (double)n;
		/* rotation: the first get after a set re-reads the file */
		t = 0;
		for (long i = 0; i < 200; i++) {
			uint64_t t0;

			if (ward_secret_set(w, "tok", i % 2 ? v : "sk-other", i % 2 ? strlen(v) : 8,
					    &err) < 0)
				return 1;
			t0 = now_ns();
			if (ward_secret_get(r, "tok", buf, sizeof(buf)) < 0)
				return 1;
			t += now_ns() - t0;
		}
		rotated[k] = (double)t / 200.0;
	}
	qsort(cached, (size_t)rounds, sizeof(double), cmp);
	qsort(uncached, (size_t)rounds, sizeof(double), cmp);
	qsort(rotated, (size_t)rounds, sizeof(double), cmp);
	printf("secret get, cached (inotify check): %.0f ns\n", cached[rounds / 2]);
	printf("file read per get (open+read+close) : %.0f ns\n", uncached[rounds / 2]);
	printf("first get after a rotation:         %.0f ns\n", rotated[rounds / 2]);
	printf("(median of %d rounds of %ld gets)\n", rounds, n);
	ward_secrets_unref(r);
	ward_secrets_unref(w);
	unlink(path);
	rmdir(dir);
	rmdir(root);
	return 0;
}
