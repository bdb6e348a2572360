// SPDX-License-Identifier: MIT
/* The filesystem observer: bpf/fs.bpf.c loaded for one sandbox, its events
 * turned into decision rows; see fs.h. */
#include "enforcer/btf.h"
#include "enforcer/exe.h"
#include "enforcer/fs.h"
#include "enforcer/fs_hidden.h"
#include "enforcer/landlock_audit.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "common/util.h"
#include "enforcer/egress.h"

#include "../../bpf/fs_decide.h"
#include "fs.skel.h"

DEFINE_CLEANUP(struct fs_bpf *, fs_bpf__destroy)

#define FS_MAX_LINKS 4 /* raw_tp/sys_exit, and raw_tp/sys_enter with the memory guard */
#define FS_EXE_CACHE 64

struct exe_cache_entry {
	uint64_t dev, ino;
	char path[PATH_MAX];
};

struct ward_fs {
	struct fs_bpf *skel;
	struct bpf_link *links[FS_MAX_LINKS];
	size_t n_links;
	struct ring_buffer *rb;
	char *sandbox;
	char *rev;
	struct ward_audit *audit;
	void (*on_event)(void *userdata, const struct ward_fs_event *ev,
			 const struct ward_decision *d);
	void *userdata;
	struct ward_session_hook session_of;
	uint64_t mono_to_real;
	uint64_t events;
	uint64_t reported_suppressed;
	uint64_t reported_drops;
	uint64_t reported_unchecked;
	uint64_t missing_checked, hidden_rows;
	struct ward_fs_hidden *hidden;	/* the plan, for missing paths */
	struct ward_ll_audit *ll_audit; /* Landlock's records, NULL when none arrive */
	char ll_why[256];
	int epfd; /* the ring buffer and the audit socket */
	uint32_t rate, burst;
	struct exe_cache_entry cache[FS_EXE_CACHE];
	size_t cache_next;
};

static const char *const op_names[WARD_FS_OP_MAX] = {
	[WARD_FS_OP_OPEN] = "open",	    [WARD_FS_OP_OPENAT] = "openat",
	[WARD_FS_OP_OPENAT2] = "openat2",   [WARD_FS_OP_CREAT] = "creat",
	[WARD_FS_OP_MKDIR] = "mkdir",	    [WARD_FS_OP_MKDIRAT] = "mkdirat",
	[WARD_FS_OP_MKNOD] = "mknod",	    [WARD_FS_OP_MKNODAT] = "mknodat",
	[WARD_FS_OP_UNLINK] = "unlink",	    [WARD_FS_OP_UNLINKAT] = "unlinkat",
	[WARD_FS_OP_RMDIR] = "rmdir",	    [WARD_FS_OP_RENAME] = "rename",
	[WARD_FS_OP_RENAMEAT] = "renameat", [WARD_FS_OP_RENAMEAT2] = "renameat2",
	[WARD_FS_OP_LINK] = "link",	    [WARD_FS_OP_LINKAT] = "linkat",
	[WARD_FS_OP_SYMLINK] = "symlink",   [WARD_FS_OP_SYMLINKAT] = "symlinkat",
	[WARD_FS_OP_TRUNCATE] = "truncate", [WARD_FS_OP_CHMOD] = "chmod",
	[WARD_FS_OP_FCHMODAT] = "fchmodat", [WARD_FS_OP_FCHMODAT2] = "fchmodat2",
	[WARD_FS_OP_CHOWN] = "chown",	    [WARD_FS_OP_LCHOWN] = "lchown",
	[WARD_FS_OP_FCHOWNAT] = "fchownat", [WARD_FS_OP_EXECVE] = "execve",
	[WARD_FS_OP_EXECVEAT] = "execveat", [WARD_FS_OP_FILE_OPEN] = "file_open",
	[WARD_FS_OP_FD_IO] = "read/write",
};

const char *ward_fs_op_str(unsigned op)
{
	return op < WARD_FS_OP_MAX && op_names[op] ? op_names[op] : "?";
}

void ward_fs_access_str(uint32_t access, char *buf, size_t len)
{
	static const char *const names[] = { "read",   "write", "create",  "truncate", "delete",
					     "rename", "link",	"setattr", "exec",     "dir" };
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names) && n < len; i++)
		if (access & (1u << i))
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i]);
}

