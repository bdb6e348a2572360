// SPDX-License-Identifier: MIT
/* Per-binary protected paths; see fs_protect.h.
 *
 * fanotify: every inode of a protected tree is marked (FAN_MARK_INODE; a
 * directory also with FAN_EVENT_ON_CHILD, so files created in it later are
 * covered). For each FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM event the supervisor
 * asks, in this order: is the opener in the sandbox's cgroup
 * (/proc/<tid>/cgroup)? which protected root is the file under (fstat of the
 * event fd → marked inode, else its path)? is the opener's executable
 * ((dev, inode) of /proc/<tid>/exe) named for that root? and answers with
 * ward_fs_protect_decide() from bpf/fs_decide.h.
 *
 * Why /proc/<tid>/exe is not racy here: the opening thread is blocked in
 * open() until we answer, so it cannot exec; another thread of its process
 * that execs kills it first (de_thread), and the open it asked for never
 * completes. The tid cannot be reused while the thread waits. */
#include "enforcer/fs_protect.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "common/strv.h"
#include "common/util.h"
#include "enforcer/btf.h"
#include "enforcer/cgroup.h"
#include "enforcer/exe.h"
#include "enforcer/egress_internal.h"
#include "enforcer/fs.h"

#include "../../bpf/fs_decide.h"
#include "fs_lsm.skel.h"

DEFINE_CLEANUP(DIR *, closedir)

#define FAN_MASK (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)
#define MAX_ALLOW_ROWS 256 /* (root, executable) pairs whose first allowed open is logged */

struct root {
	char *path;  /* canonical */
	char *names; /* the named binaries, as written, comma-separated */
	struct ward_ident_key *ids;
	size_t n_ids;
};

struct mark {
	uint64_t dev, ino;
	uint32_t root;
};

struct named_exe {
	struct ward_ident_key key;
	char *path;
};

struct ward_fs_protect {
	enum ward_fs_mechanism mech;
	struct root *roots;
	size_t n_roots;
	struct mark *marks;
	size_t n_marks;
	struct named_exe *named; /* every named executable, by its kernel key */
	size_t n_named;
	char **warnings;
	size_t n_warnings;
	int fan_fd;
	/* set by start */
	char *sandbox, *rev, *cgroup_rel;
	struct ward_audit *audit;
	int denied_map_fd;
	void (*on_decision)(void *userdata, const struct ward_decision *d);
	void *userdata;
	struct ward_session_hook session_of;
	int stop_fd;
	pthread_t thread;
	bool started;
	uint64_t n_denied, n_allowed;
	struct ward_fs_allow_key allow_rows[MAX_ALLOW_ROWS];
	size_t n_allow_rows;
	/* bpf-lsm */
	struct fs_lsm_bpf *lsm;
	struct bpf_link *lsm_link;
	struct ring_buffer *lsm_rb;
	uint64_t mono_to_real;
};

const char *ward_fs_mechanism_str(enum ward_fs_mechanism m)
{
	switch (m) {
	case WARD_FS_MECH_FANOTIFY:
		return "fanotify";
	case WARD_FS_MECH_BPF_LSM:
		return "bpf-lsm";
	case WARD_FS_MECH_NONE:
		break;
	}
	return "none";
}

static int warn(struct ward_fs_protect *fp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int warn(struct ward_fs_protect *fp, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ward_strv_vappendf(&fp->warnings, &fp->n_warnings, fmt, ap);
	va_end(ap);
	return r;
}

static struct root *root_for(struct ward_fs_protect *fp, const char *path)
{
	char real[PATH_MAX];
	struct root *n;

	/* a missing path is skipped by the mount plan with a warning; nothing to protect */
	if (!realpath(path, real))
		return NULL;
	for (size_t i = 0; i < fp->n_roots; i++)
		if (!strcmp(fp->roots[i].path, real))
			return &fp->roots[i];
	n = realloc(fp->roots, (fp->n_roots + 1) * sizeof(*n));
	if (!n)
		return NULL;
	fp->roots = n;
	n = &fp->roots[fp->n_roots];
	*n = (struct root){ .path = strdup(real), .names = strdup("") };
	if (!n->path || !n->names) {
		free(n->path);
		free(n->names);
		return NULL;
	}
	fp->n_roots++;
	return n;
}

struct ids {
	struct ward_ident_key *v;
	char **paths; /* each one's path, canonical */
	size_t n;
};

static void ids_free(struct ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->paths[i]);
	free(ids->paths);
	free(ids->v);
}

