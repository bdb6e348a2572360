// SPDX-License-Identifier: MIT
/* Filesystem assembly, bubblewrap-style: tmpfs on /tmp, pivot into it (the
 * host root moves to /oldroot), build /newroot from /oldroot/<path> binds,
 * detach /oldroot, pivot into /newroot. Propagation is made rslave first so
 * nothing mounted here ever reaches the host. */
#include "enforcer/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

/* Device nodes every sandbox gets, bound from the host. */
static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const char *const dev_rules[] = { "/dev/null",	 "/dev/zero", "/dev/full", "/dev/random",
					 "/dev/urandom", "/dev/tty",  "/dev/pts" };

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* Paths ward provides itself: listing them in a policy changes nothing. */
static bool provided(const char *path)
{
	static const char *const dev[] = { "/dev",	 "/dev/null",	"/dev/zero",
					   "/dev/full",	 "/dev/random", "/dev/urandom",
					   "/dev/tty",	 "/dev/ptmx",	"/dev/fd",
					   "/dev/stdin", "/dev/stdout", "/dev/stderr" };

	if (under(path, "/proc") || under(path, "/dev/pts") || under(path, "/dev/shm"))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(dev); i++)
		if (!strcmp(path, dev[i]))
			return true;
	return false;
}

static struct ward_mount *plan_add(struct ward_mount_plan *plan, const char *path,
				   enum ward_mount_kind kind, struct ward_error *err)
{
	struct ward_mount *v = realloc(plan->v, (plan->n + 1) * sizeof(*v));

	if (!v) {
		ward_err(err, -ENOMEM, "mount plan");
		return NULL;
	}
	plan->v = v;
	v = &plan->v[plan->n];
	*v = (struct ward_mount){ .kind = kind, .is_dir = true, .landlock = true };
	v->path = strdup(path);
	if (!v->path) {
		ward_err(err, -ENOMEM, "mount plan");
		return NULL;
	}
	plan->n++;
	return v;
}

/* The path with its parent directories resolved, so that binds never walk
 * through a host symlink (which would resolve against the wrong root). */
static int canonical_parent(const char *path, char *out, size_t len)
{
	_cleanup_free_ char *dir = strdup(path);
	char real[PATH_MAX];
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		snprintf(out, len, "%s", path);
		return 0;
	}
	*slash = '\0';
	if (!realpath(dir, real))
		return -errno;
	if ((size_t)snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "", slash + 1) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int add_policy_path(struct ward_mount_plan *plan, const struct ward_policy *p,
			   const struct ward_fs_path *fp, bool read_only, ward_diag_fn diag,
			   void *diag_data, struct ward_error *err)
{
	const char *file = p->source_path ? p->source_path : "policy";
	char path[PATH_MAX], target[PATH_MAX], msg[PATH_MAX + 256];
	struct ward_mount *m;
	struct stat st;
	ssize_t n;
	int r;

	if (provided(fp->path))
		return 0;
	r = canonical_parent(fp->path, path, sizeof(path));
	if (r == 0 && lstat(path, &st) < 0)
		r = -errno;
	if (r == -ENOENT || r == -ENOTDIR) {
		if (p->landlock_compat == WARD_LANDLOCK_HARD_REQUIREMENT)
			return ward_errx(err, -ENOENT,
					 "%s:%u:%u: %s does not exist (landlock: hard_requirement)",
					 file, fp->pos.line, fp->pos.col, fp->path);
		snprintf(msg, sizeof(msg), "%s:%u:%u: %s does not exist; skipped", file,
			 fp->pos.line, fp->pos.col, fp->path);
		if (diag)
			diag(diag_data, true, msg);
		return 0;
	}
	if (r < 0)
		return ward_err(err, r, "%s:%u:%u: %s", file, fp->pos.line, fp->pos.col, fp->path);
	if (plan->private_sockdirs) {
		static const char *const sockdirs[] = WARD_MOUNT_SOCKDIRS;

		for (size_t i = 0; i < ARRAY_SIZE(sockdirs); i++) {
			if (!under(path, sockdirs[i]))
				continue;
			snprintf(msg, sizeof(msg),
				 "%s:%u:%u: %s not mapped: without the unix-socket "
				 "layer %s is private",
				 file, fp->pos.line, fp->pos.col, fp->path, sockdirs[i]);
			if (diag)
				diag(diag_data, true, msg);
			return 0;
		}
	}

	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return ward_err(err, -errno, "readlink '%s'", path);
		target[n] = '\0';
		m = plan_add(plan, path, WARD_MNT_SYMLINK, err);
		if (!m)
			return -ENOMEM;
		m->landlock = false;
		m->target = strdup(target);
		return m->target ? 0 : ward_err(err, -ENOMEM, "mount plan");
	}
	m = plan_add(plan, path, WARD_MNT_BIND, err);
	if (!m)
		return -ENOMEM;
	m->is_dir = S_ISDIR(st.st_mode);
	m->read_only = read_only;
	if (under(path, "/sys")) {
		/* The host's /sys is only ever shown read-only. */
		m->read_only = true;
		m->noexec = true;
	}
	m->allow_dev = under(path, "/dev") && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
	return 0;
}

