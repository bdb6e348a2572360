// SPDX-License-Identifier: MIT OR GPL-2.0
/* Learn mode: the paths a sandbox reads, writes and executes
 * (docs/learn.md, docs/filesystem.md "Learn mode").
 *
 * One raw tracepoint on sys_exit, the attachment bpf/fs.bpf.c uses (BPF LSM,
 * fentry and kprobes are not available everywhere): it returns at once unless
 * the syscall succeeded, the task is in this sandbox's cgroup subtree and the
 * syscall is one of the path syscalls (ward_fs_syscall(), x86_64 numbers).
 *
 *   - an open (open, openat, openat2, creat) is named by the file it opened:
 *     the new descriptor's dentry is walked up to the root of the task's
 *     mount namespace, so the path is absolute, symlinks resolved, whatever
 *     the caller passed (relative, through a dirfd);
 *   - a successful execve/execveat by the new executable (mm->exe_file);
 *   - the other path syscalls (mkdir, unlink, rename, link, symlink,
 *     truncate, chmod, chown, mknod) by the path they were given, and when it
 *     is relative, the walk of the directory it was relative to (cwd or
 *     dirfd); rename and link also by their second path.
 *
 * Deduplicated in the kernel: an LRU hash keyed by (executable dev/ino, the
 * file's dev/ino — or, for the path-only syscalls, a salted hash of the path
 * and its directory — and read|write|exec) remembers what was sent; a key is
 * remembered only once its event is in the ring buffer, so an event lost to
 * the rate limit is sent at a later attempt. Rate-limited in the kernel by
 * the token bucket of bpf/fs.bpf.c; the events over it are counted in
 * `suppressed`, which user space reports in a row.
 *
 * procfs files (the sandbox's own /proc) are not sent: they are ward's, and
 * each process's would be a new key; nor files without a name (memfd,
 * unlinked). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "fs_decide.h"
#include "exe_ident.h"
#include "fs_task.h"
#include "fs_dir.h"
#include "sandbox_scope.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 rate_per_sec = WARD_FS_LEARN_RATE_PER_SEC;
const volatile __u32 rate_burst = WARD_FS_LEARN_RATE_BURST;
const volatile __u64 key_salt = 0;

struct ward_fs_bucket bucket = {};
__u64 suppressed = 0;	 /* events over the rate limit */
__u64 ringbuf_drops = 0; /* events the ring buffer had no room for */
__u64 seen = 0;		 /* successful path syscalls looked at */
__u64 deduplicated = 0;	 /* of those, already sent for the same key */
__u64 unnamed = 0;	 /* paths too long or too deep to name in the kernel */

struct seen_key {
	__u64 exe_dev, exe_ino;
	__u64 a, b; /* the file's dev and ino, or (path hash, 0) */
	__u32 class;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARD_FS_LEARN_MAX_SEEN);
	__type(key, struct seen_key);
	__type(value, __u8);
} learn_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_FS_LEARN_RINGBUF_BYTES);
} events SEC(".maps");

/* ---- events ---- */

/* 1 when the key was new and the event may go out (remembered only then). */
static __always_inline int admit(struct seen_key *k)
{
	if (bpf_map_lookup_elem(&learn_seen, k)) {
		__sync_fetch_and_add(&deduplicated, 1);
		return 0;
	}
	if (!ward_fs_bucket_take(&bucket, bpf_ktime_get_ns(), rate_per_sec, rate_burst)) {
		__sync_fetch_and_add(&suppressed, 1);
		return 0;
	}
	return 1;
}

static __always_inline struct ward_fs_learn_event *reserve(struct seen_key *k)
{
	struct ward_fs_learn_event *out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	__u8 one = 1;

	if (!out) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return NULL;
	}
	bpf_map_update_elem(&learn_seen, k, &one, BPF_ANY);
	return out;
}

