// SPDX-License-Identifier: MIT
/* connect()+close() cost of host mode (src/enforcer/egress_host.c): the
 * same client in a cgroup without programs and in the scope cgroup where the
 * host-mode programs are pinned, interleaved rounds, one run. Own network
 * namespace (10.213.23.1 on lo), own mount namespace (bpffs for the pins),
 * cgroups of its own under the v2 root, all removed at exit. The client is
 * this executable, which the policy names for :443, so each connect() takes
 * the full redirect path: exempt walk, identity, ports, the listener's check
 * (bpf_sk_lookup_tcp + cookie), the record, sock_ops' peer record; without
 * programs it connects to the destination itself.
 * Usage: build/host_connect_bench [N]  (root; WARD_BENCH_ROUNDS, default 15) */
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
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_child.h"
#include "common/util.h"
#include "enforcer/egress.h"

#define DST_PORT 443
#define PROXY_PORT 3229
#define DNS_PORT 3253
#define MAX_ROUNDS 64

static volatile int stop;
static struct ward_egress *eg;
static char cg_scope[PATH_MAX], cg_plain[PATH_MAX], pins[128];

static void cleanup(void)
{
	struct ward_error err = { 0 };

	if (eg)
		ward_egress_free(eg);
	eg = NULL;
	if (pins[0])
		(void)ward_egress_host_unpin(pins, &err);
	if (cg_scope[0])
		rmdir(cg_scope);
	if (cg_plain[0])
		rmdir(cg_plain);
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

static double measure(const char *cg, int n, double *ret_cpu)
{
	return bench_connect_close(cg, "10.213.23.1", DST_PORT, n, ret_cpu);
}

static int listener(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, addr, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4096) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	const char *rounds_env = getenv("WARD_BENCH_ROUNDS");
	int rounds = rounds_env ? atoi(rounds_env) : 15;
	char self[PATH_MAX], cg2[] = "/sys/fs/cgroup/unified";
	double off[MAX_ROUNDS], on[MAX_ROUNDS], ratio[MAX_ROUNDS];
	double cpu_off[MAX_ROUNDS], cpu_on[MAX_ROUNDS], cpu_ratio[MAX_ROUNDS];
	struct ward_error err = { 0 };
	struct ward_egress_prog_info info[8];
	pthread_t a1, a2;
	int l_dst, l_proxy, scope_fd, k;
	ssize_t len;
	uint64_t c = 0;
	socklen_t cl = sizeof(c);

	if (n <= 0 || n > 200000)
		n = 5000;
	if (rounds < 2 || rounds > MAX_ROUNDS)
		rounds = 15;
	if (geteuid() != 0)
		return fprintf(stderr, "host_connect_bench: needs root\n"), 77;
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) < 0)
		snprintf(cg2, sizeof(cg2), "/sys/fs/cgroup");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0 ||
	    system("ip link set lo up && ip addr add 10.213.23.1/32 dev lo"))
		return fprintf(stderr, "namespace setup failed: %m\n"), 1;
	atexit(cleanup);
	snprintf(cg_scope, sizeof(cg_scope), "%s/hostk-bench-%d-scope", cg2, getpid());
	snprintf(cg_plain, sizeof(cg_plain), "%s/hostk-bench-%d-plain", cg2, getpid());
	if (mkdir(cg_scope, 0755) < 0 || mkdir(cg_plain, 0755) < 0 ||
	    (scope_fd = open(cg_scope, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fprintf(stderr, "cgroups: %m\n"), 1;
	snprintf(pins, sizeof(pins), "/sys/fs/bpf/ward-bench-hostk-%d", getpid());

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[len > 0 ? len : 0] = '\0';
	uint16_t ports[] = { DST_PORT };
	struct ward_endpoint ep = { .host = "bench.test", .ports = ports, .n_ports = 1 };
	struct ward_binary b = { .path = self };
	struct ward_net_policy np = {
		.key = "bench", .binaries = &b, .n_binaries = 1, .endpoints = &ep, .n_endpoints = 1
	};
	struct ward_policy pol = { .net = &np, .n_net = 1 };
	/* one exempt cgroup, as the daemon's own would be */
	uint64_t exempt[] = { 1 };
	struct ward_egress_config cfg = { .transparent_port = PROXY_PORT,
					  .dns_port = DNS_PORT,
					  .pin_dir = pins,
					  .host = true,
					  .exempt_cgids = exempt,
					  .n_exempt = 1 };

	l_dst = listener("10.213.23.1", DST_PORT);
	l_proxy = listener("127.0.0.1", PROXY_PORT);
	if (l_dst < 0 || l_proxy < 0 || getsockopt(l_proxy, SOL_SOCKET, SO_COOKIE, &c, &cl) < 0)
		return fprintf(stderr, "listeners: %m\n"), 1;
	if (ward_egress_host_open(&pol, &cfg, scope_fd, &eg, &err) < 0 ||
	    ward_egress_host_set_listeners(eg, c, 0, 0, &err) < 0)
		return fprintf(stderr, "host mode: %s\n", err.msg), 1;
	pthread_create(&a1, NULL, acceptor, &l_dst);
	pthread_create(&a2, NULL, acceptor, &l_proxy);

	measure(cg_scope, n / 5, &cpu_on[0]); /* warm up */
	for (k = 0; k < rounds; k++) {
		for (int side = 0; side < 2; side++) {
			bool with = (side == 1) == (k % 2 == 0);

			(with ? on : off)[k] = measure(with ? cg_scope : cg_plain, n,
						       &(with ? cpu_on : cpu_off)[k]);
			if ((with ? on : off)[k] < 0)
				return fprintf(stderr, "a connect failed (%s)\n",
					       with ? "host mode" : "plain"),
				       1;
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
	printf("  no enforcement:   %.0f ns\n", bench_median(off, rounds));
	printf("  host mode:        %.0f ns (redirected to the registered listener)\n",
	       bench_median(on, rounds));
	printf("  ratio:            %.3f of the medians, %.3f median of the rounds' ratios\n",
	       bench_median(on, rounds) / bench_median(off, rounds), bench_median(ratio, rounds));
	printf("CPU time per call (the child and the acceptors), median:\n");
	printf("  no enforcement:   %.0f ns\n", bench_median(cpu_off, rounds));
	printf("  host mode:        %.0f ns\n", bench_median(cpu_on, rounds));
	printf("  ratio:            %.3f of the medians, %.3f median of the rounds' ratios\n",
	       bench_median(cpu_on, rounds) / bench_median(cpu_off, rounds), bench_median(cpu_ratio, rounds));
	printf("  failed closed:    %llu\n", (unsigned long long)ward_egress_host_failclosed(eg));
	k = ward_egress_prog_info(eg, info, 8);
	printf("verifier, per program (verified insns / xlated insns / jited bytes):\n");
	for (int i = 0; i < k; i++)
		printf("  %-18s %6u %6u %6u\n", info[i].name, info[i].verified_insns,
		       info[i].xlated_insns, info[i].jited_bytes);
	stop = 1;
	shutdown(l_dst, SHUT_RDWR);
	shutdown(l_proxy, SHUT_RDWR);
	pthread_join(a1, NULL);
	pthread_join(a2, NULL);
	close(scope_fd);
	return 0;
}