static int collect(void *ud, const char *path, const struct stat *st)
{
	struct ids *ids = ud;
	struct ward_ident_key *v;
	struct ward_exe_ident k;
	char **paths, *canon;

	(void)st;
	if (ids->n >= WARD_MAX_IDENTITIES)
		return -E2BIG;
	/* the key the kernel reads (overlayfs, btrfs: not st_dev); none: not allowed */
	if (ward_exe_ident_path(path, &k) < 0)
		return 0;
	v = realloc(ids->v, (ids->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ids->v = v;
	paths = realloc(ids->paths, (ids->n + 1) * sizeof(*paths));
	if (!paths)
		return -ENOMEM;
	ids->paths = paths;
	canon = realpath(path, NULL);
	if (!canon && !(canon = strdup(path)))
		return -ENOMEM;
	ids->paths[ids->n] = canon;
	ids->v[ids->n++] = k.key;
	return 0;
}

/* The executables a binary pattern names, through the egress layer's
 * resolution (symlinks followed, globs walked with its bounds). */
static int resolve_binary(struct ward_fs_protect *fp, const char *pattern, struct ids *ids)
{
	struct ward_egress tmp = { 0 };
	int r = egress_glob(&tmp, pattern, collect, ids);

	for (size_t i = 0; i < tmp.n_warnings; i++) {
		if (r >= 0)
			warn(fp, "%s", tmp.warnings[i]);
		free(tmp.warnings[i]);
	}
	free(tmp.warnings);
	return r;
}

static const char *named_path(const struct ward_fs_protect *fp, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < fp->n_named; i++)
		if (fp->named[i].key.dev == dev && fp->named[i].key.ino == ino)
			return fp->named[i].path;
	return NULL;
}

/* The named executables' paths by their kernel key: a bpf-lsm event is read
 * after the open, when a short-lived opener may be gone (and with it its
 * /proc/PID/exe); an allowed one is one of these. */
static int named_add(struct ward_fs_protect *fp, const struct ward_ident_key *k, const char *path)
{
	struct named_exe *v;

	if (named_path(fp, k->dev, k->ino))
		return 0;
	v = realloc(fp->named, (fp->n_named + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	fp->named = v;
	if (!(v[fp->n_named].path = strdup(path)))
		return -ENOMEM;
	v[fp->n_named++].key = *k;
	return 0;
}

static int add_rule(struct ward_fs_protect *fp, const struct ward_fs_binary_rule *b,
		    struct ward_error *err)
{
	struct ids ids = { 0 };
	int r = resolve_binary(fp, b->binary.path, &ids);

	if (r < 0) {
		ids_free(&ids);
		return ward_err(err, r, "filesystem binary '%s'", b->binary.path);
	}
	for (size_t i = 0; i < ids.n; i++)
		if (named_add(fp, &ids.v[i], ids.paths[i]) < 0)
			goto oom;
	if (r == 0)
		warn(fp,
		     "filesystem binary '%s' (line %u) matches no executable file; nothing "
		     "may open its protected paths",
		     b->binary.path, b->binary.pos.line);
	for (size_t k = 0; k < b->n_read_only + b->n_read_write; k++) {
		const struct ward_fs_path *p =
			k < b->n_read_only ? &b->read_only[k] : &b->read_write[k - b->n_read_only];
		struct root *root = root_for(fp, p->path);
		struct ward_ident_key *v;
		char *names;

		if (!root) {
			if (errno == ENOMEM)
				goto oom;
			warn(fp, "protected path '%s' (line %u): %s; skipped", p->path, p->pos.line,
			     strerror(errno));
			continue;
		}
		v = realloc(root->ids, (root->n_ids + ids.n + 1) * sizeof(*v));
		if (!v)
			goto oom;
		root->ids = v;
		memcpy(root->ids + root->n_ids, ids.v, ids.n * sizeof(*v));
		root->n_ids += ids.n;
		if (asprintf(&names, "%s%s%s", root->names, root->names[0] ? "," : "",
			     b->binary.path) < 0)
			goto oom;
		free(root->names);
		root->names = names;
	}
	ids_free(&ids);
	return 0;
oom:
	ids_free(&ids);
	return ward_err(err, -ENOMEM, "protected paths");
}

static int add_mark(struct ward_fs_protect *fp, const char *path, const struct stat *st,
		    uint32_t root, struct ward_error *err)
{
	uint64_t mask = FAN_MASK;
	struct mark *m;

	if (fp->n_marks >= WARD_FS_PROTECT_MAX_MARKS)
		return ward_errx(err, -E2BIG, "more than %d inodes under protected paths (at '%s')",
				 WARD_FS_PROTECT_MAX_MARKS, path);
	if (S_ISDIR(st->st_mode))
		mask |= FAN_EVENT_ON_CHILD | FAN_ONDIR;
	if (fp->mech == WARD_FS_MECH_FANOTIFY &&
	    fanotify_mark(fp->fan_fd, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW, mask, AT_FDCWD, path) <
		    0)
		return ward_err(err, -errno, "fanotify_mark '%s'", path);
	m = realloc(fp->marks, (fp->n_marks + 1) * sizeof(*m));
	if (!m)
		return ward_err(err, -ENOMEM, "marks");
	fp->marks = m;
	fp->marks[fp->n_marks++] = (struct mark){ ward_egress_kdev(st->st_dev), st->st_ino, root };
	return 0;
}

/* Mark a tree, bounded in depth and size; symlinks are not followed (what
 * they point to is protected only if it is under a protected path itself). */
static int mark_tree(struct ward_fs_protect *fp, const char *path, uint32_t root, unsigned depth,
		     struct ward_error *err)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char child[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return ward_err(err, -errno, "protected path '%s'", path);
	if (S_ISLNK(st.st_mode))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return add_mark(fp, path, &st, root, err);
	if (depth >= WARD_FS_PROTECT_MAX_DEPTH)
		return ward_errx(err, -E2BIG, "protected path '%s' is deeper than %d directories",
				 path, WARD_FS_PROTECT_MAX_DEPTH);
	/* opened before it is marked: nobody answers our own open yet */
	d = opendir(path);
	if (!d)
		return ward_err(err, -errno, "protected path '%s'", path);
	r = add_mark(fp, path, &st, root, err);
	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "",
				     de->d_name) >= sizeof(child))
			return ward_errx(err, -ENAMETOOLONG, "path too long under '%s'", path);
		r = mark_tree(fp, child, root, depth + 1, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_mark(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Expected to fail where BPF LSM is not loadable: no verifier noise then. */
static struct fs_lsm_bpf *lsm_load_quietly(void)
{
	libbpf_print_fn_t old = ward_libbpf_mute();
	struct fs_lsm_bpf *skel = fs_lsm_bpf__open_and_load();

	libbpf_set_print(old);
	return skel;
}

/* WARD_FS_PROTECT=fanotify|bpf-lsm forces the mechanism (tests run both on
 * one kernel, docs/filesystem.md); unset or "auto": bpf-lsm when it loads. */
static enum ward_fs_mechanism lsm_forced(void)
{
	const char *e = secure_getenv("WARD_FS_PROTECT");

	if (e && !strcmp(e, "fanotify"))
		return WARD_FS_MECH_FANOTIFY;
	if (e && !strcmp(e, "bpf-lsm"))
		return WARD_FS_MECH_BPF_LSM;
	return WARD_FS_MECH_NONE;
}

static bool lsm_try_load(struct ward_fs_protect *fp)
{
	struct fs_lsm_bpf *skel;

	if (lsm_forced() == WARD_FS_MECH_FANOTIFY)
		return false;
	skel = lsm_load_quietly();

	if (!skel)
		return false;
	fp->lsm = skel;
	return true;
}

enum ward_fs_mechanism ward_fs_protect_probe(char *detail, size_t len)
{
	enum ward_fs_mechanism forced = lsm_forced();
	struct fs_lsm_bpf *skel = forced == WARD_FS_MECH_FANOTIFY ? NULL : lsm_load_quietly();
	struct bpf_link *l = skel ? bpf_program__attach(skel->progs.ward_file_open) : NULL;
	int fd;

	if (l) {
		bpf_link__destroy(l);
		fs_lsm_bpf__destroy(skel);
		snprintf(detail, len, "bpf-lsm (lsm/file_open loads and attaches)");
		return WARD_FS_MECH_BPF_LSM;
	}
	fs_lsm_bpf__destroy(skel);
	if (forced == WARD_FS_MECH_BPF_LSM) {
		snprintf(detail, len, "unavailable: WARD_FS_PROTECT=bpf-lsm, and it does not load");
		return WARD_FS_MECH_NONE;
	}
	if (forced == WARD_FS_MECH_FANOTIFY) {
		fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_REPORT_TID, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(detail, len, "unavailable: WARD_FS_PROTECT=fanotify, fanotify_init: %s",
				 strerror(errno));
			return WARD_FS_MECH_NONE;
		}
		close(fd);
		snprintf(detail, len, "fanotify (forced by WARD_FS_PROTECT)");
		return WARD_FS_MECH_FANOTIFY;
	}
	fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_REPORT_TID, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		snprintf(detail, len, "fanotify (bpf-lsm not loadable: permission events instead)");
		return WARD_FS_MECH_FANOTIFY;
	}
	snprintf(detail, len, "unavailable: no bpf-lsm, fanotify_init: %s", strerror(errno));
	return WARD_FS_MECH_NONE;
}

void ward_fs_protect_free(struct ward_fs_protect *fp)
{
	if (!fp)
		return;
	if (fp->started) {
		uint64_t one = 1;

		if (write(fp->stop_fd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(fp->thread);
		pthread_join(fp->thread, NULL);
	}
	if (fp->stop_fd >= 0)
		close(fp->stop_fd);
	/* the sandbox is gone by now (see fs_protect.h): closing lets nothing through */
	if (fp->fan_fd >= 0)
		close(fp->fan_fd);
	bpf_link__destroy(fp->lsm_link);
	ring_buffer__free(fp->lsm_rb);
	fs_lsm_bpf__destroy(fp->lsm);
	for (size_t i = 0; i < fp->n_roots; i++) {
		free(fp->roots[i].path);
		free(fp->roots[i].names);
		free(fp->roots[i].ids);
	}
	free(fp->roots);
	for (size_t i = 0; i < fp->n_named; i++)
		free(fp->named[i].path);
	free(fp->named);
	free(fp->marks);
	ward_strv_free(&fp->warnings, &fp->n_warnings);
	free(fp->sandbox);
	free(fp->rev);
	free(fp->cgroup_rel);
	free(fp);
}

int ward_fs_protect_new(const struct ward_policy *p, struct ward_fs_protect **ret,
			struct ward_error *err)
{
	struct ward_fs_protect *fp = calloc(1, sizeof(*fp));
	int r;

	if (!fp)
		return ward_err(err, -ENOMEM, "protected paths");
	fp->fan_fd = -1;
	fp->stop_fd = -1;
	fp->denied_map_fd = -1;
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		r = add_rule(fp, &p->fs_binaries[i], err);
		if (r < 0)
			goto fail;
	}
	if (fp->n_roots == 0) {
		*ret = fp;
		return 0;
	}
	if (lsm_try_load(fp)) {
		fp->mech = WARD_FS_MECH_BPF_LSM;
	} else if (lsm_forced() == WARD_FS_MECH_BPF_LSM) {
		r = ward_errx(err, -EOPNOTSUPP, "WARD_FS_PROTECT=bpf-lsm: lsm/file_open does not load");
		goto fail;
	} else {
		/* FAN_REPORT_TID: the waiting thread, whose exe and cgroup we read */
		fp->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_REPORT_TID |
						   FAN_UNLIMITED_QUEUE,
					   O_RDONLY | O_CLOEXEC | O_LARGEFILE);
		if (fp->fan_fd < 0) {
			r = ward_err(err, -errno,
				     "protected paths need BPF LSM or fanotify "
				     "permission events; fanotify_init");
			goto fail;
		}
		fp->mech = WARD_FS_MECH_FANOTIFY;
	}
	*ret = fp;
	return 0;
fail:
	ward_fs_protect_free(fp);
	return r;
}

/* ---- deciding ---- */

static bool in_sandbox(const struct ward_fs_protect *fp, pid_t tid, bool *known)
{
	_cleanup_fclose_ FILE *f = NULL;
	char name[64], line[PATH_MAX + 8];
	size_t n = strlen(fp->cgroup_rel);

	*known = false;
	snprintf(name, sizeof(name), "/proc/%d/cgroup", tid);
	f = fopen(name, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, "0::", 3))
			continue;
		*known = true;
		p = line + 3;
		p[strcspn(p, "\n")] = '\0';
		return !strncmp(p, fp->cgroup_rel, n) && (p[n] == '\0' || p[n] == '/');
	}
	return false;
}

