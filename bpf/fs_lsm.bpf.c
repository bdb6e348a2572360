// SPDX-License-Identifier: MIT OR GPL-2.0
/* Per-binary protected paths with BPF LSM (docs/filesystem.md): lsm/file_open
 * refuses (EACCES) an open of a protected inode, or of anything below a
 * protected directory, by a process of the sandbox whose executable is not
 * named for that path. Same verdict as the fanotify supervisor
 * (ward_fs_protect_decide in fs_decide.h). Kept apart from fs.bpf.c so that a
 * kernel without BPF LSM still loads the tracepoints; ward selects this
 * program when it loads and attaches, fanotify otherwise. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fs_decide.h"
#include "fs_dir.h"
#include "sandbox_scope.h"

#define WARD_FMODE_WRITE 0x2
#define WARD_EACCES_RET (-13)

char LICENSE[] SEC("license") = "Dual MIT/GPL";

__u64 ringbuf_drops = 0;
/* opens of a protected path by a named binary (fanotify counts the same) */
__u64 allowed_opens = 0;

/* protected inode (the roots and, when a root is a directory, itself) -> root index */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_PROTECTED);
	__type(key, struct ward_ident_key);
	__type(value, __u32);
} protected_inodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_ALLOWED);
	__type(key, struct ward_fs_allow_key);
	__type(value, __u8);
} allowed SEC(".maps");

/* shared with fs.bpf.c (reused fd): the exit tracepoint drops our refusals */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_MAX_DENIED);
	__type(key, __u32);
	__type(value, __u64);
} protect_denied SEC(".maps");

/* (root, executable) pairs whose first allowed open was reported: one allow
 * row each, as the fanotify supervisor writes (first_allow); full: no more */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_FS_LSM_ALLOW_ROWS);
	__type(key, struct ward_fs_allow_key);
	__type(value, __u8);
} allow_reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_RINGBUF_BYTES);
} lsm_events SEC(".maps");

/* The protected root the dentry is, or is under (bounded walk), or -1. */
static __always_inline int find_root(struct dentry *d, __u64 dev)
{
	struct ward_ident_key k = { .dev = dev };

	for (int i = 0; i < WARD_FS_LSM_DEPTH; i++) {
		struct dentry *parent;
		__u32 *root;

		if (!d)
			return -1;
		k.ino = BPF_CORE_READ(d, d_inode, i_ino);
		root = bpf_map_lookup_elem(&protected_inodes, &k);
		if (root)
			return (int)*root;
		parent = BPF_CORE_READ(d, d_parent);
		if (parent == d)
			return -1;
		d = parent;
	}
	/* deeper than the walk: fail closed only if something above is protected
	 * cannot be known; ward refuses policies nesting roots this deep (docs) */
	return -1;
}

/* One event for user space: a refusal (ret -EACCES) or the first allowed open
 * of a root by a named executable (ret 0), with the opened file's full path
 * (bpf_d_path; the leaf name and WARD_FS_EV_TRUNCATED when it does not fit)
 * and the path of the opener's executable (exe_path). 0 when reported. */
static __always_inline int report(struct file *file, struct file *exe, int root,
				  const struct ward_fs_allow_key *ak, int ret)
{
	struct ward_fs_event *ev;
	__u64 id = bpf_get_current_pid_tgid();
	long n;

	ev = bpf_ringbuf_reserve(&lsm_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return -1;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->version = WARD_ABI_VERSION;
	ev->cgid = bpf_get_current_cgroup_id();
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->op = WARD_FS_OP_FILE_OPEN;
	ev->flags = WARD_FS_EV_LSM;
	ev->oflags = BPF_CORE_READ(file, f_flags);
	ev->access = ward_fs_access(WARD_FS_OP_FILE_OPEN, ev->oflags);
	ev->pid = (__u32)id;
	ev->tgid = id >> 32;
	ev->ret = ret;
	ev->dirfd = WARD_FS_AT_FDCWD;
	ev->dirfd2 = WARD_FS_AT_FDCWD;
	ev->rule = (__u32)root;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->dev = ak->dev;
	ev->ino = ak->ino;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	n = bpf_d_path((struct path *)&file->f_path, ev->path, sizeof(ev->path));
	if (n < 0) {
		ev->flags |= WARD_FS_EV_TRUNCATED;
		bpf_probe_read_kernel_str(ev->path, sizeof(ev->path),
					  BPF_CORE_READ(file, f_path.dentry, d_name.name));
	}
	exe_path(exe, ev->exe);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(ward_file_open, struct file *file)
{
	struct task_struct *t;
	struct ward_fs_allow_key ak = {};
	enum ward_fs_why why;
	struct file *exe;
	__u64 dev;
	int root, known = 0, ok = 0;

	if (!in_sandbox())
		return 0;
	dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	root = find_root(BPF_CORE_READ(file, f_path.dentry), dev);
	if (root < 0)
		return 0;
	t = bpf_get_current_task_btf();
	exe = BPF_CORE_READ(t, mm, exe_file);
	ak.root = (__u32)root;
	if (exe) {
		known = 1;
		ak.dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
		ak.ino = BPF_CORE_READ(exe, f_inode, i_ino);
		ok = bpf_map_lookup_elem(&allowed, &ak) != NULL;
	}
	if (ward_fs_protect_decide(1, root, known, ok, &why) == WARD_FS_ALLOW) {
		__u8 one = 1;

		if (why != WARD_FS_WHY_NAMED)
			return 0;
		__sync_fetch_and_add(&allowed_opens, 1);
		if (bpf_map_update_elem(&allow_reported, &ak, &one, BPF_NOEXIST))
			return 0;
		report(file, exe, root, &ak, 0);
		return 0;
	}
	if (!report(file, exe, root, &ak, WARD_EACCES_RET)) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		__u64 now = bpf_ktime_get_ns();

		/* the exit tracepoint drops the syscall's own row for this refusal */
		bpf_map_update_elem(&protect_denied, &tid, &now, BPF_ANY);
	}
	return WARD_EACCES_RET;
}
