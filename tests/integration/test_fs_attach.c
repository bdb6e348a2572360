// SPDX-License-Identifier: MIT
/* What the fs layer attaches (docs/filesystem.md, "Cost to the rest of the
 * machine"): without protected paths one program, raw_tp/sys_exit, which
 * still turns a refused open and a hidden path of the sandbox's cgroup into
 * events; with the guard on other processes' memory two (sys_enter too).
 * A process outside the cgroup makes no event. Root; exit 77 when not root,
 * no cgroup2 or the programs do not load. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enforcer/cgroup.h"
#include "enforcer/fs.h"

#include "check.h"

/* an open refused by the permission bits (EACCES, another uid) in a child,
 * in cg or not */
static void refused_open(const struct ward_cgroup *cg, const char *path)
{
	int status = -1;

	pid_t pid = fork();

	if (pid == 0) {
		char procs[PATH_MAX + 32];
		FILE *f;

		if (cg) {
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg->path);
			f = fopen(procs, "we");
			if (!f || fprintf(f, "%d", getpid()) < 0 || fclose(f))
				_exit(1);
		}
		if (setresgid(4247, 4247, 4247) < 0 || setresuid(4247, 4247, 4247) < 0)
			_exit(2);
		_exit(open(path, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES ? 0 : 3);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the open was not refused (%#x)",
	      status);
}

int main(void)
{
	struct ward_cgroup cg = { .fd = -1 };
	struct ward_error err = { 0 };
	struct ward_fs *fs = NULL, *guard = NULL;
	struct ward_fs_stats st;
	char dir[] = "/var/tmp/ward-test-fsattach.XXXXXX", secret[64], id[32];
	struct stat cst;
	int r;

	if (geteuid() != 0 || !ward_cgroup2_mount()) {
		puts("SKIP: needs root and cgroup2");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	chmod(dir, 0755);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	close(open(secret, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	snprintf(id, sizeof(id), "fsattach%d", getpid());
	if (ward_cgroup_create(id, &cg, &err) < 0) {
		fprintf(stderr, "cgroup: %s\n", err.msg);
		return 1;
	}
	fstat(cg.fd, &cst);
	struct ward_fs_config cfg = { .cgroup_id = cst.st_ino,
				      .sandbox = "t",
				      .hidden_paths = true };
	struct ward_fs_config gcfg = cfg;

	gcfg.guard_procmem = true;
	if (ward_fs_new(&cfg, &fs, &err) < 0 || ward_fs_new(&gcfg, &guard, &err) < 0) {
		printf("SKIP: %s\n", err.msg);
		ward_cgroup_destroy(&cg);
		return 77;
	}
	r = ward_fs_attach(fs, &err);
	CHECK(r == 0, "attach: %s", err.msg);
	CHECK(ward_fs_n_attached(fs) == 1, "without the guard: %zu programs",
	      ward_fs_n_attached(fs));
	refused_open(NULL, secret); /* outside: nothing */
	ward_fs_consume(fs);
	ward_fs_get_stats(fs, &st);
	CHECK(st.events == 0, "outside the cgroup: %llu events", (unsigned long long)st.events);
	refused_open(&cg, secret);
	ward_fs_consume(fs);
	ward_fs_get_stats(fs, &st);
	CHECK(st.events == 1, "sys_exit alone: %llu events for one refused open",
	      (unsigned long long)st.events);
	ward_fs_detach(fs);

	r = ward_fs_attach(guard, &err);
	CHECK(r == 0, "attach: %s", err.msg);
	CHECK(ward_fs_n_attached(guard) == 2, "with the guard: %zu programs",
	      ward_fs_n_attached(guard));
	refused_open(&cg, secret);
	ward_fs_consume(guard);
	ward_fs_get_stats(guard, &st);
	CHECK(st.events == 1, "entry and exit: %llu events for one refused open",
	      (unsigned long long)st.events);

	ward_fs_free(fs);
	ward_fs_free(guard);
	ward_cgroup_destroy(&cg);
	unlink(secret);
	rmdir(dir);
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
