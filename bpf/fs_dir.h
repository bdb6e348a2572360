/* SPDX-License-Identifier: MIT */
/* The names of files, shared by the syscall tracepoint programs (fs.bpf.c,
 * fs_learn.bpf.c) and fs_lsm.bpf.c (one instance each per sandbox): a
 * per-CPU scratch area for paths, a dentry's name walked up to the mount
 * namespace's root, and a task's executable by that name.
 * Include after vmlinux.h, bpf_helpers.h, bpf_core_read.h and fs_decide.h
 * (WARD_FS_PATH_MAX); defines the map scratch. */
#pragma once

/* a path read for its key, and a directory's name built backwards */
struct scratch {
	__u64 words[WARD_FS_PATH_MAX / 8];
	char dir[2 * WARD_FS_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

#define WARD_FS_DIR_DEPTH 32
#define WARD_FS_PMASK (WARD_FS_PATH_MAX - 1)

struct dir_walk {
	__u64 d, m; /* struct dentry *, struct mount * */
	int pos;    /* where the name starts in scratch.dir; -1: does not fit */
	int done;   /* the namespace's root was reached */
};

/* One step of dir_path(): a component written in front, or a mount
 * crossed. A bpf_loop callback: verified once, not once per iteration. */
static long dir_step(__u64 i, void *ctx)
{
	struct dir_walk *w = ctx;
	struct dentry *d = (struct dentry *)w->d, *parent;
	struct mount *m = (struct mount *)w->m;
	const unsigned char *name;
	struct scratch *sc;
	__u32 zero = 0, len;
	int pos = w->pos;

	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		goto fail;
	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		struct mount *up = BPF_CORE_READ(m, mnt_parent);

		if (up == m) { /* the namespace's root */
			w->done = 1;
			return 1;
		}
		w->d = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		w->m = (__u64)up;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (d == parent) {
		w->done = 1;
		return 1;
	}
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	if (pos < 0 || pos > WARD_FS_PMASK || len + 1 > (__u32)pos)
		goto fail;
	pos -= len;
	bpf_probe_read_kernel(sc->dir + (pos & WARD_FS_PMASK), len & WARD_FS_PMASK, name);
	pos--;
	sc->dir[pos & WARD_FS_PMASK] = '/';
	w->pos = pos;
	w->d = (__u64)parent;
	return 0;
fail:
	w->pos = -1;
	return 1;
}

/* The path of a directory as the task's mount namespace shows it (the
 * sandbox's root is "/"), built backwards in scratch.dir so that it ends at
 * dir[WARD_FS_PATH_MAX - 1]. Returns where it starts, or -1 when it is
 * longer than WARD_FS_PATH_MAX - 1 or deeper than WARD_FS_DIR_DEPTH
 * components and mounts: a cut name is never sent as a whole one. */
static __always_inline int dir_path(struct dentry *d, struct vfsmount *vm, struct scratch *sc)
{
	struct dir_walk w = {
		.d = (__u64)d,
		.m = (__u64)((void *)vm - bpf_core_field_offset(struct mount, mnt)),
		.pos = WARD_FS_PMASK,
	};
	long n;

	sc->dir[WARD_FS_PMASK] = '\0';
	n = bpf_loop(WARD_FS_DIR_DEPTH, dir_step, &w, 0);
	/* not at the root after WARD_FS_DIR_DEPTH steps: not the whole name */
	if (n < 0 || w.pos < 0 || !w.done)
		return -1;
	if (w.pos == WARD_FS_PMASK) {
		w.pos--;
		sc->dir[WARD_FS_PMASK - 1] = '/';
	}
	return w.pos;
}

/* A task's executable file by its name, as the task's mount namespace shows
 * it, into out (WARD_FS_PATH_MAX bytes; empty when it does not fit or there
 * is none): read in the kernel at the event, because a short-lived process
 * has often exited, and its /proc/PID/exe with it, when user space reads
 * the event. Uses scratch.dir. */
static __always_inline void exe_path(struct file *f, char *out)
{
	struct scratch *sc;
	__u32 zero = 0;
	int pos;

	out[0] = '\0';
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!f || !sc)
		return;
	pos = dir_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), sc);
	if (pos >= 0)
		bpf_probe_read_kernel_str(out, WARD_FS_PATH_MAX, sc->dir + (pos & WARD_FS_PMASK));
}
