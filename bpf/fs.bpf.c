// SPDX-License-Identifier: MIT OR GPL-2.0
/* Filesystem denials observed in the kernel (docs/filesystem.md).
 *
 * Two raw tracepoints, sys_enter and sys_exit, see every syscall of every
 * task on the machine: they return at once unless the task is in this
 * sandbox's cgroup (the first test) and the syscall one of the path
 * syscalls (ward_fs_syscall() in fs_decide.h, x86_64 numbers). For those,
 * entry keeps the path pointer(s), the flags and the directory fd under the
 * thread's pid_tgid; exit sees the result. A refused call (EACCES, EPERM,
 * EROFS) becomes a ring buffer event with the path(s) as given (bounded, a
 * cut path is marked truncated) and the executable's (dev, inode),
 * rate-limited by a token bucket whose suppressed count user space turns
 * into a row.
 *
 * Two attachments instead of one classic tracepoint per syscall (54): ward
 * starts in milliseconds, and tearing them down costs two detaches, not 54
 * (each waits for a tracepoint grace period).
 *
 * One instance per sandbox: the cgroup id filters, so two sandboxes never see
 * each other's events. It is data, not rodata: ward loads the programs while
 * the sandbox is being built and writes the id once its cgroup exists, before
 * attaching (0 matches no task). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "fs_decide.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

volatile __u64 cgroup_id = 0;
const volatile __u32 rate_per_sec = WARD_FS_RATE_PER_SEC;
const volatile __u32 rate_burst = WARD_FS_RATE_BURST;

/* read by user space through the skeleton's bss */
struct ward_fs_bucket bucket = {};
__u64 suppressed = 0;	  /* denials over the rate limit */
__u64 ringbuf_drops = 0;  /* denials the ring buffer had no room for */
__u64 inflight_full = 0;  /* syscalls not followed: no task storage */

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
	__u8 live; /* set at entry, cleared at exit */
	__u8 pad[2];
};

/* per thread: task storage is a pointer in the task, much cheaper than a
 * hash insert and delete per syscall (the benchmark's open+close) */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
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

/* x86_64 thread_info.status: the task is in a 32-bit (int 0x80) syscall,
 * whose numbers are not the ones ward_fs_syscall() knows */
#define WARD_TS_COMPAT 0x0002

/* The x86_64 struct pt_regs as ptrace(2) exposes it (struct
 * user_regs_struct): an ABI, so plain reads at fixed offsets, not CO-RE
 * relocations — each CO-RE type makes libbpf search vmlinux BTF at load. */
struct ward_x86_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax;
};

/* Syscall argument i from the saved registers (x86_64 calling convention). */
static __always_inline __u64 sys_arg(const struct ward_x86_regs *r, __u8 i)
{
	switch (i) {
	case 0:
		return r->di;
	case 1:
		return r->si;
	case 2:
		return r->dx;
	case 3:
		return r->r10;
	case 4:
		return r->r8;
	case 5:
		return r->r9;
	default:
		return 0;
	}
}

SEC("raw_tp/sys_enter")
int fs_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct inflight_call *c;
	struct ward_fs_sysc s;
	struct task_struct *t;
	struct ward_x86_regs r;

	/* every syscall on the machine comes here: the cheapest test first */
	if (bpf_get_current_cgroup_id() != cgroup_id)
		return 0;
	if (!ward_fs_syscall((long)ctx->args[1], &s))
		return 0;
	t = (struct task_struct *)bpf_get_current_task_btf();
	/* a trusted pointer: a plain load, no helper call */
	if (t->thread_info.status & WARD_TS_COMPAT)
		return 0;
	/* one copy of the registers, not one helper call per argument */
	if (bpf_probe_read_kernel(&r, sizeof(r), (const void *)ctx->args[0]) < 0)
		return 0;
	c = bpf_task_storage_get(&inflight, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		__sync_fetch_and_add(&inflight_full, 1);
		return 0;
	}
	c->op = s.op;
	c->ts_ns = bpf_ktime_get_ns();
	c->dirfd = s.dirfd != WARD_FS_NOARG ? (__s32)sys_arg(&r, s.dirfd) : WARD_FS_AT_FDCWD;
	c->dirfd2 = s.dirfd2 != WARD_FS_NOARG ? (__s32)sys_arg(&r, s.dirfd2) : WARD_FS_AT_FDCWD;
	c->oflags = s.flags != WARD_FS_NOARG ? sys_arg(&r, s.flags) : s.fixed;
	if (s.op == WARD_FS_OP_OPENAT2) {
		/* struct open_how starts with the u64 flags */
		c->oflags = 0;
		bpf_probe_read_user(&c->oflags, sizeof(c->oflags), (const void *)sys_arg(&r, 2));
	}
	c->access = ward_fs_access(s.op, c->oflags);
	c->path = sys_arg(&r, s.path);
	c->path2 = s.path2 != WARD_FS_NOARG ? sys_arg(&r, s.path2) : 0;
	c->live = 1;
	return 0;
}

SEC("raw_tp/sys_exit")
int fs_sys_exit(struct bpf_raw_tracepoint_args *ctx)
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
	/* only followed syscalls mark their entry live: no number test here */
	t = (struct task_struct *)bpf_get_current_task_btf();
	ev = bpf_task_storage_get(&inflight, t, 0, 0);
	if (!ev || !ev->live)
		return 0;
	ev->live = 0;
	id = bpf_get_current_pid_tgid();
	ret = (long)ctx->args[1];
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
	return 0;
}
