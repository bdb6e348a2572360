// SPDX-License-Identifier: MIT
/* The filesystem layer's cost, measured on the real kernel (tools/bench/fs.sh
 * runs it; it fails only when the layer does not work at all):
 *   - open()+close() of a file by a process OUTSIDE any sandbox while a
 *     sandbox's fs layer is attached (the host-wide tax, docs/filesystem.md),
 *     attached vs detached, interleaved rounds in one run; ratio of medians;
 *   - open()+close() of an unprotected file by a process of a sandbox cgroup,
 *     with the denial tracepoints attached and detached, interleaved rounds
 *     in one run; ratio of the medians;
 *   - open()+close() of a protected file by its named binary (this program):
 *     the fanotify round trip;
 *   - open() of a missing path (ENOENT): no programs, the programs without
 *     hidden-path rows, with them (the path is checked once, then dropped in
 *     the kernel);
 *   - a 1-byte pread() with and without the guard on other processes'
 *     memory (the check at every read/write of a sandbox with protected paths).
 * Exit 77 when not root or the kernel lacks what is needed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_child.h"
#include "enforcer/cgroup.h"
#include "enforcer/fs.h"
#include "enforcer/fs_protect.h"
#include "policy/model.h"

#define ROUNDS 15
#define OUT_ROUNDS 61 /* short rounds, many: the tax is a few percent, drift is not */

static long iters = 20000;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns per open()+close() */
static double loop(const char *path)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			perror(path);
			exit(1);
		}
		close(fd);
	}
	return (double)(now_ns() - t0) / (double)iters;
}

/* ns per open() of a path that does not exist */
static double loop_missing(const char *path)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		if (open(path, O_RDONLY | O_CLOEXEC) >= 0 || errno != ENOENT) {
			fprintf(stderr, "%s: not missing\n", path);
			exit(1);
		}
	}
	return (double)(now_ns() - t0) / (double)iters;
}

/* ns per 1-byte pread() */
static double loop_read(int fd)
{
	uint64_t t0 = now_ns();
	char c;

	for (long i = 0; i < iters; i++)
		if (pread(fd, &c, 1, 0) != 1) {
			perror("pread");
			exit(1);
		}
	return (double)(now_ns() - t0) / (double)iters;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return v[n / 2];
}

