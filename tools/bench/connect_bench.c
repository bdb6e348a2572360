// SPDX-License-Identifier: MIT
/* connect()+close() cost inside a sandbox-like setup (own netns, own cgroup),
 * without and with bpf/egress.bpf.c attached, interleaved rounds, one run.
 * Built and run by tools/bench/connect.sh. The client is this executable,
 * which the policy names, so every connect() takes the full allowed path:
 * identity lookup, cookie record, sock_ops peer record, ring buffer event. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_child.h"
#include "common/util.h"
#include "enforcer/egress.h"

#define PORT 3128
#define ROUNDS 6

static volatile int stop;
static struct ward_egress *eg;

static void *acceptor(void *p)
{
	int lfd = *(int *)p;

	while (!stop) {
		int fd = accept(lfd, NULL, NULL);

		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void *reader(void *p)
{
	while (!stop)
		ward_egress_poll(eg, 100);
	return NULL;
}

/* one connect()+close() to the proxy port */
static int connect_close(void *data)
{
	const struct sockaddr_in *sin = data;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		return -1;
	/* RST instead of TIME_WAIT: thousands of rounds, one address pair */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

/* ns per connect()+close(), measured in a child inside the cgroup */
static double measure(const char *cg, int n)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };

	inet_pton(AF_INET, "10.77.0.1", &sin.sin_addr);
	return bench_in_cgroup(cg, n, connect_close, &sin);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	char self[PATH_MAX], cg2[256] = "", cg[PATH_MAX], line[4096];
	double off[ROUNDS], on[ROUNDS];
	struct ward_error err = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct ward_egress_prog_info info[8];
	pthread_t acc, rd;
	ssize_t len;
	FILE *f;
	int lfd, cgfd, one = 1, k;

	if (n <= 0 || n > 200000)
		n = 5000;
	if (unshare(CLONE_NEWNET) < 0 || system("ip link set lo up && ip addr add 10.77.0.1/32 dev lo"))
		return fprintf(stderr, "netns setup failed\n"), 1;
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %*s %255s", cg2) == 1)
			break;
	if (f)
		fclose(f);
	if (!cg2[0])
		return fprintf(stderr, "no cgroup2 mount\n"), 1;
	snprintf(cg, sizeof(cg), "%s/ward-bench-connect-%d", cg2, getpid());
	if (mkdir(cg, 0755) < 0 || (cgfd = open(cg, O_RDONLY | O_DIRECTORY)) < 0)
		return fprintf(stderr, "cgroup %s: %m\n", cg), 1;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[len > 0 ? len : 0] = '\0';
	uint16_t ports[] = { 443 };
	struct ward_endpoint ep = { .host = "bench.test", .ports = ports, .n_ports = 1 };
	struct ward_binary b = { .path = self };
	struct ward_net_policy np = { .key = "bench", .binaries = &b, .n_binaries = 1,
				      .endpoints = &ep, .n_endpoints = 1 };
	struct ward_policy pol = { .net = &np, .n_net = 1 };
	struct ward_egress_config cfg = { .explicit_port = PORT, .transparent_port = PORT + 1,
					  .dns_port = 53 };
	inet_pton(AF_INET, "10.77.0.1", &cfg.proxy4);
	inet_pton(AF_INET, "10.77.0.1", &cfg.dns4);
	if (ward_egress_new(&pol, &cfg, &eg, &err) < 0)
		return fprintf(stderr, "load: %s\n", err.msg), 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, "10.77.0.1", &sin.sin_addr);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0)
		return fprintf(stderr, "listen: %m\n"), 1;
	pthread_create(&acc, NULL, acceptor, &lfd);
	pthread_create(&rd, NULL, reader, NULL);

	measure(cg, n / 5); /* warm up */
	for (k = 0; k < ROUNDS; k++) {
		off[k] = measure(cg, n);
		if (ward_egress_attach(eg, cgfd, &err) < 0)
			return fprintf(stderr, "attach: %s\n", err.msg), 1;
		on[k] = measure(cg, n);
		ward_egress_detach(eg);
	}
	qsort(off, ROUNDS, sizeof(double), bench_cmp_double);
	qsort(on, ROUNDS, sizeof(double), bench_cmp_double);
	printf("connect+close, %d per round, %d rounds, median ns per call:\n", n, ROUNDS);
	printf("  without programs: %.0f ns\n", (off[ROUNDS / 2 - 1] + off[ROUNDS / 2]) / 2);
	printf("  with programs:    %.0f ns\n", (on[ROUNDS / 2 - 1] + on[ROUNDS / 2]) / 2);
	printf("  ratio:            %.3f (target <= 1.10)\n",
	       (on[ROUNDS / 2 - 1] + on[ROUNDS / 2]) / (off[ROUNDS / 2 - 1] + off[ROUNDS / 2]));
	printf("  events dropped:   %llu\n", (unsigned long long)ward_egress_dropped(eg));
	k = ward_egress_prog_info(eg, info, 8);
	printf("verifier, per program (verified insns / xlated insns / jited bytes):\n");
	for (int i = 0; i < k; i++)
		printf("  %-14s %6u %6u %6u\n", info[i].name, info[i].verified_insns,
		       info[i].xlated_insns, info[i].jited_bytes);
	stop = 1;
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(rd, NULL);
	ward_egress_free(eg);
	close(cgfd);
	rmdir(cg);
	return 0;
}
