// SPDX-License-Identifier: MIT
/* Landlock's own audit records from the real kernel (docs/filesystem.md,
 * "Landlock's audit records"): a child in a sandbox cgroup restricts itself
 * (reads denied, LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON) and execs cat on a
 * file; the listener, joined to the audit read-only multicast group, must
 * turn the kernel's record into one fs row with the path and the access.
 * Only listens: no audit rule, no change to the audit configuration. Exit 77
 * with the exact reason when the kernel writes no record here (audit
 * disabled, no CAP_AUDIT_READ, Landlock below ABI 7). Root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "enforcer/cgroup.h"
#include "enforcer/landlock.h"
#include "enforcer/landlock_audit.h"
#include "enforcer/landlock_compat.h"

#include "check.h"

static int n_rows;
static char row_path[256], row_method[64], row_binary[256];

static void on_row(void *userdata, const struct ward_decision *d)
{
	(void)userdata;
	if (n_rows++)
		return;
	snprintf(row_path, sizeof(row_path), "%s", d->path ? d->path : "");
	snprintf(row_method, sizeof(row_method), "%s", d->method ? d->method : "");
	snprintf(row_binary, sizeof(row_binary), "%s", d->binary ? d->binary : "");
}

int main(void)
{
	struct ward_cgroup cg = { .fd = -1 };
	struct ward_error err = { 0 };
	struct ward_ll_audit *a = NULL;
	char why[256], id[32];
	struct stat st;
	int r, status;
	pid_t pid;

	if (geteuid() != 0 || !ward_cgroup2_mount()) {
		puts("SKIP: needs root and cgroup2");
		return 77;
	}
	if (ward_landlock_abi() < 7) {
		printf("SKIP: Landlock ABI %d: audit records need ABI 7\n", ward_landlock_abi());
		return 77;
	}
	r = ward_ll_audit_probe(why, sizeof(why));
	if (r < 0) {
		printf("SKIP: the kernel writes no Landlock record here: %s\n", why);
		return 77;
	}
	snprintf(id, sizeof(id), "llkernel%d", getpid());
	if (ward_cgroup_create(id, &cg, &err) < 0) {
		fprintf(stderr, "cgroup: %s\n", err.msg);
		return 1;
	}
	fstat(cg.fd, &st);
	struct ward_ll_audit_config cfg = {
		.cgroup_id = st.st_ino,
		.sandbox = "llkernel",
		.on_row = on_row,
	};
	r = ward_ll_audit_new(&cfg, &a, &err);
	CHECK(r == 0, "listener: %s", err.msg);
	if (r < 0)
		goto out;

	pid = fork();
	if (pid == 0) {
		struct landlock_ruleset_attr attr = {
			.handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE,
		};
		char path[PATH_MAX + 32];
		FILE *f;
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg.path);
		f = fopen(path, "we");
		if (!f || fprintf(f, "%d", getpid()) < 0 || fclose(f))
			_exit(10);
		fd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
		if (fd < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(__NR_landlock_restrict_self, fd,
			    LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON) < 0)
			_exit(11);
		/* ld.so and libc are read by mmap of an exec'd binary: the exec
		 * itself works, the open of the file does not */
		execl("/usr/bin/cat", "cat", "/etc/hostname", (char *)NULL);
		_exit(12);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) < 10,
	      "the child's cat was refused (status %#x)", status);
	/* kauditd delivers asynchronously: bounded wait, no time asserted */
	for (int i = 0; i < 50 && !n_rows; i++) {
		usleep(100 * 1000);
		ward_ll_audit_consume(a);
	}
	ward_ll_audit_consume(a);
	CHECK(n_rows >= 1, "no row from the kernel's records (%d)", n_rows);
	CHECK(!strcmp(row_path, "/etc/hostname"), "path %s", row_path);
	CHECK(!strcmp(row_method, "read"), "method %s", row_method);
	CHECK(!row_binary[0] || !strcmp(row_binary, "/usr/bin/cat"), "binary %s", row_binary);
out:
	ward_ll_audit_free(a);
	ward_cgroup_destroy(&cg);
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
