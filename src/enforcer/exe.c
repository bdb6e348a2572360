// SPDX-License-Identifier: MIT
#include "enforcer/exe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/cgroup.h"
#include "enforcer/egress.h"

#define SEARCH_MAX 8192 /* directory entries read per $PATH directory */

int ward_exe_path(pid_t pid, uint64_t dev, uint64_t ino, char *buf, size_t len)
{
	_cleanup_close_ int fd = -1;
	struct ward_exe_ident id;
	char link[64];
	ssize_t n;
	int r;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* after the readlink: if the identity still matches, the name was its name */
	fd = open(link, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = ward_exe_ident_fd(fd, pid, &id);
	if (r < 0)
		return r;
	if (id.key.dev != dev || id.key.ino != ino)
		return -ESRCH;
	return 0;
}

/* The process is gone: the identity looked for in the directories of $PATH
 * (bounded), where the commands an agent runs usually are. -ENOENT if not. */
static int ward_exe_search_path(uint64_t dev, uint64_t ino, char *buf, size_t len)
{
	const char *env = secure_getenv("PATH");
	char dirs[4096], found[PATH_MAX], real[PATH_MAX], *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s",
		 env ? env : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		DIR *dir = d[0] == '/' ? opendir(d) : NULL;
		struct dirent *de;
		unsigned n = 0;

		if (!dir)
			continue;
		while ((de = readdir(dir)) && n++ < SEARCH_MAX) {
			struct ward_exe_ident id;
			int fd;

			if (de->d_ino != ino)
				continue;
			fd = openat(dirfd(dir), de->d_name, O_PATH | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (ward_exe_ident_fd(fd, 0, &id) < 0 || id.key.ino != ino ||
			    id.key.dev != dev) {
				close(fd);
				continue;
			}
			close(fd);
			snprintf(found, sizeof(found), "%s/%s", d, de->d_name);
			closedir(dir);
			/* /bin/x and /usr/bin/x are one file on merged-/usr systems */
			if (!realpath(found, real))
				snprintf(real, sizeof(real), "%s", found);
			snprintf(buf, len, "%s", real);
			return 0;
		}
		closedir(dir);
	}
	return -ENOENT;
}

int ward_exe_name(pid_t pid, uint64_t dev, uint64_t ino, const char *kernel_name, char *buf,
		  size_t len)
{
	if (ward_exe_path(pid, dev, ino, buf, len) == 0)
		return 0;
	if (kernel_name && kernel_name[0] == '/') {
		if ((size_t)snprintf(buf, len, "%s", kernel_name) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	return ward_exe_search_path(dev, ino, buf, len);
}

uint64_t ward_pid_cgroup_id(pid_t pid)
{
	char name[64], line[PATH_MAX], path[2 * PATH_MAX];
	_cleanup_fclose_ FILE *f = NULL;
	const char *mnt = ward_cgroup2_mount();
	struct stat st;

	if (pid <= 0 || !mnt)
		return 0;
	snprintf(name, sizeof(name), "/proc/%d/cgroup", (int)pid);
	f = fopen(name, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", mnt, line + 3);
		/* a cgroup v2 id is its directory's inode */
		return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
	}
	return 0;
}
