// SPDX-License-Identifier: MIT OR GPL-2.0
/* Filesystem denials observed in the kernel (docs/filesystem.md).
 *
 * A raw tracepoint on sys_exit sees every syscall of every task on the
 * machine (while it is attached, every task takes the traced syscall path:
 * the host-wide cost docs/filesystem.md measures). It returns at once unless
 * the task is in this sandbox's cgroup (the first test), the result is a
 * failure this layer logs, and the syscall one of the path syscalls
 * (ward_fs_syscall() in fs_decide.h, x86_64 numbers); the arguments are then
 * read from the saved registers. With the guard on other processes' memory
 * (below) sys_enter is attached too: it checks reads and writes before they
 * run, and keeps the path pointer(s), the flags and the directory fd in the
 * thread's task storage for the exit, which then also looks at successes. A refused call (EACCES,
 * EPERM, EROFS) becomes a ring buffer event with the path(s) as given (bounded, a cut path is
 * marked truncated) and the executable's (dev, inode), rate-limited by a token bucket whose
 * suppressed count user space turns into a row.
 *
 * Two more duties on the same attachments:
 *   - a call that failed with ENOENT may have aimed at a host path the
 *     mount plan hides: the path is read, keyed and looked up in a dedup map
 *     whose verdict user space writes once it has checked the plan and the
 *     host (docs/filesystem.md, "Hidden paths"); only new, not yet checked
 *     or hidden paths become events;
 *   - with protected paths (guard_procmem), a descriptor on another
 *     process's /proc/PID/mem or environ kills its holder: at the exit of the
 *     open that made it, and at the entry of any read or write on it.
 *
 * One or two raw attachments instead of one classic tracepoint per syscall
 * (54): ward starts in milliseconds, and tearing them down costs two
 * detaches, not 54 (each waits for a tracepoint grace period).
 *
 * One instance per sandbox: the cgroup id filters, so two sandboxes never see
 * each other's events. It is data, not rodata: ward loads the programs while
 * the sandbox is being built and writes the id once its cgroup exists, before
 * attaching (0 matches no task). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "fs_decide.h"
#include "exe_ident.h"
#include "fs_task.h"
#include "fs_dir.h"
#include "sandbox_scope.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 rate_per_sec = WARD_FS_RATE_PER_SEC;
const volatile __u32 rate_burst = WARD_FS_RATE_BURST;
const volatile __u8 follow_missing = 1; /* hidden-path rows */
const volatile __u8 guard_procmem = 0;	/* the policy has protected paths */
const volatile __u64 key_salt = 0;	/* random per run: keys cannot be aimed at */

/* read by user space through the skeleton's bss */
struct ward_fs_bucket bucket = {};
__u64 suppressed = 0;	     /* denials over the rate limit */
__u64 ringbuf_drops = 0;     /* denials the ring buffer had no room for */
__u64 inflight_full = 0;     /* syscalls not followed: no task storage */
__u64 missing_seen = 0;	     /* ENOENT results looked at */
__u64 missing_unchecked = 0; /* new missing paths over the rate limit (not checked) */
__u64 procmem_kills = 0;     /* processes killed for another process's mem/environ */

/* What the entry saw. The strings are read at exit, and only for a refused
 * call: copying 512 bytes per open would cost more than the open (see
 * docs/filesystem.md). The memory is the caller's own syscall argument,
 * still mapped while it waits for the result. */
