// SPDX-License-Identifier: MIT
/* Policy generations: references keep a policy alive across a swap; the last
 * one frees it; readers on other threads always see a whole generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/generation.h"
#include "policy/policy.h"

static struct ward_policy *load(const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error e = { 0 };

	assert_int_equal(ward_policy_load_buffer("t.yaml", yaml, strlen(yaml), &p, &d, &e), 0);
	ward_diags_free(&d);
	return p;
}

static const char *const A = "version: 1\nnetwork_policies:\n  a:\n"
			     "    binaries: [{ path: /usr/bin/curl }]\n"
			     "    endpoints: [{ host: a.example, ports: [443] }]\n";
static const char *const B = "version: 1\nnetwork_policies:\n  b:\n"
			     "    binaries: [{ path: /usr/bin/curl }]\n"
			     "    endpoints: [{ host: b.example, ports: [443] }]\n";

static void test_swap_keeps_readers(void **state)
{
	struct ward_gen *g1, *g2, *held, *old;
	struct ward_gen_cell cell;

	(void)state;
	assert_int_equal(ward_gen_new(load(A), 1, &g1), 0);
	assert_int_equal(ward_gen_new(load(B), 2, &g2), 0);
	assert_string_not_equal(g1->policy->rev, g2->policy->rev);
	ward_gen_cell_init(&cell, g1);

	held = ward_gen_cell_get(&cell); /* a request in flight under g1 */
	assert_ptr_equal(held, g1);
	old = ward_gen_cell_swap(&cell, g2);
	assert_ptr_equal(old, g1);
	ward_gen_unref(old);
	/* the in-flight request still reads a whole g1 */
	assert_int_equal(atomic_load(&held->refs), 1);
	assert_string_equal(held->policy->net[0].key, "a");
	ward_gen_unref(held); /* frees g1 (ASan would see a leak or a double free) */

	held = ward_gen_cell_get(&cell);
	assert_int_equal(held->seq, 2);
	assert_string_equal(held->policy->net[0].key, "b");
	ward_gen_unref(held);
	ward_gen_cell_destroy(&cell);
}

struct reader {
	struct ward_gen_cell *cell;
	unsigned seen_a, seen_b;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	for (int i = 0; i < 200000; i++) {
		struct ward_gen *g = ward_gen_cell_get(r->cell);
		const char *k = g->policy->net[0].key;

		if (!strcmp(k, "a"))
			r->seen_a++;
		else if (!strcmp(k, "b"))
			r->seen_b++;
		ward_gen_unref(g);
	}
	return NULL;
}

static void test_concurrent_swaps(void **state)
{
	struct ward_gen_cell cell;
	struct ward_gen *g;
	struct reader r = { &cell, 0, 0 };
	pthread_t t;

	(void)state;
	assert_int_equal(ward_gen_new(load(A), 1, &g), 0);
	ward_gen_cell_init(&cell, g);
	assert_int_equal(pthread_create(&t, NULL, read_loop, &r), 0);
	for (uint64_t seq = 2; seq < 200; seq++) {
		assert_int_equal(ward_gen_new(load(seq % 2 ? A : B), seq, &g), 0);
		ward_gen_unref(ward_gen_cell_swap(&cell, g));
	}
	pthread_join(t, NULL);
	assert_int_equal(r.seen_a + r.seen_b, 200000);
	ward_gen_cell_destroy(&cell);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_keeps_readers),
		cmocka_unit_test(test_concurrent_swaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
