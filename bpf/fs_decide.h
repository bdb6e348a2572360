/* SPDX-License-Identifier: MIT */
/* Filesystem decisions as pure functions over ABI types. Compiled into
 * bpf/fs.bpf.c and bpf/fs_lsm.bpf.c and, unchanged, into the host unit tests
 * (tests/unit/test_fs_decide.c) and the fanotify supervisor
 * (src/enforcer/fs_protect.c), so the protected-path verdict is the same
 * code whichever mechanism enforces it. */
#pragma once

#include "ward/abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* open(2) flag values (asm-generic; x86 and arm64 agree) */
#define WARD_O_ACCMODE 00000003
#define WARD_O_WRONLY 00000001
#define WARD_O_RDWR 00000002
#define WARD_O_CREAT 00000100
#define WARD_O_TRUNC 00001000
#define WARD_O_DIRECTORY 00200000
#define WARD_O_TMPFILE 020000000 /* __O_TMPFILE: O_TMPFILE is this | O_DIRECTORY */
#define WARD_AT_REMOVEDIR 0x200

#define WARD_EPERM 1
#define WARD_ENOENT 2
#define WARD_EACCES 13
#define WARD_EROFS 30

/* A result that means "the policy said no": Landlock and fanotify answer
 * EACCES/EPERM, a read-only bind mount answers EROFS before Landlock is asked. */
static __always_inline int ward_fs_is_denial(long ret)
{
	return ret == -WARD_EACCES || ret == -WARD_EPERM || ret == -WARD_EROFS;
}

/* The access an open asks for, from its flags. */
static __always_inline __u32 ward_fs_open_access(__u64 flags)
{
	__u32 a = 0;

	switch (flags & WARD_O_ACCMODE) {
	case WARD_O_WRONLY:
		a = WARD_FS_ACC_WRITE;
		break;
	case WARD_O_RDWR:
		a = WARD_FS_ACC_READ | WARD_FS_ACC_WRITE;
		break;
	default:
		a = WARD_FS_ACC_READ;
		break;
	}
	if (flags & WARD_O_CREAT)
		a |= WARD_FS_ACC_CREATE;
	/* O_TMPFILE includes O_DIRECTORY: an unnamed file created in that directory */
	if ((flags & WARD_O_TMPFILE) == WARD_O_TMPFILE)
		a |= WARD_FS_ACC_CREATE | WARD_FS_ACC_WRITE;
	else if (flags & WARD_O_DIRECTORY)
		a |= WARD_FS_ACC_DIR;
	if (flags & WARD_O_TRUNC)
		a |= WARD_FS_ACC_TRUNCATE;
	return a;
}

/* The access a syscall asks for; flags are its open flags or AT_* flags. */
static __always_inline __u32 ward_fs_access(__u8 op, __u64 flags)
{
	switch (op) {
	case WARD_FS_OP_OPEN:
	case WARD_FS_OP_OPENAT:
	case WARD_FS_OP_OPENAT2:
	case WARD_FS_OP_CREAT:
		return ward_fs_open_access(flags);
	case WARD_FS_OP_MKDIR:
	case WARD_FS_OP_MKDIRAT:
		return WARD_FS_ACC_CREATE | WARD_FS_ACC_DIR;
	case WARD_FS_OP_MKNOD:
	case WARD_FS_OP_MKNODAT:
	case WARD_FS_OP_SYMLINK:
	case WARD_FS_OP_SYMLINKAT:
		return WARD_FS_ACC_CREATE;
	case WARD_FS_OP_UNLINK:
		return WARD_FS_ACC_DELETE;
	case WARD_FS_OP_UNLINKAT:
		return WARD_FS_ACC_DELETE | ((flags & WARD_AT_REMOVEDIR) ? WARD_FS_ACC_DIR : 0);
	case WARD_FS_OP_RMDIR:
		return WARD_FS_ACC_DELETE | WARD_FS_ACC_DIR;
	case WARD_FS_OP_RENAME:
	case WARD_FS_OP_RENAMEAT:
	case WARD_FS_OP_RENAMEAT2:
		return WARD_FS_ACC_RENAME;
	case WARD_FS_OP_LINK:
	case WARD_FS_OP_LINKAT:
		return WARD_FS_ACC_LINK | WARD_FS_ACC_CREATE;
	case WARD_FS_OP_TRUNCATE:
		return WARD_FS_ACC_WRITE | WARD_FS_ACC_TRUNCATE;
	case WARD_FS_OP_CHMOD:
	case WARD_FS_OP_FCHMODAT:
	case WARD_FS_OP_FCHMODAT2:
	case WARD_FS_OP_CHOWN:
	case WARD_FS_OP_LCHOWN:
	case WARD_FS_OP_FCHOWNAT:
		return WARD_FS_ACC_SETATTR;
	case WARD_FS_OP_EXECVE:
	case WARD_FS_OP_EXECVEAT:
		return WARD_FS_ACC_EXEC;
	case WARD_FS_OP_FILE_OPEN:
		return ward_fs_open_access(flags);
	default:
		return 0;
	}
}