static int cmp_mount(const void *a, const void *b)
{
	return strcmp(((const struct ward_mount *)a)->path, ((const struct ward_mount *)b)->path);
}

void ward_mount_plan_free(struct ward_mount_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->v[i].path);
		free(plan->v[i].target);
		free(plan->v[i].source);
	}
	free(plan->v);
	free(plan->rules);
	*plan = (struct ward_mount_plan){ 0 };
}

static int plan_rules(struct ward_mount_plan *plan, struct ward_error *err)
{
	size_t max = plan->n + ARRAY_SIZE(dev_rules) + 2;

	plan->rules = calloc(max, sizeof(*plan->rules));
	if (!plan->rules)
		return ward_err(err, -ENOMEM, "landlock rules");
	for (size_t i = 0; i < plan->n; i++) {
		const struct ward_mount *m = &plan->v[i];
		struct ward_landlock_rule *r = &plan->rules[plan->n_rules];

		if (!m->landlock)
			continue;
		r->path = m->path;
		switch (m->kind) {
		case WARD_MNT_BIND:
			r->kind = m->read_only ? WARD_LL_READ : WARD_LL_WRITE;
			break;
		case WARD_MNT_TMPFS:
			r->kind = WARD_LL_WRITE;
			break;
		case WARD_MNT_PROC:
			r->kind = WARD_LL_PROC;
			break;
		case WARD_MNT_DEV:
			/* list /dev; the nodes get their own rules */
			r->kind = WARD_LL_READ;
			plan->n_rules++;
			for (size_t d = 0; d < ARRAY_SIZE(dev_rules); d++)
				plan->rules[plan->n_rules++] =
					(struct ward_landlock_rule){ dev_rules[d], WARD_LL_DEV };
			plan->rules[plan->n_rules++] =
				(struct ward_landlock_rule){ "/dev/shm", WARD_LL_WRITE };
			continue;
		case WARD_MNT_FILE:
			r->kind = WARD_LL_READ;
			break;
		case WARD_MNT_SYMLINK:
			continue;
		}
		plan->n_rules++;
	}
	return 0;
}

int ward_mount_plan_add_dir(struct ward_mount_plan *plan, const char *source, const char *target,
			    struct ward_error *err)
{
	char real[PATH_MAX];
	struct ward_landlock_rule *rules;
	struct ward_mount *m;

	if (!realpath(source, real))
		return ward_err(err, -errno, "directory '%s'", source);
	rules = realloc(plan->rules, (plan->n_rules + 1) * sizeof(*rules));
	if (!rules)
		return ward_err(err, -ENOMEM, "mount plan");
	plan->rules = rules;
	m = plan_add(plan, target, WARD_MNT_BIND, err);
	if (!m)
		return err->code;
	m->source = strdup(real);
	if (!m->source)
		return ward_err(err, -ENOMEM, "mount plan");
	plan->rules[plan->n_rules++] = (struct ward_landlock_rule){ m->path, WARD_LL_WRITE };
	return 0;
}

