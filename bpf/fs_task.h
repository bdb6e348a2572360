/* SPDX-License-Identifier: MIT */
/* What the syscall tracepoint programs (fs.bpf.c, fs_learn.bpf.c) read of the
 * current task: its saved registers' syscall arguments and the file behind
 * one of its descriptors. Include after vmlinux.h and bpf_helpers.h. */
#pragma once

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

/* The file behind descriptor fd of the current task t, or NULL. t is the
 * trusted pointer of bpf_get_current_task_btf(): the walk to the table is
 * plain (fault-safe) loads, one helper call reads the slot; this runs before
 * every read and write of a sandbox with protected paths. */
static __always_inline struct file *fd_file(struct task_struct *t, int fd)
{
	struct files_struct *files = t->files;
	struct fdtable *fdt;
	struct file *f = NULL;

	if (fd < 0 || !files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), (void *)fdt->fd + (__u64)fd * sizeof(f));
	return f;
}
