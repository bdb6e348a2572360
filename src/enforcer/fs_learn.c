// SPDX-License-Identifier: MIT
/* Learn mode for the filesystem: bpf/fs_learn.bpf.c for one sandbox, its
 * events decided against the policy and the refused ones logged as audit
 * rows; see fs_learn.h. */
#include "enforcer/fs_learn.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/btf.h"
#include "enforcer/exe.h"
#include "enforcer/fs.h"
#include "enforcer/fs_hidden.h"
#include "policy/cases.h"

#include "../../bpf/fs_decide.h"
#include "fs_learn.skel.h"

DEFINE_CLEANUP(struct fs_learn_bpf *, fs_learn_bpf__destroy)

#define LEARN_EXE_CACHE 64

struct learn_exe {
	uint64_t dev, ino;
	char path[PATH_MAX];
};

struct ward_fs_learn {
	struct fs_learn_bpf *skel;
	struct bpf_link *link;
	struct ring_buffer *rb;
	const struct ward_policy *policy;
	char *workdir;
	char *sandbox;
	struct ward_audit *audit;
	void (*on_row)(void *userdata, const struct ward_fs_learn_event *ev,
		       const struct ward_decision *d);
	void *userdata;
	struct ward_session_hook session_of;
	uint64_t mono_to_real;
	uint32_t rate, burst;
	uint64_t events, rows, allowed, unresolved;
	uint64_t reported_suppressed, reported_drops, reported_unnamed;
	struct learn_exe cache[LEARN_EXE_CACHE];
	size_t cache_next;
};

static const char *binary_of(struct ward_fs_learn *l, pid_t pid, uint64_t dev, uint64_t ino)
{
	struct learn_exe *c;

	if (!dev && !ino)
		return NULL;
	for (size_t i = 0; i < LEARN_EXE_CACHE; i++)
		if (l->cache[i].path[0] && l->cache[i].dev == dev && l->cache[i].ino == ino)
			return l->cache[i].path;
	c = &l->cache[l->cache_next];
	if (ward_exe_name(pid, dev, ino, NULL, c->path, sizeof(c->path)) < 0) {
		c->path[0] = '\0';
		return NULL;
	}
	c->dev = dev;
	c->ino = ino;
	l->cache_next = (l->cache_next + 1) % LEARN_EXE_CACHE;
	return c->path;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* A relative path the kernel could not name, joined to its directory as
 * /proc shows it now (while the process lives). */
static bool resolve(const struct ward_fs_learn_event *ev, char *out, size_t len)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	if (ev->dirfd == WARD_FS_AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/%u/cwd", ev->pid);
	else
		snprintf(link, sizeof(link), "/proc/%u/fd/%d", ev->tgid, ev->dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0 || dir[0] != '/')
		return false;
	dir[n] = '\0';
	return (size_t)snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "", ev->path) < len;
}

static const char *method_of(uint8_t class)
{
	return class == WARD_FS_LEARN_EXEC    ? "exec"
	       : class == WARD_FS_LEARN_WRITE ? "write"
					      : "read";
}

/* Would the policy have refused it? rule/reason say why. */
static bool refused(const struct ward_fs_learn *l, const char *binary, const char *path,
		    uint8_t class, char *rule, size_t rulesz, char *why, size_t whysz)
{
	enum ward_case_access a = class == WARD_FS_LEARN_EXEC	 ? WARD_CASE_EXEC
				  : class == WARD_FS_LEARN_WRITE ? WARD_CASE_WRITE
								 : WARD_CASE_READ;
	char decided[PATH_MAX];
	bool ok = ward_case_fs_decide(l->policy, NULL, binary ? binary : "", path, a, decided,
				      sizeof(decided), why, whysz);

	snprintf(rule, rulesz, "filesystem_policy");
	if (l->workdir && under(path, l->workdir)) {
		/* the workdir: read-write with include_workdir; without, only what
		 * a policy path grants there (Landlock), not the private /tmp */
		if (l->policy->include_workdir)
			return false;
		if (ok && decided[0] && strcmp(decided, "/tmp"))
			return false;
		snprintf(rule, rulesz, "include_workdir");
		snprintf(why, whysz, "in the workdir %s, which the policy does not include",
			 l->workdir);
		return true;
	}
	return !ok;
}

