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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bench_child.h"
#include "common/util.h"
#include "enforcer/egress.h"

#define PORT 3128
#define MAX_ROUNDS 64

static volatile int stop;
static struct ward_egress *eg;
static char cg_made[PATH_MAX]; /* removed at exit, also after a failure */

static void remove_cgroup(void)
{
	if (cg_made[0])
		rmdir(cg_made);
}

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

static double measure(const char *cg, int n, double *ret_cpu)
{
	return bench_connect_close(cg, "10.77.0.1", PORT, n, ret_cpu);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	char self[PATH_MAX], cg2[256] = "", cg[PATH_MAX], line[4096];
	double off[MAX_ROUNDS], on[MAX_ROUNDS], ratio[MAX_ROUNDS];
	double cpu_off[MAX_ROUNDS], cpu_on[MAX_ROUNDS], cpu_ratio[MAX_ROUNDS];
	const char *rounds_env = getenv("WARD_BENCH_ROUNDS");
	int rounds = rounds_env ? atoi(rounds_env) : 15;
	struct ward_error err = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct ward_egress_prog_info info[8];
	pthread_t acc, rd;
	ssize_t len;
	FILE *f;
	int lfd, cgfd, one = 1, k, stats_fd = -1;

	if (n <= 0 || n > 200000)
		n = 5000;
	if (rounds < 2 || rounds > MAX_ROUNDS)
		rounds = 15;
	if (unshare(CLONE_NEWNET) < 0 ||
	    system("ip link set lo up && ip addr add 10.77.0.1/32 dev lo"))
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
	if (mkdir(cg, 0755) < 0)
		return fprintf(stderr, "cgroup %s: %m\n", cg), 1;
	snprintf(cg_made, sizeof(cg_made), "%s", cg);
	atexit(remove_cgroup);
	if ((cgfd = open(cg, O_RDONLY | O_DIRECTORY)) < 0)
		return fprintf(stderr, "cgroup %s: %m\n", cg), 1;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[len > 0 ? len : 0] = '\0';
	uint16_t ports[] = { 443 };
	struct ward_endpoint ep = { .host = "bench.test", .ports = ports, .n_ports = 1 };
	struct ward_binary b = { .path = self };
	struct ward_net_policy np = {
		.key = "bench", .binaries = &b, .n_binaries = 1, .endpoints = &ep, .n_endpoints = 1
	};
	struct ward_policy pol = { .net = &np, .n_net = 1 };
	struct ward_egress_config cfg = { .explicit_port = PORT,
					  .transparent_port = PORT + 1,
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

	/* WARD_BENCH_STATS=1: the kernel times every program run while this
	 * fd is open (all programs on the host: a few percent for them) */
	if (getenv("WARD_BENCH_STATS") && (stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0)
		fprintf(stderr, "bpf_enable_stats: %s\n", strerror(-stats_fd));
	measure(cg, n / 5, &cpu_on[0]); /* warm up */
	/* rounds interleaved, the order alternating (drift of a loaded machine
	 * hits both sides alike); each round's ratio is paired */
	for (k = 0; k < rounds; k++) {
		for (int side = 0; side < 2; side++) {
			bool with = (side == 1) == (k % 2 == 0);

			if (with && ward_egress_attach(eg, cgfd, &err) < 0)
				return fprintf(stderr, "attach: %s\n", err.msg), 1;
			(with ? on : off)[k] = measure(cg, n, &(with ? cpu_on : cpu_off)[k]);
			if (with)
				ward_egress_detach(eg);
		}
		ratio[k] = on[k] / off[k];
		cpu_ratio[k] = cpu_on[k] / cpu_off[k];
	}
	qsort(off, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(on, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(ratio, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(cpu_off, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(cpu_on, (size_t)rounds, sizeof(double), bench_cmp_double);
	qsort(cpu_ratio, (size_t)rounds, sizeof(double), bench_cmp_double);
	printf("connect+close, %d per round, %d rounds, median ns per call:\n", n, rounds);
	printf("  without programs: %.0f ns\n", bench_median(off, rounds));
	printf("  with programs:    %.0f ns\n", bench_median(on, rounds));
	printf("  ratio:            %.3f of the medians, %.3f median of the rounds' ratios"
	       " (target <= 1.05)\n",
	       bench_median(on, rounds) / bench_median(off, rounds), bench_median(ratio, rounds));
	printf("CPU time per call (the child, the acceptor and the event reader), median:\n");
	printf("  without programs: %.0f ns\n", bench_median(cpu_off, rounds));
	printf("  with programs:    %.0f ns\n", bench_median(cpu_on, rounds));
	printf("  ratio:            %.3f of the medians, %.3f median of the rounds' ratios\n",
	       bench_median(cpu_on, rounds) / bench_median(cpu_off, rounds), bench_median(cpu_ratio, rounds));
	printf("  events dropped:   %llu\n", (unsigned long long)ward_egress_dropped(eg));
	k = ward_egress_prog_info(eg, info, 8);
	printf("verifier, per program (verified insns / xlated insns / jited bytes):\n");
	for (int i = 0; i < k; i++)
		printf("  %-14s %6u %6u %6u\n", info[i].name, info[i].verified_insns,
		       info[i].xlated_insns, info[i].jited_bytes);
	if (stats_fd >= 0) {
		printf("run time per program (WARD_BENCH_STATS), ns per run / runs per connect:\n");
		for (int i = 0; i < k; i++)
			if (info[i].run_cnt)
				printf("  %-14s %6.0f %6.2f\n", info[i].name,
				       (double)info[i].run_time_ns / (double)info[i].run_cnt,
				       (double)info[i].run_cnt / ((double)n * rounds));
		close(stats_fd);
	}
	stop = 1;
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(rd, NULL);
	ward_egress_free(eg);
	close(cgfd);
	rmdir(cg);
	return 0;
}
