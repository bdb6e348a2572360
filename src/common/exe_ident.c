// SPDX-License-Identifier: MIT
/* The executable identity the BPF programs read (bpf/exe_ident.h), computed
 * in user space: shared by the enforcer (identity maps, rows) and the proxy
 * (its check that a path still is the file the kernel named). */
#include "common/exe_ident.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"

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
		.mount_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
			      (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT),
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
	if (id->mount_root) {
		/* a file bind-mounted over path: the kernel's dentry is the
		 * source's, whose name and directory this path does not tell;
		 * its ctime pins it instead */
		v->flags |= WARD_IDENT_PIN_CTIME;
		v->ctime_sec = id->ctime_sec;
		v->ctime_nsec = id->ctime_nsec;
		return 0;
	}
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
