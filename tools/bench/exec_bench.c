// SPDX-License-Identifier: MIT
/* fork()+execve(/bin/true)+wait() cost without and with bpf/egress.bpf.c
 * attached (its sched_process_exec raw tracepoint is global), interleaved
 * rounds, one run: a child inside the sandbox cgroup (every exec of a file
 * without identity is an event to ward) and one in a sibling cgroup (the
 * tracepoint only checks the cgroup and returns: what every other task on
 * the host pays). Built and run by tools/bench/exec.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_child.h"
#include "common/util.h"
#include "enforcer/egress.h"

#define ROUNDS 6

static volatile int stop;
static struct ward_egress *eg;

static void *reader(void *p)
{
	(void)p;
	while (!stop)
		ward_egress_poll(eg, 100);
	return NULL;
}

/* one fork+exec+wait of /bin/true */
static int fork_exec(void *data)
{
	pid_t c = fork();
	int st;

	(void)data;
	if (c == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	return c < 0 || waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) ? -1 : 0;
}

/* ns per fork+exec+wait of /bin/true, measured in a child inside cg */
static double measure(const char *cg, int n)
{
	return bench_in_cgroup(cg, n, fork_exec, NULL);
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(double), bench_cmp_double);
	return (v[ROUNDS / 2 - 1] + v[ROUNDS / 2]) / 2;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, rc = 1, cgfd = -1;
	char cg2[256] = "", cg[PATH_MAX], out[PATH_MAX], line[4096];
	double off[ROUNDS], in[ROUNDS], outside[ROUNDS];
	struct ward_error err = { 0 };
	pthread_t rd;
	FILE *f;

	if (n <= 0 || n > 100000)
		n = 2000;
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") && sscanf(line, "%*s %*s %*s %*s %255s", cg2) == 1)
			break;
	if (f)
		fclose(f);
	if (!cg2[0])
		return fprintf(stderr, "no cgroup2 mount\n"), 1;
	snprintf(cg, sizeof(cg), "%s/ward-bench-exec-%d", cg2, getpid());
	snprintf(out, sizeof(out), "%s/ward-bench-exec-out-%d", cg2, getpid());
	if (mkdir(cg, 0755) < 0 || mkdir(out, 0755) < 0 ||
	    (cgfd = open(cg, O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "cgroup %s: %m\n", cg);
		goto done;
	}

	/* a policy that names nothing /bin/true is: every exec in cg is an event */
	struct ward_binary b = { .path = "/nonexistent/ward-bench/**/bin/x" };
	struct ward_net_policy np = { .key = "bench", .binaries = &b, .n_binaries = 1 };
	struct ward_policy pol = { .net = &np, .n_net = 1 };
	struct ward_egress_config cfg = { .explicit_port = 3128,
					  .transparent_port = 3129,
					  .dns_port = 53 };
	cfg.proxy4.s_addr = htonl(0x0a4d0001);
	cfg.dns4.s_addr = htonl(0x0a4d0001);
	if (ward_egress_new(&pol, &cfg, &eg, &err) < 0) {
		fprintf(stderr, "load: %s\n", err.msg);
		goto done;
	}
	pthread_create(&rd, NULL, reader, NULL);
	measure(cg, n / 5); /* warm up */
	for (int k = 0; k < ROUNDS; k++) {
		off[k] = measure(cg, n);
		if (ward_egress_attach(eg, cgfd, &err) < 0) {
			fprintf(stderr, "attach: %s\n", err.msg);
			break;
		}
		in[k] = measure(cg, n);
		outside[k] = measure(out, n);
		ward_egress_detach(eg);
		rc = 0;
	}
	stop = 1;
	pthread_join(rd, NULL);
	if (rc == 0) {
		double m_off = median(off), m_in = median(in), m_out = median(outside);

		printf("fork+exec(/bin/true)+wait, %d per round, %d rounds, median ns:\n", n,
		       ROUNDS);
		printf("  without programs:              %.0f ns\n", m_off);
		printf("  with programs, inside sandbox: %.0f ns  ratio %.3f\n", m_in,
		       m_in / m_off);
		printf("  with programs, other cgroup:   %.0f ns  ratio %.3f\n", m_out,
		       m_out / m_off);
	}
	ward_egress_free(eg);
done:
	if (cgfd >= 0)
		close(cgfd);
	rmdir(cg);
	rmdir(out);
	return rc;
}
