/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* The identity of a task's executable, read the same way by every program
 * that names a process by its binary (egress.bpf.c, fs.bpf.c, unix.bpf.c),
 * and the check of an identity's pins. See docs/egress.md, "Identity".
 *
 * The key is (i_sb->s_dev, i_ino) of mm->exe_file's inode: the inode of the
 * file as exec opened it, in whatever mount namespace. On overlayfs that is
 * the overlay's inode: s_dev is the overlay's, i_ino the real file's inode
 * number (the st_ino stat() reports); stat()'s st_dev may instead name the
 * layer's filesystem, so user space takes s_dev from mountinfo
 * (src/enforcer/exe.c). On btrfs s_dev is the filesystem's, not the
 * subvolume's that stat() reports.
 *
 * The value pins where the file was: its directory's inode number and its
 * name; a deleted file matches nothing. Where the key is not unique (two
 * overlay layers, two btrfs subvolumes may hold the same inode number) it
 * also pins the ctime, which nobody can set back. */
#pragma once

/* Direct loads through the task's BTF pointers (the verifier turns each
 * into one guarded load; a NULL on the way reads as 0): much cheaper than a
 * bpf_probe_read_kernel per hop, and this runs on every connect(). t must be
 * a trusted pointer (bpf_get_current_task_btf() or a walk from it). Returns
 * the executable's file (NULL: none, a kernel thread), for exe_ident_pinned. */
static __always_inline struct file *exe_ident(struct task_struct *t, struct ward_ident_key *k)
{
	struct file *f = t->mm ? t->mm->exe_file : NULL;

	k->dev = 0;
	k->ino = 0;
	if (!f)
		return NULL;
	k->ino = f->f_inode->i_ino;
	k->dev = f->f_inode->i_sb->s_dev;
	return f;
}

/* The same read through bpf_probe_read_kernel (BPF_CORE_READ), for a task
 * pointer that is not trusted (bpf_get_current_task()). unix.bpf.c's walk of
 * the parents with trusted pointers took the verifier 0.5 s per program
 * (its states do not prune against the per-CPU scratch key); this one,
 * milliseconds. */
static __always_inline struct file *exe_ident_core(struct task_struct *t,
						   struct ward_ident_key *k)
{
	struct file *f = BPF_CORE_READ(t, mm, exe_file);

	k->dev = 0;
	k->ino = 0;
	if (!f)
		return NULL;
	k->ino = BPF_CORE_READ(f, f_inode, i_ino);
	k->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	return f;
}

/* struct inode's ctime across kernel versions (CO-RE picks the one there is) */
struct inode___ctime611 {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

struct inode___ctime66 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___ctime_old {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline void exe_ctime(struct inode *i, __s64 *sec, __u32 *nsec)
{
	if (bpf_core_field_exists(struct inode___ctime611, i_ctime_sec)) {
		struct inode___ctime611 *n = (void *)i;

		*sec = n->i_ctime_sec;
		/* bit 31: I_CTIME_QUERIED of multigrain timestamps (6.13), not time */
		*nsec = n->i_ctime_nsec & ~(1u << 31);
	} else if (bpf_core_field_exists(struct inode___ctime66, __i_ctime)) {
		struct inode___ctime66 *n = (void *)i;

		*sec = BPF_CORE_READ(n, __i_ctime.tv_sec);
		*nsec = BPF_CORE_READ(n, __i_ctime.tv_nsec);
	} else {
		struct inode___ctime_old *n = (void *)i;

		*sec = BPF_CORE_READ(n, i_ctime.tv_sec);
		*nsec = BPF_CORE_READ(n, i_ctime.tv_nsec);
	}
}

/* Is f (an executable whose key found v) still the file v pins? Not
 * deleted (no link left, or its own name unlinked: the dentry is unhashed),
 * in the directory and under the name user space resolved (a rename, or a
 * hard link elsewhere or under another name, is another name), and with
 * WARD_IDENT_PIN_CTIME its ctime. Loads from the dentry and inode, and one
 * read of the name. */
static __always_inline int exe_ident_pinned(struct file *f, const struct ward_ident_val *v)
{
	__u64 name[WARD_IDENT_NAME / 8] = {};
	const __u64 *want = (const __u64 *)v->name;
	struct dentry *d;
	struct inode *i;
	__s64 sec;
	__u32 nsec;

	if (!f)
		return 0;
	i = f->f_inode;
	d = f->f_path.dentry;
	if (!i->i_nlink || !d->d_hash.pprev)
		return 0;
	if (v->dir_ino && d->d_parent->d_inode->i_ino != v->dir_ino)
		return 0;
	if (v->flags & WARD_IDENT_PIN_CTIME) {
		exe_ctime(i, &sec, &nsec);
		if (sec != v->ctime_sec || nsec != v->ctime_nsec)
			return 0;
	}
	if (!v->name[0])
		return 1;
	if (bpf_probe_read_kernel_str(name, sizeof(name), d->d_name.name) <= 0)
		return 0;
#pragma unroll
	for (int w = 0; w < WARD_IDENT_NAME / 8; w++)
		if (name[w] != want[w])
			return 0;
	return 1;
}
