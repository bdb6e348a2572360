// SPDX-License-Identifier: MIT
/* Resource limits of a sandbox's cgroup (cgroup.h): memory, pids and cpu,
 * in the v2 leaf, or in v1 leaves on hybrid hosts, and what they did. */
#include "enforcer/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"

DEFINE_CLEANUP(DIR *, closedir)

static const char *const ctl_name[WARD_CGROUP_N_CTL] = { "memory", "pids", "cpu" };

void ward_cgroup_limits_resolve(const struct ward_resources *res, struct ward_cgroup_limits *ret)
{
	struct sysinfo si;

	*ret = (struct ward_cgroup_limits){
		.memory = res->memory,
		.pids = res->pids ? res->pids : WARD_RESOURCES_DEFAULT_PIDS,
		.cpu_milli = res->cpu_milli ? res->cpu_milli : WARD_RESOURCES_DEFAULT_CPU_MILLI,
	};
	if (!ret->memory && sysinfo(&si) == 0)
		ret->memory = (uint64_t)si.totalram * si.mem_unit / 100 *
			      WARD_RESOURCES_DEFAULT_MEMORY_PERCENT;
}

static bool has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, tok, n) && (p[n] == ',' || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

/* <v1 mount of ctl><ward's cgroup in that hierarchy>/ward, or -ENOENT when
 * no v1 hierarchy has the controller. */
static int v1_base(enum ward_cgroup_ctl ctl, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
	_cleanup_fclose_ FILE *cg = fopen("/proc/self/cgroup", "re");
	char line[4096], mnt[PATH_MAX] = "", root[PATH_MAX] = "", own[PATH_MAX] = "";
	const char *rel;

	if (!mi || !cg)
		return -errno;
	while (!mnt[0] && fgets(line, sizeof(line), mi)) {
		char *sep = strstr(line, " - cgroup "), *opts, *save = NULL, *f[5] = { 0 };
		int n = 0;

		if (!sep)
			continue;
		/* " - cgroup SOURCE SUPER_OPTIONS" */
		opts = strchr(sep + 10, ' ');
		if (!opts || !has_token(opts + 1, ctl_name[ctl]))
			continue;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &save); t && n < 5;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		/* mount points with escapes (\040) are not where cgroups live */
		if (n == 5 && !strchr(f[4], '\\') && !strchr(f[3], '\\')) {
			snprintf(mnt, sizeof(mnt), "%s", f[4]);
			snprintf(root, sizeof(root), "%s", f[3]);
		}
	}
	while (!own[0] && fgets(line, sizeof(line), cg)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2 || c1 == line)
			continue;
		*c2 = '\0';
		if (has_token(c1 + 1, ctl_name[ctl])) {
			c2[1 + strcspn(c2 + 1, "\n")] = '\0';
			snprintf(own, sizeof(own), "%s", c2 + 1);
		}
	}
	if (!mnt[0] || !own[0])
		return -ENOENT;
	/* a bind of a sub-tree (containers): own is below the mount's root */
	rel = own;
	if (strcmp(root, "/")) {
		size_t n = strlen(root);

		if (strncmp(own, root, n) || (own[n] != '/' && own[n] != '\0'))
			return -ENOENT;
		rel = own + n;
	}
	if ((size_t)snprintf(buf, len, "%s%s/ward", mnt, !strcmp(rel, "/") ? "" : rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static bool v2_has(int dirfd, const char *ctl)
{
	char buf[512];
	_cleanup_close_ int fd = openat(dirfd, "cgroup.controllers", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) < 0)
		return false;
	buf[n] = '\0';
	for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t;
	     t = strtok_r(NULL, " \n", &save))
		if (!strcmp(t, ctl))
			return true;
	return false;
}

static int write_file(int dirfd, const char *name, const char *value)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(value);

	if (fd < 0)
		return -errno;
	if (write(fd, value, n) != (ssize_t)n)
		return -errno;
	return 0;
}

/* Enable ctl for ward/'s children: the leaf then has its files. The parent
 * of ward/ (the mount's root) is left as it is: what it delegates is the
 * host's choice. */