/* The path syscalls followed, by x86_64 syscall number (the raw sys_enter
 * tracepoint hands the number, not a per-syscall event). Other
 * architectures need their own table. */
#define WARD_NR_OPEN 2
#define WARD_NR_EXECVE 59
#define WARD_NR_TRUNCATE 76
#define WARD_NR_RENAME 82
#define WARD_NR_MKDIR 83
#define WARD_NR_RMDIR 84
#define WARD_NR_CREAT 85
#define WARD_NR_LINK 86
#define WARD_NR_UNLINK 87
#define WARD_NR_SYMLINK 88
#define WARD_NR_CHMOD 90
#define WARD_NR_CHOWN 92
#define WARD_NR_LCHOWN 94
#define WARD_NR_MKNOD 133
#define WARD_NR_OPENAT 257
#define WARD_NR_MKDIRAT 258
#define WARD_NR_MKNODAT 259
#define WARD_NR_FCHOWNAT 260
#define WARD_NR_UNLINKAT 263
#define WARD_NR_RENAMEAT 264
#define WARD_NR_LINKAT 265
#define WARD_NR_SYMLINKAT 266
#define WARD_NR_FCHMODAT 268
#define WARD_NR_RENAMEAT2 316
#define WARD_NR_EXECVEAT 322
#define WARD_NR_OPENAT2 437
#define WARD_NR_FCHMODAT2 452

#define WARD_FS_NOARG 7 /* no such argument (arguments are 0..5) */

/* Where a followed syscall keeps what the event reports: argument indexes
 * (or WARD_FS_NOARG) of the path, the second path, their directory fds and
 * the open/AT_* flags; fixed: flags implied by the call (creat). */
struct ward_fs_sysc {
	__u8 op;
	__u8 path, path2, dirfd, dirfd2, flags;
	__u64 fixed;
};

#define WARD_FS_SYSC(o, p1, p2, d1, d2, fl)                                                        \
	do {                                                                                       \
		s->op = (o);                                                                       \
		s->path = (p1);                                                                    \
		s->path2 = (p2);                                                                   \
		s->dirfd = (d1);                                                                   \
		s->dirfd2 = (d2);                                                                  \
		s->flags = (fl);                                                                   \
		s->fixed = 0;                                                                      \
	} while (0)