struct inflight_call {
	__u64 path; /* user pointers */
	__u64 path2;
	__u64 oflags;
	__u64 ts_ns;
	__s32 dirfd;
	__s32 dirfd2;
	__u32 access;
	__u8 op;
	__u8 live;   /* set at entry, cleared at exit */
	__u8 compat; /* an i386 open: only its new descriptor is checked */
	__u8 pad;
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

/* missing paths: key (ward_fs_path_key) -> enum ward_fs_missing. A plain
 * hash: when full, new paths are not remembered and every attempt is sent
 * (rate-limited), never silently dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_MISSING);
	__type(key, __u64);
	__type(value, __u8);
} missing SEC(".maps");

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

/* 1 when f is the /proc/PID/mem or /proc/PID/environ of a process other
 * than tgid (*target: its tgid, 0 if it is gone; *which: the file). */
static __always_inline int other_procmem(struct file *f, __u32 tgid, __u32 *target, __u8 *which)
{
	char name[16] = {};
	struct inode *ino;
	struct proc_inode *pi;
	struct hlist_node *first;
	struct task_struct *owner;

	if (!f)
		return 0;
	ino = BPF_CORE_READ(f, f_inode);
	if (!ino || BPF_CORE_READ(ino, i_sb, s_magic) != WARD_PROC_SUPER_MAGIC)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	*which = (__u8)ward_fs_procfile(name);
	if (!*which)
		return 0;
	pi = (void *)ino - bpf_core_field_offset(struct proc_inode, vfs_inode);
	first = BPF_CORE_READ(pi, pid, tasks[0].first); /* PIDTYPE_PID */
	if (!first) {
		*target = 0; /* gone: refused all the same */
		return 1;
	}
	owner = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
	*target = BPF_CORE_READ(owner, tgid);
	return *target != tgid;
}

/* What every event says about its process. */
static __always_inline void fill_common(struct ward_fs_event *out, struct task_struct *t, __u64 id)
{
	struct ward_ident_key k;

	out->version = WARD_ABI_VERSION;
	out->pid = (__u32)id;
	out->tgid = id >> 32;
	out->rule = ~0u;
	out->dev = 0;
	out->ino = 0;
	out->key = 0;
	out->target = 0;
	out->procfile = 0;
	out->path[0] = '\0';
	out->path2[0] = '\0';
	exe_path(exe_ident(t, &k), out->exe);
	out->dev = k.dev;
	out->ino = k.ino;
	bpf_get_current_comm(out->comm, sizeof(out->comm));
	out->cgid = bpf_get_current_cgroup_id();
	out->uid = (__u32)bpf_get_current_uid_gid();
	out->pad2 = 0;
}

/* The caller holds a descriptor on another process's memory: SIGKILL is
 * pending before it returns to user space (signals are delivered there), so
 * it never reads; a read already under way stops at its next page
 * (get_user_pages gives up on a fatal signal). One event, rate-limited. */
static __always_inline void procmem_kill(struct task_struct *t, __u64 id, __u8 op, __u64 path,
					 int fd, __u32 target, __u8 which, __u32 access, __u64 ts)
{
	struct ward_fs_event *out;

	bpf_send_signal(9 /* SIGKILL */);
	__sync_fetch_and_add(&procmem_kills, 1);
	if (!ward_fs_bucket_take(&bucket, bpf_ktime_get_ns(), rate_per_sec, rate_burst)) {
		__sync_fetch_and_add(&suppressed, 1);
		return;
	}
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return;
	}
	fill_common(out, t, id);
	out->op = op;
	out->flags = WARD_FS_EV_PROCMEM;
	out->access = access;
	out->ret = fd;
	out->dirfd = fd;
	out->dirfd2 = WARD_FS_AT_FDCWD;
	out->oflags = 0;
	out->ts_ns = ts;
	out->target = target;
	out->procfile = which;
	if (path)
		out->flags |= read_path(out->path, (const char *)path) & WARD_FS_EV_TRUNCATED;
	bpf_ringbuf_submit(out, BPF_RB_FORCE_WAKEUP);
}

/* Entry of a read or write on a descriptor (guard_procmem only): the
 * descriptor may have reached this process from another one (a thread that
 * raced the open's kill, SCM_RIGHTS, a shared table). */
static __always_inline void check_fd_io(struct bpf_raw_tracepoint_args *ctx, struct task_struct *t,
					int argi, int compat)
{
	const struct ward_x86_regs *regs = (const void *)ctx->args[0];
	__u64 fd = 0, id;
	__u32 target = 0;
	__u8 which = 0;

	/* i386: ebx, ecx; x86_64: rdi, rsi */
	if (compat)
		bpf_probe_read_kernel(&fd, sizeof(fd), argi ? &regs->cx : &regs->bx);
	else
		bpf_probe_read_kernel(&fd, sizeof(fd), argi ? &regs->si : &regs->di);
	id = bpf_get_current_pid_tgid();
	if (other_procmem(fd_file(t, (int)fd), id >> 32, &target, &which))
		procmem_kill(t, id, WARD_FS_OP_FD_IO, 0, (int)fd, target, which,
			     WARD_FS_ACC_READ | WARD_FS_ACC_WRITE, bpf_ktime_get_ns());
}

/* What a followed syscall asked for, from its saved registers: at entry, or
 * at exit when only the exit program is attached (the x86_64 syscall path
 * leaves the argument registers of pt_regs as they were at entry; ax holds
 * the result, orig_ax the number). */