static int root_of(const struct ward_fs_protect *fp, int fd, char *path, size_t len)
{
	char link[64];
	struct stat st;
	ssize_t n;
	int best = -1;
	size_t best_len = 0;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, len - 1);
	path[n > 0 ? n : 0] = '\0';
	if (fstat(fd, &st) == 0) {
		struct mark key = { ward_egress_kdev(st.st_dev), st.st_ino, 0 };
		const struct mark *m = bsearch(&key, fp->marks, fp->n_marks, sizeof(*m), cmp_mark);

		if (m)
			return (int)m->root;
	}
	/* created after the marks: its directory's mark sent the event */
	for (size_t i = 0; i < fp->n_roots; i++) {
		size_t l = strlen(fp->roots[i].path);

		if (!strncmp(path, fp->roots[i].path, l) && (path[l] == '/' || path[l] == '\0') &&
		    l > best_len) {
			best = (int)i;
			best_len = l;
		}
	}
	return best;
}

static pid_t tgid_of(pid_t tid)
{
	_cleanup_fclose_ FILE *f = NULL;
	char name[64], line[128];

	snprintf(name, sizeof(name), "/proc/%d/status", tid);
	f = fopen(name, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Tgid:", 5))
			return (pid_t)atoi(line + 5);
	return tid;
}

/* pid, cgid and the owner are read while the opener still waits for the
 * verdict: a short-lived opener is gone (and its session unknown) right
 * after it. */
static void log_decision(struct ward_fs_protect *fp, bool deny, pid_t pid, uint64_t cgid,
			 const struct ward_owner *owner, const char *binary, const char *path,
			 const struct root *root, bool exec, enum ward_fs_why why, uint64_t ts_ns)
{
	char rule[PATH_MAX + 32], reason[PATH_MAX + 128], session[32];
	struct ward_decision d;

	snprintf(rule, sizeof(rule), "filesystem_policy.binaries:%s", root->path);
	snprintf(reason, sizeof(reason), "%s (%s): only %s may open it",
		 deny ? (why == WARD_FS_WHY_UNKNOWN_OPENER ? "opener's executable unknown"
							   : "protected path")
		      : "named binary",
		 ward_fs_mechanism_str(fp->mech), root->names[0] ? root->names : "no binary");
	d = (struct ward_decision){
		.ts_ns = ts_ns,
		.sandbox = fp->sandbox,
		.layer = "fs",
		.action = deny ? "deny" : "allow",
		.binary = binary,
		.pid = pid,
		.method = exec ? "exec" : "open",
		.path = path,
		.rule = rule,
		.reason = reason,
		.policy_rev = fp->rev,
		.session = ward_session_of(&fp->session_of, cgid, session),
		.has_uid = owner->has_uid,
		.uid = owner->uid,
		.cgroup = owner->cgroup,
	};
	if (fp->audit)
		ward_audit_submit(fp->audit, &d);
	if (fp->on_decision)
		fp->on_decision(fp->userdata, &d);
}

/* Allowed opens are logged once per (root, executable): the auditor sees
 * that the named binary used its path without a row per open. */
static bool first_allow(struct ward_fs_protect *fp, uint32_t root, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < fp->n_allow_rows; i++)
		if (fp->allow_rows[i].root == root && fp->allow_rows[i].dev == dev &&
		    fp->allow_rows[i].ino == ino)
			return false;
	if (fp->n_allow_rows >= MAX_ALLOW_ROWS)
		return false;
	fp->allow_rows[fp->n_allow_rows++] = (struct ward_fs_allow_key){ root, 0, dev, ino };
	return true;
}

