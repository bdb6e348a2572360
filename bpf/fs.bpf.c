// SPDX-License-Identifier: MIT OR GPL-2.0
/* Filesystem denials observed in the kernel (docs/filesystem.md).
 *
 * sys_enter_* tracepoints of the path syscalls capture, for tasks of one
 * sandbox's cgroup only, the path(s) as given (bounded, a cut path is marked
 * truncated), the flags and the directory fd under the thread's pid_tgid;
 * sys_exit_* sees the result. A refused call (EACCES, EPERM, EROFS) becomes
 * a ring buffer event with the executable's (dev, inode), rate-limited by a
 * token bucket whose suppressed count user space turns into a row.
 *
 * One instance per sandbox: the cgroup id is rodata, so two sandboxes never
 * see each other's events. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "fs_decide.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u64 cgroup_id = 0;
const volatile __u32 rate_per_sec = WARD_FS_RATE_PER_SEC;
const volatile __u32 rate_burst = WARD_FS_RATE_BURST;

/* read by user space through the skeleton's bss */
struct ward_fs_bucket bucket = {};
__u64 suppressed = 0;	  /* denials over the rate limit */
__u64 ringbuf_drops = 0;  /* denials the ring buffer had no room for */
__u64 inflight_full = 0;  /* syscalls not followed: in-flight map full */

/* What the entry saw. The strings are read at exit, and only for a refused
 * call: copying 512 bytes per open would cost more than the open (see
 * docs/filesystem.md). The memory is the caller's own syscall argument,
 * still mapped while it waits for the result. */
struct inflight_call {
	__u64 path;  /* user pointers */
	__u64 path2;
	__u64 oflags;
	__u64 ts_ns;
	__s32 dirfd;
	__s32 dirfd2;
	__u32 access;
	__u8 op;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_INFLIGHT);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct inflight_call);
} inflight SEC(".maps");

/* threads whose open the protect layer (fanotify, bpf-lsm) refused and
 * logged itself: tid -> CLOCK_MONOTONIC of the refusal. The exit program
 * drops the matching syscall so one refusal is one row. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_DENIED);
	__type(key, __u32);
	__type(value, __u64);
} protect_denied SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_RINGBUF_BYTES);
} events SEC(".maps");

#define NONE (-1)

static __always_inline __u8 read_path(char *dst, const char *src)
{
	char next = 0;
	long n;

	if (!src)
		return WARD_FS_EV_NOPATH;
	n = bpf_probe_read_user_str(dst, WARD_FS_PATH_MAX, src);
	if (n < 0) {
		dst[0] = '\0';
		return WARD_FS_EV_NOPATH;
	}
	/* a full buffer is complete only when the string really ended there */
	if (n == WARD_FS_PATH_MAX &&
	    (bpf_probe_read_user(&next, 1, src + WARD_FS_PATH_MAX - 1) < 0 || next != '\0'))
		return WARD_FS_EV_TRUNCATED;
	return 0;
}

static __always_inline int on_enter(struct trace_event_raw_sys_enter *ctx, __u8 op, int p1,
				    int p2, int dfd1, int dfd2, int fl, __u64 fixed_flags)
{
	struct inflight_call c = {};
	__u64 id, a[6];

	if (bpf_get_current_cgroup_id() != cgroup_id)
		return 0;
	/* the verifier wants constant offsets into ctx: copy the arguments once */
	a[0] = ctx->args[0];
	a[1] = ctx->args[1];
	a[2] = ctx->args[2];
	a[3] = ctx->args[3];
	a[4] = ctx->args[4];
	a[5] = ctx->args[5];
	id = bpf_get_current_pid_tgid();
	c.op = op;
	c.ts_ns = bpf_ktime_get_ns();
	c.dirfd = dfd1 >= 0 ? (__s32)a[dfd1] : WARD_FS_AT_FDCWD;
	c.dirfd2 = dfd2 >= 0 ? (__s32)a[dfd2] : WARD_FS_AT_FDCWD;
	c.oflags = fixed_flags;
	if (fl >= 0)
		c.oflags = a[fl];
	if (op == WARD_FS_OP_OPENAT2) {
		/* struct open_how starts with the u64 flags */
		c.oflags = 0;
		bpf_probe_read_user(&c.oflags, sizeof(c.oflags), (const void *)a[2]);
	}
	c.access = ward_fs_access(op, c.oflags);
	c.path = a[p1];
	c.path2 = p2 >= 0 ? a[p2] : 0;
	if (bpf_map_update_elem(&inflight, &id, &c, BPF_ANY) < 0)
		__sync_fetch_and_add(&inflight_full, 1);
	return 0;
}