static __always_inline void capture(struct inflight_call *c, const struct ward_fs_sysc *s,
				    const struct ward_x86_regs *r)
{
	c->op = s->op;
	c->compat = 0;
	c->ts_ns = bpf_ktime_get_ns();
	c->dirfd = s->dirfd != WARD_FS_NOARG ? (__s32)sys_arg(r, s->dirfd) : WARD_FS_AT_FDCWD;
	c->dirfd2 = s->dirfd2 != WARD_FS_NOARG ? (__s32)sys_arg(r, s->dirfd2) : WARD_FS_AT_FDCWD;
	c->oflags = s->flags != WARD_FS_NOARG ? sys_arg(r, s->flags) : s->fixed;
	if (s->op == WARD_FS_OP_OPENAT2) {
		/* struct open_how starts with the u64 flags */
		c->oflags = 0;
		bpf_probe_read_user(&c->oflags, sizeof(c->oflags), (const void *)sys_arg(r, 2));
	}
	c->access = ward_fs_access(s->op, c->oflags);
	c->path = sys_arg(r, s->path);
	c->path2 = s->path2 != WARD_FS_NOARG ? sys_arg(r, s->path2) : 0;
	c->live = 1;
}

SEC("raw_tp/sys_enter")
int fs_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct inflight_call *c;
	struct ward_fs_sysc s;
	struct task_struct *t;
	struct ward_x86_regs r;
	long nr;

	/* every syscall on the machine comes here: the cheapest test first */
	if (!in_sandbox())
		return 0;
	nr = (long)ctx->args[1];
	t = (struct task_struct *)bpf_get_current_task_btf();
	/* rodata: without protected paths the verifier drops this block */
	if (guard_procmem) {
		/* a trusted pointer: a plain load, no helper call */
		int compat = t->thread_info.status & WARD_TS_COMPAT;
		int argi = ward_fs_fd_syscall(nr, compat);

		if (argi >= 0) {
			check_fd_io(ctx, t, argi, compat);
			return 0;
		}
		if (compat) {
			if (!ward_fs_compat_open(nr))
				return 0;
			c = bpf_task_storage_get(&inflight, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!c)
				return 0;
			c->op = WARD_FS_OP_OPEN;
			c->compat = 1;
			c->path = 0;
			c->ts_ns = bpf_ktime_get_ns();
			c->live = 1;
			return 0;
		}
	}
	if (!ward_fs_syscall(nr, &s))
		return 0;
	/* 32-bit (int 0x80) numbers are not the ones ward_fs_syscall() knows */
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
	capture(c, &s, &r);
	return 0;
}

/* A call that failed with ENOENT: new paths are sent for user space to
 * check against the plan and the host, paths found hidden are sent each
 * time, the rest (pending, inside the plan, nowhere) end here. The path is
 * read only now, the directory's name only when an event is sent. */
static __always_inline void on_missing(struct task_struct *t, struct inflight_call *ev, __u64 id)
{
	__u8 pending = WARD_FS_MISSING_PENDING, *v;
	struct dentry *dd = NULL;
	struct vfsmount *dm = NULL;
	struct ward_fs_event *out;
	struct scratch *sc;
	__u64 key, salt = key_salt;
	__u32 zero = 0;
	int known = 0, rel, pos;
	long n;

	__sync_fetch_and_add(&missing_seen, 1);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return;
	n = bpf_probe_read_user_str(sc->words, sizeof(sc->words), (const void *)ev->path);
	if (n <= 1)
		return;
	rel = ((const char *)sc->words)[0] != '/';
	if (rel) {
		if (ev->dirfd == WARD_FS_AT_FDCWD) {
			dd = BPF_CORE_READ(t, fs, pwd.dentry);
			dm = BPF_CORE_READ(t, fs, pwd.mnt);
		} else {
			struct file *f = fd_file(t, ev->dirfd);

			if (!f)
				return;
			dd = BPF_CORE_READ(f, f_path.dentry);
			dm = BPF_CORE_READ(f, f_path.mnt);
		}
		/* the same name in another directory is another path */
		salt ^= (__u64)dd * 0x9e3779b97f4a7c15ull;
	}
	key = ward_fs_path_key(sc->words, n, salt);
	v = bpf_map_lookup_elem(&missing, &key);
	if (v) {
		/* quiet ends here; pending (sent, no verdict yet) is sent again:
		 * a second attempt right after the first (`cat x; cat x`) comes
		 * before user space has checked the path, and is a row too */
		if (*v == WARD_FS_MISSING_HIDDEN)
			known = 1;
		else if (*v != WARD_FS_MISSING_PENDING)
			return;
	}
	if (!ward_fs_bucket_take(&bucket, bpf_ktime_get_ns(), rate_per_sec, rate_burst)) {
		if (known)
			__sync_fetch_and_add(&suppressed, 1);
		else
			__sync_fetch_and_add(&missing_unchecked, 1);
		return;
	}
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return;
	}
	/* remembered only once sent; a full map remembers nothing more */
	if (!known)
		bpf_map_update_elem(&missing, &key, &pending, BPF_NOEXIST);
	fill_common(out, t, id);
	out->op = ev->op;
	out->access = ev->access;
	out->ret = -WARD_ENOENT;
	out->dirfd = ev->dirfd;
	out->dirfd2 = WARD_FS_AT_FDCWD;
	out->oflags = ev->oflags;
	out->ts_ns = ev->ts_ns;
	out->key = key;
	out->flags = (known ? WARD_FS_EV_HIDDEN : WARD_FS_EV_MISSING) |
		     read_path(out->path, (const char *)ev->path);
	if (rel && (pos = dir_path(dd, dm, sc)) >= 0) {
		pos &= WARD_FS_PMASK;
		bpf_probe_read_kernel(out->path2, WARD_FS_PATH_MAX - pos, sc->dir + pos);
		out->flags |= WARD_FS_EV_DIR;
	}
	bpf_ringbuf_submit(out, BPF_RB_FORCE_WAKEUP);
}

