// SPDX-License-Identifier: MIT
/* Hidden paths: the mount plan and the host against a missing path; see
 * fs_hidden.h. */
#include "enforcer/fs_hidden.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"

#define HIDDEN_MAX_LINKS 8

struct hidden_mount {
	char *path;
	enum ward_mount_kind kind;
	char *target; /* WARD_MNT_SYMLINK */
};

struct ward_fs_hidden {
	struct hidden_mount *v;
	size_t n;
};

void ward_fs_hidden_free(struct ward_fs_hidden *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].path);
		free(h->v[i].target);
	}
	free(h->v);
	free(h);
}

int ward_fs_hidden_new(const struct ward_mount_plan *plan, struct ward_fs_hidden **ret)
{
	struct ward_fs_hidden *h = calloc(1, sizeof(*h));
	size_t n = plan ? plan->n : 0;

	if (!h)
		return -ENOMEM;
	if (n) {
		h->v = calloc(n, sizeof(*h->v));
		if (!h->v)
			goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ward_mount *m = &plan->v[i];

		h->v[i].kind = m->kind;
		h->v[i].path = strdup(m->path);
		h->n = i + 1;
		if (!h->v[i].path)
			goto nomem;
		if (m->kind == WARD_MNT_SYMLINK && m->target &&
		    !(h->v[i].target = strdup(m->target)))
			goto nomem;
	}
	*ret = h;
	return 0;
nomem:
	ward_fs_hidden_free(h);
	return -ENOMEM;
}

int ward_fs_path_normalize(const char *path, char *out, size_t len)
{
	size_t n = 0;
	const char *p = path;

	if (!path || path[0] != '/' || len < 2)
		return -EINVAL;
	while (*p) {
		const char *c;
		size_t l;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/')
			p++;
		l = (size_t)(p - c);
		if (l == 0 || (l == 1 && c[0] == '.'))
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			/* drop the last component with its '/' */
			while (n > 0 && out[--n] != '/')
				;
			continue;
		}
		if (n + 1 + l + 1 > len)
			return -ENAMETOOLONG;
		out[n] = '/';
		memcpy(out + n + 1, c, l);
		n += 1 + l;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

/* path equals dir or is below it */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* The innermost mount of the plan that path is at or below, or NULL. */
static const struct hidden_mount *covering(const struct ward_fs_hidden *h, const char *path)
{
	const struct hidden_mount *best = NULL;

	for (size_t i = 0; i < h->n; i++)
		if (under(path, h->v[i].path) &&
		    (!best || strlen(h->v[i].path) > strlen(best->path)))
			best = &h->v[i];
	return best;
}

bool ward_fs_hidden_in_plan(const struct ward_fs_hidden *h, const char *norm)
{
	char cur[PATH_MAX], next[PATH_MAX * 2 + 2];

	if (ward_fs_path_normalize(norm, cur, sizeof(cur)) < 0)
		return false;
	for (int hops = 0; hops <= HIDDEN_MAX_LINKS; hops++) {
		const struct hidden_mount *m = covering(h, cur);
		const char *rest;

		if (!m)
			return false; /* the root tmpfs: only mount points, nothing of the host */
		switch (m->kind) {
		case WARD_MNT_BIND:
		case WARD_MNT_FILE:
		case WARD_MNT_PROC:
			return true;
		case WARD_MNT_TMPFS:
		case WARD_MNT_DEV:
			return false; /* private: the host's /tmp or /dev is hidden */
		case WARD_MNT_SYMLINK:
			if (!m->target)
				return false;
			rest = cur + strlen(m->path);
			if (m->target[0] == '/') {
				snprintf(next, sizeof(next), "%s%s", m->target, rest);
			} else {
				/* relative to the link's directory */
				const char *slash = strrchr(m->path, '/');
				int dl = (int)(slash - m->path);

				snprintf(next, sizeof(next), "%.*s/%s%s", dl, m->path, m->target,
					 rest);
			}
			if (ward_fs_path_normalize(next, cur, sizeof(cur)) < 0)
				return false;
			break;
		}
	}
	return false;
}

/* Files the dynamic loader opens at every exec, whatever the program means to
 * do (a policy without /etc would otherwise make a row per process started):
 * hidden, but never an attempt of the program's own. */
static const char *const loader_files[] = { "/etc/ld.so.cache", "/etc/ld.so.preload" };

/* Whether the host has path (the entry itself, symlinks not followed).
 * Paths come from the sandbox: no automount is triggered for them. */
static bool on_host(const char *path, struct stat *st, int flags)
{
	return fstatat(AT_FDCWD, path, st, flags | AT_NO_AUTOMOUNT) == 0;
}

enum ward_fs_missing ward_fs_hidden_check(const struct ward_fs_hidden *h, const char *path,
					  bool create, char *ret_target, size_t len)
{
	char norm[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (ret_target && len)
		ret_target[0] = '\0';
	if (ward_fs_path_normalize(path, norm, sizeof(norm)) < 0)
		return WARD_FS_MISSING_QUIET;
	for (size_t i = 0; i < ARRAY_SIZE(loader_files); i++)
		if (!strcmp(norm, loader_files[i]))
			return WARD_FS_MISSING_QUIET;
	if (ward_fs_hidden_in_plan(h, norm)) {
		/* shown from the host, and yet missing inside while the host has
		 * it: a symlink there to a place the plan hides */
		if (on_host(norm, &st, AT_SYMLINK_NOFOLLOW) && realpath(norm, real) &&
		    !ward_fs_hidden_in_plan(h, real)) {
			if (ret_target && len)
				snprintf(ret_target, len, "%s", real);
			return WARD_FS_MISSING_HIDDEN;
		}
		return WARD_FS_MISSING_QUIET;
	}
	if (on_host(norm, &st, AT_SYMLINK_NOFOLLOW))
		return WARD_FS_MISSING_HIDDEN;
	if (create && strcmp(norm, "/")) {
		char *slash = strrchr(norm, '/');

		if (slash == norm)
			slash[1] = '\0';
		else
			*slash = '\0';
		/* the directory it would be created in: hidden, if the host has it */
		if (!ward_fs_hidden_in_plan(h, norm) && on_host(norm, &st, 0) &&
		    S_ISDIR(st.st_mode))
			return WARD_FS_MISSING_HIDDEN;
	}
	return WARD_FS_MISSING_QUIET;
}
