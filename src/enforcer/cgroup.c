// SPDX-License-Identifier: MIT
#include "enforcer/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/owner.h"

DEFINE_CLEANUP(DIR *, closedir)

/* Mount points in mountinfo escape space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

const char *ward_cgroup2_mount(void)
{
	static char mnt[PATH_MAX];
	static bool done;
	_cleanup_fclose_ FILE *f = NULL;
	char line[4096];

	if (done)
		return mnt[0] ? mnt : NULL;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char *fields[5] = { 0 }, *save = NULL, *tok;
		int n = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok && n < 5;
		     tok = strtok_r(NULL, " ", &save))
			fields[n++] = tok;
		if (n < 5)
			continue;
		unescape(fields[4]);
		snprintf(mnt, sizeof(mnt), "%s", fields[4]);
		break;
	}
	done = true;
	return mnt[0] ? mnt : NULL;
}

static int depth(const char *p)
{
	int n = 0;

	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			n++;
	return n;
}

int ward_cgroup_level(const char *path)
{
	const char *mnt = ward_cgroup2_mount();
	_cleanup_fclose_ FILE *f = NULL;
	char line[4096];
	size_t n;
	int root = -1;

	if (!mnt)
		return -ENOENT;
	n = strlen(mnt);
	if (strncmp(path, mnt, n) || (path[n] && path[n] != '/'))
		return -EINVAL;
	/* the mount's root within the hierarchy (field 4 of mountinfo) */
	f = fopen("/proc/self/mountinfo", "re");
	while (f && root < 0 && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *save = NULL, *fields[5] = { 0 }, *tok;
		int k = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok && k < 5;
		     tok = strtok_r(NULL, " ", &save))
			fields[k++] = tok;
		if (k == 5) {
			unescape(fields[4]);
			if (!strcmp(fields[4], mnt))
				root = depth(fields[3]);
		}
	}
	return (root < 0 ? 0 : root) + depth(path + n);
}

static int read_small(int dirfd, const char *name, char *buf, size_t len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

static bool populated(int dirfd)
{
	char buf[256];

	if (read_small(dirfd, "cgroup.events", buf, sizeof(buf)) < 0)
		return false;
	return !strstr(buf, "populated 0");
}

/* The (empty) child cgroups of a leaf: its sessions' s-<id>. */
static void remove_children(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_(closedirp) DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d && dfd >= 0)
		close(dfd);
	while (d && (de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
}

int ward_cgroup_reap_stale(struct ward_error *err)
{
	const char *mnt = ward_cgroup2_mount();
	char base[PATH_MAX];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int removed = 0;

	if (!mnt || (size_t)snprintf(base, sizeof(base), "%s/ward", mnt) >= sizeof(base))
		return 0;
	d = opendir(base);
	if (!d)
		return errno == ENOENT ? 0 : ward_err(err, -errno, "open '%s'", base);
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -1;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* A live ward holds an exclusive flock on its leaf for the whole run. */
		if (fd < 0 || populated(fd) || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		remove_children(fd);
		if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
			removed++;
	}
	return removed + ward_cgroup_v1_reap_stale();
}

int ward_cgroup_create(const char *id, struct ward_cgroup *ret, struct ward_error *err)
{
	const char *mnt = ward_cgroup2_mount();
	char base[PATH_MAX];
	struct stat a, b;
	int fd;

	ret->fd = -1;
	ret->path[0] = '\0';
	if (!mnt)
		return ward_errx(err, -ENOENT, "no cgroup2 mount in /proc/self/mountinfo");
	if ((size_t)snprintf(base, sizeof(base), "%s/ward", mnt) >= sizeof(base) - 64)
		return ward_errx(err, -ENAMETOOLONG, "cgroup2 mount path too long");
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir '%s'", base);
	if ((size_t)snprintf(ret->path, sizeof(ret->path), "%s/%s", base, id) >= sizeof(ret->path))
		return ward_errx(err, -ENAMETOOLONG, "cgroup path too long");
	if (mkdir(ret->path, 0755) < 0)
		return ward_err(err, -errno, "mkdir '%s'", ret->path);
	fd = open(ret->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int r = ward_err(err, -errno, "open '%s'", ret->path);

		rmdir(ret->path);
		ret->path[0] = '\0';
		return r;
	}
	/* Mark it live (see ward_cgroup_reap_stale), then make sure another
	 * ward's reaper did not remove it between mkdir and flock. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || stat(ret->path, &a) < 0 || fstat(fd, &b) < 0 ||
	    a.st_ino != b.st_ino) {
		close(fd);
		ret->path[0] = '\0';
		return ward_errx(err, -EBUSY, "cgroup leaf %s vanished while being created", id);
	}
	ret->fd = fd;
	/* its name in the rows' cache now: events read after the sandbox's
	 * end (and the leaf's removal) still name it (common/owner.h) */
	(void)ward_cgroup_path((uint64_t)b.st_ino, 0, base, sizeof(base));
	return 0;
}

int ward_cgroup_destroy(struct ward_cgroup *cg)
{
	int r = 0;

	if (!cg->path[0])
		return 0;
	if (cg->fd >= 0) {
		_cleanup_close_ int kfd = openat(cg->fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);

		if (kfd >= 0 && populated(cg->fd) && write(kfd, "1", 1) < 0)
			r = -errno;
		/* The kill is asynchronous: wait (bounded, ~2 s) for the leaf to empty. */
		for (int i = 0; i < 2000 && populated(cg->fd); i++)
			poll(NULL, 0, 1);
	}
	/* the sessions' cgroups (s-<id>), empty by now: the leaf goes only
	 * without children */
	if (cg->fd >= 0)
		remove_children(cg->fd);
	if (rmdir(cg->path) < 0 && errno != ENOENT)
		r = -errno;
	ward_cgroup_v1_destroy(cg);
	if (cg->fd >= 0)
		close(cg->fd);
	cg->fd = -1;
	cg->path[0] = '\0';
	return r;
}