static void handle(struct ward_fs_protect *fp, const struct fanotify_event_metadata *m)
{
	struct fanotify_response resp = { .fd = m->fd, .response = FAN_ALLOW };
	char path[PATH_MAX], exe_link[64], binary[PATH_MAX];
	_cleanup_close_ int exe_fd = -1;
	struct ward_exe_ident exe_id;
	struct ward_owner owner = { 0 };
	enum ward_fs_verdict v;
	enum ward_fs_why why;
	bool known_cg, inside, exe_known = false, exe_ok = false, log_allow;
	uint64_t dev = 0, ino = 0, cgid = 0;
	pid_t tid = m->pid, pid = tid;
	int root = -1;

	path[0] = binary[0] = '\0';

	inside = in_sandbox(fp, tid, &known_cg);
	/* a process whose cgroup cannot be read has exited: nothing to let through */
	if (!known_cg)
		inside = true;
	if (inside) {
		root = root_of(fp, m->fd, path, sizeof(path));
		snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", tid);
		exe_fd = open(exe_link, O_PATH | O_CLOEXEC);
		if (exe_fd >= 0 && ward_exe_ident_fd(exe_fd, tid, &exe_id) == 0) {
			exe_known = true;
			dev = exe_id.key.dev;
			ino = exe_id.key.ino;
			for (size_t i = 0; root >= 0 && i < fp->roots[root].n_ids; i++)
				if (fp->roots[root].ids[i].dev == dev &&
				    fp->roots[root].ids[i].ino == ino)
					exe_ok = true;
		}
	}
	v = ward_fs_protect_decide(inside, root, exe_known, exe_ok, &why);
	/* named while the opener is still blocked: a short-lived process is gone
	 * right after the answer */
	if ((v == WARD_FS_DENY || why == WARD_FS_WHY_NAMED) &&
	    (!exe_known || ward_exe_path(tid, dev, ino, binary, sizeof(binary)) < 0))
		binary[0] = '\0';
	log_allow = v != WARD_FS_DENY && why == WARD_FS_WHY_NAMED &&
		    first_allow(fp, (uint32_t)root, dev, ino) && binary[0];
	if (v == WARD_FS_DENY || log_allow) {
		pid = tgid_of(tid);
		cgid = ward_pid_cgroup_id(tid);
		ward_owner_of(&owner, tid, WARD_OWNER_UID_NONE, cgid);
	}
	if (v == WARD_FS_DENY) {
		uint64_t now = ward_mono_ns();
		__u32 key = (__u32)tid;

		resp.response = FAN_DENY;
		/* before the answer: the exit tracepoint must find it */
		if (fp->denied_map_fd >= 0)
			bpf_map_update_elem(fp->denied_map_fd, &key, &now, BPF_ANY);
	}
	while (write(fp->fan_fd, &resp, sizeof(resp)) < 0 && errno == EINTR)
		;
	if (v == WARD_FS_DENY) {
		fp->n_denied++;
		log_decision(fp, true, pid, cgid, &owner, binary[0] ? binary : NULL, path,
			     &fp->roots[root >= 0 ? root : 0], m->mask & FAN_OPEN_EXEC_PERM, why,
			     0);
	} else if (why == WARD_FS_WHY_NAMED) {
		fp->n_allowed++;
		if (log_allow)
			log_decision(fp, false, pid, cgid, &owner, binary, path, &fp->roots[root],
				     m->mask & FAN_OPEN_EXEC_PERM, why, 0);
	}
}

