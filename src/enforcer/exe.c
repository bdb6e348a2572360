// SPDX-License-Identifier: MIT
#include "enforcer/exe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/cgroup.h"
#include "enforcer/egress.h"

#define SEARCH_MAX 8192 /* directory entries read per $PATH directory */

/* Filesystems whose getattr reports another st_dev than the superblock's
 * s_dev for a regular file: overlayfs (the layer's anonymous device when its
 * layers sit on different filesystems), btrfs and bcachefs (the
 * subvolume's). Anywhere else st_dev is s_dev (generic_fillattr). */
#define OVERLAYFS_MAGIC 0x794c7630
#define BTRFS_MAGIC 0x9123683e
#define BCACHEFS_MAGIC 0xca451a4e

static bool dev_is_not_sdev(long type)
{
	return type == OVERLAYFS_MAGIC || type == BTRFS_MAGIC || type == BCACHEFS_MAGIC;
}

/* The superblock device of mount mnt_id in /proc/PID/mountinfo (field 3,
 * which the kernel prints from sb->s_dev), kernel encoding. */
static int mountinfo_sdev(pid_t pid, uint64_t mnt_id, uint64_t *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	char name[64];
	size_t cap = 0;

	if (pid > 0)
		snprintf(name, sizeof(name), "/proc/%d/mountinfo", (int)pid);
	else
		snprintf(name, sizeof(name), "/proc/self/mountinfo");
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		uint64_t id;
		unsigned maj, min;

		if (sscanf(line, "%" SCNu64 " %*u %u:%u", &id, &maj, &min) != 3 || id != mnt_id)
			continue;
		*ret = ((uint64_t)maj << 20) | min;
		return 0;
	}
	return -ENOENT;
}

int ward_exe_ident_fd(int fd, pid_t pid, struct ward_exe_ident *ret)
{
	struct statx stx;
	struct statfs sfs;
	uint64_t dev = 0;
	int r;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT,
		  STATX_BASIC_STATS | STATX_MNT_ID, &stx) < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	*ret = (struct ward_exe_ident){
		.key = { .dev = ((uint64_t)stx.stx_dev_major << 20) | stx.stx_dev_minor,
			 .ino = stx.stx_ino },
		.ctime_nsec = stx.stx_ctime.tv_nsec,
		.ctime_sec = stx.stx_ctime.tv_sec,
		.unique = !dev_is_not_sdev((long)sfs.f_type),
		.dir_ino_stable = sfs.f_type != OVERLAYFS_MAGIC,
	};
	if (ret->unique)
		return 0;
	/* no mount id (before Linux 5.8): st_dev is all there is, and on these
	 * filesystems it may not be what the kernel reads: no identity */
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	r = mountinfo_sdev(pid, stx.stx_mnt_id, &dev);
	if (r < 0)
		return r;
	ret->key.dev = dev;
	return 0;
}

int ward_exe_ident_path(const char *path, struct ward_exe_ident *ret)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return ward_exe_ident_fd(fd, 0, ret);
}

int ward_exe_ident_pin(const struct ward_exe_ident *id, pid_t pid, const char *path,
		       struct ward_ident_val *v)
{
	const char *base = strrchr(path, '/');
	char dir[PATH_MAX + 64];
	struct stat st;
	int n;

	memset(v->name, 0, sizeof(v->name));
	v->dir_ino = 0;
	v->ctime_sec = 0;
	v->ctime_nsec = 0;
	v->pad = 0;
	v->flags &= ~WARD_IDENT_PIN_CTIME;
	if (!base)
		return -EINVAL;
	/* the kernel reads at most sizeof - 1 bytes of it (exe_ident.h) */
	snprintf(v->name, sizeof(v->name), "%s", base + 1);
	if (!id->unique) {
		v->flags |= WARD_IDENT_PIN_CTIME;
		v->ctime_sec = id->ctime_sec;
		v->ctime_nsec = id->ctime_nsec;
	}
	if (!id->dir_ino_stable)
		return 0;
	if (pid > 0)
		n = snprintf(dir, sizeof(dir), "/proc/%d/root%.*s", (int)pid,
			     (int)(base - path), path);
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
	if (n < 0 || n >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (base == path)
		snprintf(dir + n, sizeof(dir) - n, "/");
	if (stat(dir, &st) < 0)
		return -errno;
	v->dir_ino = st.st_ino;
	return 0;
}

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

int ward_exe_name(pid_t pid, uint64_t dev, uint64_t ino, char *buf, size_t len)
{
	if (ward_exe_path(pid, dev, ino, buf, len) == 0)
		return 0;
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