static bool v2_enable(struct ward_cgroup *cg, enum ward_cgroup_ctl ctl)
{
	char plus[16];
	_cleanup_close_ int parent = openat(cg->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (v2_has(cg->fd, ctl_name[ctl]))
		return true;
	if (parent < 0 || !v2_has(parent, ctl_name[ctl]))
		return false;
	snprintf(plus, sizeof(plus), "+%s", ctl_name[ctl]);
	return write_file(parent, "cgroup.subtree_control", plus) == 0 &&
	       v2_has(cg->fd, ctl_name[ctl]);
}

static int v1_create(struct ward_cgroup_ctl_dir *d, enum ward_cgroup_ctl ctl, const char *id,
		     struct ward_error *err)
{
	char base[PATH_MAX], path[PATH_MAX];
	int r = v1_base(ctl, base, sizeof(base) - 64), fd;
	struct stat a, b;

	if (r < 0)
		return r;
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir '%s'", base);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, id) >= sizeof(path))
		return ward_errx(err, -ENAMETOOLONG, "v1 %s leaf path too long", ctl_name[ctl]);
	if (mkdir(path, 0755) < 0)
		return ward_err(err, -errno, "mkdir '%s'", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* live while flocked, as the v2 leaf (ward_cgroup_v1_reap_stale) */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || stat(path, &a) < 0 || fstat(fd, &b) < 0 ||
	    a.st_ino != b.st_ino) {
		r = ward_errx(err, -EBUSY, "v1 %s leaf '%s' could not be opened and locked",
			      ctl_name[ctl], path);
		if (fd >= 0)
			close(fd);
		rmdir(path);
		return r;
	}
	d->path = strdup(path);
	if (!d->path) {
		close(fd);
		rmdir(path);
		return ward_err(err, -ENOMEM, "v1 leaf");
	}
	d->fd = fd;
	d->where = WARD_CGROUP_V1;
	return 0;
}

static int setup(struct ward_cgroup *cg, enum ward_cgroup_ctl ctl, const char *id, char ***warnings,
		 size_t *n_warnings, struct ward_error *err)
{
	int r;

	if (cg->ctl[ctl].where != WARD_CGROUP_NONE)
		return 1;
	if (v2_enable(cg, ctl)) {
		cg->ctl[ctl].where = WARD_CGROUP_V2;
		return 1;
	}
	r = v1_create(&cg->ctl[ctl], ctl, id, err);
	if (r == -ENOENT) {
		ward_strv_appendf(warnings, n_warnings, "no %s controller: no %s limit",
				  ctl_name[ctl], ctl_name[ctl]);
		return 0;
	}
	return r < 0 ? r : 1;
}

static int dir_fd(const struct ward_cgroup *cg, enum ward_cgroup_ctl ctl)
{
	return cg->ctl[ctl].where == WARD_CGROUP_V1 ? cg->ctl[ctl].fd : cg->fd;
}

static int put(const struct ward_cgroup *cg, enum ward_cgroup_ctl ctl, const char *name, uint64_t v,
	       struct ward_error *err)
{
	char buf[32];
	int r;

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	r = write_file(dir_fd(cg, ctl), name, buf);
	if (r < 0)
		return ward_err(err, r, "cgroup: write %s to %s", buf, name);
	return 0;
}

int ward_cgroup_set_limits(struct ward_cgroup *cg, const char *id,
			   const struct ward_cgroup_limits *lim, char ***warnings,
			   size_t *n_warnings, struct ward_error *err)
{
	int r;

	if (lim->memory) {
		r = setup(cg, WARD_CGROUP_MEMORY, id, warnings, n_warnings, err);
		if (r < 0)
			return r;
		if (r > 0 && cg->ctl[WARD_CGROUP_MEMORY].where == WARD_CGROUP_V2) {
			r = put(cg, WARD_CGROUP_MEMORY, "memory.max", lim->memory, err);
			/* absent without swap accounting: then there is no swap to limit */
			if (r >= 0 && faccessat(cg->fd, "memory.swap.max", F_OK, 0) == 0)
				r = put(cg, WARD_CGROUP_MEMORY, "memory.swap.max", 0, err);
		} else if (r > 0) {
			r = put(cg, WARD_CGROUP_MEMORY, "memory.limit_in_bytes", lim->memory, err);
			/* memory+swap no higher than memory: no swap */
			if (r >= 0 && faccessat(dir_fd(cg, WARD_CGROUP_MEMORY),
						"memory.memsw.limit_in_bytes", F_OK, 0) == 0)
				r = put(cg, WARD_CGROUP_MEMORY, "memory.memsw.limit_in_bytes",
					lim->memory, err);
		}
		if (r < 0)
			return r;
	}
	if (lim->pids) {
		r = setup(cg, WARD_CGROUP_PIDS, id, warnings, n_warnings, err);
		if (r > 0)
			r = put(cg, WARD_CGROUP_PIDS, "pids.max", lim->pids, err);
		if (r < 0)
			return r;
	}
	if (lim->cpu_milli) {
		char buf[48];

		r = setup(cg, WARD_CGROUP_CPU, id, warnings, n_warnings, err);
		if (r > 0 && cg->ctl[WARD_CGROUP_CPU].where == WARD_CGROUP_V2) {
			snprintf(buf, sizeof(buf), "%" PRIu64 " 100000",
				 (uint64_t)lim->cpu_milli * 100);
			r = write_file(cg->fd, "cpu.max", buf);
			if (r < 0)
				return ward_err(err, r, "cgroup: write %s to cpu.max", buf);
		} else if (r > 0) {
			r = put(cg, WARD_CGROUP_CPU, "cpu.cfs_period_us", 100000, err);
			if (r >= 0)
				r = put(cg, WARD_CGROUP_CPU, "cpu.cfs_quota_us",
					(uint64_t)lim->cpu_milli * 100, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int ward_cgroup_attach_v1(const struct ward_cgroup *cg, pid_t pid, struct ward_error *err)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		int r;

		if (cg->ctl[i].where != WARD_CGROUP_V1)
			continue;
		r = put(cg, i, "cgroup.procs", (uint64_t)pid, err);
		if (r < 0)
			return ward_err_prefix(err, "join the v1 %s leaf", ctl_name[i]);
	}
	return 0;
}

int ward_cgroup_open_v1_tasks(const struct ward_cgroup *cg, int fds[WARD_CGROUP_N_CTL],
			      struct ward_error *err)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++)
		fds[i] = -1;
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		if (cg->ctl[i].where != WARD_CGROUP_V1)
			continue;
		fds[i] = openat(cg->ctl[i].fd, "tasks", O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int r = -errno;

			for (int k = 0; k < i; k++)
				if (fds[k] >= 0)
					close(fds[k]);
			return ward_err(err, r, "open the v1 %s leaf's tasks", ctl_name[i]);
		}
	}
	return 0;
}