static void *fan_main(void *p)
{
	struct ward_fs_protect *fp = p;
	struct pollfd pfd[2] = { { .fd = fp->fan_fd, .events = POLLIN },
				 { .fd = fp->stop_fd, .events = POLLIN } };
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	sigset_t all;

	/* signals belong to the supervisor, which forwards them to the sandbox */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		const struct fanotify_event_metadata *m;
		ssize_t n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = read(fp->fan_fd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		for (m = (const void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->vers != FANOTIFY_METADATA_VERSION || m->fd < 0)
				continue;
			if (m->mask & FAN_MASK)
				handle(fp, m);
			close(m->fd);
		}
	}
	return NULL;
}

/* ---- bpf-lsm ---- */

/* open_exec's file: __FMODE_EXEC in f_flags (not an O_ flag on any arch) */
#define WARD_LSM_FMODE_EXEC 0x20

/* A refusal (ret < 0) or the first allowed open of a root by a named
 * executable (ret 0; fs_lsm.bpf.c keeps the first per (root, executable)),
 * logged as the fanotify supervisor logs them: the full path, the process
 * and the cgroup read in the kernel at the open. */
static int lsm_sample(void *ctx, void *data, size_t size)
{
	struct ward_fs_protect *fp = ctx;
	const struct ward_fs_event *ev = data;
	char binary[PATH_MAX], path[PATH_MAX];
	const char *leaf, *root;
	struct ward_owner owner;
	bool deny, known;
	uint64_t cgid;

	if (size < sizeof(*ev) || ev->rule >= fp->n_roots)
		return 0;
	deny = ev->ret < 0;
	known = ev->dev || ev->ino;
	if (deny)
		fp->n_denied++;
	if (!known || ward_exe_path((pid_t)ev->pid, ev->dev, ev->ino, binary, sizeof(binary)) < 0) {
		/* gone already (read after the open): the kernel's name for its
		 * executable; else an allowed opener is a named one */
		const char *n = NULL;

		if (known && ev->exe[0] == '/')
			n = ev->exe;
		else if (known && !deny)
			n = named_path(fp, ev->dev, ev->ino);
		snprintf(binary, sizeof(binary), "%s", n ? n : "");
	}
	/* as fanotify: an allow row names its binary */
	if (!deny && !binary[0])
		return 0;
	root = fp->roots[ev->rule].path;
	if (!(ev->flags & WARD_FS_EV_TRUNCATED)) {
		snprintf(path, sizeof(path), "%s", ev->path);
	} else {
		/* longer than the event's buffer: the root and the leaf */
		leaf = strrchr(root, '/');
		if (leaf && !strcmp(leaf + 1, ev->path))
			snprintf(path, sizeof(path), "%s", root);
		else
			snprintf(path, sizeof(path), "%s/.../%s", root, ev->path);
	}
	/* the kernel's cgroup id; the one in /proc when it had none */
	cgid = ev->cgid ? ev->cgid : ward_pid_cgroup_id((pid_t)ev->tgid);
	ward_owner_of(&owner, (pid_t)ev->tgid, ev->uid, cgid);
	log_decision(fp, deny, (pid_t)ev->tgid, cgid, &owner, binary[0] ? binary : NULL, path,
		     &fp->roots[ev->rule], ev->oflags & WARD_LSM_FMODE_EXEC,
		     !deny ? WARD_FS_WHY_NAMED
			   : known ? WARD_FS_WHY_OTHER_BINARY : WARD_FS_WHY_UNKNOWN_OPENER,
		     ev->ts_ns + fp->mono_to_real);
	return 0;
}

