// SPDX-License-Identifier: MIT
/* Identity cache and TOFU (identity.h). Hashing a large executable takes a
 * while (node: ~100 MB); it happens once per file and run, on first use. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "audit/tofu.h"
#include "common/exe_ident.h"
#include "common/util.h"
#include "proxy/identity.h"

#define IDENTITY_CACHE_MAX 4096

struct ident_entry {
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	char sha[65];
	int verdict; /* 0 or -EPERM */
	char reason[200];
};

struct ward_identity {
	pthread_mutex_t lock; /* the cache: the loop reads it, the worker fills it */
	char *db_path;
	struct ident_entry *v;
	size_t n;
};

int ward_identity_new(const char *db_path, struct ward_identity **ret)
{
	struct ward_identity *id = calloc(1, sizeof(*id));

	if (!id)
		return -ENOMEM;
	pthread_mutex_init(&id->lock, NULL);
	if (db_path && !(id->db_path = strdup(db_path))) {
		free(id);
		return -ENOMEM;
	}
	*ret = id;
	return 0;
}

void ward_identity_free(struct ward_identity *id)
{
	if (!id)
		return;
	for (size_t i = 0; i < id->n; i++)
		free(id->v[i].path);
	free(id->v);
	free(id->db_path);
	pthread_mutex_destroy(&id->lock);
	free(id);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Is path (stat st; in the mount namespace of pid, 0 for ward's own) the
 * file the kernel named (kdev, ino)? On overlayfs and btrfs st_dev is not
 * the device the kernel reads (common/exe_ident.h). */
static bool is_kfile(const char *path, pid_t pid, const struct stat *st, uint64_t kdev,
		     uint64_t ino)
{
	struct ward_exe_ident k;
	int fd;
	bool same;

	if (st->st_ino != ino)
		return false;
	if (((uint64_t)major(st->st_dev) << 20 | minor(st->st_dev)) == kdev)
		return true;
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return false;
	same = ward_exe_ident_fd(fd, pid, &k) == 0 && k.key.dev == kdev && k.key.ino == ino;
	close(fd);
	return same;
}

/* stat path and check it is still (kdev, ino): 0, or -errno with reason.
 * open (PATH_MAX) is the name to hash: path, or /proc/PID/exe when path is
 * the sandbox's name of a file ward does not see under it. */
static int stat_identified(const char *path, pid_t pid, uint64_t kdev, uint64_t ino,
			   struct stat *st, char *open, char *reason, size_t reasonsz)
{
	int r;

	snprintf(open, PATH_MAX, "%s", path);
	if (stat(path, st) < 0) {
		r = -errno;
		snprintf(reason, reasonsz, "binary %s: %s", path, strerror(errno));
	} else if (!is_kfile(path, 0, st, kdev, ino)) {
		/* the kernel identified (kdev, ino): the path must still name that file */
		r = -EPERM;
		snprintf(reason, reasonsz, "binary %s was replaced while running", path);
	} else {
		return 0;
	}
	if (pid <= 0)
		return r;
	snprintf(open, PATH_MAX, "/proc/%d/exe", (int)pid);
	if (stat(open, st) == 0 && is_kfile(open, pid, st, kdev, ino))
		return 0;
	return r;
}

/* Under id->lock: 1 found (sha, reason, *verdict filled), 0 not cached. */
static int lookup(struct ward_identity *id, const char *path, const struct stat *st, char sha[65],
		  char *reason, size_t reasonsz, int *verdict)
{
	for (size_t i = 0; i < id->n; i++) {
		struct ident_entry *e = &id->v[i];

		if (!strcmp(e->path, path) && e->dev == st->st_dev && e->ino == st->st_ino &&
		    e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
		    e->mtime.tv_nsec == st->st_mtim.tv_nsec) {
			memcpy(sha, e->sha, 65);
			snprintf(reason, reasonsz, "%s", e->reason);
			*verdict = e->verdict;
			return 1;
		}
	}
	return 0;
}

int ward_identity_cached(struct ward_identity *id, const char *path, pid_t pid, uint64_t kdev,
			 uint64_t ino, char sha[65], char *reason, size_t reasonsz)
{
	char open[PATH_MAX];
	struct stat st;
	int r, verdict = 0;

	r = stat_identified(path, pid, kdev, ino, &st, open, reason, reasonsz);
	if (r < 0)
		return r;
	pthread_mutex_lock(&id->lock);
	r = lookup(id, path, &st, sha, reason, reasonsz, &verdict);
	pthread_mutex_unlock(&id->lock);
	return r ? verdict : -EAGAIN;
}

int ward_identity_check(struct ward_identity *id, const char *path, pid_t pid, uint64_t kdev,
			uint64_t ino, char sha[65], char *reason, size_t reasonsz)
{
	struct ident_entry *e;
	struct stat st, st2;
	char known[65], open[PATH_MAX];
	bool first = false;
	int r, verdict = 0;

	r = stat_identified(path, pid, kdev, ino, &st, open, reason, reasonsz);
	if (r < 0)
		return r;
	pthread_mutex_lock(&id->lock);
	r = lookup(id, path, &st, sha, reason, reasonsz, &verdict);
	pthread_mutex_unlock(&id->lock);
	if (r)
		return verdict;
	/* hashing and the TOFU record happen without the lock: the loop keeps going */
	r = ward_sha256_file_hex(AT_FDCWD, open, sha);
	if (r < 0) {
		snprintf(reason, reasonsz, "binary %s: cannot hash: %s", path, strerror(-r));
		return r;
	}
	if (stat(open, &st2) < 0 || !same_file(&st, &st2)) {
		snprintf(reason, reasonsz, "binary %s changed while it was hashed", path);
		return -EPERM;
	}
	reason[0] = '\0';
	if (id->db_path) {
		struct ward_error err = { 0 };

		r = ward_audit_tofu(id->db_path, path, sha, known, &first, &err);
		if (r < 0) {
			/* fail closed: an unverifiable binary is not trusted */
			snprintf(reason, reasonsz, "binary %s: TOFU record: %s", path, err.msg);
			return r;
		}
		if (strcmp(known, sha)) {
			verdict = -EPERM;
			snprintf(reason, reasonsz,
				 "binary changed since first use (TOFU): was %s, now %s", known,
				 sha);
		}
	}
	pthread_mutex_lock(&id->lock);
	if (id->n < IDENTITY_CACHE_MAX && (e = realloc(id->v, (id->n + 1) * sizeof(*e)))) {
		id->v = e;
		e = &id->v[id->n];
		memset(e, 0, sizeof(*e));
		if ((e->path = strdup(path))) {
			e->dev = st.st_dev;
			e->ino = st.st_ino;
			e->size = st.st_size;
			e->mtime = st.st_mtim;
			memcpy(e->sha, sha, 65);
			e->verdict = verdict;
			snprintf(e->reason, sizeof(e->reason), "%s", reason);
			id->n++;
		}
	}
	pthread_mutex_unlock(&id->lock);
	return verdict;
}
