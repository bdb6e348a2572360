// SPDX-License-Identifier: MIT
/* Generations of an egress handle in user space (no kernel: no maps):
 *   - strings and rule tables are interned: equal ones stored once, the
 *     pointers handed out never move or go;
 *   - after thousands of A/B applies the table holds what it held after ten;
 *   - the rev and rule texts of a generation outlive it (the last
 *     EGRESS_HIST_KEPT generations), by full seq and by its low 16 bits. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/strv.h"
#include "enforcer/egress_internal.h"
#include "policy/policy.h"

#include "tmpdir.h"

static void test_intern(void **state)
{
	struct egress_gens gs;
	char buf[16];
	const char *a, *b, *c;
	const char *const *t1, *const *t2, *const *t3;

	(void)state;
	egress_gens_init(&gs);
	snprintf(buf, sizeof(buf), "rule-a");
	a = egress_intern(&gs.strs, buf);
	snprintf(buf, sizeof(buf), "rule-b");
	b = egress_intern(&gs.strs, buf);
	snprintf(buf, sizeof(buf), "rule-a");
	c = egress_intern(&gs.strs, buf);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal(a, c); /* equal strings: one copy */
	assert_ptr_not_equal(a, buf);
	assert_string_equal(a, "rule-a");
	assert_string_equal(b, "rule-b");
	assert_null(egress_intern(&gs.strs, NULL));
	assert_int_equal(egress_strtab_n_strings(&gs.strs), 2);
	/* enough to make the set grow several times: earlier pointers stay */
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		assert_non_null(egress_intern(&gs.strs, buf));
	}
	assert_int_equal(egress_strtab_n_strings(&gs.strs), 1002);
	assert_ptr_equal(egress_intern(&gs.strs, "rule-a"), a);
	assert_string_equal(a, "rule-a");

	t1 = egress_intern_table(&gs.strs, (const char *[]){ a, b }, 2);
	t2 = egress_intern_table(&gs.strs, (const char *[]){ b, a }, 2);
	t3 = egress_intern_table(&gs.strs, (const char *[]){ a, b }, 2);
	assert_non_null(t1);
	assert_ptr_not_equal(t1, t2);
	assert_ptr_equal(t1, t3);
	assert_ptr_equal(t1[0], a);
	assert_ptr_equal(t2[0], b);
	assert_null(egress_intern_table(&gs.strs, NULL, 0));
	assert_int_equal(egress_strtab_n_tables(&gs.strs), 2);
	egress_gens_destroy(&gs);
}

/* A policy of one network policy KEY for one binary, rev REV. */
struct one {
	uint16_t port;
	struct ward_endpoint ep;
	struct ward_binary b;
	struct ward_net_policy np;
	struct ward_policy p;
};

static void one_policy(struct one *o, const char *key, const char *binary, const char *rev)
{
	*o = (struct one){ .port = 443 };
	o->ep = (struct ward_endpoint){ .host = "gen.test", .ports = &o->port, .n_ports = 1 };
	o->b = (struct ward_binary){ .path = (char *)binary };
	o->np = (struct ward_net_policy){ .key = (char *)key,
					  .binaries = &o->b,
					  .n_binaries = 1,
					  .endpoints = &o->ep,
					  .n_endpoints = 1 };
	o->p = (struct ward_policy){ .net = &o->np, .n_net = 1 };
	snprintf(o->p.rev, sizeof(o->p.rev), "%s", rev);
}

/* What ward_egress_apply does in user space: build the generation, push it. */
static void apply(struct ward_egress *e, const struct ward_policy *p)
{
	struct ward_error err = { 0 };
	struct egress_gen *g = NULL;

	assert_int_equal(egress_gen_new(&e->gens, p, &g), 0);
	assert_int_equal(egress_idents_build(e, g, p, &err), 0);
	assert_int_equal(egress_n_entries(g), 1);
	egress_gens_push(&e->gens, g);
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);

	assert_true(fd >= 0);
	close(fd);
}

#define APPLIES 5000 /* more than EGRESS_HIST_KEPT: the ring wraps */