static void *lsm_main(void *p)
{
	struct ward_fs_protect *fp = p;
	struct pollfd pfd[2] = { { .fd = ring_buffer__epoll_fd(fp->lsm_rb), .events = POLLIN },
				 { .fd = fp->stop_fd, .events = POLLIN } };
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		if (poll(pfd, 2, WARD_EVENTS_POLL_MS) < 0 && errno != EINTR)
			break;
		ring_buffer__consume(fp->lsm_rb);
		if (pfd[1].revents & POLLIN)
			break;
	}
	ring_buffer__consume(fp->lsm_rb);
	return NULL;
}

static int lsm_start(struct ward_fs_protect *fp, uint64_t cgroup_id, const char *cgroup_path,
		     struct ward_error *err)
{
	int level;
	__u8 one = 1;

	for (size_t i = 0; i < fp->n_marks; i++) {
		struct ward_ident_key k = { fp->marks[i].dev, fp->marks[i].ino };

		if (bpf_map_update_elem(bpf_map__fd(fp->lsm->maps.protected_inodes), &k,
					&fp->marks[i].root, BPF_ANY) < 0)
			return ward_err(err, -errno, "bpf-lsm: protected inodes map");
	}
	for (size_t r = 0; r < fp->n_roots; r++)
		for (size_t i = 0; i < fp->roots[r].n_ids; i++) {
			struct ward_fs_allow_key k = { (uint32_t)r, 0, fp->roots[r].ids[i].dev,
						       fp->roots[r].ids[i].ino };

			if (bpf_map_update_elem(bpf_map__fd(fp->lsm->maps.allowed), &k, &one,
						BPF_ANY) < 0)
				return ward_err(err, -errno, "bpf-lsm: allowed map");
		}
	fp->mono_to_real = ward_now_ns() - ward_mono_ns();
	fp->lsm_rb = ring_buffer__new(bpf_map__fd(fp->lsm->maps.lsm_events), lsm_sample, fp, NULL);
	if (!fp->lsm_rb)
		return ward_err(err, -errno, "bpf-lsm: ring buffer");
	/* before attach: until then the program matches no cgroup */
	fp->lsm->bss->cgroup_id = cgroup_id;
	/* and below it: the sessions' cgroups */
	level = cgroup_path ? ward_cgroup_level(cgroup_path) : -1;
	fp->lsm->bss->cgroup_level = level > 0 ? (uint32_t)level : 0;
	fp->lsm_link = bpf_program__attach(fp->lsm->progs.ward_file_open);
	if (!fp->lsm_link)
		return ward_err(err, -errno, "bpf-lsm: attach lsm/file_open");
	return 0;
}