/* The executable's path: cached per identity (a path found once for an
 * identity stays its name), else /proc/<pid>/exe verified against it, else
 * (the task exited before its event was read) the name the kernel read at
 * the event, else the identity searched for in $PATH. */
static const char *binary_of(struct ward_fs *fs, const struct ward_fs_event *ev)
{
	pid_t pid = (pid_t)ev->tgid;
	uint64_t dev = ev->dev, ino = ev->ino;
	struct exe_cache_entry *c;

	if (!dev && !ino)
		return NULL;
	for (size_t i = 0; i < FS_EXE_CACHE; i++)
		if (fs->cache[i].path[0] && fs->cache[i].dev == dev && fs->cache[i].ino == ino)
			return fs->cache[i].path;
	c = &fs->cache[fs->cache_next];
	if (ward_exe_name(pid, dev, ino, ev->exe, c->path, sizeof(c->path)) < 0) {
		c->path[0] = '\0';
		return NULL;
	}
	c->dev = dev;
	c->ino = ino;
	fs->cache_next = (fs->cache_next + 1) % FS_EXE_CACHE;
	return c->path;
}

/* A relative path joined to the directory it was relative to, read from
 * /proc at event time (the process may have moved or exited since: then the
 * path stays as given and the reason says so). */
static bool resolve_relative(pid_t tid, pid_t tgid, int dirfd, const char *path, char *out,
			     size_t len)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	if (dirfd == WARD_FS_AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/%d/cwd", tid);
	else
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", tgid, dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0 || dir[0] != '/')
		return false;
	dir[n] = '\0';
	return (size_t)snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "", path) < len;
}

static const char *errno_name(int e)
{
	switch (e) {
	case WARD_EACCES:
		return "EACCES";
	case WARD_EPERM:
		return "EPERM";
	case WARD_EROFS:
		return "EROFS";
	case WARD_ENOENT:
		return "ENOENT";
	default:
		return "?";
	}
}

static void describe_path(const struct ward_fs_event *ev, const char *given, int dirfd,
			  bool truncated, char *out, size_t len, char *note, size_t nlen)
{
	note[0] = '\0';
	if (ev->flags & WARD_FS_EV_NOPATH && given == ev->path) {
		snprintf(out, len, "%s", "");
		snprintf(note, nlen, " path unreadable");
		return;
	}
	if (given[0] == '/' || !given[0]) {
		snprintf(out, len, "%s", given);
	} else if (resolve_relative((pid_t)ev->pid, (pid_t)ev->tgid, dirfd, given, out, len)) {
		snprintf(note, nlen, " relative=%s resolved against %s at event time", given,
			 dirfd == WARD_FS_AT_FDCWD ? "cwd" : "dirfd");
	} else {
		snprintf(out, len, "%s", given);
		if (dirfd == WARD_FS_AT_FDCWD)
			snprintf(note, nlen, " relative to cwd (unresolved)");
		else
			snprintf(note, nlen, " relative to dirfd %d (unresolved)", dirfd);
	}
	if (truncated) {
		size_t n = strlen(note);

		snprintf(note + n, nlen - n, " path truncated at %d bytes", WARD_FS_PATH_MAX - 1);
	}
}

static void submit(struct ward_fs *fs, const struct ward_fs_event *ev, struct ward_decision *d)
{
	if (fs->audit)
		ward_audit_submit(fs->audit, d);
	if (fs->on_event)
		fs->on_event(fs->userdata, ev, d);
}

/* The deny row of one kernel event: who (from the event), what, where, why. */
static void event_row(struct ward_fs *fs, const struct ward_fs_event *ev, const char *method,
		      const char *path, const char *rule, const char *reason)
{
	char session[32];
	struct ward_decision d = {
		.ts_ns = ev->ts_ns + fs->mono_to_real,
		.sandbox = fs->sandbox,
		.layer = "fs",
		.action = "deny",
		.binary = binary_of(fs, ev),
		.pid = (int32_t)ev->tgid,
		.method = method,
		.path = path,
		.rule = rule,
		.reason = reason,
		.policy_rev = fs->rev,
		.session = ward_session_of(&fs->session_of, ev->cgid, session),
	};
	struct ward_owner owner;

	ward_owner_of(&owner, (pid_t)ev->tgid, ev->uid, ev->cgid);
	d.has_uid = owner.has_uid;
	d.uid = owner.uid;
	d.cgroup = owner.cgroup;
	submit(fs, ev, &d);
}

