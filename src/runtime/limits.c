// SPDX-License-Identifier: MIT
/* The sandbox's cgroup limits, changed while it runs (runtime_internal.h):
 * the files ward_cgroup_set_limits() wrote at the start, in the v2 leaf or
 * the controller's v1 leaf, through descriptors of the runtime's own (the
 * sandbox closes its own when it ends). A limit whose controller was not set
 * up at the start (no leaf holds the running processes for it) cannot change
 * for them: that is for new sessions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"

int runtime_cgroup_keep(struct runtime_cgroup *c, const struct ward_cgroup *cg)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		c->where[i] = cg->ctl[i].where;
		c->v1[i] = -1;
		if (c->where[i] == WARD_CGROUP_V1 &&
		    (c->v1[i] = fcntl(cg->ctl[i].fd, F_DUPFD_CLOEXEC, 3)) < 0)
			c->where[i] = WARD_CGROUP_NONE;
	}
	c->fd = fcntl(cg->fd, F_DUPFD_CLOEXEC, 3);
	return c->fd < 0 ? -errno : 0;
}

void runtime_cgroup_drop(struct runtime_cgroup *c)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		if (c->where[i] == WARD_CGROUP_V1 && c->v1[i] >= 0)
			close(c->v1[i]);
		c->v1[i] = -1;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int put(int dir, const char *name, const char *value, struct ward_error *err)
{
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return ward_err(err, -errno, "cgroup: open %s", name);
	n = write(fd, value, strlen(value));
	if (n < 0) {
		int r = ward_err(err, -errno, "cgroup: write %s to %s", value, name);

		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

bool runtime_cgroup_live(const struct runtime_cgroup *c, const struct ward_cgroup_limits *lim)
{
	if (c->fd < 0)
		return false;
	/* a controller not set up at the start: a v1 leaf made now would not
	 * hold the running processes */
	return (!lim->memory || c->where[WARD_CGROUP_MEMORY] != WARD_CGROUP_NONE) &&
	       (!lim->pids || c->where[WARD_CGROUP_PIDS] != WARD_CGROUP_NONE) &&
	       (!lim->cpu_milli || c->where[WARD_CGROUP_CPU] != WARD_CGROUP_NONE);
}

static int dir(const struct runtime_cgroup *c, enum ward_cgroup_ctl ctl)
{
	return c->where[ctl] == WARD_CGROUP_V1 ? c->v1[ctl] : c->fd;
}

static int memory(const struct runtime_cgroup *c, uint64_t bytes, struct ward_error *err)
{
	char buf[32];
	int r;

	if (c->where[WARD_CGROUP_MEMORY] == WARD_CGROUP_V2) {
		snprintf(buf, sizeof(buf), bytes ? "%" PRIu64 : "max", bytes);
		return put(c->fd, "memory.max", buf, err);
	}
	/* v1: memory+swap never below memory: the order depends on the way */
	snprintf(buf, sizeof(buf), "%" PRId64, bytes ? (int64_t)bytes : (int64_t)-1);
	r = put(dir(c, WARD_CGROUP_MEMORY), "memory.limit_in_bytes", buf, err);
	if (faccessat(dir(c, WARD_CGROUP_MEMORY), "memory.memsw.limit_in_bytes", F_OK, 0) < 0)
		return r;
	if (r < 0) {
		r = put(dir(c, WARD_CGROUP_MEMORY), "memory.memsw.limit_in_bytes", buf, err);
		return r < 0 ? r
			     : put(dir(c, WARD_CGROUP_MEMORY), "memory.limit_in_bytes", buf, err);
	}
	return put(dir(c, WARD_CGROUP_MEMORY), "memory.memsw.limit_in_bytes", buf, err);
}

int runtime_cgroup_apply(const struct runtime_cgroup *c, const struct ward_cgroup_limits *lim,
			 struct ward_error *err)
{
	char buf[48];
	int r = 0;

	if (!runtime_cgroup_live(c, lim))
		return ward_errx(err, -EOPNOTSUPP, "cgroup: a limit without its controller");
	if (c->where[WARD_CGROUP_MEMORY] != WARD_CGROUP_NONE)
		r = memory(c, lim->memory, err);
	if (r >= 0 && c->where[WARD_CGROUP_PIDS] != WARD_CGROUP_NONE) {
		snprintf(buf, sizeof(buf), lim->pids ? "%" PRIu64 : "max", lim->pids);
		r = put(dir(c, WARD_CGROUP_PIDS), "pids.max", buf, err);
	}
	if (r >= 0 && c->where[WARD_CGROUP_CPU] == WARD_CGROUP_V2) {
		snprintf(buf, sizeof(buf), lim->cpu_milli ? "%" PRIu64 " 100000" : "max 100000",
			 (uint64_t)lim->cpu_milli * 100);
		r = put(c->fd, "cpu.max", buf, err);
	} else if (r >= 0 && c->where[WARD_CGROUP_CPU] == WARD_CGROUP_V1) {
		snprintf(buf, sizeof(buf), "%" PRId64,
			 lim->cpu_milli ? (int64_t)lim->cpu_milli * 100 : (int64_t)-1);
		r = put(c->v1[WARD_CGROUP_CPU], "cpu.cfs_quota_us", buf, err);
	}
	return r;
}