int ward_mount_plan_learn(struct ward_mount_plan *plan, struct ward_error *err)
{
	struct ward_mount *v, *root;

	for (size_t i = 0; i < plan->n; i++) {
		struct ward_mount *m = &plan->v[i];

		if (m->kind != WARD_MNT_BIND)
			continue;
		if (!strcmp(m->path, "/"))
			return ward_errx(err, -EINVAL, "learn: '/' is in the plan already");
		/* the host's flags: neither read-only nor made writable */
		m->read_only = false;
		m->as_host = true;
	}
	v = realloc(plan->v, (plan->n + 1) * sizeof(*v));
	if (!v)
		return ward_err(err, -ENOMEM, "mount plan");
	plan->v = v;
	/* "/" sorts first: parents before children */
	memmove(&v[1], &v[0], plan->n * sizeof(*v));
	plan->n++;
	root = &v[0];
	*root = (struct ward_mount){ .kind = WARD_MNT_BIND, .is_dir = true, .as_host = true };
	root->path = strdup("/");
	if (!root->path)
		return ward_err(err, -ENOMEM, "mount plan");
	plan->learn = true;
	return 0;
}

/* Absolute, no empty, "." or ".." component, no trailing slash, not "/". */
static bool normalised(const char *path)
{
	if (path[0] != '/' || !path[1] || strlen(path) >= PATH_MAX)
		return false;
	for (const char *c = path; c; c = strchr(c + 1, '/')) {
		const char *next = c + 1;
		size_t n = strcspn(next, "/");

		if (n == 0 || (n == 1 && next[0] == '.') || (n == 2 && !strncmp(next, "..", 2)))
			return false;
	}
	return true;
}

static int add_file(struct ward_mount_plan *plan, const struct ward_mount_file *f,
		    struct ward_error *err)
{
	char real[PATH_MAX];
	struct ward_mount *m;
	struct stat st;

	if (!f->target || !normalised(f->target))
		return ward_errx(err, -EINVAL, "file target '%s' is not a normalised absolute path",
				 f->target ? f->target : "(null)");
	if (under(f->target, "/proc"))
		return ward_errx(err, -EINVAL, "file target '%s' is under /proc", f->target);
	if (!f->source || !realpath(f->source, real))
		return ward_err(err, f->source ? -errno : -EINVAL, "file source '%s'",
				f->source ? f->source : "(null)");
	if (stat(real, &st) < 0)
		return ward_err(err, -errno, "file source '%s'", real);
	if (!S_ISREG(st.st_mode))
		return ward_errx(err, -EINVAL, "file source '%s' is not a regular file", real);
	m = plan_add(plan, f->target, WARD_MNT_FILE, err);
	if (!m)
		return -ENOMEM;
	m->is_dir = false;
	m->read_only = true;
	m->noexec = true;
	m->source = strdup(real);
	return m->source ? 0 : ward_err(err, -ENOMEM, "mount plan");
}

static bool ancestor(const char *path, const char *dir)
{
	return strcmp(path, dir) && (!strcmp(dir, "/") || under(path, dir));
}

/* Where a file goes, once the plan is sorted: inside a host bind it covers
 * what the host has at that path (a file, or a symlink itself: resolv.conf
 * often is one, pointing outside what the sandbox sees); anywhere else ward's
 * own tmpfs gets a new mount point. */