/* A descriptor on another process's memory or environment: the kernel has
 * killed its holder already; the row says who, and whose. */
static int on_procmem(struct ward_fs *fs, const struct ward_fs_event *ev)
{
	char link[64], victim[PATH_MAX], path[PATH_MAX + WARD_FS_PATH_MAX], note[PATH_MAX];
	char reason[2 * PATH_MAX + 512];
	const char *file = ev->procfile == WARD_FS_PROC_ENVIRON ? "environ" : "mem";
	ssize_t n = -1;

	if (ev->target) {
		snprintf(link, sizeof(link), "/proc/%u/exe", ev->target);
		n = readlink(link, victim, sizeof(victim) - 1);
	}
	victim[n > 0 ? n : 0] = '\0';
	if (ev->path[0]) {
		describe_path(ev, ev->path, WARD_FS_AT_FDCWD, ev->flags & WARD_FS_EV_TRUNCATED,
			      path, sizeof(path), note, sizeof(note));
	} else {
		snprintf(path, sizeof(path), "/proc/%u/%s", ev->target, file);
		snprintf(note, sizeof(note), " fd=%d (host pid)", ev->dirfd);
	}
	snprintf(reason, sizeof(reason),
		 "%s of another process (pid %u%s%s%s): process killed; syscall=%s%s",
		 ev->procfile == WARD_FS_PROC_ENVIRON ? "read of the environment"
						      : "read of the memory",
		 ev->target, victim[0] ? ", " : "", victim, ev->target ? "" : ", exited",
		 ward_fs_op_str(ev->op), note);
	event_row(fs, ev, "read", path, "filesystem_policy.binaries", reason);
	return 0;
}

/* A path that failed with ENOENT: hidden by the plan (a row), or not (the
 * kernel forgets about it). Its verdict goes back to the kernel's dedup map
 * either way; a path that cannot be made absolute is forgotten, so that a
 * later attempt is looked at again. */
