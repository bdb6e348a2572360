// SPDX-License-Identifier: MIT
/* The secret store (secrets.h): files in a 0700 directory, replaced by
 * rename, and a per-process cache that an inotify watch on the directory
 * invalidates, so a reader pays one non-blocking read() per lookup. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "policy/secrets.h"

/* A temporary file's name starts with a byte no secret name has. */
#define TMP_PREFIX "#tmp."
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct cached {
	char name[WARD_SECRET_NAME_MAX + 1];
	char *value; /* NULL: not cached */
	size_t len;
};

struct ward_secrets {
	int refs; /* atomic */
	pthread_mutex_t lock;
	char *dir;
	int dirfd;
	int ino_fd;	 /* inotify; -1: none (every get reads the file) */
	bool watch_dead; /* the directory went away: reopen at the next get */
	struct cached *cache;
	size_t n_cache;
};

/* The default directory's store, shared by every opener in the process (the
 * layers of each sandbox and generation): one inotify instance, not one per
 * handle (fs.inotify.max_user_instances is 128 by default). Weak: the last
 * unref clears it. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ward_secrets *shared;

bool ward_secret_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	for (n = 0; name[n]; n++) {
		char c = name[n];

		if (n >= WARD_SECRET_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n > 0 && strcmp(name, ".") && strcmp(name, "..");
}

int ward_secrets_default_dir(char *buf, size_t size)
{
	const char *state = secure_getenv("WARD_STATE");
	int n;

	if (!state || !*state)
		state = WARD_STATE_DEFAULT;
	n = snprintf(buf, size, "%s/" WARD_SECRETS_SUBDIR, state);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void wipe(char *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

static void drop_cache(struct ward_secrets *s)
{
	for (size_t i = 0; i < s->n_cache; i++) {
		wipe(s->cache[i].value, s->cache[i].len);
		s->cache[i].value = NULL;
		s->cache[i].len = 0;
	}
}

static void drop_one(struct ward_secrets *s, const char *name)
{
	for (size_t i = 0; i < s->n_cache; i++) {
		if (!strcmp(s->cache[i].name, name)) {
			wipe(s->cache[i].value, s->cache[i].len);
			s->cache[i].value = NULL;
			s->cache[i].len = 0;
		}
	}
}

/* mkdir -p with 0700 for what is missing. */
static int mkdir_parents(const char *dir)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_dir(const char *dir, int *ret_fd, struct ward_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	r = mkdir_parents(dir);
	if (r < 0)
		return ward_err(err, r, "secrets directory '%s'", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ward_err(err, -errno, "open secrets directory '%s'", dir);
	if (fstat(fd, &st) < 0)
		return ward_err(err, -errno, "stat '%s'", dir);
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		return ward_errx(err, -EPERM,
				 "secrets directory '%s' is owned by uid %u with mode %04o; it must "
				 "belong to uid %u with mode 0700",
				 dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
				 (unsigned)geteuid());
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void watch(struct ward_secrets *s)
{
	if (s->ino_fd < 0)
		s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->ino_fd < 0)
		return; /* no cache then: every get reads the file */
	if (inotify_add_watch(s->ino_fd, s->dir, WATCH_MASK) < 0) {
		close(s->ino_fd);
		s->ino_fd = -1;
	}
}

int ward_secrets_open(const char *dir, struct ward_secrets **ret, struct ward_error *err)
{
	char def[PATH_MAX];
	struct ward_secrets *s;
	bool is_default = !dir;
	int r;

	if (!dir) {
		if (ward_secrets_default_dir(def, sizeof(def)) < 0)
			return ward_errx(err, -ENAMETOOLONG, "$WARD_STATE is too long");
		dir = def;
		pthread_mutex_lock(&shared_lock);
		s = shared;
		if (s && !strcmp(s->dir, dir)) {
			int refs = __atomic_load_n(&s->refs, __ATOMIC_RELAXED);

			/* a store on its way out (refs 0) is not revived */
			while (refs > 0 &&
			       !__atomic_compare_exchange_n(&s->refs, &refs, refs + 1, false,
							    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				;
			if (refs > 0) {
				pthread_mutex_unlock(&shared_lock);
				*ret = s;
				return 0;
			}
		}
		pthread_mutex_unlock(&shared_lock);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return ward_err(err, -ENOMEM, "secret store");
	s->refs = 1;
	s->dirfd = -1;
	s->ino_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->dir = strdup(dir);
	if (!s->dir) {
		ward_secrets_unref(s);
		return ward_err(err, -ENOMEM, "secret store");
	}
	r = open_dir(s->dir, &s->dirfd, err);
	if (r < 0) {
		ward_secrets_unref(s);
		return r;
	}
	watch(s);
	if (is_default) {
		pthread_mutex_lock(&shared_lock);
		shared = s;
		pthread_mutex_unlock(&shared_lock);
	}
	*ret = s;
	return 0;
}

int ward_secrets_open_local(struct ward_secrets **ret, struct ward_error *err)
{
	if (geteuid() != 0)
		return ward_errx(err, -EPERM,
				 "the secret store is root's: run as root or through ward daemon");
	return ward_secrets_open(NULL, ret, err);
}

struct ward_secrets *ward_secrets_ref(struct ward_secrets *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void ward_secrets_unref(struct ward_secrets *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	/* after this, no opener can see s (it is freed only below) */
	pthread_mutex_lock(&shared_lock);
	if (shared == s)
		shared = NULL;
	pthread_mutex_unlock(&shared_lock);
	drop_cache(s);
	free(s->cache);
	if (s->ino_fd >= 0)
		close(s->ino_fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *ward_secrets_dir(const struct ward_secrets *s)
{
	return s->dir;
}

/* Apply what inotify queued: a changed name loses its cached value; an
 * overflow drops them all; a directory that went away is reopened later. */
static void drain(struct ward_secrets *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (s->ino_fd < 0)
		return;
	while ((n = read(s->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				drop_cache(s);
			else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				s->watch_dead = true;
			else if (ev->len && ward_secret_name_valid(ev->name))
				drop_one(s, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		s->watch_dead = true; /* cannot trust the cache any more */
	if (s->watch_dead) {
		int fd;

		drop_cache(s);
		close(s->ino_fd);
		s->ino_fd = -1;
		if (open_dir(s->dir, &fd, NULL) == 0) {
			close(s->dirfd);
			s->dirfd = fd;
			s->watch_dead = false;
			watch(s);
		}
	}
}

/* Read name's file: regular, the owner's alone, at most the value limit, no
 * NUL. *ret is malloc'd (wipe it). */
static int read_value(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t got = 0;
	char *v;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	if (st.st_size > (off_t)WARD_SECRET_VALUE_MAX)
		return -E2BIG;
	v = malloc((size_t)st.st_size + 1);
	if (!v)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, v + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			wipe(v, (size_t)st.st_size + 1);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	v[got] = '\0';
	if (memchr(v, '\0', got)) {
		wipe(v, got + 1);
		return -EINVAL;
	}
	*ret = v;
	*ret_len = got;
	return 0;
}

static struct cached *cache_slot(struct ward_secrets *s, const char *name)
{
	struct cached *c;

	for (size_t i = 0; i < s->n_cache; i++)
		if (!strcmp(s->cache[i].name, name))
			return &s->cache[i];
	c = realloc(s->cache, (s->n_cache + 1) * sizeof(*c));
	if (!c)
		return NULL;
	s->cache = c;
	c = &s->cache[s->n_cache++];
	*c = (struct cached){ 0 };
	memcpy(c->name, name, strlen(name) + 1);
	return c;
}

/* With the lock held: the cached entry of name, read now if needed. */
static int lookup(struct ward_secrets *s, const char *name, const char **ret, size_t *ret_len,
		  char **ret_tmp)
{
	struct cached *c;
	char *v = NULL;
	size_t len = 0;
	int r;

	drain(s);
	c = s->ino_fd >= 0 ? cache_slot(s, name) : NULL;
	if (c && c->value) {
		*ret = c->value;
		*ret_len = c->len;
		return 0;
	}
	r = read_value(s->dirfd, name, &v, &len);
	if (r < 0)
		return r;
	if (c) {
		c->value = v;
		c->len = len;
	} else {
		*ret_tmp = v; /* no watch: the caller wipes it */
	}
	*ret = v;
	*ret_len = len;
	return 0;
}

int ward_secret_get(struct ward_secrets *s, const char *name, char *buf, size_t len)
{
	char *tmp = NULL;
	const char *v;
	size_t n;
	int r;

	if (!ward_secret_name_valid(name))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = lookup(s, name, &v, &n, &tmp);
	if (r == 0) {
		if (n >= len) {
			r = -ENOBUFS;
		} else {
			memcpy(buf, v, n);
			buf[n] = '\0';
			r = (int)n;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (tmp)
		wipe(tmp, n);
	return r;
}

bool ward_secret_exists(struct ward_secrets *s, const char *name)
{
	char *tmp = NULL;
	const char *v;
	size_t n = 0;
	int r;

	if (!ward_secret_name_valid(name))
		return false;
	pthread_mutex_lock(&s->lock);
	r = lookup(s, name, &v, &n, &tmp);
	pthread_mutex_unlock(&s->lock);
	if (tmp)
		wipe(tmp, n);
	return r == 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ward_secret_set(struct ward_secrets *s, const char *name, const void *value, size_t len,
		    struct ward_error *err)
{
	_cleanup_close_ int fd = -1;
	char tmp[sizeof(TMP_PREFIX) + WARD_SECRET_NAME_MAX + 20];
	uint64_t rnd;
	int r;

	if (!ward_secret_name_valid(name))
		return ward_errx(err, -EINVAL,
				 "bad secret name (want 1 to %u of A-Z a-z 0-9 _ . -, not '.' or "
				 "'..')",
				 WARD_SECRET_NAME_MAX);
	if (len > WARD_SECRET_VALUE_MAX)
		return ward_errx(err, -E2BIG, "secret '%s': the value is longer than %u bytes",
				 name, WARD_SECRET_VALUE_MAX);
	if (len == 0)
		return ward_errx(err, -EINVAL, "secret '%s': the value is empty", name);
	if (memchr(value, '\0', len))
		return ward_errx(err, -EINVAL, "secret '%s': the value contains a NUL byte", name);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return ward_err(err, -EIO, "getrandom");
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s.%016llx", name, (unsigned long long)rnd);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ward_err(err, -errno, "secret '%s': create a file in '%s'", name, s->dir);
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, value, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(s->dirfd, tmp, s->dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(s->dirfd, tmp, 0);
		return ward_err(err, r, "secret '%s': write in '%s'", name, s->dir);
	}
	if (fsync(s->dirfd) < 0)
		return ward_err(err, -errno, "secret '%s': fsync '%s'", name, s->dir);
	return 0;
}

int ward_secret_rm(struct ward_secrets *s, const char *name, struct ward_error *err)
{
	if (!ward_secret_name_valid(name))
		return ward_errx(err, -EINVAL, "bad secret name");
	if (unlinkat(s->dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return ward_errx(err, -ENOENT, "secret '%s' is not set", name);
		return ward_err(err, -errno, "secret '%s': remove", name);
	}
	if (fsync(s->dirfd) < 0)
		return ward_err(err, -errno, "secret '%s': fsync '%s'", name, s->dir);
	pthread_mutex_lock(&s->lock);
	drop_one(s, name);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ward_secret_info *)a)->name,
		      ((const struct ward_secret_info *)b)->name);
}

int ward_secret_list(struct ward_secrets *s, struct ward_secret_info **ret_list, size_t *ret_n,
		     struct ward_error *err)
{
	struct ward_secret_info *v = NULL, *nv;
	size_t n = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ward_err(err, -errno, "open '%s'", s->dir);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ward_err(err, -errno, "open '%s'", s->dir);
	}
	while ((errno = 0, de = readdir(d))) {
		if (!ward_secret_name_valid(de->d_name))
			continue;
		if (fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			closedir(d);
			return ward_err(err, -ENOMEM, "list secrets");
		}
		v = nv;
		memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);
		v[n].set_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		n++;
	}
	if (errno) {
		int e = -errno;

		free(v);
		closedir(d);
		return ward_err(err, e, "read '%s'", s->dir);
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), info_cmp);
	*ret_list = v;
	*ret_n = n;
	return 0;
}
