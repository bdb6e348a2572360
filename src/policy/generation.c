// SPDX-License-Identifier: MIT
/* Policy generations: a refcounted, immutable compiled policy (generation.h). */
#include <errno.h>
#include <stdlib.h>

#include "policy/generation.h"

int ward_gen_new(struct ward_policy *policy, uint64_t seq, struct ward_gen **ret)
{
	struct ward_gen *g = calloc(1, sizeof(*g));

	if (!g) {
		ward_policy_free(policy);
		return -ENOMEM;
	}
	atomic_init(&g->refs, 1);
	g->seq = seq;
	g->policy = policy;
	*ret = g;
	return 0;
}

struct ward_gen *ward_gen_ref(struct ward_gen *g)
{
	if (g)
		atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void ward_gen_unref(struct ward_gen *g)
{
	if (!g)
		return;
	/* release our writes; the freeing thread acquires everyone's */
	if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	ward_policy_free(g->policy);
	free(g);
}

void ward_gen_cell_init(struct ward_gen_cell *c, struct ward_gen *g)
{
	pthread_mutex_init(&c->lock, NULL);
	c->cur = g;
}

struct ward_gen *ward_gen_cell_get(struct ward_gen_cell *c)
{
	struct ward_gen *g;

	pthread_mutex_lock(&c->lock);
	g = ward_gen_ref(c->cur);
	pthread_mutex_unlock(&c->lock);
	return g;
}

struct ward_gen *ward_gen_cell_swap(struct ward_gen_cell *c, struct ward_gen *g)
{
	struct ward_gen *old;

	pthread_mutex_lock(&c->lock);
	old = c->cur;
	c->cur = g;
	pthread_mutex_unlock(&c->lock);
	return old;
}

void ward_gen_cell_destroy(struct ward_gen_cell *c)
{
	ward_gen_unref(c->cur);
	c->cur = NULL;
	pthread_mutex_destroy(&c->lock);
}
