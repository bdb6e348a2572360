/* SPDX-License-Identifier: MIT */
/* Which tasks are the sandbox's, for the filesystem programs (fs.bpf.c,
 * fs_learn.bpf.c, fs_lsm.bpf.c; one instance each per sandbox): its leaf
 * cgroup and everything below it (sessions). Include after vmlinux.h,
 * bpf_helpers.h and bpf_core_read.h; defines the globals cgroup_id and
 * cgroup_level, which user space sets through the skeleton's bss before
 * attaching. */
#pragma once

/* The sandbox leaf's id; data, not rodata: ward loads the programs while
 * the sandbox is being built and writes it once the cgroup exists, before
 * attaching (0 matches no task). */
volatile __u64 cgroup_id = 0;
/* The sandbox leaf's depth in the hierarchy, learnt from the first task seen
 * in the leaf itself (init, before any session exists); 0: not yet. */
__u32 cgroup_level = 0;

/* In the sandbox: in its leaf, or below it (a session's cgroup, s-<id>). A
 * session is never the first of the sandbox to run: init's own calls after
 * the attach teach the level first. */
static __always_inline int in_sandbox(void)
{
	__u64 id = bpf_get_current_cgroup_id();

	if (id == cgroup_id) {
		if (!cgroup_level) {
			struct task_struct *t = (struct task_struct *)bpf_get_current_task();

			cgroup_level = BPF_CORE_READ(t, cgroups, dfl_cgrp, level);
		}
		return 1;
	}
	return cgroup_level && cgroup_id &&
	       bpf_get_current_ancestor_cgroup_id(cgroup_level) == cgroup_id;
}
