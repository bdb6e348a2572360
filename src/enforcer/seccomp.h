/* SPDX-License-Identifier: MIT */
/* seccomp: the filter is compiled with libseccomp in the parent (before
 * clone) and only loaded in the child, bubblewrap-style, so the child never
 * allocates. Default allow; the listed syscalls fail with EPERM (clone3 with
 * ENOSYS so libc falls back to clone, whose flags a filter can see). */
#pragma once

#include <stdbool.h>

#include <linux/filter.h>

#include "common/error.h"

struct ward_seccomp_prog {
	struct sock_filter *filter;
	unsigned short len;
	/* with notified: the notified syscalls' compat (i386, x32) entry points */
	struct sock_filter *compat;
	unsigned short compat_len;
};

/* notified: ptrace, bpf, mount and new user namespaces are left to the
 * notification filter of the unix broker (unix_broker.c), which refuses them
 * with a row; an EPERM here would win over its notification. */
int ward_seccomp_build(struct ward_seccomp_prog *ret, bool notified, struct ward_error *err);
void ward_seccomp_prog_free(struct ward_seccomp_prog *p);
/* Load into the calling thread; PR_SET_NO_NEW_PRIVS must already be set. */
int ward_seccomp_apply(const struct ward_seccomp_prog *p, struct ward_error *err);