int ward_fs_protect_start(struct ward_fs_protect *fp, const struct ward_fs_protect_config *cfg,
			  struct ward_error *err)
{
	const char *mnt = ward_cgroup2_mount();
	int r;

	if (fp->mech == WARD_FS_MECH_NONE)
		return 0;
	if (fp->started)
		return ward_errx(err, -EALREADY, "protected paths already started");
	if (!mnt || strncmp(cfg->cgroup_path, mnt, strlen(mnt)))
		return ward_errx(err, -EINVAL, "cgroup '%s' is not under the cgroup2 mount",
				 cfg->cgroup_path);
	fp->cgroup_rel = strdup(cfg->cgroup_path + strlen(mnt));
	fp->sandbox = strdup(cfg->sandbox ? cfg->sandbox : "");
	fp->rev = cfg->policy_rev ? strdup(cfg->policy_rev) : NULL;
	if (!fp->cgroup_rel || !fp->sandbox || (cfg->policy_rev && !fp->rev))
		return ward_err(err, -ENOMEM, "protected paths");
	fp->audit = cfg->audit;
	fp->on_decision = cfg->on_decision;
	fp->userdata = cfg->userdata;
	fp->session_of = cfg->session_of;
	fp->denied_map_fd = cfg->denied_map_fd;