static __always_inline void fill(struct ward_fs_learn_event *out, const struct seen_key *k, __u8 op,
				 __u8 class, __u32 access)
{
	__u64 id = bpf_get_current_pid_tgid();

	out->version = WARD_ABI_VERSION;
	out->op = op;
	out->class = class;
	out->flags = 0;
	out->pad[0] = out->pad[1] = out->pad[2] = 0;
	out->pid = (__u32)id;
	out->tgid = id >> 32;
	out->dirfd = WARD_FS_AT_FDCWD;
	out->access = access;
	out->ts_ns = bpf_ktime_get_ns();
	out->dev = k->exe_dev;
	out->ino = k->exe_ino;
	out->cgid = bpf_get_current_cgroup_id();
	out->path[0] = '\0';
}

/* A file the task holds (a new descriptor, its executable): keyed by the
 * file's identity, named by the kernel. */
static __always_inline void file_event(struct task_struct *t, const struct ward_ident_key *exe,
				       struct file *f, __u8 op, __u8 class, __u32 access)
{
	struct seen_key k = { .exe_dev = exe->dev, .exe_ino = exe->ino, .class = class };
	struct ward_fs_learn_event *out;
	struct inode *ino;
	struct scratch *sc;
	__u32 zero = 0;
	int pos;

	if (!f)
		return;
	ino = BPF_CORE_READ(f, f_inode);
	/* procfs is the sandbox's own; a file without a name (memfd, deleted)
	 * has no path to learn */
	if (!ino || BPF_CORE_READ(ino, i_sb, s_magic) == WARD_PROC_SUPER_MAGIC ||
	    !BPF_CORE_READ(ino, __i_nlink))
		return;
	k.a = BPF_CORE_READ(ino, i_sb, s_dev);
	k.b = BPF_CORE_READ(ino, i_ino);
	if (!admit(&k))
		return;
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return;
	pos = dir_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), sc);
	if (pos < 0) {
		/* not nameable here: counted, the key stays new */
		__sync_fetch_and_add(&unnamed, 1);
		return;
	}
	out = reserve(&k);
	if (!out)
		return;
	fill(out, &k, op, class, access);
	if (((BPF_CORE_READ(ino, i_mode)) & 0170000) == 0040000)
		out->flags |= WARD_FS_LEARN_EV_DIR;
	pos &= WARD_FS_PMASK;
	bpf_probe_read_kernel(out->path, WARD_FS_PATH_MAX - pos, sc->dir + pos);
	out->flags |= WARD_FS_LEARN_EV_KERNEL;
	bpf_ringbuf_submit(out, 0);
}

/* A path given to a syscall that returns no descriptor: keyed by its
 * string (and the directory a relative one is in), named by the kernel when
 * relative and the directory can be walked, else by user space. */
static __always_inline void path_event(struct task_struct *t, const struct ward_ident_key *exe,
				       __u64 uptr, int dirfd, __u8 op, __u32 access)
{
	struct seen_key k = { .exe_dev = exe->dev,
			      .exe_ino = exe->ino,
			      .class = WARD_FS_LEARN_WRITE };
	struct ward_fs_learn_event *out;
	struct dentry *dd = NULL;
	struct vfsmount *dm = NULL;
	struct scratch *sc;
	__u64 salt = key_salt;
	__u32 zero = 0;
	int rel, pos = -1;
	long n;

	if (!uptr)
		return;
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return;
	n = bpf_probe_read_user_str(sc->words, sizeof(sc->words), (const void *)uptr);
	if (n <= 1)
		return;
	rel = ((const char *)sc->words)[0] != '/';
	if (rel) {
		if (dirfd == WARD_FS_AT_FDCWD) {
			dd = BPF_CORE_READ(t, fs, pwd.dentry);
			dm = BPF_CORE_READ(t, fs, pwd.mnt);
		} else {
			struct file *f = fd_file(t, dirfd);

			if (!f)
				return;
			dd = BPF_CORE_READ(f, f_path.dentry);
			dm = BPF_CORE_READ(f, f_path.mnt);
		}
		salt ^= (__u64)dd * 0x9e3779b97f4a7c15ull;
	}
	k.a = ward_fs_path_key(sc->words, n, salt);
	if (!admit(&k))
		return;
	out = reserve(&k);
	if (!out)
		return;
	fill(out, &k, op, WARD_FS_LEARN_WRITE, access);
	out->dirfd = dirfd;
	if (rel && (pos = dir_path(dd, dm, sc)) >= 0) {
		/* "<dir>/<name>" built in place: the directory ends at
		 * dir[WARD_FS_PMASK], the name goes right after it */
		int dlen = WARD_FS_PMASK - pos, start = pos;

		if (dlen + n <= WARD_FS_PMASK) {
			if (dlen == 1) /* "/" */
				start = WARD_FS_PMASK;
			sc->dir[WARD_FS_PMASK] = '/';
			bpf_probe_read_user_str(sc->dir + WARD_FS_PATH_MAX, WARD_FS_PATH_MAX,
						(const void *)uptr);
			bpf_probe_read_kernel(out->path, WARD_FS_PATH_MAX,
					      sc->dir + (start & WARD_FS_PMASK));
			out->path[WARD_FS_PMASK] = '\0';
			out->flags |= WARD_FS_LEARN_EV_KERNEL;
			bpf_ringbuf_submit(out, 0);
			return;
		}
	}
	n = bpf_probe_read_user_str(out->path, WARD_FS_PATH_MAX, (const void *)uptr);
	if (n < 0)
		out->path[0] = '\0';
	else if (n == WARD_FS_PATH_MAX)
		out->flags |= WARD_FS_LEARN_EV_TRUNCATED;
	if (!rel)
		out->flags |= WARD_FS_LEARN_EV_KERNEL;
	bpf_ringbuf_submit(out, 0);
}

