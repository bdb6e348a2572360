/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ward/abi.h"

/* What the BPF programs read of a task's executable (bpf/exe_ident.h), as
 * user space computes it for an open file: the key (the superblock's s_dev,
 * kernel encoding, and i_ino) and what an identity value pins besides. On
 * overlayfs and btrfs stat()'s st_dev is not s_dev (a per-layer or
 * per-subvolume anonymous device): s_dev is the device of the file's mount
 * in mountinfo. See docs/egress.md, "Identity". */
struct ward_exe_ident {
	struct ward_ident_key key;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	bool unique; /* (dev, ino) names one file: no need to pin the ctime */
	bool dir_ino_stable; /* directory inode numbers persist (not overlayfs) */
	bool mount_root;     /* a mount's root: a file bind-mounted where it was opened */
};

/* fd: the file (any open mode, O_PATH too). pid: a process of the mount
 * namespace fd was opened in (its mount is looked up in /proc/PID/mountinfo),
 * 0 for ward's own. -errno (-ENOENT: its mount is not in that mountinfo). */
int ward_exe_ident_fd(int fd, pid_t pid, struct ward_exe_ident *ret);
/* The same for a path (symlinks followed), in ward's mount namespace. */
int ward_exe_ident_path(const char *path, struct ward_exe_ident *ret);
/* The value's pins for id found at path (symlinks resolved; in the mount
 * namespace of pid, 0 for ward's own): its directory's inode number, its
 * name, the ctime where (dev, ino) is not unique (the ctime alone for a
 * file bind-mounted at path, whose dentry is the source's). The flags it adds are
 * v->flags' WARD_IDENT_PIN_CTIME. -errno when the directory is gone. */
int ward_exe_ident_pin(const struct ward_exe_ident *id, pid_t pid, const char *path,
		       struct ward_ident_val *v);
