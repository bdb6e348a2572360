// SPDX-License-Identifier: MIT
/* Landlock, negotiated feature by feature (samples/landlock/sandboxer.c), but
 * failing closed: a rule path that cannot be opened is an error. */
#include "enforcer/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/landlock_compat.h"

#define ACCESS_FS_V1                                                                               \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |                              \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                          \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |                              \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                              \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |                            \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)

/* Rights that make sense on a non-directory (the kernel rejects others). */
#define ACCESS_FILE                                                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |                              \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* The newest ABI this code knows; a newer kernel is used at this level. */
#define WARD_LANDLOCK_ABI_MAX 7

static int ll_create_ruleset(const struct ward_landlock_ruleset_attr *attr, size_t size,
			     uint32_t flags)
{
	return (int)syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

static int ll_add_rule(int fd, int type, const void *attr)
{
	return (int)syscall(__NR_landlock_add_rule, fd, type, attr, 0);
}

static int ll_restrict_self(int fd, uint32_t flags)
{
	return (int)syscall(__NR_landlock_restrict_self, fd, flags);
}

int ward_landlock_abi(void)
{
	int abi = ll_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : abi;
}

int ward_landlock_prepare(enum ward_landlock_compat compat, struct ward_landlock_plan *ret_plan,
			  struct ward_error *err)
{
	struct ward_landlock_plan plan = {
		.handled_fs = ACCESS_FS_V1 | LANDLOCK_ACCESS_FS_REFER |
			      LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV,
		/* Connect only: binding inside the sandbox's own netns harms nobody,
		 * and agents' test suites start local servers. */
		.handled_net = LANDLOCK_ACCESS_NET_CONNECT_TCP,
		.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
		/* The command is a new exec: without this its denials are not audited. */
		.restrict_flags = LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON,
	};
	int abi = ward_landlock_abi();

	if (abi < 0) {
		if (compat == WARD_LANDLOCK_HARD_REQUIREMENT)
			return ward_err(
				err, abi == -EOPNOTSUPP ? -EOPNOTSUPP : -ENOSYS,
				"landlock is required by the policy (hard_requirement) but %s",
				abi == -EOPNOTSUPP ? "disabled at boot (add landlock to lsm=)"
						   : "not supported by this kernel");
		*ret_plan = (struct ward_landlock_plan){ 0 };
		return 0;
	}
	if (compat == WARD_LANDLOCK_HARD_REQUIREMENT && abi < 4)
		return ward_errx(err, -EOPNOTSUPP,
				 "landlock ABI %d lacks TCP restriction (ABI 4), required by the "
				 "policy (hard_requirement)",
				 abi);
	if (abi > WARD_LANDLOCK_ABI_MAX)
		abi = WARD_LANDLOCK_ABI_MAX;
	plan.abi = abi;
	switch (abi) {
	case 1:
		plan.handled_fs &= ~LANDLOCK_ACCESS_FS_REFER;
		__attribute__((fallthrough));
	case 2:
		plan.handled_fs &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
		__attribute__((fallthrough));
	case 3:
		plan.handled_net = 0;
		__attribute__((fallthrough));
	case 4:
		plan.handled_fs &= ~LANDLOCK_ACCESS_FS_IOCTL_DEV;
		__attribute__((fallthrough));
	case 5:
		plan.scoped = 0;
		__attribute__((fallthrough));
	case 6:
		plan.restrict_flags = 0;
		break;
	default:
		break;
	}
	*ret_plan = plan;
	return 0;
}

uint64_t ward_landlock_access(const struct ward_landlock_plan *plan, enum ward_landlock_kind kind)
{
	uint64_t a = 0;

	switch (kind) {
	case WARD_LL_READ:
		a = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
		    LANDLOCK_ACCESS_FS_READ_DIR;
		break;
	case WARD_LL_WRITE:
		a = plan->handled_fs;
		break;
	case WARD_LL_DEV:
		a = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		    LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV |
		    LANDLOCK_ACCESS_FS_READ_DIR;
		break;
	case WARD_LL_PROC:
		a = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
		    LANDLOCK_ACCESS_FS_WRITE_FILE;
		break;
	}
	return a & plan->handled_fs;
}

void ward_landlock_learn(struct ward_landlock_plan *plan)
{
	plan->handled_fs = 0;
}

int ward_landlock_build(const struct ward_landlock_plan *plan,
			const struct ward_landlock_rule *rules, size_t n_rules,
			const uint16_t *ports, size_t n_ports, int *ret_fd, struct ward_error *err)
{
	struct ward_landlock_ruleset_attr attr = {
		.handled_access_fs = plan->handled_fs,
		.handled_access_net = plan->handled_net,
		.scoped = plan->scoped,
	};
	_cleanup_close_ int fd = -1;

	/* learn with neither TCP nor scopes handled: nothing to restrict */
	if (plan->abi == 0 || (!plan->handled_fs && !plan->handled_net && !plan->scoped)) {
		*ret_fd = -1;
		return 0;
	}
	fd = ll_create_ruleset(&attr, sizeof(attr), 0);
	if (fd < 0)
		return ward_err(err, -errno, "landlock_create_ruleset");
	for (size_t i = 0; i < n_rules; i++) {
		struct landlock_path_beneath_attr pb = { 0 };
		_cleanup_close_ int pfd = -1;
		struct stat st;

		pfd = open(rules[i].path, O_PATH | O_CLOEXEC);
		if (pfd < 0)
			return ward_err(err, -errno, "landlock: open '%s'", rules[i].path);
		if (fstat(pfd, &st) < 0)
			return ward_err(err, -errno, "landlock: stat '%s'", rules[i].path);
		pb.parent_fd = pfd;
		pb.allowed_access = ward_landlock_access(plan, rules[i].kind);
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= ACCESS_FILE;
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISDIR(st.st_mode))
			pb.allowed_access &= ~LANDLOCK_ACCESS_FS_IOCTL_DEV;
		if (!pb.allowed_access)
			continue;
		if (ll_add_rule(fd, LANDLOCK_RULE_PATH_BENEATH, &pb) < 0)
			return ward_err(err, -errno, "landlock: add rule for '%s'", rules[i].path);
	}
	if (plan->handled_net & LANDLOCK_ACCESS_NET_CONNECT_TCP) {
		for (size_t i = 0; i < n_ports; i++) {
			struct ward_landlock_net_port_attr np = {
				.allowed_access = LANDLOCK_ACCESS_NET_CONNECT_TCP,
				.port = ports[i],
			};

			if (ll_add_rule(fd, WARD_LANDLOCK_RULE_NET_PORT, &np) < 0)
				return ward_err(err, -errno, "landlock: add rule for TCP port %u",
						ports[i]);
		}
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int ward_landlock_restrict(const struct ward_landlock_plan *plan, int ruleset_fd,
			   struct ward_error *err)
{
	if (plan->abi == 0 || ruleset_fd < 0)
		return 0;
	if (ll_restrict_self(ruleset_fd, plan->restrict_flags) < 0)
		return ward_err(err, -errno, "landlock_restrict_self");
	return 0;
}

void ward_landlock_describe(int abi, char *buf, size_t len)
{
	if (abi > 0)
		snprintf(buf, len, "landlock(abi=%d)", abi);
	else
		snprintf(buf, len, "landlock(unavailable)");
}
