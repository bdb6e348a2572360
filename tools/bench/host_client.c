// SPDX-License-Identifier: MIT
/* The client and upstream of tools/bench/host.sh (ward host mode vs no
 * enforcement vs OpenSnitch). One executable, so that "the allowed binary",
 * "a copy of it" and "an allowed process that execs a denied binary" are the
 * same code at different paths/inodes. Every loop is bounded in count and time.
 *
 *   host_client listen IP PORT SECS        TCP accept+close and UDP receive
 *                                          (datagrams counted into FILE $HOST_CLIENT_UDPLOG)
 *   host_client lat IP PORT N              N x connect()+close():
 *                                          "p50_ns p99_ns ok fail cpu_ns_per_call"
 *   host_client once IP PORT [TIMEOUT_MS]  one connect(): "ok" (exit 0) or the errno/timeout
 *   host_client udp IP PORT                one datagram, then exit (short-lived sender)
 *   host_client burst IP PORT N            N non-blocking connects, closed at once:
 *                                          "eperm EPERM inprogress IN other OTHER"
 *   host_client poll IP PORT MS            connect every ms (20 ms each) until one works
 *                                          or MS pass: "ok AFTER_MS" or "never"
 *   host_client execconn EXE IP PORT       connect (allowed) then exec EXE once IP PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int addr(const char *ip, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -EINVAL;
}

/* connect with a timeout: 0, -errno, or -ETIMEDOUT */
static int connect_to(const struct sockaddr_in *sin, int timeout_ms)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r, e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sin, sizeof(*sin));
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	if (r < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		r = poll(&p, 1, timeout_ms);
		if (r == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
		if (e) {
			close(fd);
			return -e;
		}
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int do_listen(const struct sockaddr_in *sin, int secs)
{
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	const char *log = getenv("HOST_CLIENT_UDPLOG");
	uint64_t end = now_ns() + (uint64_t)secs * 1000000000ull;
	long udp = 0;

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)sin, sizeof(*sin)) < 0 || listen(lfd, 4096) < 0 ||
	    bind(ufd, (const struct sockaddr *)sin, sizeof(*sin)) < 0) {
		perror("host_client listen");
		return 1;
	}
	while (now_ns() < end) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = ufd, .events = POLLIN } };
		char b[64];
		int fd;

		if (poll(p, 2, 200) <= 0)
			continue;
		while ((fd = accept(lfd, NULL, NULL)) >= 0)
			close(fd);
		while (recv(ufd, b, sizeof(b), 0) >= 0) {
			FILE *f = log ? fopen(log, "w") : NULL;

			udp++;
			if (f) {
				fprintf(f, "%ld\n", udp);
				fclose(f);
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin;

	if (argc == 5 && !strcmp(argv[1], "execconn"))
		goto execconn;
	if (argc < 4 || addr(argv[2], argv[3], &sin) < 0) {
		fprintf(stderr, "usage: see tools/bench/host_client.c\n");
		return 2;
	}
	if (!strcmp(argv[1], "listen") && argc == 5)
		return do_listen(&sin, atoi(argv[4]));
	if (!strcmp(argv[1], "lat") && argc == 5) {
		long n = atol(argv[4]), ok = 0, fail = 0;
		uint64_t *t = calloc((size_t)n, sizeof(*t));
		struct rusage ru0, ru;

		if (!t || n < 1)
			return 2;
		getrusage(RUSAGE_SELF, &ru0); /* the loop's CPU only, not exec's */
		for (long i = 0; i < n; i++) {
			uint64_t t0 = now_ns();
			int r = connect_to(&sin, 5000);

			t[ok] = now_ns() - t0;
			if (r == 0)
				ok++;
			else
				fail++;
		}
		getrusage(RUSAGE_SELF, &ru);
		qsort(t, (size_t)ok, sizeof(*t), cmp_u64);
		printf("%llu %llu %ld %ld %.0f\n", ok ? (unsigned long long)t[ok / 2] : 0ull,
		       ok ? (unsigned long long)t[ok * 99 / 100] : 0ull, ok, fail,
		       ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec - ru0.ru_utime.tv_sec -
				 ru0.ru_stime.tv_sec) *
				1e9 +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec - ru0.ru_utime.tv_usec -
				 ru0.ru_stime.tv_usec) *
				1e3) /
			       (double)n);
		return ok ? 0 : 1;
	}
	if (!strcmp(argv[1], "once")) {
		int r = connect_to(&sin, argc > 4 ? atoi(argv[4]) : 2000);

		printf("%s\n", r == 0 ? "ok" : r == -ETIMEDOUT ? "timeout" : strerror(-r));
		return r == 0 ? 0 : 1;
	}
	if (!strcmp(argv[1], "udp")) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		ssize_t r = sendto(fd, "x", 1, 0, (const struct sockaddr *)&sin, sizeof(sin));

		printf("%s\n", r == 1 ? "sent" : strerror(errno));
		return r == 1 ? 0 : 1;
	}
	if (!strcmp(argv[1], "burst") && argc == 5) {
		long n = atol(argv[4]), eperm = 0, inprog = 0, other = 0;

		for (long i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

			if (fd < 0) {
				other++;
				continue;
			}
			if (connect(fd, (const struct sockaddr *)&sin, sizeof(sin)) == 0)
				other++;
			else if (errno == EPERM)
				eperm++;
			else if (errno == EINPROGRESS)
				inprog++;
			else
				other++;
			close(fd);
		}
		printf("eperm %ld inprogress %ld other %ld\n", eperm, inprog, other);
		return 0;
	}
	if (!strcmp(argv[1], "poll") && argc == 5) {
		uint64_t t0 = now_ns(), lim = (uint64_t)atol(argv[4]) * 1000000ull;

		while (now_ns() - t0 < lim) {
			if (connect_to(&sin, 20) == 0) {
				printf("ok %.1f\n", (double)(now_ns() - t0) / 1e6);
				return 0;
			}
			usleep(1000);
		}
		printf("never\n");
		return 1;
	}
	fprintf(stderr, "usage: see tools/bench/host_client.c\n");
	return 2;
execconn : {
	if (addr(argv[3], argv[4], &sin) < 0)
		return 2;
	if (connect_to(&sin, 2000) != 0) {
		printf("allowed connect failed\n");
		return 1;
	}
	execl(argv[2], argv[2], "once", argv[3], argv[4], (char *)NULL);
	perror("exec");
	return 1;
}
}
