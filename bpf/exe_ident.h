/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* The identity of a task's executable, read the same way by every program
 * that names a process by its binary (egress.bpf.c, fs.bpf.c, unix.bpf.c).
 * See docs/egress.md, "Identity". */
#pragma once

/* Direct loads through the task's BTF pointers (the verifier turns each
 * into one guarded load; a NULL on the way reads as 0): much cheaper than a
 * bpf_probe_read_kernel per hop, and this runs on every connect(). t must be
 * a trusted pointer (bpf_get_current_task_btf() or a walk from it). */
static __always_inline void exe_ident(struct task_struct *t, struct ward_ident_key *k)
{
	struct file *f = t->mm ? t->mm->exe_file : NULL;

	k->dev = 0;
	k->ino = 0;
	if (!f)
		return;
	k->ino = f->f_inode->i_ino;
	k->dev = f->f_inode->i_sb->s_dev;
}