static int on_missing(struct ward_fs *fs, const struct ward_fs_event *ev)
{
	char path[PATH_MAX + WARD_FS_PATH_MAX], norm[PATH_MAX], note[PATH_MAX], method[96];
	char target[PATH_MAX], via[PATH_MAX + 32] = "", reason[3 * PATH_MAX + 256];
	int map_fd = bpf_map__fd(fs->skel->maps.missing);
	__u8 verdict;

	if (ev->flags & WARD_FS_EV_TRUNCATED) {
		bpf_map_delete_elem(map_fd, &ev->key);
		return 0;
	}
	note[0] = '\0';
	if (ev->path[0] == '/') {
		snprintf(path, sizeof(path), "%s", ev->path);
	} else if (ev->flags & WARD_FS_EV_DIR) {
		/* the kernel named the directory as the sandbox sees it */
		snprintf(path, sizeof(path), "%s/%s", strcmp(ev->path2, "/") ? ev->path2 : "",
			 ev->path);
		snprintf(note, sizeof(note), " relative=%s in %s", ev->path,
			 ev->dirfd == WARD_FS_AT_FDCWD ? "cwd" : "dirfd");
	} else {
		describe_path(ev, ev->path, ev->dirfd, false, path, sizeof(path), note,
			      sizeof(note));
		if (path[0] != '/') {
			bpf_map_delete_elem(map_fd, &ev->key);
			return 0;
		}
	}
	/* "wd/../x" is "/x" here: the plan is looked at without symlinks of the
	 * sandbox, the row shows the path the attempt reached */
	if (ward_fs_path_normalize(path, norm, sizeof(norm)) < 0) {
		bpf_map_delete_elem(map_fd, &ev->key);
		return 0;
	}
	fs->missing_checked++;
	verdict = (__u8)ward_fs_hidden_check(fs->hidden, norm, ev->access & WARD_FS_ACC_CREATE,
					     target, sizeof(target));
	bpf_map_update_elem(map_fd, &ev->key, &verdict, BPF_EXIST);
	if (verdict != WARD_FS_MISSING_HIDDEN)
		return 0;
	fs->hidden_rows++;
	ward_fs_access_str(ev->access, method, sizeof(method));
	if (target[0])
		snprintf(via, sizeof(via), " (a symlink to %s)", target);
	snprintf(reason, sizeof(reason),
		 "hidden by policy: not in the sandbox's mount plan, present on the host%s; "
		 "syscall=%s errno=ENOENT flags=%#llx%s",
		 via, ward_fs_op_str(ev->op), (unsigned long long)ev->oflags, note);
	event_row(fs, ev, method, norm, "filesystem_policy", reason);
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct ward_fs *fs = ctx;
	const struct ward_fs_event *ev = data;
	char path[PATH_MAX + WARD_FS_PATH_MAX], path2[PATH_MAX + WARD_FS_PATH_MAX];
	char note[PATH_MAX], note2[PATH_MAX], method[96], reason[4 * PATH_MAX + 1024];

	if (size < sizeof(*ev) || ev->version != WARD_ABI_VERSION)
		return 0;
	fs->events++;
	if (ev->flags & WARD_FS_EV_PROCMEM)
		return on_procmem(fs, ev);
	if (ev->flags & (WARD_FS_EV_MISSING | WARD_FS_EV_HIDDEN))
		return on_missing(fs, ev);
	describe_path(ev, ev->path, ev->dirfd, ev->flags & WARD_FS_EV_TRUNCATED, path, sizeof(path),
		      note, sizeof(note));
	ward_fs_access_str(ev->access, method, sizeof(method));
	if (ev->path2[0]) {
		describe_path(ev, ev->path2, ev->dirfd2, ev->flags & WARD_FS_EV_TRUNCATED2, path2,
			      sizeof(path2), note2, sizeof(note2));
		snprintf(reason, sizeof(reason), "syscall=%s errno=%s flags=%#llx %s=%s%s%s",
			 ward_fs_op_str(ev->op), errno_name(-ev->ret),
			 (unsigned long long)ev->oflags,
			 ev->op == WARD_FS_OP_SYMLINK || ev->op == WARD_FS_OP_SYMLINKAT ? "target"
											: "to",
			 path2, note, note2);
	} else {
		snprintf(reason, sizeof(reason), "syscall=%s errno=%s flags=%#llx%s",
			 ward_fs_op_str(ev->op), errno_name(-ev->ret),
			 (unsigned long long)ev->oflags, note);
	}
	event_row(fs, ev, method, path, "filesystem_policy", reason);
	return 0;
}

static void report_counter(struct ward_fs *fs, uint64_t now, uint64_t *reported, const char *what)
{
	char reason[192];
	struct ward_decision d;

	if (now <= *reported)
		return;
	if (!strcmp(what, "rate"))
		snprintf(reason, sizeof(reason),
			 "rate limit (%u/s, burst %u): %llu filesystem denials not logged",
			 fs->rate, fs->burst, (unsigned long long)(now - *reported));
	else if (!strcmp(what, "unchecked"))
		snprintf(reason, sizeof(reason),
			 "rate limit (%u/s, burst %u): %llu missing paths not checked for "
			 "hidden-path rows",
			 fs->rate, fs->burst, (unsigned long long)(now - *reported));
	else
		snprintf(reason, sizeof(reason),
			 "ring buffer full: %llu filesystem denials not logged",
			 (unsigned long long)(now - *reported));
	*reported = now;
	d = (struct ward_decision){
		.sandbox = fs->sandbox,
		.layer = "fs",
		.action = "deny",
		.rule = "filesystem_policy",
		.reason = reason,
		.policy_rev = fs->rev,
	};
	if (fs->audit)
		ward_audit_submit(fs->audit, &d);
	if (fs->on_event)
		fs->on_event(fs->userdata, NULL, &d);
}

int ward_fs_consume(struct ward_fs *fs)
{
	uint64_t before = fs->events;
	int r = ring_buffer__consume(fs->rb);

	if (r < 0)
		return r;
	if (fs->ll_audit) {
		r = ward_ll_audit_consume(fs->ll_audit);
		if (r < 0)
			return r;
		fs->events += (uint64_t)r;
	}
	report_counter(fs, __atomic_load_n(&fs->skel->bss->suppressed, __ATOMIC_RELAXED),
		       &fs->reported_suppressed, "rate");
	report_counter(fs, __atomic_load_n(&fs->skel->bss->ringbuf_drops, __ATOMIC_RELAXED),
		       &fs->reported_drops, "drops");
	report_counter(fs, __atomic_load_n(&fs->skel->bss->missing_unchecked, __ATOMIC_RELAXED),
		       &fs->reported_unchecked, "unchecked");
	return (int)(fs->events - before);
}

