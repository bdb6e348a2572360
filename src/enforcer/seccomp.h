/* SPDX-License-Identifier: MIT */
/* seccomp: the filter is compiled with libseccomp in the parent (before
 * clone) and only loaded in the child, bubblewrap-style, so the child never
 * allocates. Default allow; the listed syscalls fail with EPERM (clone3 with
 * ENOSYS so libc falls back to clone, whose flags a filter can see). */
#pragma once

#include <linux/filter.h>

#include "common/error.h"

struct ward_seccomp_prog {
	struct sock_filter *filter;
	unsigned short len;
};

int ward_seccomp_build(struct ward_seccomp_prog *ret, struct ward_error *err);
void ward_seccomp_prog_free(struct ward_seccomp_prog *p);
/* Load into the calling thread; PR_SET_NO_NEW_PRIVS must already be set. */
int ward_seccomp_apply(const struct ward_seccomp_prog *p, struct ward_error *err);