static __always_inline int on_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *t;
	struct inflight_call *ev;
	struct ward_fs_event *out;
	__u8 f;
	struct file *exe;
	__u64 id, *denied_at;
	__u32 tid;
	long ret;

	if (bpf_get_current_cgroup_id() != cgroup_id)
		return 0;
	id = bpf_get_current_pid_tgid();
	ev = bpf_map_lookup_elem(&inflight, &id);
	if (!ev)
		return 0;
	ret = ctx->ret;
	if (!ward_fs_is_denial(ret))
		goto done;
	tid = (__u32)id;
	denied_at = bpf_map_lookup_elem(&protect_denied, &tid);
	if (denied_at) {
		__u64 at = *denied_at;

		bpf_map_delete_elem(&protect_denied, &tid);
		/* refused during this very syscall: the protect layer has its row */
		if (at >= ev->ts_ns)
			goto done;
	}
	if (!ward_fs_bucket_take(&bucket, bpf_ktime_get_ns(), rate_per_sec, rate_burst)) {
		__sync_fetch_and_add(&suppressed, 1);
		goto done;
	}
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		goto done;
	}
	out->version = WARD_ABI_VERSION;
	out->op = ev->op;
	out->access = ev->access;
	out->pid = (__u32)id;
	out->tgid = id >> 32;
	out->ret = (__s32)ret;
	out->dirfd = ev->dirfd;
	out->dirfd2 = ev->dirfd2;
	out->rule = ~0u;
	out->oflags = ev->oflags;
	out->ts_ns = ev->ts_ns;
	out->dev = 0;
	out->ino = 0;
	f = read_path(out->path, (const char *)ev->path);
	out->path2[0] = '\0';
	if (ev->path2 && (read_path(out->path2, (const char *)ev->path2) & WARD_FS_EV_TRUNCATED))
		f |= WARD_FS_EV_TRUNCATED2;
	out->flags = f;
	t = (struct task_struct *)bpf_get_current_task_btf();
	exe = BPF_CORE_READ(t, mm, exe_file);
	if (exe) {
		out->ino = BPF_CORE_READ(exe, f_inode, i_ino);
		out->dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
	}
	bpf_get_current_comm(out->comm, sizeof(out->comm));
	/* denials are rate-limited, so waking the reader each time is cheap, and
	 * it names the binary from /proc while the process most likely still runs */
	bpf_ringbuf_submit(out, BPF_RB_FORCE_WAKEUP);
done:
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

/* NAME, op, path arg, path2 arg, dirfd arg, dirfd2 arg, flags arg, fixed flags */
#define FS_TP(name, op, p1, p2, d1, d2, fl, fixed)                                          \
	SEC("tp/syscalls/sys_enter_" #name)                                                   \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                               \
	{                                                                                     \
		return on_enter(ctx, op, p1, p2, d1, d2, fl, fixed);                          \
	}                                                                                     \
	SEC("tp/syscalls/sys_exit_" #name)                                                    \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                 \
	{                                                                                     \
		return on_exit(ctx);                                                          \
	}

FS_TP(open, WARD_FS_OP_OPEN, 0, NONE, NONE, NONE, 1, 0)
FS_TP(openat, WARD_FS_OP_OPENAT, 1, NONE, 0, NONE, 2, 0)
FS_TP(openat2, WARD_FS_OP_OPENAT2, 1, NONE, 0, NONE, NONE, 0)
FS_TP(creat, WARD_FS_OP_CREAT, 0, NONE, NONE, NONE, NONE,
      WARD_O_CREAT | WARD_O_WRONLY | WARD_O_TRUNC)
FS_TP(mkdir, WARD_FS_OP_MKDIR, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(mkdirat, WARD_FS_OP_MKDIRAT, 1, NONE, 0, NONE, NONE, 0)
FS_TP(mknod, WARD_FS_OP_MKNOD, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(mknodat, WARD_FS_OP_MKNODAT, 1, NONE, 0, NONE, NONE, 0)
FS_TP(unlink, WARD_FS_OP_UNLINK, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(unlinkat, WARD_FS_OP_UNLINKAT, 1, NONE, 0, NONE, 2, 0)
FS_TP(rmdir, WARD_FS_OP_RMDIR, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(rename, WARD_FS_OP_RENAME, 0, 1, NONE, NONE, NONE, 0)
FS_TP(renameat, WARD_FS_OP_RENAMEAT, 1, 3, 0, 2, NONE, 0)
FS_TP(renameat2, WARD_FS_OP_RENAMEAT2, 1, 3, 0, 2, 4, 0)
FS_TP(link, WARD_FS_OP_LINK, 0, 1, NONE, NONE, NONE, 0)
FS_TP(linkat, WARD_FS_OP_LINKAT, 1, 3, 0, 2, 4, 0)
/* symlink(target, linkpath): the path created is linkpath; target goes to path2 */
FS_TP(symlink, WARD_FS_OP_SYMLINK, 1, 0, NONE, NONE, NONE, 0)
FS_TP(symlinkat, WARD_FS_OP_SYMLINKAT, 2, 0, 1, NONE, NONE, 0)
FS_TP(truncate, WARD_FS_OP_TRUNCATE, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(chmod, WARD_FS_OP_CHMOD, 0, NONE, NONE, NONE, 1, 0)
FS_TP(fchmodat, WARD_FS_OP_FCHMODAT, 1, NONE, 0, NONE, 2, 0)
FS_TP(fchmodat2, WARD_FS_OP_FCHMODAT2, 1, NONE, 0, NONE, 3, 0)
FS_TP(chown, WARD_FS_OP_CHOWN, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(lchown, WARD_FS_OP_LCHOWN, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(fchownat, WARD_FS_OP_FCHOWNAT, 1, NONE, 0, NONE, 4, 0)
FS_TP(execve, WARD_FS_OP_EXECVE, 0, NONE, NONE, NONE, NONE, 0)
FS_TP(execveat, WARD_FS_OP_EXECVEAT, 1, NONE, 0, NONE, 4, 0)