void ward_fs_get_stats(const struct ward_fs *fs, struct ward_fs_stats *ret)
{
	*ret = (struct ward_fs_stats){
		.events = fs->events,
		.suppressed = fs->skel->bss->suppressed,
		.ringbuf_drops = fs->skel->bss->ringbuf_drops,
		.inflight_full = fs->skel->bss->inflight_full,
		.missing_seen = fs->skel->bss->missing_seen,
		.missing_checked = fs->missing_checked,
		.missing_unchecked = fs->skel->bss->missing_unchecked,
		.hidden = fs->hidden_rows,
		.procmem_kills = fs->skel->bss->procmem_kills,
	};
}

int ward_fs_events_fd(const struct ward_fs *fs)
{
	return fs->epfd;
}

bool ward_fs_landlock_audit(const struct ward_fs *fs, const char **ret_why)
{
	*ret_why = fs->ll_why;
	return fs->ll_audit;
}

static void ll_row(void *userdata, const struct ward_decision *d)
{
	struct ward_fs *fs = userdata;

	if (fs->on_event)
		fs->on_event(fs->userdata, NULL, d);
}

/* Landlock's records where the kernel writes them; fs->ll_why says which. */
static int open_ll_audit(struct ward_fs *fs, const struct ward_fs_config *cfg,
			 struct ward_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r = ward_ll_audit_probe(fs->ll_why, sizeof(fs->ll_why));

	if (r < 0)
		return 0; /* none arrive: the tracepoint's rows are all there is */
	struct ward_ll_audit_config lc = {
		.cgroup_id = cfg->cgroup_id,
		.sandbox = cfg->sandbox,
		.policy_rev = cfg->policy_rev,
		.audit = cfg->audit,
		.tracepoint_rows = true,
		.on_row = ll_row,
		.userdata = fs,
	};
	r = ward_ll_audit_new(&lc, &fs->ll_audit, err);
	if (r < 0)
		return r;
	ev.data.fd = ward_ll_audit_fd(fs->ll_audit);
	if (epoll_ctl(fs->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		return ward_err(err, -errno, "fs: poll the audit socket");
	return 0;
}

int ward_fs_denied_map_fd(const struct ward_fs *fs)
{
	return bpf_map__fd(fs->skel->maps.protect_denied);
}

size_t ward_fs_n_attached(const struct ward_fs *fs)
{
	return fs->n_links;
}

int ward_fs_new(const struct ward_fs_config *cfg, struct ward_fs **ret, struct ward_error *err)
{
	_cleanup_(fs_bpf__destroyp) struct fs_bpf *skel = NULL;
	struct ward_fs *fs;
	int r;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = ward_btf_custom_path());
	skel = fs_bpf__open_opts(&open_opts);
	if (!skel)
		return ward_err(err, -errno, "open bpf/fs.bpf.c");
	skel->rodata->rate_per_sec = cfg->rate ? cfg->rate : WARD_FS_RATE_PER_SEC;
	skel->rodata->rate_burst = cfg->burst ? cfg->burst : WARD_FS_RATE_BURST;
	skel->rodata->follow_missing = cfg->hidden_paths;
	skel->rodata->guard_procmem = cfg->guard_procmem;
	/* keys a sandboxed program cannot compute, so cannot collide on purpose */
	if (getrandom((void *)&skel->rodata->key_salt, sizeof(skel->rodata->key_salt), 0) !=
	    sizeof(skel->rodata->key_salt))
		return ward_err(err, -errno, "fs: getrandom");
	/* Without the guard on other processes' memory, sys_exit alone sees
	 * everything this layer logs: one program per syscall of every task on
	 * the machine instead of two (docs/filesystem.md, "Cost"). */
	if (!cfg->guard_procmem)
		bpf_program__set_autoload(skel->progs.fs_sys_enter, false);
	if (cfg->denied_map_fd > 0) {
		r = bpf_map__reuse_fd(skel->maps.protect_denied, cfg->denied_map_fd);
		if (r < 0)
			return ward_err(err, r, "fs: share the refusal map");
	}
	r = fs_bpf__load(skel);
	if (r < 0)
		return ward_err(err, r, "load bpf/fs.bpf.c");
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return ward_err(err, -ENOMEM, "fs");
	fs->epfd = -1;
	fs->rate = skel->rodata->rate_per_sec;
	fs->burst = skel->rodata->rate_burst;
	fs->skel = TAKE_PTR(skel);
	fs->skel->bss->cgroup_id = cfg->cgroup_id;
	fs->audit = cfg->audit;
	fs->on_event = cfg->on_event;
	fs->session_of = cfg->session_of;
	fs->userdata = cfg->userdata;
	fs->mono_to_real = ward_now_ns() - ward_mono_ns();
	fs->sandbox = strdup(cfg->sandbox ? cfg->sandbox : "");
	fs->rev = cfg->policy_rev ? strdup(cfg->policy_rev) : NULL;
	fs->epfd = epoll_create1(EPOLL_CLOEXEC);
	fs->rb = ring_buffer__new(bpf_map__fd(fs->skel->maps.events), on_sample, fs, NULL);
	if (!fs->sandbox || (cfg->policy_rev && !fs->rev) || !fs->rb || fs->epfd < 0 ||
	    ward_fs_hidden_new(NULL, &fs->hidden) < 0) {
		r = -errno ? -errno : -ENOMEM;
		ward_fs_free(fs);
		return ward_err(err, r, "fs: ring buffer");
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ring_buffer__epoll_fd(fs->rb) };
	if (epoll_ctl(fs->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		r = -errno;
		ward_fs_free(fs);
		return ward_err(err, r, "fs: poll the ring buffer");
	}
	if (cfg->landlock_audit && (r = open_ll_audit(fs, cfg, err)) < 0) {
		ward_fs_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

int ward_fs_set_sandbox(struct ward_fs *fs, uint64_t cgroup_id, const char *sandbox)
{
	char *s = strdup(sandbox ? sandbox : "");

	if (!s)
		return -ENOMEM;
	free(fs->sandbox);
	fs->sandbox = s;
	fs->skel->bss->cgroup_id = cgroup_id;
	if (fs->ll_audit)
		return ward_ll_audit_set_sandbox(fs->ll_audit, cgroup_id, sandbox);
	return 0;
}

void ward_fs_set_cgroup_level(struct ward_fs *fs, uint32_t level)
{
	fs->skel->bss->cgroup_level = level;
}

int ward_fs_set_plan(struct ward_fs *fs, const struct ward_mount_plan *plan)
{
	struct ward_fs_hidden *h;
	int r = ward_fs_hidden_new(plan, &h);

	if (r < 0)
		return r;
	ward_fs_hidden_free(fs->hidden);
	fs->hidden = h;
	return 0;
}

int ward_fs_attach(struct ward_fs *fs, struct ward_error *err)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, fs->skel->obj)
	{
		struct bpf_link *l;

		if (!bpf_program__autoload(prog))
			continue;
		if (fs->n_links >= FS_MAX_LINKS) {
			ward_fs_detach(fs);
			return ward_errx(err, -E2BIG, "fs: more than %d programs", FS_MAX_LINKS);
		}
		l = bpf_program__attach(prog);
		if (!l) {
			int r = -errno;

			ward_fs_detach(fs);
			return ward_err(err, r, "attach %s", bpf_program__section_name(prog));
		}
		fs->links[fs->n_links++] = l;
	}
	return 0;
}

void ward_fs_detach(struct ward_fs *fs)
{
	for (size_t i = 0; i < fs->n_links; i++)
		bpf_link__destroy(fs->links[i]);
	fs->n_links = 0;
}

void ward_fs_free(struct ward_fs *fs)
{
	if (!fs)
		return;
	ward_fs_detach(fs);
	ring_buffer__free(fs->rb);
	ward_ll_audit_free(fs->ll_audit);
	if (fs->epfd >= 0)
		close(fs->epfd);
	fs_bpf__destroy(fs->skel);
	ward_fs_hidden_free(fs->hidden);
	free(fs->sandbox);
	free(fs->rev);
	free(fs);
}
