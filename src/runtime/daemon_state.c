// SPDX-License-Identifier: MIT
/* The state directory (docs/daemon.md): one directory per sandbox with its
 * config.json, the policy text in force and its home; files replaced
 * atomically (tmp + fsync + rename + fsync of the directory). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/sessions.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/cgroup.h"
#include "enforcer/netns.h"
#include "runtime/daemon_internal.h"

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* [a-z0-9][a-z0-9_.-]{0,62} */
bool daemon_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > DAEMON_NAME_MAX)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

static int tmp_name(const char *name, char tmp[NAME_MAX + 1], struct ward_error *err)
{
	if ((size_t)snprintf(tmp, NAME_MAX + 1, ".%s.tmp", name) >= NAME_MAX + 1)
		return ward_errx(err, -ENAMETOOLONG, "file name %s", name);
	return 0;
}

/* name's contents in .name.tmp, fsync'd; removed on failure */
static int write_tmp(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
		     struct ward_error *err)
{
	char tmp[NAME_MAX + 1];
	const char *p = buf;
	size_t off = 0;
	int fd, r = tmp_name(name, tmp, err);

	if (r < 0)
		return r;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return ward_err(err, -errno, "create %s", tmp);
	while (off < len && r == 0) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = ward_err(err, n < 0 ? -errno : -EIO, "write %s", tmp);
		else
			off += (size_t)n;
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = ward_err(err, -errno, "chmod %s", tmp);
	if (r == 0 && fsync(fd) < 0)
		r = ward_err(err, -errno, "fsync %s", tmp);
	close(fd);
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

static int rename_tmp(int dirfd, const char *name, struct ward_error *err)
{
	char tmp[NAME_MAX + 1];
	int r = tmp_name(name, tmp, err);

	if (r < 0)
		return r;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = ward_err(err, -errno, "rename %s to %s", tmp, name);
		unlinkat(dirfd, tmp, 0);
	}
	return r;
}

int write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
		 struct ward_error *err)
{
	int r = write_tmp(dirfd, name, buf, len, mode, err);

	if (r >= 0)
		r = rename_tmp(dirfd, name, err);
	if (r < 0)
		return r;
	if (fsync(dirfd) < 0)
		return ward_err(err, -errno, "fsync the directory of %s", name);
	return 0;
}