static int place_file(struct ward_mount_plan *plan, size_t i, struct ward_error *err)
{
	struct ward_mount *f = &plan->v[i];
	const struct ward_mount *a = NULL;
	char dir[PATH_MAX], real[PATH_MAX];
	struct stat st;
	char *slash;

	if (i + 1 < plan->n && under(plan->v[i + 1].path, f->path))
		return ward_errx(err, -EINVAL,
				 "'%s' is a file ward places, but '%s' is mapped under it", f->path,
				 plan->v[i + 1].path);
	for (size_t j = i; j-- > 0;)
		if (ancestor(f->path, plan->v[j].path)) {
			a = &plan->v[j];
			break;
		}
	if (!a || a->kind == WARD_MNT_TMPFS || a->kind == WARD_MNT_DEV) {
		f->create = true;
		return 0;
	}
	if (a->kind != WARD_MNT_BIND || !a->is_dir)
		return ward_errx(err, -EINVAL, "cannot place '%s' under '%s'", f->path, a->path);

	/* Inside the sandbox the path is walked again: every directory between
	 * the bind and the file must be a real directory on the host. */
	snprintf(dir, sizeof(dir), "%s", f->path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (!realpath(dir[0] ? dir : "/", real) || strcmp(real, dir[0] ? dir : "/"))
		return ward_errx(err, -EINVAL,
				 "cannot place '%s': its directory is missing or passes through a "
				 "symlink on the host",
				 f->path);
	if (lstat(f->path, &st) < 0)
		return ward_err(err, -errno,
				"cannot place '%s' inside '%s' (bound from the host): ward mounts "
				"over an existing file but never creates files in host directories",
				f->path, a->path);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return ward_errx(err, -EINVAL, "cannot place '%s': not a file on the host",
				 f->path);
	return 0;
}

int ward_mount_plan_build(const struct ward_policy *p, const char *workdir,
			  const struct ward_mount_file *files, size_t n_files,
			  bool private_sockdirs, ward_diag_fn diag, void *diag_data,
			  struct ward_mount_plan *ret, struct ward_error *err)
{
	struct ward_mount_plan plan = { .private_sockdirs = private_sockdirs };
	struct ward_mount *m;
	bool has_tmp = false;
	size_t w = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < p->n_read_only; i++)
		r = add_policy_path(&plan, p, &p->read_only[i], true, diag, diag_data, err);
	for (size_t i = 0; r >= 0 && i < p->n_read_write; i++)
		r = add_policy_path(&plan, p, &p->read_write[i], false, diag, diag_data, err);
	/* --- filesystem layer (fs_protect.h): a protected path joins the ceiling as
	 * its own bind mount, read-only unless listed under read_write; which
	 * binary may open it is decided by the protect layer. */
	for (size_t i = 0; r >= 0 && i < p->n_fs_binaries; i++) {
		const struct ward_fs_binary_rule *b = &p->fs_binaries[i];

		for (size_t j = 0; r >= 0 && j < b->n_read_only; j++)
			r = add_policy_path(&plan, p, &b->read_only[j], true, diag, diag_data, err);
		for (size_t j = 0; r >= 0 && j < b->n_read_write; j++)
			r = add_policy_path(&plan, p, &b->read_write[j], false, diag, diag_data,
					    err);
	}
	/* --- end filesystem layer */
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < plan.n; i++)
		has_tmp |= !strcmp(plan.v[i].path, "/tmp");

	if (workdir) {
		struct stat st;

		if (stat(workdir, &st) < 0) {
			r = ward_err(err, -errno, "workdir '%s'", workdir);
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = ward_errx(err, -ENOTDIR, "workdir '%s' is not a directory", workdir);
			goto fail;
		}
		if (p->include_workdir && !strcmp(workdir, "/")) {
			r = ward_errx(err, -EINVAL,
				      "workdir '/' cannot be read-write (include_workdir)");
			goto fail;
		}
		m = plan_add(&plan, workdir, WARD_MNT_BIND, err);
		if (!m) {
			r = -ENOMEM;
			goto fail;
		}
		/* Without include_workdir the workdir is visible (it is the cwd) and
		 * read-only, and Landlock grants nothing on it beyond the policy's rules. */
		m->read_only = !p->include_workdir;
		m->landlock = p->include_workdir;
	}
	if (!plan_add(&plan, "/proc", WARD_MNT_PROC, err) ||
	    !plan_add(&plan, "/dev", WARD_MNT_DEV, err) ||
	    (!has_tmp && !plan_add(&plan, "/tmp", WARD_MNT_TMPFS, err))) {
		r = -ENOMEM;
		goto fail;
	}
	/* /tmp is private already (its mappings were skipped), /dev/shm is the
	 * minimal /dev's; /run and /var/tmp may show through a mapped parent */
	if (private_sockdirs && (!plan_add(&plan, "/run", WARD_MNT_TMPFS, err) ||
				 !plan_add(&plan, "/var/tmp", WARD_MNT_TMPFS, err))) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; r >= 0 && i < n_files; i++)
		r = add_file(&plan, &files[i], err);
	if (r < 0)
		goto fail;

	/* Parents before children; one entry per path, the most permissive wins. */
	qsort(plan.v, plan.n, sizeof(*plan.v), cmp_mount);
	for (size_t i = 0; i < plan.n; i++) {
		if (w > 0 && !strcmp(plan.v[w - 1].path, plan.v[i].path)) {
			struct ward_mount *a = &plan.v[w - 1], *b = &plan.v[i], t;

			if (a->kind == WARD_MNT_FILE && b->kind == WARD_MNT_FILE) {
				r = ward_errx(err, -EINVAL, "two files placed at '%s'", a->path);
				goto fail;
			}
			/* ward's file replaces a policy path at the same place */
			if (b->kind == WARD_MNT_FILE) {
				t = *a;
				*a = *b;
				*b = t;
			}
			if (a->kind == WARD_MNT_BIND && b->kind == WARD_MNT_BIND) {
				a->read_only = a->read_only && b->read_only;
				a->landlock = a->landlock || b->landlock;
				a->noexec = a->noexec && b->noexec;
			}
			free(b->path);
			free(b->target);
			free(b->source);
			continue;
		}
		plan.v[w++] = plan.v[i];
	}
	plan.n = w;
	for (size_t i = 0; r >= 0 && i < plan.n; i++)
		if (plan.v[i].kind == WARD_MNT_FILE)
			r = place_file(&plan, i, err);
	if (r < 0)
		goto fail;
	r = plan_rules(&plan, err);
	if (r < 0)
		goto fail;
	plan.tmp_size = p->resources.tmp_size;
	*ret = plan;
	return 0;