SEC("raw_tp/sys_exit")
int fs_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t;
	struct inflight_call *ev, here = {};
	struct ward_fs_event *out;
	struct ward_fs_sysc s;
	struct ward_x86_regs r;
	__u8 f;
	__u64 id, *denied_at, since;
	__u32 tid;
	long ret;

	ret = (long)ctx->args[1];
	/* exit only (no sys_enter attached): a success or an uninteresting
	 * failure, most syscalls of the machine, ends here at one load and a
	 * compare, before the cgroup test's helper call */
	if (!guard_procmem && (ret >= 0 || (ret != -WARD_ENOENT && !ward_fs_is_denial(ret)) ||
			       (ret == -WARD_ENOENT && !follow_missing)))
		return 0;
	if (!in_sandbox())
		return 0;
	t = (struct task_struct *)bpf_get_current_task_btf();
	if (!guard_procmem) {
		if (t->thread_info.status & WARD_TS_COMPAT)
			return 0;
		if (bpf_probe_read_kernel(&r, sizeof(r), (const void *)ctx->args[0]) < 0)
			return 0;
		if (!ward_fs_syscall((long)r.orig_ax, &s))
			return 0;
		capture(&here, &s, &r);
		ev = &here;
		/* a refusal the protect layer recorded was made during this
		 * call: the thread has not returned to user space since */
		since = 0;
	} else {
		/* only followed syscalls mark their entry live: no number test here */
		ev = bpf_task_storage_get(&inflight, t, 0, 0);
		if (!ev || !ev->live)
			return 0;
		ev->live = 0;
		since = ev->ts_ns;
	}
	id = bpf_get_current_pid_tgid();
	if (ret >= 0) {
		__u32 target = 0;
		__u8 which = 0;

		/* the new descriptor: another process's memory? (killed before
		 * it returns, so it never reads) */
		if (guard_procmem && ward_fs_is_open(ev->op) &&
		    other_procmem(fd_file(t, (int)ret), id >> 32, &target, &which))
			procmem_kill(t, id, ev->op, ev->path, (int)ret, target, which, ev->access,
				     ev->ts_ns);
		goto done;
	}
	if (ev->compat)
		goto done;
	if (ret == -WARD_ENOENT) {
		if (follow_missing)
			on_missing(t, ev, id);
		goto done;
	}
	if (!ward_fs_is_denial(ret))
		goto done;
	tid = (__u32)id;
	denied_at = bpf_map_lookup_elem(&protect_denied, &tid);
	if (denied_at) {
		__u64 at = *denied_at;

		bpf_map_delete_elem(&protect_denied, &tid);
		/* refused during this very syscall: the protect layer has its row */
		if (at >= since)
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
	fill_common(out, t, id);
	out->op = ev->op;
	out->access = ev->access;
	out->ret = (__s32)ret;
	out->dirfd = ev->dirfd;
	out->dirfd2 = ev->dirfd2;
	out->oflags = ev->oflags;
	out->ts_ns = ev->ts_ns;
	f = read_path(out->path, (const char *)ev->path);
	if (ev->path2 && (read_path(out->path2, (const char *)ev->path2) & WARD_FS_EV_TRUNCATED))
		f |= WARD_FS_EV_TRUNCATED2;
	out->flags = f;
	/* denials are rate-limited, so waking the reader each time is cheap, and
	 * it names the binary from /proc while the process most likely still runs */
	bpf_ringbuf_submit(out, BPF_RB_FORCE_WAKEUP);
done:
	return 0;
}