static void test_history_and_bound(void **state)
{
	struct ward_egress *e = calloc(1, sizeof(*e));
	char dir[64], alpha[128], beta[128];
	struct one a, b;
	size_t strings10 = 0, tables10 = 0;
	const char *rule1, *path1;
	struct ward_ident_key key;
	char real[PATH_MAX];
	struct egress_gens *gs;

	(void)state;
	assert_non_null(e);
	assert_non_null(ward_test_mkdtemp(dir, sizeof(dir), "egress-gens"));
	snprintf(alpha, sizeof(alpha), "%s/alpha", dir);
	snprintf(beta, sizeof(beta), "%s/beta", dir);
	touch(alpha);
	touch(beta);
	one_policy(&a, "ra", alpha, "A");
	one_policy(&b, "rb", beta, "B");
	gs = &e->gens;
	egress_gens_init(gs);

	/* generation 1 is A; what a lookup hands out of it now */
	apply(e, &a.p);
	pthread_rwlock_rdlock(&gs->lock);
	rule1 = egress_gens_rule(gs, 1, false, 0);
	key = gs->cur->idents[0].key;
	pthread_rwlock_unlock(&gs->lock);
	path1 = ward_egress_binary(e, key.dev, key.ino);
	assert_string_equal(rule1, "ra");
	assert_non_null(path1);

	for (uint32_t seq = 2; seq <= APPLIES; seq++) {
		apply(e, seq % 2 ? &a.p : &b.p);
		if (seq == 10) {
			strings10 = egress_strtab_n_strings(&gs->strs);
			tables10 = egress_strtab_n_tables(&gs->strs);
		}
		/* generation 1 long retired (> EGRESS_GENS_KEPT and the old 64
		 * revs): its rev and rule, the same pointer as when it was in
		 * force, while the ring holds it */
		if (seq == 100 || seq == EGRESS_HIST_KEPT) {
			pthread_rwlock_rdlock(&gs->lock);
			assert_null(egress_gens_find(gs, 1, false));
			assert_string_equal(egress_gens_rev(gs, 1), "A");
			assert_ptr_equal(egress_gens_rule(gs, 1, false, 0), rule1);
			assert_ptr_equal(egress_gens_rule(gs, 1, true, 0), rule1);
			assert_null(egress_gens_rule(gs, 1, false, 1));
			assert_string_equal(egress_gens_key(gs, 1, 0), "ra");
			assert_int_equal(egress_gens_seq16(gs, 1), 1);
			pthread_rwlock_unlock(&gs->lock);
		}
	}
	assert_int_equal(gs->cur->seq, APPLIES);
	/* bounded: 4990 more applies of the same two policies added nothing */
	assert_true(strings10 > 0);
	assert_int_equal(egress_strtab_n_strings(&gs->strs), strings10);
	assert_int_equal(egress_strtab_n_tables(&gs->strs), tables10);
	/* what was handed out is still there */
	assert_string_equal(rule1, "ra");
	assert_non_null(realpath(alpha, real));
	assert_string_equal(path1, real);

	pthread_rwlock_rdlock(&gs->lock);
	/* forgotten: more than EGRESS_HIST_KEPT generations back */
	assert_null(egress_gens_rev(gs, 1));
	assert_null(egress_gens_rule(gs, 1, false, 0));
	assert_int_equal(egress_gens_seq16(gs, 1), 0);
	/* the oldest one kept, by seq and by 16 bits; B is even */
	{
		uint32_t old = APPLIES - EGRESS_HIST_KEPT + 1;
		const char *want = old % 2 ? "ra" : "rb";

		assert_null(egress_gens_find(gs, old, false));
		assert_string_equal(egress_gens_rev(gs, old), old % 2 ? "A" : "B");
		assert_string_equal(egress_gens_rule(gs, old, false, 0), want);
		assert_string_equal(egress_gens_rule(gs, old & 0xffff, true, 0), want);
		assert_int_equal(egress_gens_seq16(gs, old & 0xffff), old);
	}
	/* one in force (kept): from the generation itself */
	assert_string_equal(egress_gens_rule(gs, APPLIES - 1, false, 0),
			    (APPLIES - 1) % 2 ? "ra" : "rb");
	assert_null(egress_gens_rule(gs, APPLIES + 1, false, 0));
	pthread_rwlock_unlock(&gs->lock);

	egress_gens_destroy(gs);
	ward_strv_free(&e->warnings, &e->n_warnings);
	free(e);
	assert_int_equal(ward_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern),
		cmocka_unit_test(test_history_and_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
