/* SPDX-License-Identifier: MIT */
/* Policy generations (DESIGN.md "One process or a service").
 *
 * A generation is one compiled policy, immutable once made and shared by
 * reference count: every deciding layer holds the generation it decides from,
 * and a new policy reaches a layer as a new generation swapped in one step.
 * A request that started under generation N finishes under N; the next one
 * sees N+1. The last reference frees the policy.
 *
 * A ward_gen_cell is where a layer keeps its current generation: readers take
 * a reference (ward_gen_cell_get) and drop it when their decision is made;
 * the writer swaps (ward_gen_cell_swap) and drops the old one. Safe across
 * threads; the lock is held only for a pointer copy and a counter. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "policy/model.h"

struct ward_gen {
	atomic_uint refs;
	uint64_t seq;		    /* 1 for the first generation of a sandbox, then +1 */
	struct ward_policy *policy; /* owned; never changed after ward_gen_new */
};

/* Wrap a compiled policy (ownership moves into the generation, also on
 * failure). One reference, held by the caller. -ENOMEM. */
int ward_gen_new(struct ward_policy *policy, uint64_t seq, struct ward_gen **ret);
/* NULL-safe; returns g. */
struct ward_gen *ward_gen_ref(struct ward_gen *g);
/* NULL-safe; the last reference frees the policy. */
void ward_gen_unref(struct ward_gen *g);

struct ward_gen_cell {
	pthread_mutex_t lock;
	struct ward_gen *cur;
};

/* The cell takes the caller's reference to g (NULL: empty cell). */
void ward_gen_cell_init(struct ward_gen_cell *c, struct ward_gen *g);
/* A new reference to the current generation (NULL when empty). */
struct ward_gen *ward_gen_cell_get(struct ward_gen_cell *c);
/* Install g (the cell takes the caller's reference); returns the previous
 * generation with the cell's reference, for the caller to drop. */
struct ward_gen *ward_gen_cell_swap(struct ward_gen_cell *c, struct ward_gen *g);
/* Drop the cell's reference. */
void ward_gen_cell_destroy(struct ward_gen_cell *c);

static inline void ward_gen_unrefp(struct ward_gen **g)
{
	ward_gen_unref(*g);
}
#define _cleanup_gen_ __attribute__((cleanup(ward_gen_unrefp)))
