// SPDX-License-Identifier: MIT
/* uid and cgroup path of a row's process (owner.h).
 *
 * A cgroup v2 id is the kernfs node id of the cgroup's directory, which is
 * also the handle name_to_handle_at() gives for it (FILEID_KERNFS, 8 bytes):
 * open_by_handle_at() on the mount turns the id the BPF programs read
 * (bpf_get_current_cgroup_id()) back into the directory, and /proc/self/fd
 * names it. Ids are not reused while the system runs, so an answer stays
 * true until the cgroup is renamed (rare; a stale name then). */
#include "common/owner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"

#define FILEID_KERNFS 0xfe
#define CACHE_LEN 256

int ward_proc_uid(pid_t pid, uint32_t *ret_uid)
{
	_cleanup_fclose_ FILE *f = NULL;
	char name[64], line[256];

	if (pid <= 0)
		return -EINVAL;
	snprintf(name, sizeof(name), "/proc/%d/status", (int)pid);
	f = fopen(name, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v;
		char *end;

		if (strncmp(line, "Uid:", 4))
			continue;
		errno = 0;
		v = strtoul(line + 4, &end, 10); /* real, effective, saved, fs: the first */
		if (errno || end == line + 4 || v > UINT32_MAX)
			return -EBADMSG;
		*ret_uid = (uint32_t)v;
		return 0;
	}
	return -EBADMSG;
}

const char *ward_proc_cgroup_path(pid_t pid, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = NULL;
	char name[64], line[PATH_MAX + 8];

	if (pid <= 0)
		return NULL;
	snprintf(name, sizeof(name), "/proc/%d/cgroup", (int)pid);
	f = fopen(name, "re");
	while (f && fgets(line, sizeof(line), f)) {
		size_t n;

		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		n = strlen(line + 3);
		/* an exited process shows none; a truncated name is no name */
		if (!n || n >= len || line[3] != '/')
			return NULL;
		memcpy(buf, line + 3, n + 1);
		return buf;
	}
	return NULL;
}

static struct {
	pthread_mutex_t lock;
	bool init;
	int mnt_fd; /* the cgroup2 mount, O_PATH; -1: none */
	char mnt[PATH_MAX];
	size_t mnt_len;
	struct {
		uint64_t cgid;
		char *path;
	} cache[CACHE_LEN];
	size_t next; /* round robin */
} st = { .lock = PTHREAD_MUTEX_INITIALIZER, .mnt_fd = -1 };

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Under st.lock: the first cgroup2 mount whose root is the hierarchy's (or
 * the cgroup namespace's) root. */
static void find_mount(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	st.init = true;
	while (f && getline(&line, &cap, f) > 0) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 || strcmp(root, "/"))
			continue;
		unescape(mnt);
		st.mnt_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: EBADF */
		if (st.mnt_fd < 0)
			continue;
		snprintf(st.mnt, sizeof(st.mnt), "%s", mnt);
		st.mnt_len = strlen(st.mnt);
		/* "/" as the mount: every path is already relative to it */
		if (st.mnt_len == 1)
			st.mnt_len = 0;
		break;
	}
	free(line);
}

/* Under st.lock: cgid's directory by handle, its name below the mount. */
static int resolve(uint64_t cgid, char *buf, size_t len)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char link[64], path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *rel;

	if (st.mnt_fd < 0)
		return -ENODEV;
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &cgid, sizeof(cgid));
	fd = open_by_handle_at(st.mnt_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(path) - 1)
		return -ENAMETOOLONG;
	path[n] = '\0';
	/* removed meanwhile */
	if (n > 10 && !strcmp(path + n - 10, " (deleted)"))
		return -ESTALE;
	if (strncmp(path, st.mnt, st.mnt_len) || (path[st.mnt_len] != '/' && path[st.mnt_len]))
		return -EXDEV; /* outside the mount as we see it */
	rel = path[st.mnt_len] ? path + st.mnt_len : "/";
	if (strlen(rel) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	return 0;
}

const char *ward_cgroup_path(uint64_t cgid, pid_t pid, char *buf, size_t len)
{
	bool found = false;
	int r = -ENOENT;

	if (!len)
		return NULL;
	if (cgid) {
		pthread_mutex_lock(&st.lock);
		if (!st.init)
			find_mount();
		for (size_t i = 0; i < CACHE_LEN && !found; i++)
			if (st.cache[i].path && st.cache[i].cgid == cgid &&
			    strlen(st.cache[i].path) < len) {
				strcpy(buf, st.cache[i].path);
				found = true;
			}
		if (!found && (r = resolve(cgid, buf, len)) == 0) {
			char *copy = strdup(buf);

			found = true;
			if (copy) {
				free(st.cache[st.next].path);
				st.cache[st.next].cgid = cgid;
				st.cache[st.next].path = copy;
				st.next = (st.next + 1) % CACHE_LEN;
			}
		}
		pthread_mutex_unlock(&st.lock);
	}
	if (found)
		return buf;
	/* removed: its processes are gone or elsewhere; /proc would name
	 * where pid is now (or another process of the same pid) */
	if (cgid && (r == -ESTALE || r == -ENOENT))
		return NULL;
	return ward_proc_cgroup_path(pid, buf, len);
}

void ward_owner_of(struct ward_owner *o, pid_t pid, uint32_t uid, uint64_t cgid)
{
	o->has_uid = uid != WARD_OWNER_UID_NONE;
	o->uid = o->has_uid ? uid : 0;
	if (!o->has_uid && pid > 0 && ward_proc_uid(pid, &o->uid) == 0)
		o->has_uid = true;
	o->cgroup = ward_cgroup_path(cgid, pid, o->buf, sizeof(o->buf));
}