/* 1 and *s filled when nr is a followed path syscall, else 0. */
static __always_inline int ward_fs_syscall(long nr, struct ward_fs_sysc *s)
{
	const __u8 N = WARD_FS_NOARG;

	switch (nr) {
	case WARD_NR_OPEN:
		WARD_FS_SYSC(WARD_FS_OP_OPEN, 0, N, N, N, 1);
		break;
	case WARD_NR_OPENAT:
		WARD_FS_SYSC(WARD_FS_OP_OPENAT, 1, N, 0, N, 2);
		break;
	/* the flags are the first u64 of struct open_how (argument 2) */
	case WARD_NR_OPENAT2:
		WARD_FS_SYSC(WARD_FS_OP_OPENAT2, 1, N, 0, N, N);
		break;
	case WARD_NR_CREAT:
		WARD_FS_SYSC(WARD_FS_OP_CREAT, 0, N, N, N, N);
		s->fixed = WARD_O_CREAT | WARD_O_WRONLY | WARD_O_TRUNC;
		break;
	case WARD_NR_MKDIR:
		WARD_FS_SYSC(WARD_FS_OP_MKDIR, 0, N, N, N, N);
		break;
	case WARD_NR_MKDIRAT:
		WARD_FS_SYSC(WARD_FS_OP_MKDIRAT, 1, N, 0, N, N);
		break;
	case WARD_NR_MKNOD:
		WARD_FS_SYSC(WARD_FS_OP_MKNOD, 0, N, N, N, N);
		break;
	case WARD_NR_MKNODAT:
		WARD_FS_SYSC(WARD_FS_OP_MKNODAT, 1, N, 0, N, N);
		break;
	case WARD_NR_UNLINK:
		WARD_FS_SYSC(WARD_FS_OP_UNLINK, 0, N, N, N, N);
		break;
	case WARD_NR_UNLINKAT:
		WARD_FS_SYSC(WARD_FS_OP_UNLINKAT, 1, N, 0, N, 2);
		break;
	case WARD_NR_RMDIR:
		WARD_FS_SYSC(WARD_FS_OP_RMDIR, 0, N, N, N, N);
		break;
	case WARD_NR_RENAME:
		WARD_FS_SYSC(WARD_FS_OP_RENAME, 0, 1, N, N, N);
		break;
	case WARD_NR_RENAMEAT:
		WARD_FS_SYSC(WARD_FS_OP_RENAMEAT, 1, 3, 0, 2, N);
		break;
	case WARD_NR_RENAMEAT2:
		WARD_FS_SYSC(WARD_FS_OP_RENAMEAT2, 1, 3, 0, 2, 4);
		break;
	case WARD_NR_LINK:
		WARD_FS_SYSC(WARD_FS_OP_LINK, 0, 1, N, N, N);
		break;
	case WARD_NR_LINKAT:
		WARD_FS_SYSC(WARD_FS_OP_LINKAT, 1, 3, 0, 2, 4);
		break;
	/* symlink(target, linkpath): the path created is linkpath; target is path2 */
	case WARD_NR_SYMLINK:
		WARD_FS_SYSC(WARD_FS_OP_SYMLINK, 1, 0, N, N, N);
		break;
	case WARD_NR_SYMLINKAT:
		WARD_FS_SYSC(WARD_FS_OP_SYMLINKAT, 2, 0, 1, N, N);
		break;
	case WARD_NR_TRUNCATE:
		WARD_FS_SYSC(WARD_FS_OP_TRUNCATE, 0, N, N, N, N);
		break;
	case WARD_NR_CHMOD:
		WARD_FS_SYSC(WARD_FS_OP_CHMOD, 0, N, N, N, 1);
		break;
	case WARD_NR_FCHMODAT:
		WARD_FS_SYSC(WARD_FS_OP_FCHMODAT, 1, N, 0, N, 2);
		break;
	case WARD_NR_FCHMODAT2:
		WARD_FS_SYSC(WARD_FS_OP_FCHMODAT2, 1, N, 0, N, 3);
		break;
	case WARD_NR_CHOWN:
		WARD_FS_SYSC(WARD_FS_OP_CHOWN, 0, N, N, N, N);
		break;
	case WARD_NR_LCHOWN:
		WARD_FS_SYSC(WARD_FS_OP_LCHOWN, 0, N, N, N, N);
		break;
	case WARD_NR_FCHOWNAT:
		WARD_FS_SYSC(WARD_FS_OP_FCHOWNAT, 1, N, 0, N, 4);
		break;
	case WARD_NR_EXECVE:
		WARD_FS_SYSC(WARD_FS_OP_EXECVE, 0, N, N, N, N);
		break;
	case WARD_NR_EXECVEAT:
		WARD_FS_SYSC(WARD_FS_OP_EXECVEAT, 1, N, 0, N, 4);
		break;
	default:
		return 0;
	}
	return 1;
}

/* Token bucket: 1 when an event may be sent, 0 when it is suppressed.
 * Tokens are kept in thousandths so a low rate still refills smoothly. The
 * state is shared by the sandbox's CPUs without a lock: a race loses or
 * gains a token, never blocks or lets a burst through unbounded. */
static __always_inline int ward_fs_bucket_take(struct ward_fs_bucket *b, __u64 now_ns, __u32 rate,
					       __u32 burst)
{
	__u64 cap = (__u64)burst * 1000;
	__u64 tokens = b->tokens;

	if (b->last_ns == 0) {
		tokens = cap;
		b->last_ns = now_ns;
	}
	if (now_ns > b->last_ns) {
		__u64 dt = now_ns - b->last_ns;

		/* beyond 100 s the bucket is full anyway; keeps the product small */
		if (dt > 100000000000ull)
			dt = 100000000000ull;
		tokens += dt * rate / 1000000; /* ns * tokens/s / 1e9 * 1000 */
		if (tokens > cap)
			tokens = cap;
		b->last_ns = now_ns;
	}
	if (tokens < 1000) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - 1000;
	return 1;
}

enum ward_fs_verdict {
	WARD_FS_ALLOW = 1,
	WARD_FS_DENY = 2,
};

enum ward_fs_why {
	WARD_FS_WHY_OUTSIDE = 1,    /* opener not in the sandbox: never ours to decide */
	WARD_FS_WHY_UNPROTECTED,    /* the file is under no protected path */
	WARD_FS_WHY_NAMED,	    /* the opener's executable is one the path names */
	WARD_FS_WHY_OTHER_BINARY,   /* another executable (a copy of a named one included) */
	WARD_FS_WHY_UNKNOWN_OPENER, /* the opener's executable could not be identified */
};