static void submit(struct ward_fs_learn *l, const struct ward_fs_learn_event *ev,
		   const struct ward_decision *d)
{
	if (l->audit)
		ward_audit_submit(l->audit, d);
	if (l->on_row)
		l->on_row(l->userdata, ev, d);
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct ward_fs_learn *l = ctx;
	const struct ward_fs_learn_event *ev = data;
	char given[PATH_MAX], path[PATH_MAX], rule[32], why[PATH_MAX], reason[2 * PATH_MAX + 128];
	char session[32];
	const char *binary;

	if (size < sizeof(*ev) || ev->version != WARD_ABI_VERSION)
		return 0;
	l->events++;
	if (!ev->path[0])
		return 0;
	if (ev->flags & WARD_FS_LEARN_EV_KERNEL || ev->path[0] == '/') {
		snprintf(given, sizeof(given), "%s", ev->path);
	} else if (!resolve(ev, given, sizeof(given))) {
		l->unresolved++;
		return 0;
	}
	if (ward_fs_path_normalize(given, path, sizeof(path)) < 0) {
		l->unresolved++;
		return 0;
	}
	binary = binary_of(l, (pid_t)ev->tgid, ev->dev, ev->ino);
	if (!refused(l, binary, path, ev->class, rule, sizeof(rule), why, sizeof(why))) {
		l->allowed++;
		return 0;
	}
	l->rows++;
	snprintf(reason, sizeof(reason), "learn: the policy would refuse: %s; syscall=%s%s%s", why,
		 ward_fs_op_str(ev->op), ev->flags & WARD_FS_LEARN_EV_DIR ? " directory" : "",
		 ev->flags & WARD_FS_LEARN_EV_TRUNCATED ? " path truncated" : "");
	struct ward_decision d = {
		.ts_ns = ev->ts_ns + l->mono_to_real,
		.sandbox = l->sandbox,
		.layer = "fs",
		.action = "audit",
		.binary = binary,
		.pid = (int32_t)ev->tgid,
		.method = method_of(ev->class),
		.path = path,
		.rule = rule,
		.reason = reason,
		.policy_rev = l->policy->rev,
		.session = ward_session_of(&l->session_of, ev->cgid, session),
	};
	submit(l, ev, &d);
	return 0;
}

static void counter_row(struct ward_fs_learn *l, uint64_t now, uint64_t *reported, const char *what)
{
	char reason[256];
	struct ward_decision d;

	if (now <= *reported)
		return;
	snprintf(reason, sizeof(reason),
		 "learn: %s: %llu filesystem accesses not logged (rate limit %u/s, burst %u)", what,
		 (unsigned long long)(now - *reported), l->rate, l->burst);
	*reported = now;
	d = (struct ward_decision){
		.sandbox = l->sandbox,
		.layer = "fs",
		.action = "audit",
		.rule = "filesystem_policy",
		.reason = reason,
		.policy_rev = l->policy->rev,
	};
	submit(l, NULL, &d);
}

void ward_fs_learn_report(struct ward_fs_learn *l)
{
	const struct fs_learn_bpf__bss *b = l->skel->bss;

	counter_row(l, __atomic_load_n(&b->suppressed, __ATOMIC_RELAXED), &l->reported_suppressed,
		    "rate limit");
	counter_row(l, __atomic_load_n(&b->ringbuf_drops, __ATOMIC_RELAXED), &l->reported_drops,
		    "ring buffer full");
	counter_row(l, __atomic_load_n(&b->unnamed, __ATOMIC_RELAXED), &l->reported_unnamed,
		    "path longer or deeper than the kernel names");
}

int ward_fs_learn_consume(struct ward_fs_learn *l)
{
	uint64_t before = l->events;
	int r = ring_buffer__consume(l->rb);

	if (r < 0)
		return r;
	return (int)(l->events - before);
}

int ward_fs_learn_events_fd(const struct ward_fs_learn *l)
{
	return ring_buffer__epoll_fd(l->rb);
}