static int join_cgroup(const struct ward_cgroup *cg)
{
	char buf[32];
	int fd = openat(cg->fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", getpid());
	int r = fd >= 0 && write(fd, buf, (size_t)n) == n ? 0 : -errno;

	if (fd >= 0)
		close(fd);
	return r;
}

/* back to the root so the leaf can be removed */
static void leave_cgroup(void)
{
	char path[4200], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", getpid());
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", ward_cgroup2_mount());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, buf, (size_t)n) != n)
			perror("leave cgroup");
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct ward_error err = { 0 };
	struct ward_cgroup cg = { .fd = -1 };
	struct ward_fs *fs = NULL;
	struct ward_fs_protect *fp = NULL;
	char dir[] = "/var/tmp/ward-fs-bench.XXXXXX", plain[64], secret[64], id[32], self[4096];
	double on[ROUNDS], off[ROUNDS], ratio, prot, base;
	double out_on[OUT_ROUNDS], out_off[OUT_ROUNDS], out_pair[OUT_ROUNDS];
	struct stat st;
	int fails = 0;

	if (argc > 1)
		iters = atol(argv[1]);
	if (geteuid() != 0 || !ward_cgroup2_mount()) {
		puts("SKIP: needs root and cgroup2");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	close(open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	close(open(secret, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	snprintf(id, sizeof(id), "fsbench%d", getpid());
	if (ward_cgroup_create(id, &cg, &err) < 0) {
		printf("SKIP: cgroup: %s\n", err.msg);
		return 77;
	}
	fstat(cg.fd, &st);
	/* what ward run attaches for a sandbox without protected paths */
	struct ward_fs_config cfg = { .cgroup_id = st.st_ino, .sandbox = "bench" };
	struct ward_fs_config run_cfg = cfg;
	struct ward_fs *fs_run = NULL;
	size_t n_progs = 0;

	run_cfg.hidden_paths = true;
	if (ward_fs_new(&cfg, &fs, &err) < 0 || ward_fs_new(&run_cfg, &fs_run, &err) < 0) {
		printf("SKIP: %s\n", err.msg);
		ward_cgroup_destroy(&cg);
		return 77;
	}

	/* the host-wide tax: this process is not in the sandbox's cgroup */
	long saved_iters = iters;

	iters = iters / 4 ? iters / 4 : 1;
	loop(plain);
	for (int r = 0; r < OUT_ROUNDS; r++) {
		if (ward_fs_attach(fs_run, &err) < 0) {
			printf("FAIL: attach: %s\n", err.msg);
			return 1;
		}
		n_progs = ward_fs_n_attached(fs_run);
		out_on[r] = loop(plain);
		ward_fs_detach(fs_run);
		out_off[r] = loop(plain);
		out_pair[r] = out_on[r] / out_off[r];
	}
	printf("open+close OUTSIDE any sandbox: %.0f ns without, %.0f ns while a sandbox's fs "
	       "layer is attached (%zu programs; median of %d rounds x %ld), ratio %.3f, "
	       "median of paired rounds %.3f (target <= 1.02)\n",
	       median(out_off, OUT_ROUNDS), median(out_on, OUT_ROUNDS), n_progs, OUT_ROUNDS, iters,
	       median(out_on, OUT_ROUNDS) / median(out_off, OUT_ROUNDS),
	       median(out_pair, OUT_ROUNDS));
	iters = saved_iters;
	ward_fs_free(fs_run);
	if (join_cgroup(&cg) < 0) {
		printf("SKIP: join the cgroup\n");
		ward_fs_free(fs);
		ward_cgroup_destroy(&cg);
		return 77;
	}

	/* interleaved: drift in the machine's load hits both sides alike */
	loop(plain);
	for (int r = 0; r < ROUNDS; r++) {
		if (ward_fs_attach(fs, &err) < 0) {
			printf("FAIL: attach: %s\n", err.msg);
			return 1;
		}
		on[r] = loop(plain);
		ward_fs_detach(fs);
		off[r] = loop(plain);
	}
	ratio = median(on, ROUNDS) / median(off, ROUNDS);
	base = median(off, ROUNDS);
	printf("unprotected open+close: %.0f ns without, %.0f ns with the tracepoints "
	       "(median of %d rounds x %ld), ratio %.3f (target <= 1.05)\n",
	       base, median(on, ROUNDS), ROUNDS, iters, ratio);

	/* missing paths: the first attempt is sent and found nowhere on the host,
	 * the rest end in the kernel's dedup map */
	struct ward_fs *fs_hidden = NULL, *fs_guard = NULL;
	struct ward_fs_config hcfg = cfg, gcfg = cfg;
	struct ward_fs_stats hs;
	double m_none[ROUNDS], m_off[ROUNDS], m_on[ROUNDS], r_off[ROUNDS], r_on[ROUNDS];
	char missing[80];
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	snprintf(missing, sizeof(missing), "%s/missing", dir);
	hcfg.hidden_paths = true;
	gcfg.guard_procmem = true;
	if (zero < 0 || ward_fs_new(&hcfg, &fs_hidden, &err) < 0 ||
	    ward_fs_new(&gcfg, &fs_guard, &err) < 0) {
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	if (ward_fs_attach(fs_hidden, &err) < 0)
		return 1;
	close(open(missing, O_RDONLY | O_CLOEXEC));
	ward_fs_consume(fs_hidden); /* its verdict goes back to the kernel */
	ward_fs_detach(fs_hidden);
	for (int r = 0; r < ROUNDS; r++) {
		m_none[r] = loop_missing(missing);
		if (ward_fs_attach(fs, &err) < 0)
			return 1;
		m_off[r] = loop_missing(missing);
		ward_fs_detach(fs);
		if (ward_fs_attach(fs_hidden, &err) < 0)
			return 1;
		m_on[r] = loop_missing(missing);
		ward_fs_detach(fs_hidden);
	}
	ward_fs_consume(fs_hidden);
	ward_fs_get_stats(fs_hidden, &hs);
	printf("missing-path open (ENOENT): %.0f ns without programs, %.0f ns with them "
	       "(no hidden-path rows), %.0f ns with hidden-path rows: +%.0f ns per ENOENT "
	       "(%llu seen, %llu sent and checked, %llu rows)\n",
	       median(m_none, ROUNDS), median(m_off, ROUNDS), median(m_on, ROUNDS),
	       median(m_on, ROUNDS) - median(m_off, ROUNDS), (unsigned long long)hs.missing_seen,
	       (unsigned long long)hs.missing_checked, (unsigned long long)hs.hidden);
	for (int r = 0; r < ROUNDS; r++) {
		if (ward_fs_attach(fs, &err) < 0)
			return 1;
		r_off[r] = loop_read(zero);
		ward_fs_detach(fs);
		if (ward_fs_attach(fs_guard, &err) < 0)
			return 1;
		r_on[r] = loop_read(zero);
		ward_fs_detach(fs_guard);
	}
	printf("1-byte pread: %.0f ns with the programs, %.0f ns with the guard on other "
	       "processes' memory (protected paths only): +%.0f ns per read/write\n",
	       median(r_off, ROUNDS), median(r_on, ROUNDS),
	       median(r_on, ROUNDS) - median(r_off, ROUNDS));
	close(zero);
	ward_fs_free(fs_hidden);
	ward_fs_free(fs_guard);

	/* protected: this program is the named binary, so every open is allowed
	 * after a round trip through the supervisor */
	if (!realpath("/proc/self/exe", self))
		return 1;
	struct ward_binary bin = { .path = self };
	struct ward_fs_path sp = { .path = secret };
	struct ward_fs_binary_rule rule = { .binary = bin, .read_only = &sp, .n_read_only = 1 };
	struct ward_policy pol = { .fs_binaries = &rule, .n_fs_binaries = 1 };
	struct ward_fs_protect_config pc = { .sandbox = "bench",
					     .cgroup_path = cg.path,
					     .cgroup_id = st.st_ino,
					     .denied_map_fd = -1 };
	if (ward_fs_protect_new(&pol, &fp, &err) < 0 || ward_fs_protect_start(fp, &pc, &err) < 0) {
		printf("FAIL: protect: %s\n", err.msg);
		fails++;
	} else {
		long saved = iters;

		iters = iters / 10 ? iters / 10 : 1;
		loop(secret);
		prot = loop(secret);
		printf("protected open+close (%s round trip): %.0f ns (%.1fx unprotected), "
		       "%llu allowed\n",
		       ward_fs_mechanism_str(ward_fs_protect_mechanism(fp)), prot, prot / base,
		       (unsigned long long)ward_fs_protect_n_allowed(fp));
		if (ward_fs_protect_n_allowed(fp) < (uint64_t)iters) {
			printf("FAIL: the supervisor saw %llu opens of %ld\n",
			       (unsigned long long)ward_fs_protect_n_allowed(fp), 2 * iters);
			fails++;
		}
		iters = saved;
	}
	ward_fs_protect_free(fp);
	ward_fs_free(fs);
	leave_cgroup();
	ward_cgroup_destroy(&cg);
	unlink(plain);
	unlink(secret);
	rmdir(dir);
	/* a benchmark, not a test: the ratio above is reported, never judged */
	return fails ? 1 : 0;
}