/* The protected-path verdict. in_sandbox: the opener is in the sandbox's
 * cgroup; root: index of the protected path the file is under, or -1;
 * exe_known: the opener's executable was identified; exe_allowed: that
 * executable is named for root. Unknown openers are refused (fail closed). */
static __always_inline enum ward_fs_verdict ward_fs_protect_decide(int in_sandbox, int root,
								   int exe_known, int exe_allowed,
								   enum ward_fs_why *why)
{
	if (!in_sandbox) {
		*why = WARD_FS_WHY_OUTSIDE;
		return WARD_FS_ALLOW;
	}
	if (root < 0) {
		*why = WARD_FS_WHY_UNPROTECTED;
		return WARD_FS_ALLOW;
	}
	if (!exe_known) {
		*why = WARD_FS_WHY_UNKNOWN_OPENER;
		return WARD_FS_DENY;
	}
	if (!exe_allowed) {
		*why = WARD_FS_WHY_OTHER_BINARY;
		return WARD_FS_DENY;
	}
	*why = WARD_FS_WHY_NAMED;
	return WARD_FS_ALLOW;
}

/* ---- missing paths (hidden-path rows) ---- */

/* The key of a missing path in the kernel's dedup map: a keyed hash of the
 * string as the syscall got it (n bytes including the NUL, as
 * bpf_probe_read_user_str returns), 8 bytes at a time; words is the buffer
 * it was read into (bytes after the NUL are ignored). salt: a random value
 * per run (a sandboxed program cannot aim for another path's key) mixed with
 * the directory a relative path is in. Little-endian (x86_64). */
static __always_inline __u64 ward_fs_path_key(const __u64 *words, long n, __u64 salt)
{
	__u64 h = 0xcbf29ce484222325ull ^ salt;
	long len = n - 1;

	if (len < 0)
		len = 0;
	for (int i = 0; i < WARD_FS_PATH_MAX / 8; i++) {
		long left = len - i * 8;
		__u64 x;

		if (left <= 0)
			break;
		x = words[i];
		if (left < 8)
			x &= (1ull << (left * 8)) - 1;
		h = (h ^ x) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	h = (h ^ (__u64)len) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

/* ---- another process's memory (/proc/PID/mem, /proc/PID/environ) ---- */

#define WARD_PROC_SUPER_MAGIC 0x9fa0

/* enum ward_fs_procfile for a procfs file name (its first 16 bytes, NUL
 * terminated), else 0. */
static __always_inline int ward_fs_procfile(const char name[16])
{
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == '\0')
		return WARD_FS_PROC_MEM;
	if (name[0] == 'e' && name[1] == 'n' && name[2] == 'v' && name[3] == 'i' &&
	    name[4] == 'r' && name[5] == 'o' && name[6] == 'n' && name[7] == '\0')
		return WARD_FS_PROC_ENVIRON;
	return 0;
}

/* The read/write family, by syscall number (x86_64, or i386 when compat):
 * the argument index of the descriptor read from or written to, else -1.
 * A descriptor on another process's memory is checked before each call. */
static __always_inline int ward_fs_fd_syscall(long nr, int compat)
{
	if (compat) {
		switch (nr) {
		case 3:	  /* read */
		case 4:	  /* write */
		case 145: /* readv */
		case 146: /* writev */
		case 180: /* pread64 */
		case 181: /* pwrite64 */
		case 333: /* preadv */
		case 334: /* pwritev */
		case 378: /* preadv2 */
		case 379: /* pwritev2 */
		case 313: /* splice */
		case 377: /* copy_file_range */
			return 0;
		case 187: /* sendfile */
		case 239: /* sendfile64 */
			return 1;
		default:
			return -1;
		}
	}
	switch (nr) {
	case 0:	  /* read */
	case 1:	  /* write */
	case 17:  /* pread64 */
	case 18:  /* pwrite64 */
	case 19:  /* readv */
	case 20:  /* writev */
	case 295: /* preadv */
	case 296: /* pwritev */
	case 327: /* preadv2 */
	case 328: /* pwritev2 */
	case 275: /* splice */
	case 326: /* copy_file_range */
		return 0;
	case 40: /* sendfile(out, in, ...) */
		return 1;
	default:
		return -1;
	}
}

/* i386 (int 0x80) opens: followed only to check the new descriptor. */
static __always_inline int ward_fs_compat_open(long nr)
{
	return nr == 5 /* open */ || nr == 295 /* openat */ || nr == 437 /* openat2 */ ||
	       nr == 8 /* creat */;
}

static __always_inline int ward_fs_is_open(__u8 op)
{
	return op == WARD_FS_OP_OPEN || op == WARD_FS_OP_OPENAT || op == WARD_FS_OP_OPENAT2 ||
	       op == WARD_FS_OP_CREAT;
}