SEC("raw_tp/sys_exit")
int fs_learn_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct ward_ident_key exe;
	struct task_struct *t;
	struct ward_fs_sysc s;
	struct ward_x86_regs r;
	long ret = (long)ctx->args[1];
	__u64 flags;
	__u32 access;

	if (ret < 0 || !in_sandbox())
		return 0;
	t = (struct task_struct *)bpf_get_current_task_btf();
	if (t->thread_info.status & WARD_TS_COMPAT)
		return 0;
	if (bpf_probe_read_kernel(&r, sizeof(r), (const void *)ctx->args[0]) < 0)
		return 0;
	if (!ward_fs_syscall((long)r.orig_ax, &s))
		return 0;
	__sync_fetch_and_add(&seen, 1);
	exe_ident(t, &exe);
	flags = s.flags != WARD_FS_NOARG ? sys_arg(&r, s.flags) : s.fixed;
	if (s.op == WARD_FS_OP_OPENAT2) {
		flags = 0;
		bpf_probe_read_user(&flags, sizeof(flags), (const void *)sys_arg(&r, 2));
	}
	access = ward_fs_access(s.op, flags);
	if (ward_fs_is_open(s.op)) {
		/* O_PATH opens neither read nor write */
		if (flags & 010000000)
			return 0;
		file_event(t, &exe, fd_file(t, (int)ret), s.op,
			   access & (WARD_FS_ACC_WRITE | WARD_FS_ACC_CREATE | WARD_FS_ACC_TRUNCATE)
				   ? WARD_FS_LEARN_WRITE
				   : WARD_FS_LEARN_READ,
			   access);
		return 0;
	}
	if (s.op == WARD_FS_OP_EXECVE || s.op == WARD_FS_OP_EXECVEAT) {
		struct mm_struct *mm = t->mm;

		/* the new image: its executable is the file, and the identity */
		if (mm)
			file_event(t, &exe, BPF_CORE_READ(mm, exe_file), s.op, WARD_FS_LEARN_EXEC,
				   access);
		return 0;
	}
	path_event(t, &exe, sys_arg(&r, s.path),
		   s.dirfd != WARD_FS_NOARG ? (int)sys_arg(&r, s.dirfd) : WARD_FS_AT_FDCWD, s.op,
		   access);
	/* rename and link also write where the second path is */
	if (s.path2 != WARD_FS_NOARG && s.op != WARD_FS_OP_SYMLINK && s.op != WARD_FS_OP_SYMLINKAT)
		path_event(t, &exe, sys_arg(&r, s.path2),
			   s.dirfd2 != WARD_FS_NOARG ? (int)sys_arg(&r, s.dirfd2)
						     : WARD_FS_AT_FDCWD,
			   s.op, access);
	return 0;
}
