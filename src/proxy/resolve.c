// SPDX-License-Identifier: MIT
/* The resolver pool (resolve.h): a mutex-protected job queue, N workers, and
 * a done list the event loop drains when the eventfd says so. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "policy/match.h"
#include "proxy/resolve.h"

struct job {
	struct job *next;
	char host[WARD_HOST_MAX];
	struct ward_resolve_result res;
};

struct hosts_entry {
	char name[WARD_HOST_MAX];
	struct sockaddr_storage addr;
};

struct ward_resolver {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue, *queue_tail;
	struct job *done;
	size_t queued; /* DNS lookups queued + running + done, for the bound */
	bool stop;
	int efd;
	pthread_t *threads;
	unsigned n_threads;
	struct hosts_entry *hosts;
	size_t n_hosts;
};

static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

static void lookup(struct job *j)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(j->host, NULL, &hints, &ai);

	if (rc != 0) {
		j->res.error = gai_errno(rc);
		return;
	}
	for (struct addrinfo *a = ai; a && j->res.n < WARD_RESOLVE_MAX_ADDRS; a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    a->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		memset(&j->res.addrs[j->res.n], 0, sizeof(j->res.addrs[0]));
		memcpy(&j->res.addrs[j->res.n], a->ai_addr, a->ai_addrlen);
		j->res.n++;
	}
	freeaddrinfo(ai);
	if (!j->res.n)
		j->res.error = -ENOENT;
}

static void finish(struct ward_resolver *r, struct job *j)
{
	uint64_t one = 1;

	j->next = r->done;
	r->done = j;
	/* an eventfd write only fails on counter overflow: the fd stays readable then */
	(void)!write(r->efd, &one, sizeof(one));
}

static void *worker(void *arg)
{
	struct ward_resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct job *j;

		while (!r->queue && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		j = r->queue;
		r->queue = j->next;
		if (!r->queue)
			r->queue_tail = NULL;
		pthread_mutex_unlock(&r->lock);
		lookup(j);
		pthread_mutex_lock(&r->lock);
		finish(r, j);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static int load_hosts(struct ward_resolver *r, const char *path, struct ward_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	if (!f)
		return ward_err(err, -errno, "--hosts %s", path);
	while (getline(&line, &cap, f) >= 0) {
		struct sockaddr_storage ss;
		char *save = NULL, *tok, *hash = strchr(line, '#');

		lineno++;
		if (hash)
			*hash = '\0';
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok)
			continue;
		if (parse_addr(tok, &ss) < 0)
			return ward_errx(err, -EINVAL, "%s:%u: '%s' is not an IP address", path,
					 lineno, tok);
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			struct hosts_entry *n;
			char name[WARD_HOST_MAX];

			if (ward_host_normalize(tok, strlen(tok), name, sizeof(name)) < 0 ||
			    ward_host_is_ip(name))
				return ward_errx(err, -EINVAL, "%s:%u: '%s' is not a host name",
						 path, lineno, tok);
			if (r->n_hosts >= WARD_HOSTS_MAX_ENTRIES)
				return ward_errx(err, -E2BIG, "%s: more than %d names", path,
						 WARD_HOSTS_MAX_ENTRIES);
			n = realloc(r->hosts, (r->n_hosts + 1) * sizeof(*n));
			if (!n)
				return ward_err(err, -ENOMEM, "--hosts");
			r->hosts = n;
			memcpy(r->hosts[r->n_hosts].name, name, sizeof(name));
			r->hosts[r->n_hosts].addr = ss;
			r->n_hosts++;
		}
	}
	return 0;
}

size_t ward_hosts_lookup(const struct ward_resolver *r, const char *host,
			 struct sockaddr_storage *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_hosts && n < max; i++)
		if (!strcmp(r->hosts[i].name, host))
			out[n++] = r->hosts[i].addr;
	return n;
}

int ward_resolver_new(unsigned threads, const char *hosts_file, struct ward_resolver **ret,
		      struct ward_error *err)
{
	struct ward_resolver *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return ward_err(err, -ENOMEM, "resolver");
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		rc = ward_err(err, -errno, "eventfd");
		goto fail;
	}
	if (hosts_file) {
		rc = load_hosts(r, hosts_file, err);
		if (rc < 0)
			goto fail;
	}
	if (!threads)
		threads = WARD_RESOLVE_THREADS;
	r->threads = calloc(threads, sizeof(*r->threads));
	if (!r->threads) {
		rc = ward_err(err, -ENOMEM, "resolver");
		goto fail;
	}
	for (; r->n_threads < threads; r->n_threads++) {
		rc = pthread_create(&r->threads[r->n_threads], NULL, worker, r);
		if (rc) {
			rc = ward_err(err, -rc, "resolver thread");
			goto fail;
		}
	}
	*ret = r;
	return 0;
fail:
	ward_resolver_free(r);
	return rc;
}

static void free_list(struct job *j)
{
	while (j) {
		struct job *next = j->next;

		free(j);
		j = next;
	}
}

void ward_resolver_free(struct ward_resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->n_threads; i++)
		pthread_join(r->threads[i], NULL);
	free_list(r->queue);
	free_list(r->done);
	free(r->threads);
	free(r->hosts);
	if (r->efd >= 0)
		close(r->efd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}

int ward_resolver_fd(const struct ward_resolver *r)
{
	return r->efd;
}

int ward_resolve_start(struct ward_resolver *r, const char *host, uint64_t tag)
{
	struct job *j;
	size_t len = strlen(host);

	if (len >= WARD_HOST_MAX)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	memcpy(j->host, host, len + 1);
	j->res.tag = tag;
	pthread_mutex_lock(&r->lock);
	if (r->queued >= WARD_RESOLVE_QUEUE_MAX) {
		pthread_mutex_unlock(&r->lock);
		free(j);
		return -EAGAIN;
	}
	/* hosts-file answers cost no worker: only DNS lookups count against the bound */
	j->res.n = ward_hosts_lookup(r, host, j->res.addrs, WARD_RESOLVE_MAX_ADDRS);
	if (j->res.n) {
		j->res.from_hosts = true;
		finish(r, j);
	} else {
		r->queued++;
		if (r->queue_tail)
			r->queue_tail->next = j;
		else
			r->queue = j;
		r->queue_tail = j;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void ward_resolver_dispatch(struct ward_resolver *r,
			    void (*cb)(void *userdata, const struct ward_resolve_result *res),
			    void *userdata)
{
	struct job *done, *rev = NULL;
	uint64_t v;

	(void)!read(r->efd, &v, sizeof(v));
	pthread_mutex_lock(&r->lock);
	done = r->done;
	r->done = NULL;
	for (struct job *j = done; j; j = j->next)
		if (!j->res.from_hosts)
			r->queued--;
	pthread_mutex_unlock(&r->lock);
	/* the done list is LIFO: restore completion order */
	while (done) {
		struct job *next = done->next;

		done->next = rev;
		rev = done;
		done = next;
	}
	while (rev) {
		struct job *next = rev->next;

		cb(userdata, &rev->res);
		free(rev);
		rev = next;
	}
}