/* "KEY N" lines (memory.events, pids.events, cpu.stat, memory.oom_control),
 * or a bare number when key is NULL (memory.failcnt). */
static uint64_t counter(int dirfd, const char *file, const char *key)
{
	char buf[2048];
	_cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	size_t k = key ? strlen(key) : 0;
	ssize_t n;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = '\0';
	if (!key)
		return strtoull(buf, NULL, 10);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ' ')
			return strtoull(l + k + 1, NULL, 10);
	return 0;
}

void ward_cgroup_events_read(const struct ward_cgroup *cg, struct ward_cgroup_events *ret)
{
	*ret = (struct ward_cgroup_events){ 0 };
	switch (cg->ctl[WARD_CGROUP_MEMORY].where) {
	case WARD_CGROUP_V2:
		ret->oom_kill = counter(cg->fd, "memory.events", "oom_kill");
		ret->memory_max = counter(cg->fd, "memory.events", "max");
		break;
	case WARD_CGROUP_V1:
		ret->oom_kill =
			counter(cg->ctl[WARD_CGROUP_MEMORY].fd, "memory.oom_control", "oom_kill");
		ret->memory_max = counter(cg->ctl[WARD_CGROUP_MEMORY].fd, "memory.failcnt", NULL);
		break;
	case WARD_CGROUP_NONE:
		break;
	}
	if (cg->ctl[WARD_CGROUP_PIDS].where != WARD_CGROUP_NONE)
		ret->pids_max = counter(dir_fd(cg, WARD_CGROUP_PIDS), "pids.events", "max");
	if (cg->ctl[WARD_CGROUP_CPU].where != WARD_CGROUP_NONE)
		ret->cpu_throttled =
			counter(dir_fd(cg, WARD_CGROUP_CPU), "cpu.stat", "nr_throttled");
}

static bool v1_empty(int dirfd)
{
	char b[16];
	_cleanup_close_ int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);

	return fd >= 0 && read(fd, b, sizeof(b)) == 0;
}

/* v1 has no cgroup.kill: the processes are gone with the v2 leaf's (the same
 * ones); wait (bounded, ~2 s) for the kernel to say so, then remove. */
void ward_cgroup_v1_destroy(struct ward_cgroup *cg)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		struct ward_cgroup_ctl_dir *d = &cg->ctl[i];

		if (d->where == WARD_CGROUP_V1) {
			for (int k = 0; k < 2000 && !v1_empty(d->fd); k++)
				poll(NULL, 0, 1);
			if (d->path)
				rmdir(d->path);
			close(d->fd);
		}
		free(d->path);
		*d = (struct ward_cgroup_ctl_dir){ .where = WARD_CGROUP_NONE };
	}
}

int ward_cgroup_v1_reap_stale(void)
{
	int removed = 0;

	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		_cleanup_(closedirp) DIR *d = NULL;
		char base[PATH_MAX];
		struct dirent *de;

		if (v1_base(i, base, sizeof(base)) < 0 || !(d = opendir(base)))
			continue;
		while ((de = readdir(d))) {
			_cleanup_close_ int fd = -1;

			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || !v1_empty(fd) || flock(fd, LOCK_EX | LOCK_NB) < 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
				removed++;
		}
	}
	return removed;
}
