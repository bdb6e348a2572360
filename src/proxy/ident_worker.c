// SPDX-License-Identifier: MIT
/* The identity worker: hashing an executable (node is ~100 MB) and writing
 * its TOFU record take far longer than a connection may wait on the loop
 * thread. The loop asks the cache first (ward_identity_cached); on a miss
 * the connection waits in S_IDENT while this thread hashes, and the result
 * comes back through an eventfd, tagged (slot, generation) like resolver
 * answers, so a connection closed meanwhile is simply not found. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proxy/identity.h"
#include "proxy/proxy_internal.h"

#define IDENT_QUEUE_MAX 256

struct ident_job {
	struct ident_job *next;
	uint32_t slot, gen;
	uint64_t dev, ino;
	pid_t pid;
	int verdict;
	char sha[65];
	char reason[256];
	char path[PATH_MAX];
};

struct ident_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ident_job *todo, *done; /* LIFO both: order does not matter */
	uint32_t n_todo;
	bool stop, started;
	int efd;
	struct ward_identity *identity;
};

static void *worker(void *arg)
{
	struct ident_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct ident_job *j;
		uint64_t one = 1;

		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		j = w->todo;
		w->todo = j->next;
		w->n_todo--;
		pthread_mutex_unlock(&w->lock);
		j->verdict = ward_identity_check(w->identity, j->path, j->pid, j->dev, j->ino,
						 j->sha, j->reason, sizeof(j->reason));
		pthread_mutex_lock(&w->lock);
		j->next = w->done;
		w->done = j;
		(void)!write(w->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void free_list(struct ident_job *j)
{
	while (j) {
		struct ident_job *n = j->next;

		free(j);
		j = n;
	}
}

void proxy_ident_free(struct ward_proxy *px)
{
	struct ident_worker *w = px->iw;

	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	free_list(w->todo);
	free_list(w->done);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	px->iw = NULL;
}

int proxy_ident_new(struct ward_proxy *px)
{
	struct ident_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->identity = px->identity;
	px->iw = w;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	r = pthread_create(&w->thread, NULL, worker, w);
	if (r)
		return -r;
	w->started = true;
	return 0;
}

int proxy_ident_fd(const struct ward_proxy *px)
{
	return px->iw->efd;
}

int proxy_ident_submit(struct conn *c)
{
	struct ident_worker *w = c->px->iw;
	struct ident_job *j;

	if (w->n_todo >= IDENT_QUEUE_MAX)
		return -EBUSY;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->slot = c->slot;
	j->gen = c->gen;
	/* the executable that acted, which is also the one the row names */
	j->dev = c->id.dev;
	j->ino = c->id.ino;
	j->pid = c->id.pid;
	snprintf(j->path, sizeof(j->path), "%s", c->id.binary);
	pthread_mutex_lock(&w->lock);
	j->next = w->todo;
	w->todo = j;
	w->n_todo++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void proxy_ident_dispatch(struct ward_proxy *px, void (*done)(struct conn *c))
{
	struct ident_worker *w = px->iw;
	struct ident_job *list;
	uint64_t v;

	(void)!read(w->efd, &v, sizeof(v));
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	for (struct ident_job *j = list; j; j = j->next) {
		struct conn *c = j->slot < px->lim.max_conns ? px->conns[j->slot] : NULL;

		if (!c || c->gen != j->gen || c->state != S_IDENT)
			continue;
		c->tofu = j->verdict;
		memcpy(c->sha, j->sha, sizeof(c->sha));
		snprintf(c->tofu_reason, sizeof(c->tofu_reason), "%s", j->reason);
		done(c);
	}
	free_list(list);
}