int state_init(struct ward_daemon *d, struct ward_error *err)
{
	struct stat st;

	if (fstat(d->state_fd, &st) < 0)
		return ward_err(err, -errno, "stat %s", d->state_dir);
	/* ward's own directory is made 0700; a shared one (/tmp) is refused, never
	 * changed */
	if (st.st_uid != geteuid() || (st.st_mode & (S_ISVTX | S_IWGRP | S_IWOTH)))
		return ward_errx(err, -EPERM,
				 "state directory %s is not ward's own (owner uid %u, mode %04o): "
				 "use a directory only root can write",
				 d->state_dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	if (fchmod(d->state_fd, 0700) < 0)
		return ward_err(err, -errno, "chmod %s", d->state_dir);
	if (mkdirat(d->state_fd, "sandboxes", 0700) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir %s/sandboxes", d->state_dir);
	if (mkdirat(d->state_fd, "secrets", 0700) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir %s/secrets", d->state_dir);
	return 0;
}

static int sandbox_dir(struct ward_daemon *d, const char *name, struct ward_error *err)
{
	char rel[PATH_MAX];
	int fd;

	snprintf(rel, sizeof(rel), "sandboxes/%s", name);
	fd = openat(d->state_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ward_err(err, -errno, "open %s/%s", d->state_dir, rel);
	return fd;
}

int state_create(struct ward_daemon *d, const char *name, struct ward_error *err)
{
	char rel[PATH_MAX];
	_cleanup_close_ int fd = -1;

	snprintf(rel, sizeof(rel), "sandboxes/%s", name);
	if (mkdirat(d->state_fd, rel, 0700) < 0)
		return ward_err(err, -errno, "mkdir %s/%s", d->state_dir, rel);
	fd = sandbox_dir(d, name, err);
	if (fd < 0)
		return fd;
	/* the sandbox user's home; the runtime gives it to that user */
	if (mkdirat(fd, "home", 0700) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir %s/%s/home", d->state_dir, rel);
	return 0;
}

int state_home(struct ward_daemon *d, const char *name, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/sandboxes/%s/home", d->state_dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int set_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, v ? json_string(v) : json_null());
}

/* config.json of sb, with that policy path and rev; NULL: out of memory */
static char *config_text(const struct dsandbox *sb, const char *policy_path, const char *rev)
{
	json_t *o = json_object();
	char *text;

	if (!o)
		return NULL;
	set_str(o, "name", sb->name);
	set_str(o, "id", sb->id);
	set_str(o, "policy", policy_path);
	set_str(o, "workdir", sb->workdir);
	set_str(o, "hosts", sb->hosts);
	set_str(o, "upstream_ca", sb->upstream_ca);
	json_object_set_new(o, "idle_timeout_ms", json_integer((json_int_t)sb->idle_timeout_ms));
	json_object_set_new(o, "learn", json_boolean(sb->learn));
	set_str(o, "state", sb->want_running ? "running" : "stopped");
	json_object_set_new(o, "created_ns", json_integer((json_int_t)sb->created_ns));
	set_str(o, "policy_rev", rev);
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

int state_save(struct ward_daemon *d, const struct dsandbox *sb, struct ward_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = config_text(sb, sb->policy_path, sb->rev);

	if (!text)
		return ward_err(err, -ENOMEM, "config.json");
	fd = sandbox_dir(d, sb->name, err);
	if (fd < 0)
		return fd;
	return write_atomic(fd, "config.json", text, strlen(text), 0600, err);
}

/* policy.yaml first: a crash between the renames leaves the new text with
 * the old config.json, whose rev the next start recomputes from the text */
int state_store_policy(struct ward_daemon *d, const struct dsandbox *sb, const char *policy_path,
		       const char *rev, const char *text, size_t len, struct ward_error *err)
{
	_cleanup_free_ char *config = config_text(sb, policy_path, rev);
	_cleanup_close_ int fd = -1;
	int r;

	if (!config)
		return ward_err(err, -ENOMEM, "config.json");
	fd = sandbox_dir(d, sb->name, err);
	if (fd < 0)
		return fd;
	r = write_tmp(fd, "policy.yaml", text, len, 0600, err);
	if (r >= 0)
		r = write_tmp(fd, "config.json", config, strlen(config), 0600, err);
	if (r >= 0)
		r = rename_tmp(fd, "policy.yaml", err);
	if (r >= 0)
		r = rename_tmp(fd, "config.json", err);
	if (r >= 0 && fsync(fd) < 0)
		r = ward_err(err, -errno, "fsync the directory of policy.yaml");
	if (r < 0) {
		unlinkat(fd, ".policy.yaml.tmp", 0);
		unlinkat(fd, ".config.json.tmp", 0);
	}
	return r;
}

int state_save_policy(struct ward_daemon *d, const char *name, const char *text, size_t len,
		      struct ward_error *err)
{
	_cleanup_close_ int fd = sandbox_dir(d, name, err);

	if (fd < 0)
		return fd;
	return write_atomic(fd, "policy.yaml", text, len, 0600, err);
}

int state_read_policy(struct ward_daemon *d, const char *name, char **ret, size_t *ret_len,
		      struct ward_error *err)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/sandboxes/%s/policy.yaml", d->state_dir, name);
	r = ward_read_file(path, 1u << 20, ret, ret_len);
	if (r < 0)
		return ward_err(err, r, "read %s", path);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int state_remove(struct ward_daemon *d, const char *name, struct ward_error *err)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/sandboxes/%s", d->state_dir, name);
	/* FTW_PHYS: a symlink the sandbox made in its home is removed, never followed */
	r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r != 0)
		return ward_err(err, r < 0 ? r : -EIO, "remove %s", path);
	return 0;
}

static char *dup_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? strdup(s) : NULL;
}

static int load_one(struct ward_daemon *d, const char *name, struct ward_error *err)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	struct dsandbox *sb;
	const char *id, *state, *rev;
	json_t *o;
	int r;

	snprintf(path, sizeof(path), "%s/sandboxes/%s/config.json", d->state_dir, name);
	r = ward_read_file(path, 1u << 20, &text, NULL);
	if (r < 0)
		return ward_err(err, r, "read %s", path);
	o = json_loads(text, 0, &jerr);
	if (!o)
		return ward_errx(err, -EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column,
				 jerr.text);
	id = json_string_value(json_object_get(o, "id"));
	state = json_string_value(json_object_get(o, "state"));
	rev = json_string_value(json_object_get(o, "policy_rev"));
	if (!id || strlen(id) != WARD_SANDBOX_ID_LEN ||
	    strcmp(json_string_value(json_object_get(o, "name")) ?: "", name)) {
		json_decref(o);
		return ward_errx(err, -EINVAL, "%s: no valid name and id", path);
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb) {
		json_decref(o);
		return ward_err(err, -ENOMEM, "sandbox");
	}
	memcpy(sb->name, name, strlen(name) + 1); /* daemon_name_valid: <= 63 bytes */
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	snprintf(sb->rev, sizeof(sb->rev), "%s", rev ? rev : "");
	sb->policy_path = dup_str(o, "policy");
	sb->workdir = dup_str(o, "workdir");
	sb->hosts = dup_str(o, "hosts");
	sb->upstream_ca = dup_str(o, "upstream_ca");
	sb->idle_timeout_ms = (uint64_t)json_integer_value(json_object_get(o, "idle_timeout_ms"));
	sb->learn = json_is_true(json_object_get(o, "learn"));
	sb->created_ns = (uint64_t)json_integer_value(json_object_get(o, "created_ns"));
	sb->want_running = state && !strcmp(state, "running");
	sb->state = DSTATE_STOPPED;
	json_decref(o);
	sb->next = d->sandboxes;
	d->sandboxes = sb;
	return 0;
}

int state_load_all(struct ward_daemon *d, struct ward_error *err)
{
	_cleanup_(closedirp) DIR *dir = NULL;
	int fd = openat(d->state_fd, "sandboxes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (fd < 0)
		return ward_err(err, -errno, "open %s/sandboxes", d->state_dir);
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return ward_err(err, -errno, "open %s/sandboxes", d->state_dir);
	}
	while ((de = readdir(dir))) {
		struct ward_error e = { 0 };

		if (de->d_name[0] == '.')
			continue;
		/* one broken record does not keep the others from coming back */
		if (!daemon_name_valid(de->d_name))
			daemon_note(d, true, "%s/sandboxes/%s: not a sandbox name, ignored",
				    d->state_dir, de->d_name);
		else if (load_one(d, de->d_name, &e) < 0)
			daemon_note(d, true, "sandbox %s ignored: %s", de->d_name, e.msg);
	}
	return 0;
}

/* in cgroupfs only the directories go */
static int rmdir_cgroup(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP && rmdir(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* cgroup.kill the leaf (its session cgroups too), wait for it to empty, then
 * remove it bottom-up. */
static int kill_leaf(const char *path)
{
	char file[PATH_MAX + 32];
	int fd, populated = 1;

	snprintf(file, sizeof(file), "%s/cgroup.kill", path);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (write(fd, "1", 1) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	snprintf(file, sizeof(file), "%s/cgroup.events", path);
	for (int i = 0; i < 2000 && populated; i++) {
		_cleanup_free_ char *ev = NULL;

		if (ward_read_file(file, 4096, &ev, NULL) < 0)
			break;
		populated = !strstr(ev, "populated 0");
		if (populated)
			poll(NULL, 0, 1);
	}
	if (nftw(path, rmdir_cgroup, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return -EBUSY;
	return populated ? -EBUSY : 1;
}

void state_cleanup_crash(struct ward_daemon *d)
{
	_cleanup_free_ char *text = NULL;
	const char *mnt = ward_cgroup2_mount();
	struct ward_error err = { 0 };
	unsigned pairs = 0;
	char path[PATH_MAX];
	size_t i;
	json_t *o, *v;
	long pid;
	int leaves;

	snprintf(path, sizeof(path), "%s/run.json", d->state_dir);
	if (ward_read_file(path, 1u << 20, &text, NULL) < 0)
		return;
	o = json_loads(text, 0, NULL);
	pid = (long)json_integer_value(json_object_get(o, "pid"));
	json_array_foreach(json_object_get(o, "sandboxes"), i, v)
	{
		const char *id = json_string_value(v);
		int r;

		/* ids are hex: nothing in run.json can point outside ward's cgroups */
		if (!id || strlen(id) != WARD_SANDBOX_ID_LEN ||
		    strspn(id, "0123456789abcdef") != WARD_SANDBOX_ID_LEN || !mnt)
			continue;
		snprintf(path, sizeof(path), "%s/ward/%s", mnt, id);
		r = kill_leaf(path);
		if (r < 0)
			daemon_note(d, true, "cleanup after daemon pid %ld: cgroup %s: %s", pid,
				    path, strerror(-r));
		else if (r > 0)
			daemon_note(d, false, "cleanup after daemon pid %ld: removed cgroup %s",
				    pid, path);
	}
	d->crashed = json_incref(json_object_get(o, "sandboxes"));
	d->crashed_pid = pid;
	json_decref(o);
	leaves = ward_cgroup_reap_stale(&err);
	if (leaves < 0)
		daemon_note(d, true, "cleanup: cgroups: %s", err.msg);
	if (ward_netns_cleanup_stale(&pairs, &err) < 0)
		daemon_note(d, true, "cleanup: network: %s", err.msg);
	daemon_note(d, false,
		    "the previous daemon (pid %ld) did not stop cleanly: cleaned up "
		    "(%d other cgroup leaves, %u network pairs)",
		    pid, leaves > 0 ? leaves : 0, pairs);
	unlinkat(d->state_fd, "run.json", 0);
}

/* The sessions of the dead daemon's sandboxes have a start row and, since
 * nobody saw them end, no exit row: they died with it (PR_SET_PDEATHSIG of
 * the sandboxes' init, then cgroup.kill above). Each gets its exit row now,
 * SIGKILL (137), so that `sessions` does not show them running forever. */
void state_end_crashed_sessions(struct ward_daemon *d)
{
	unsigned ended = 0;
	size_t i;
	json_t *v;

	json_array_foreach(d->crashed, i, v)
	{
		const char *id = json_string_value(v);
		struct ward_session_summary *s = NULL;
		struct ward_error err = { 0 };
		size_t n = 0;

		if (!id || ward_audit_sessions(d->log_path, id, &s, &n, &err) < 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			char reason[160];
			struct ward_decision row = {
				.sandbox = id,
				.layer = "lifecycle",
				.action = "allow",
				.binary = s[k].command,
				.rule = "exit",
				.reason = reason,
				.session = s[k].id,
			};

			if (s[k].end_ns || !s[k].command) /* ended, or not started */
				continue;
			snprintf(reason, sizeof(reason),
				 "signal=SIGKILL; the daemon (pid %ld) died while it ran", d->crashed_pid);
			ward_audit_submit(d->audit, &row);
			ended++;
		}
		ward_audit_sessions_free(s, n);
	}
	if (ended)
		daemon_note(d, false, "cleanup after daemon pid %ld: %u sessions ended with it",
			    d->crashed_pid, ended);
	json_decref(d->crashed);
	d->crashed = NULL;
}