fail:
	ward_mount_plan_free(&plan);
	return r;
}

/* ---- a later generation's plan for new sessions (ward's side) ---- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The same mount, as far as what the sandbox sees goes (Landlock rights
 * are the session's own ruleset's, not the mount's). */
static bool same_mount(const struct ward_mount *a, const struct ward_mount *b)
{
	return !strcmp(a->path, b->path) && a->kind == b->kind && a->read_only == b->read_only &&
	       a->is_dir == b->is_dir && a->allow_dev == b->allow_dev && a->noexec == b->noexec &&
	       a->create == b->create && a->as_host == b->as_host && same_str(a->source, b->source) &&
	       same_str(a->target, b->target);
}

static bool in_plan(const struct ward_mount_plan *plan, const struct ward_mount *m)
{
	for (size_t i = 0; i < plan->n; i++)
		if (same_mount(&plan->v[i], m))
			return true;
	return false;
}

static bool under_any(char *const *dirs, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (under(path, dirs[i]))
			return true;
	return false;
}

static int cmp_str_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

static int cmp_add(const void *a, const void *b)
{
	return strcmp(((const struct ward_mount_add *)a)->path,
		      ((const struct ward_mount_add *)b)->path);
}

static void bind_attrs(const struct ward_mount *m, uint64_t *set, uint64_t *clr)
{
	*set = MOUNT_ATTR_NOSUID;
	*clr = 0;
	if (!m->allow_dev)
		*set |= MOUNT_ATTR_NODEV;
	if (m->noexec)
		*set |= MOUNT_ATTR_NOEXEC;
	if (m->read_only)
		*set |= MOUNT_ATTR_RDONLY;
	else
		*clr |= MOUNT_ATTR_RDONLY;
}

#define FILE_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* A detached copy of the host's source of m, with m's attributes. */
static int open_host_tree(const struct ward_mount *m, struct ward_error *err)
{
	const char *src = m->source ? m->source : m->path;
	bool dir = m->kind == WARD_MNT_BIND;
	struct mount_attr attr = { 0 };
	int tree;

	tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (dir ? AT_RECURSIVE : 0));
	if (tree < 0)
		return ward_err(err, -errno, "open_tree '%s'", src);
	if (dir) {
		uint64_t set, clr;

		bind_attrs(m, &set, &clr);
		attr.attr_set = set;
		attr.attr_clr = clr;
	} else {
		attr.attr_set = FILE_ATTRS;
	}
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (dir ? AT_RECURSIVE : 0), &attr,
		    sizeof(attr)) < 0) {
		int r = ward_err(err, -errno, "mount_setattr '%s'", src);

		close(tree);
		return r;
	}
	return tree;
}

int ward_mount_delta_build(const struct ward_mount_plan *cur, const struct ward_mount_plan *next,
			   struct ward_mount_delta *ret, struct ward_error *err)
{
	_cleanup_(ward_mount_delta_free) struct ward_mount_delta d = { 0 };
	int r;

