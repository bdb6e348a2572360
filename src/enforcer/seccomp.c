// SPDX-License-Identifier: MIT
/* The seccomp deny list of DESIGN.md layer 3. EPERM, never kill: agents must
 * see an error they can report, not vanish. */
#include "enforcer/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"

DEFINE_CLEANUP(scmp_filter_ctx, seccomp_release)

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* Denied outright on every architecture of the filter. */
static const char *const denied[] = {
	/* another process's memory or descriptors: a protected file the named
	 * binary holds open must not be taken by another program of the sandbox
	 * (docs/filesystem.md); kcmp tells whether two processes share a file */
	"process_vm_readv",
	"process_vm_writev",
	"pidfd_getfd",
	"kcmp",
	/* the mount family (mount itself: see notified_syscalls[]) */
	"umount",
	"umount2",
	"pivot_root",
	"move_mount",
	"open_tree",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"mount_setattr",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"userfaultfd",
	"perf_event_open",
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"setns",
	"keyctl",
	"add_key",
	"request_key",
	"acct",
	"swapon",
	"swapoff",
	"reboot",
	"open_by_handle_at",
	"name_to_handle_at",
};

/* Refused too, but left to the unix broker's notification filter when it
 * runs, which refuses them with a row (unix_broker.c): an EPERM here would
 * win over its notification. Its filter sees the native architecture only,
 * so the compat ones keep these rules (ward_seccomp_build). */
static const struct {
	const char *name;
	unsigned n;
	struct scmp_arg_cmp cmp[1];
} notified_syscalls[] = {
	{ "ptrace", 0, { { 0 } } },
	{ "bpf", 0, { { 0 } } },
	{ "mount", 0, { { 0 } } },
	{ "unshare", 1, { SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER) } },
	{ "clone", 1, { SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER) } },
};

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
	       const struct scmp_arg_cmp *cmp, struct ward_error *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r;

	/* Unknown to this libseccomp: nothing can call it by that number either. */
	if (nr == __NR_SCMP_ERROR)
		return 0;
	r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (r < 0)
		return ward_err(err, r, "seccomp: rule for %s", name);
	return 0;
}

static int add_notified(scmp_filter_ctx ctx, struct ward_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(notified_syscalls); i++) {
		int r = add(ctx, SCMP_ACT_ERRNO(EPERM), notified_syscalls[i].name,
			    notified_syscalls[i].n, notified_syscalls[i].cmp, err);

		if (r < 0)
			return r;
	}
	return 0;
}

static int build_rules(scmp_filter_ctx ctx, bool notify, struct ward_error *err)
{
	const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
	int r;

	if (!notify) {
		r = add_notified(ctx, err);
		if (r < 0)
			return r;
	}

	for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
		r = add(ctx, eperm, denied[i], 0, NULL, err);
		if (r < 0)
			return r;
	}

	/* Let libc fall back from clone3 (flags hidden behind a pointer) to clone. */
	r = add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
	if (r < 0)
		return r;

	struct {
		const char *name;
		unsigned n;
		struct scmp_arg_cmp cmp[2];
	} cond[] = {
		{ "socket", 1, { SCMP_A0(SCMP_CMP_EQ, AF_PACKET) } },
		{ "socket",
		  2,
		  { SCMP_A0(SCMP_CMP_EQ, AF_INET), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW) } },
		{ "socket",
		  2,
		  { SCMP_A0(SCMP_CMP_EQ, AF_INET6), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW) } },
		/* memfd exec tricks: an executable memfd, and exec of an fd */
		{ "memfd_create", 1, { SCMP_A1(SCMP_CMP_MASKED_EQ, MFD_EXEC, MFD_EXEC) } },
		{ "execveat", 1, { SCMP_A4(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH) } },
		/* only the default personality (PER_LINUX). libseccomp cannot AND two
		 * tests of one argument, so the 0xffffffff query is refused too
		 * (flatpak does the same). */
		{ "personality", 1, { SCMP_A0(SCMP_CMP_NE, 0) } },
		/* the TTY passes through: no typing into the user's shell */
		{ "ioctl", 1, { SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCSTI) } },
		{ "ioctl", 1, { SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, TIOCLINUX) } },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cond); i++) {
		r = add(ctx, eperm, cond[i].name, cond[i].n, cond[i].cmp, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* libseccomp 2.5 exports only to an fd: into memory it goes. */
static int export(scmp_filter_ctx ctx, struct sock_filter **ret_filter, unsigned short *ret_len,
		  struct ward_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ struct sock_filter *buf = NULL;
	off_t size;
	int r;

	fd = memfd_create("ward-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return ward_err(err, -errno, "seccomp: memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return ward_err(err, r, "seccomp: export");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return ward_errx(err, -EINVAL, "seccomp: bad program size %lld", (long long)size);
	buf = malloc(size);
	if (!buf)
		return ward_err(err, -ENOMEM, "seccomp");
	if (pread(fd, buf, size, 0) != size)
		return ward_err(err, -EIO, "seccomp: read back program");
	*ret_len = size / sizeof(struct sock_filter);
	*ret_filter = TAKE_PTR(buf);
	return 0;
}

int ward_seccomp_build(struct ward_seccomp_prog *ret, bool notified, struct ward_error *err)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL, compat = NULL;
	int r;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return ward_errx(err, -ENOMEM, "seccomp_init failed");
#if defined(__x86_64__)
	/* 32-bit and x32 entry points would otherwise bypass the x86_64 rules. */
	r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
	if (r < 0 && r != -EEXIST)
		return ward_err(err, r, "seccomp: add arch x86");
	r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
	if (r < 0 && r != -EEXIST)
		return ward_err(err, r, "seccomp: add arch x32");
	if (notified) {
		/* the notification filter sees x86_64 calls only: the compat
		 * entry points of the notified syscalls are refused here */
		compat = seccomp_init(SCMP_ACT_ALLOW);
		if (!compat)
			return ward_errx(err, -ENOMEM, "seccomp_init failed");
		/* native calls are not this filter's: they pass it (the
		 * default for an architecture a filter lacks is to kill) */
		r = seccomp_attr_set(compat, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
		if (r >= 0)
			r = seccomp_arch_add(compat, SCMP_ARCH_X86);
		if (r >= 0 || r == -EEXIST)
			r = seccomp_arch_add(compat, SCMP_ARCH_X32);
		if (r >= 0 || r == -EEXIST)
			r = seccomp_arch_remove(compat, SCMP_ARCH_NATIVE);
		if (r < 0)
			return ward_err(err, r, "seccomp: compat architectures");
		r = add_notified(compat, err);
		if (r < 0)
			return r;
		r = export(compat, &ret->compat, &ret->compat_len, err);
		if (r < 0)
			return r;
	}
#endif
	r = build_rules(ctx, notified, err);
	if (r < 0)
		return r;
	return export(ctx, &ret->filter, &ret->len, err);
}

void ward_seccomp_prog_free(struct ward_seccomp_prog *p)
{
	free(p->filter);
	free(p->compat);
	*p = (struct ward_seccomp_prog){ 0 };
}

int ward_seccomp_apply(const struct ward_seccomp_prog *p, struct ward_error *err)
{
	struct sock_fprog prog = { .len = p->len, .filter = p->filter };
	struct sock_fprog compat = { .len = p->compat_len, .filter = p->compat };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return ward_err(err, -errno, "seccomp: load filter");
	if (p->compat && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &compat, 0, 0) < 0)
		return ward_err(err, -errno, "seccomp: load compat filter");
	return 0;
}
