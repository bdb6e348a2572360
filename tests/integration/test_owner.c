// SPDX-License-Identifier: MIT
/* src/common/owner.c against the real kernel: a cgroup this test makes
 * under the cgroup2 mount is named by its id (open_by_handle_at) while it
 * exists, also with no process in it; by /proc/PID/cgroup for a process of
 * a cgroup the handle cannot open; not at all once removed with no process;
 * the uid is the process's real uid (a child that dropped to 65534). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/owner.h"
#include "enforcer/cgroup.h"

static char dir[PATH_MAX];
static pid_t child = -1;

static void cleanup(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (dir[0])
		rmdir(dir);
}

int main(void)
{
	const char *mnt = ward_cgroup2_mount();
	char want[64], buf[PATH_MAX], cgpath[PATH_MAX];
	int ready[2], go[2];
	struct stat st;
	uint32_t uid = 12345;
	char c;

	if (getuid() != 0 || !mnt) {
		printf("SKIP: needs root and a cgroup2 mount\n");
		return 77;
	}
	snprintf(want, sizeof(want), "/rows-owner-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s%s", mnt, want);
	if (mkdir(dir, 0755) < 0) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	atexit(cleanup);
	CHECK(stat(dir, &st) == 0, "%s", strerror(errno));

	/* an empty cgroup: by its id, from the handle (pid 0: no fallback) */
	CHECK(ward_cgroup_path((uint64_t)st.st_ino, 0, buf, sizeof(buf)) == buf, "by id");
	CHECK(!strcmp(buf, want), "got '%s', want '%s'", buf, want);
	/* cached: the same answer again */
	buf[0] = '\0';
	CHECK(ward_cgroup_path((uint64_t)st.st_ino, 0, buf, sizeof(buf)) == buf, "cached");
	CHECK(!strcmp(buf, want), "cached '%s'", buf);
	/* too small a buffer: nothing rather than a cut name */
	CHECK(ward_cgroup_path((uint64_t)st.st_ino, 0, buf, 4) == NULL, "short buffer");

	/* a child in the cgroup, dropped to uid 65534 */
	CHECK(pipe(ready) == 0 && pipe(go) == 0, "pipe");
	child = fork();
	if (child == 0) {
		char pid[32];
		int fd;

		snprintf(cgpath, sizeof(cgpath), "%s/cgroup.procs", dir);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		fd = open(cgpath, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, pid, strlen(pid)) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK(read(ready[0], &c, 1) == 1, "child ready");
	CHECK(ward_proc_uid(child, &uid) == 0 && uid == 65534, "uid %u", uid);
	CHECK(ward_proc_uid(getpid(), &uid) == 0 && uid == 0, "own uid %u", uid);
	/* the /proc fallback: no id, the child's pid */
	CHECK(ward_cgroup_path(0, child, buf, sizeof(buf)) == buf, "fallback");
	CHECK(!strcmp(buf, want), "fallback '%s'", buf);
	/* an id no cgroup has (1 is the root): not the child's cgroup of now */
	CHECK(ward_cgroup_path(UINT64_MAX - 1, child, buf, sizeof(buf)) == NULL, "stale id '%s'",
	      buf);
	CHECK(ward_proc_cgroup_path(child, buf, sizeof(buf)) == buf && !strcmp(buf, want),
	      "proc '%s'", buf);
	CHECK(write(go[1], "g", 1) == 1, "go");
	CHECK(waitpid(child, NULL, 0) == child, "wait");
	child = -1;
	/* gone: no uid */
	CHECK(ward_proc_uid(INT32_MAX - 1, &uid) == -ESRCH, "no such pid");

	/* removed: a fresh id is not resolved; (the cached one may still be) */
	CHECK(rmdir(dir) == 0, "rmdir: %s", strerror(errno));
	dir[0] = '\0';
	snprintf(dir, sizeof(dir), "%s%s-2", mnt, want);
	CHECK(mkdir(dir, 0755) == 0 && stat(dir, &st) == 0, "mkdir 2");
	CHECK(rmdir(dir) == 0, "rmdir 2");
	dir[0] = '\0';
	CHECK(ward_cgroup_path((uint64_t)st.st_ino, getpid(), buf, sizeof(buf)) == NULL,
	      "removed: '%s'", buf);
	/* the root cgroup is "/" */
	CHECK(stat(mnt, &st) == 0 && ward_cgroup_path((uint64_t)st.st_ino, 0, buf, sizeof(buf)) &&
		      !strcmp(buf, "/"),
	      "root '%s'", buf);

	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