	*ret = (struct ward_mount_delta){ 0 };
	d.detach = calloc(cur->n + 1, sizeof(*d.detach));
	d.add = calloc(next->n + 1, sizeof(*d.add));
	if (!d.detach || !d.add)
		return ward_err(err, -ENOMEM, "mount delta");
	/* what goes: dropped or changed, a mount below one that goes goes with it */
	for (size_t i = 0; i < cur->n; i++) {
		const struct ward_mount *m = &cur->v[i];

		if (in_plan(next, m))
			continue;
		if (m->kind != WARD_MNT_BIND && m->kind != WARD_MNT_FILE)
			return ward_errx(err, -EOPNOTSUPP,
					 "'%s' (ward's own mount) differs: for the next start", m->path);
		if (!(d.detach[d.n_detach++] = strdup(m->path)))
			return ward_err(err, -ENOMEM, "mount delta");
	}
	qsort(d.detach, d.n_detach, sizeof(*d.detach), cmp_str_desc);
	/* what comes: new or changed, and whatever of the new plan lies below a
	 * mount that goes (detached with it) */
	for (size_t i = 0; i < next->n; i++) {
		const struct ward_mount *m = &next->v[i];

		if (in_plan(cur, m) && !under_any(d.detach, d.n_detach, m->path))
			continue;
		if (m->kind != WARD_MNT_BIND && m->kind != WARD_MNT_FILE)
			return ward_errx(err, -EOPNOTSUPP,
					 "'%s' (ward's own mount) differs: for the next start", m->path);
		if (!(d.add[d.n_add].path = strdup(m->path)))
			return ward_err(err, -ENOMEM, "mount delta");
		d.add[d.n_add].is_dir = m->kind == WARD_MNT_BIND && m->is_dir;
		d.add[d.n_add].tree = -1;
		d.n_add++;
		r = open_host_tree(m, err);
		if (r < 0)
			return r;
		d.add[d.n_add - 1].tree = r;
	}
	qsort(d.add, d.n_add, sizeof(*d.add), cmp_add);
	*ret = d;
	d = (struct ward_mount_delta){ 0 };
	return 0;
}

void ward_mount_delta_free(struct ward_mount_delta *d)
{
	for (size_t i = 0; i < d->n_detach; i++)
		free(d->detach[i]);
	for (size_t i = 0; i < d->n_add; i++) {
		free(d->add[i].path);
		if (d->add[i].tree >= 0)
			close(d->add[i].tree);
	}
	free(d->detach);
	free(d->add);
	*d = (struct ward_mount_delta){ 0 };
}

/* ---- child side: no allocation below this line ---- */

static int join(char *buf, size_t len, const char *a, const char *b, struct ward_error *err)
{
	if (!strcmp(b, "/"))
		b = "";
	if ((size_t)snprintf(buf, len, "%s%s", a, b) >= len)
		return ward_errx(err, -ENAMETOOLONG, "path too long: %s%s", a, b);
	return 0;
}

static int mkdir_p(const char *path, struct ward_error *err)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return ward_errx(err, -ENAMETOOLONG, "path too long: %s", path);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return ward_err(err, -errno, "mkdir '%s'", buf);
		if (c == '\0')
			return 0;
		*s = c;
	}
}

static int mkdir_parent(const char *path, struct ward_error *err)
{
	char buf[PATH_MAX];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", path);
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	return mkdir_p(buf, err);
}

static int make_file(const char *path, struct ward_error *err)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0 && errno != EEXIST)
		return ward_err(err, -errno, "create '%s'", path);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int bind(const char *src, const char *dst, bool is_dir, struct ward_error *err)
{
	int r = is_dir ? mkdir_p(dst, err) : mkdir_parent(dst, err);

	if (r < 0)
		return r;
	if (!is_dir && (r = make_file(dst, err)) < 0)
		return r;
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return ward_err(err, -errno, "bind '%s' on '%s'", src, dst);
	return 0;
}

static int setattr(const char *path, bool recursive, uint64_t set, uint64_t clr,
		   struct ward_error *err)
{
	struct mount_attr attr = { .attr_set = set, .attr_clr = clr };

	if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr,
		    sizeof(attr)) < 0)
		return ward_err(err, -errno, "mount_setattr '%s'", path);
	return 0;
}

