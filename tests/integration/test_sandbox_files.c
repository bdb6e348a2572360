// SPDX-License-Identifier: MIT
/* Files ward places inside the sandbox (ward_sandbox_opts.files): over a host
 * file inside a bound directory, over a host symlink (not where it points),
 * on a new mount point where the policy maps nothing, read-only, the host
 * left untouched; and the placements ward refuses (a missing file inside a
 * host directory, two files at one place, relative or unnormalised targets).
 * Real kernel, root; exit 77 when not root or without a cgroup2 mount. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "enforcer/sandbox.h"
#include "policy/policy.h"

#include "check.h"

#define UID_ 4243

static char tmpdir[] = "/tmp/ward-test-files.XXXXXX";

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "write %s: %m\n", path);
		exit(1);
	}
}

static char *get(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *path_in(const char *fmt, ...)
{
	static char bufs[64][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 64];
	va_list ap;
	int n = snprintf(b, PATH_MAX, "%s/", tmpdir);

	va_start(ap, fmt);
	vsnprintf(b + n, PATH_MAX - n, fmt, ap);
	va_end(ap);
	return b;
}

static struct ward_policy *policy(void)
{
	char yaml[4096];
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };

	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "filesystem_policy:\n"
		 "  include_workdir: true\n"
		 "  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, %s/hostdir, %s/policyfile]\n"
		 "process:\n"
		 "  run_as_user: %d\n"
		 "  run_as_group: %d\n",
		 tmpdir, tmpdir, UID_, UID_);
	if (ward_policy_load_buffer("test", yaml, strlen(yaml), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		fprintf(stderr, "policy: %s\n", err.msg);
		exit(1);
	}
	ward_diags_free(&d);
	return p;
}

/* Run script in a sandbox with files; its output goes to workdir/out. */
static int run(const struct ward_policy *p, const struct ward_mount_file *files, size_t n,
	       const char *script, int *ret_status, struct ward_error *err)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct ward_sandbox_opts o = {
		.policy = p,
		.workdir = path_in("wd"),
		.argv = argv,
		.files = files,
		.n_files = n,
	};

	unlink(path_in("wd/out"));
	return ward_sandbox_run(&o, ret_status, err);
}

int main(void)
{
	struct ward_error err = { 0 };
	struct ward_policy *p;
	struct stat st;
	char link[PATH_MAX];
	int status = -1, r;
	char *out;

	if (getuid() != 0) {
		puts("SKIP: needs root");
		return 77;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	chmod(tmpdir, 0755);
	mkdir(path_in("wd"), 0755);
	chown(path_in("wd"), UID_, UID_);
	mkdir(path_in("hostdir"), 0755);
	put(path_in("hostdir/plain"), "host plain\n");
	/* Dangling on purpose, like resolv.conf -> ../run/systemd/resolve/... */
	symlink("../elsewhere/resolv.conf", path_in("hostdir/link"));
	put(path_in("policyfile"), "policy file\n");
	put(path_in("src-a"), "nameserver 127.0.0.53\n");
	put(path_in("src-b"), "bundle b\n");
	chmod(path_in("src-a"), 0644);
	chmod(path_in("src-b"), 0644);
	p = policy();

	/* Over a file, over a symlink, in the root tmpfs, over a policy path. */
	{
		const struct ward_mount_file files[] = {
			{ path_in("src-a"), path_in("hostdir/link") },
			{ path_in("src-b"), path_in("hostdir/plain") },
			{ path_in("src-b"), "/run/ward-test/ca.pem" },
			{ path_in("src-a"), path_in("policyfile") },
		};
		char script[4096];

		snprintf(script, sizeof(script),
			 "{ cat %1$s/hostdir/link %1$s/hostdir/plain /run/ward-test/ca.pem "
			 "%1$s/policyfile;"
			 "  (echo x >%1$s/hostdir/plain) 2>/dev/null && echo WROTE;"
			 "  grep -c ' /run/ward-test/ca.pem .*ro,' /proc/self/mountinfo; "
			 "  test -f /run/ward-test/ca.pem && echo ca.pem; } >%1$s/wd/out 2>&1",
			 tmpdir);
		r = run(p, files, 4, script, &status, &err);
		CHECK(r == 0 && status == 0, "r=%d status=%d %s", r, status, err.msg);
		out = get(path_in("wd/out"));
		CHECK(out && !strcmp(out, "nameserver 127.0.0.53\nbundle b\nbundle b\n"
					  "nameserver 127.0.0.53\n1\nca.pem\n"),
		      "inside saw:\n%s", out ? out : "(nothing)");
	}
	/* The host is as it was. */
	r = (int)readlink(path_in("hostdir/link"), link, sizeof(link) - 1);
	CHECK(r > 0 && (link[r] = '\0', !strcmp(link, "../elsewhere/resolv.conf")), "link %d", r);
	out = get(path_in("hostdir/plain"));
	CHECK(out && !strcmp(out, "host plain\n"), "host plain: %s", out ? out : "(gone)");
	CHECK(stat("/run/ward-test", &st) < 0 && errno == ENOENT, "/run/ward-test on the host");
	CHECK(stat(path_in("elsewhere"), &st) < 0, "the link's target dir was created");

	/* Refused: a file missing from a host directory is never created there. */
	err = (struct ward_error){ 0 };
	{
		const struct ward_mount_file files[] = { { path_in("src-a"),
							   path_in("hostdir/new") } };

		r = run(p, files, 1, "true", &status, &err);
		CHECK(r < 0 && strstr(err.msg, "never creates"), "r=%d %s", r, err.msg);
		CHECK(stat(path_in("hostdir/new"), &st) < 0, "hostdir/new created on the host");
	}
	err = (struct ward_error){ 0 };
	{
		const struct ward_mount_file files[] = { { path_in("src-a"), "/etc/x" },
							 { path_in("src-b"), "/etc/x" } };

		r = run(p, files, 2, "true", &status, &err);
		CHECK(r < 0, "two files at one place: r=%d", r);
	}
	static const char *const bad[] = { "etc/resolv.conf",
					   "/etc/../etc/resolv.conf",
					   "/etc//resolv.conf",
					   "/etc/resolv.conf/",
					   "/",
					   "/proc/self/x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct ward_mount_file files[] = { { path_in("src-a"), bad[i] } };

		err = (struct ward_error){ 0 };
		r = run(p, files, 1, "true", &status, &err);
		CHECK(r == -EINVAL, "target '%s' accepted: r=%d %s", bad[i], r, err.msg);
	}
	{
		const struct ward_mount_file files[] = { { path_in("nosuch"),
							   "/etc/resolv.conf" } };

		err = (struct ward_error){ 0 };
		r = run(p, files, 1, "true", &status, &err);
		CHECK(r == -ENOENT, "missing source: r=%d %s", r, err.msg);
	}

	ward_policy_free(p);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", tmpdir);
	}
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