void ward_fs_learn_get_stats(const struct ward_fs_learn *l, struct ward_fs_learn_stats *ret)
{
	const struct fs_learn_bpf__bss *b = l->skel->bss;

	*ret = (struct ward_fs_learn_stats){
		.events = l->events,
		.rows = l->rows,
		.allowed = l->allowed,
		.unresolved = l->unresolved,
		.seen = b->seen,
		.deduplicated = b->deduplicated,
		.suppressed = b->suppressed,
		.ringbuf_drops = b->ringbuf_drops,
		.unnamed = b->unnamed,
	};
}

int ward_fs_learn_new(const struct ward_fs_learn_config *cfg, struct ward_fs_learn **ret,
		      struct ward_error *err)
{
	_cleanup_(fs_learn_bpf__destroyp) struct fs_learn_bpf *skel = NULL;
	struct ward_fs_learn *l;
	int r;

	if (!cfg->policy)
		return ward_errx(err, -EINVAL, "fs learn: no policy");
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = ward_btf_custom_path());
	skel = fs_learn_bpf__open_opts(&open_opts);
	if (!skel)
		return ward_err(err, -errno, "open bpf/fs_learn.bpf.c");
	skel->rodata->rate_per_sec = cfg->rate ? cfg->rate : WARD_FS_LEARN_RATE_PER_SEC;
	skel->rodata->rate_burst = cfg->burst ? cfg->burst : WARD_FS_LEARN_RATE_BURST;
	if (getrandom((void *)&skel->rodata->key_salt, sizeof(skel->rodata->key_salt), 0) !=
	    sizeof(skel->rodata->key_salt))
		return ward_err(err, -errno, "fs learn: getrandom");
	r = fs_learn_bpf__load(skel);
	if (r < 0)
		return ward_err(err, r, "load bpf/fs_learn.bpf.c");
	l = calloc(1, sizeof(*l));
	if (!l)
		return ward_err(err, -ENOMEM, "fs learn");
	l->rate = skel->rodata->rate_per_sec;
	l->burst = skel->rodata->rate_burst;
	l->skel = TAKE_PTR(skel);
	l->policy = cfg->policy;
	l->audit = cfg->audit;
	l->on_row = cfg->on_row;
	l->userdata = cfg->userdata;
	l->session_of = cfg->session_of;
	l->mono_to_real = ward_now_ns() - ward_mono_ns();
	l->sandbox = strdup(cfg->sandbox ? cfg->sandbox : "");
	l->workdir = cfg->workdir ? strdup(cfg->workdir) : NULL;
	l->rb = ring_buffer__new(bpf_map__fd(l->skel->maps.events), on_sample, l, NULL);
	if (!l->sandbox || (cfg->workdir && !l->workdir) || !l->rb) {
		r = errno ? -errno : -ENOMEM;
		ward_fs_learn_free(l);
		return ward_err(err, r, "fs learn: ring buffer");
	}
	*ret = l;
	return 0;
}

int ward_fs_learn_set_sandbox(struct ward_fs_learn *l, uint64_t cgroup_id, uint32_t level,
			      const char *sandbox)
{
	char *s = strdup(sandbox ? sandbox : "");

	if (!s)
		return -ENOMEM;
	free(l->sandbox);
	l->sandbox = s;
	l->skel->bss->cgroup_id = cgroup_id;
	l->skel->bss->cgroup_level = level;
	return 0;
}

int ward_fs_learn_set_workdir(struct ward_fs_learn *l, const char *workdir)
{
	char *w = NULL;

	if (workdir && !(w = strdup(workdir)))
		return -ENOMEM;
	free(l->workdir);
	l->workdir = w;
	return 0;
}

int ward_fs_learn_attach(struct ward_fs_learn *l, struct ward_error *err)
{
	if (l->link)
		return 0;
	l->link = bpf_program__attach(l->skel->progs.fs_learn_exit);
	if (!l->link)
		return ward_err(err, -errno, "attach raw_tp/sys_exit (fs learn)");
	return 0;
}

void ward_fs_learn_free(struct ward_fs_learn *l)
{
	if (!l)
		return;
	bpf_link__destroy(l->link);
	l->link = NULL;
	if (l->rb) {
		ring_buffer__consume(l->rb);
		ward_fs_learn_report(l);
	}
	ring_buffer__free(l->rb);
	fs_learn_bpf__destroy(l->skel);
	free(l->sandbox);
	free(l->workdir);
	free(l);
}