static int pathcat(char *buf, size_t len, const char *a, const char *b, struct ward_error *err)
{
	if ((size_t)snprintf(buf, len, "%s/%s", a, b) >= len)
		return ward_errx(err, -ENAMETOOLONG, "path too long: %s/%s", a, b);
	return 0;
}

static int setup_dev(const char *dst, struct ward_error *err)
{
	char path[PATH_MAX], src[PATH_MAX];
	int r = mkdir_p(dst, err);

	if (r < 0)
		return r;
	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		return ward_err(err, -errno, "mount tmpfs on '%s'", dst);
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		r = pathcat(path, sizeof(path), dst, dev_nodes[i], err);
		if (r >= 0)
			r = pathcat(src, sizeof(src), "/oldroot/dev", dev_nodes[i], err);
		if (r >= 0)
			r = bind(src, path, false, err);
		if (r < 0)
			return r;
	}
	if (pathcat(path, sizeof(path), dst, "pts", err) < 0)
		return err->code;
	if (mkdir(path, 0755) < 0 || mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
					   "newinstance,ptmxmode=0666,mode=0620") < 0)
		return ward_err(err, -errno, "mount devpts on '%s'", path);
	if (pathcat(path, sizeof(path), dst, "shm", err) < 0)
		return err->code;
	if (mkdir(path, 01777) < 0 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return ward_err(err, -errno, "mount tmpfs on '%s'", path);

	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },		 { "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },	 { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		if (pathcat(path, sizeof(path), dst, links[i][1], err) < 0)
			return err->code;
		if (symlink(links[i][0], path) < 0)
			return ward_err(err, -errno, "symlink '%s'", path);
	}
	return 0;
}

/* A detached copy of the host file's mount, moved onto dst without following
 * dst when it is a symlink (mount(2) would follow it, and resolv.conf's link
 * usually points where the sandbox sees nothing). */
static int place(const struct ward_mount *m, const char *dst, struct ward_error *err)
{
	char src[PATH_MAX];
	int tree, r;

	r = join(src, sizeof(src), "/oldroot", m->source, err);
	if (r < 0)
		return r;
	if (m->create && ((r = mkdir_parent(dst, err)) < 0 || (r = make_file(dst, err)) < 0))
		return r;
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return ward_err(err, -errno, "open_tree '%s'", m->source);
	r = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH);
	if (r < 0)
		r = ward_err(err, -errno, "place '%s' at '%s'", m->source, m->path);
	close(tree);
	return r;
}

static int apply_one(const struct ward_mount_plan *plan, const struct ward_mount *m,
		     struct ward_error *err)
{
	char src[PATH_MAX], dst[PATH_MAX], opts[64];
	int r;

	r = join(dst, sizeof(dst), "/newroot", m->path, err);
	if (r >= 0)
		r = join(src, sizeof(src), "/oldroot",
			 m->kind == WARD_MNT_BIND && m->source ? m->source : m->path, err);
	if (r < 0)
		return r;
	switch (m->kind) {
	case WARD_MNT_BIND:
		return bind(src, dst, m->is_dir, err);
	case WARD_MNT_SYMLINK:
		r = mkdir_parent(dst, err);
		if (r < 0)
			return r;
		if (symlink(m->target, dst) < 0 && errno != EEXIST)
			return ward_err(err, -errno, "symlink '%s'", m->path);
		return 0;
	case WARD_MNT_TMPFS:
		r = mkdir_p(dst, err);
		if (r < 0)
			return r;
		/* resources.tmp_size; the pages count against the cgroup's memory too */
		if (plan->tmp_size)
			snprintf(opts, sizeof(opts), "mode=1777,size=%llu",
				 (unsigned long long)plan->tmp_size);
		if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV,
			  plan->tmp_size ? opts : "mode=1777") < 0)
			return ward_err(err, -errno, "mount tmpfs on '%s'", m->path);
		return 0;
	case WARD_MNT_PROC:
		r = mkdir_p(dst, err);
		if (r < 0)
			return r;
		if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return ward_err(err, -errno, "mount proc on '%s'", m->path);
		return 0;
	case WARD_MNT_DEV:
		return setup_dev(dst, err);
	case WARD_MNT_FILE:
		return place(m, dst, err);
	}
	return 0;
}