	fp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fp->stop_fd < 0)
		return ward_err(err, -errno, "eventfd");
	if (fp->mech == WARD_FS_MECH_FANOTIFY) {
		/* answering before marking: ward's own walk of a marked tree opens
		 * its directories (allowed: ward is outside the sandbox). Nothing in
		 * the sandbox runs yet, so no decision reads the marks being built. */
		r = pthread_create(&fp->thread, NULL, fan_main, fp);
		if (r)
			return ward_err(err, -r, "protected paths thread");
		fp->started = true;
	}
	for (size_t i = 0; i < fp->n_roots; i++) {
		r = mark_tree(fp, fp->roots[i].path, (uint32_t)i, 0, err);
		if (r < 0)
			return r;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	qsort(fp->marks, fp->n_marks, sizeof(*fp->marks), cmp_mark);
	if (fp->mech == WARD_FS_MECH_BPF_LSM) {
		r = lsm_start(fp, cfg->cgroup_id, cfg->cgroup_path, err);
		if (r < 0)
			return r;
		r = pthread_create(&fp->thread, NULL, lsm_main, fp);
		if (r)
			return ward_err(err, -r, "protected paths thread");
	}
	fp->started = true;
	return 0;
}

enum ward_fs_mechanism ward_fs_protect_mechanism(const struct ward_fs_protect *fp)
{
	return fp ? fp->mech : WARD_FS_MECH_NONE;
}

size_t ward_fs_protect_n_roots(const struct ward_fs_protect *fp)
{
	return fp->n_roots;
}

size_t ward_fs_protect_n_marks(const struct ward_fs_protect *fp)
{
	return fp->n_marks;
}

const char *const *ward_fs_protect_warnings(const struct ward_fs_protect *fp, size_t *ret_n)
{
	*ret_n = fp->n_warnings;
	return (const char *const *)fp->warnings;
}

int ward_fs_protect_denied_map_fd(const struct ward_fs_protect *fp)
{
	return fp && fp->lsm ? bpf_map__fd(fp->lsm->maps.protect_denied) : -1;
}

uint64_t ward_fs_protect_n_denied(const struct ward_fs_protect *fp)
{
	return __atomic_load_n(&fp->n_denied, __ATOMIC_RELAXED);
}

uint64_t ward_fs_protect_n_allowed(const struct ward_fs_protect *fp)
{
	/* bpf-lsm: counted in the kernel, where the open is let through */
	if (fp->lsm && fp->started)
		return __atomic_load_n(&fp->lsm->bss->allowed_opens, __ATOMIC_RELAXED);
	return __atomic_load_n(&fp->n_allowed, __ATOMIC_RELAXED);
}