/* Second pass, after every mount point exists (mkdir inside a read-only bind
 * would fail): parents first, so a child's flags override its parent's. */
static int attrs_one(const struct ward_mount *m, struct ward_error *err)
{
	char dst[PATH_MAX];
	uint64_t set = 0, clr = 0;
	int r = join(dst, sizeof(dst), "/newroot", m->path, err);

	if (r < 0)
		return r;
	if (m->as_host)
		return 0;
	switch (m->kind) {
	case WARD_MNT_BIND:
		bind_attrs(m, &set, &clr);
		return setattr(dst, true, set, clr, err);
	case WARD_MNT_TMPFS:
	case WARD_MNT_PROC:
		return setattr(dst, true, 0, MOUNT_ATTR_RDONLY, err);
	case WARD_MNT_DEV:
		r = setattr(dst, true, 0, MOUNT_ATTR_RDONLY, err);
		return r < 0 ? r : setattr(dst, false, MOUNT_ATTR_RDONLY, 0, err);
	case WARD_MNT_FILE:
		return setattr(dst, false, FILE_ATTRS, 0, err);
	case WARD_MNT_SYMLINK:
		return 0;
	}
	return 0;
}

int ward_mount_apply(const struct ward_mount_plan *plan, struct ward_error *err)
{
	int r;

	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return ward_err(err, -errno, "make / rslave");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return ward_err(err, -errno, "mount the staging tmpfs");
	if (chdir("/tmp") < 0 || mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0)
		return ward_err(err, -errno, "prepare the staging tmpfs");
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0 || chdir("/") < 0)
		return ward_err(err, -errno, "pivot_root into the staging tmpfs");
	if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return ward_err(err, -errno, "mount the root tmpfs");

	for (size_t i = 0; i < plan->n; i++) {
		r = apply_one(plan, &plan->v[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < plan->n; i++) {
		r = attrs_one(&plan->v[i], err);
		if (r < 0)
			return r;
	}

	if (umount2("/oldroot", MNT_DETACH) < 0)
		return ward_err(err, -errno, "detach the host root");
	if (chdir("/newroot") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return ward_err(err, -errno, "pivot_root into the sandbox root");
	/* learn: the host's root, as the host has it */
	if (plan->learn)
		return 0;
	/* The root itself is read-only: only the policy's paths can be written. */
	return setattr("/", false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0,
		       err);
}

/* A mount point for an addition; the sandbox's root is read-only: made
 * writable for this (in the session's own namespace: its copy of the root's
 * mount; the directory shows in the sandbox's root too, empty). */
static int mount_point(const struct ward_mount_add *a, bool *root_rw, struct ward_error *err)
{
	for (;;) {
		int r = a->is_dir ? mkdir_p(a->path, err) : mkdir_parent(a->path, err);

		if (r >= 0 && !a->is_dir)
			r = make_file(a->path, err);
		if (r != -EROFS || *root_rw)
			return r;
		r = setattr("/", false, 0, MOUNT_ATTR_RDONLY, err);
		if (r < 0)
			return r;
		*root_rw = true;
	}
}

int ward_mount_delta_apply(const struct ward_mount_delta *d, struct ward_error *err)
{
	bool root_rw = false;
	int r = 0;

	if (unshare(CLONE_NEWNS) < 0)
		return ward_err(err, -errno, "a mount namespace for the session");
	/* nothing of the session's reaches the sandbox's */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return ward_err(err, -errno, "make the session's / rslave");
	for (size_t i = 0; i < d->n_detach; i++)
		/* EINVAL: not a mount point any more (went with a parent) */
		if (umount2(d->detach[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			return ward_err(err, -errno, "detach '%s'", d->detach[i]);
	for (size_t i = 0; i < d->n_add && r >= 0; i++) {
		const struct ward_mount_add *a = &d->add[i];

		r = mount_point(a, &root_rw, err);
		if (r >= 0 && syscall(SYS_move_mount, a->tree, "", AT_FDCWD, a->path,
				      MOVE_MOUNT_F_EMPTY_PATH) < 0)
			r = ward_err(err, -errno, "attach '%s'", a->path);
	}
	if (root_rw) {
		int q = setattr("/", false, MOUNT_ATTR_RDONLY, 0, err);

		if (r >= 0)
			r = q;
	}
	return r;
}
