// SPDX-License-Identifier: MIT
/* The runtime's layer list: order from declared dependencies whatever the
 * registration order, stable among independent layers, growable; a missing
 * dependency, a duplicate or a cycle refused at registration; prepare in
 * order (a layer whose dependency is absent is absent), teardown in reverse;
 * which policy sections an edit changes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy/generation.h"
#include "policy/policy.h"
#include "runtime/runtime.h"

static char trail[512]; /* "prepare:a stop:b finish:b ..." */

static void note(const char *what, const struct ward_layer *l, const char *name)
{
	size_t n = strlen(trail);

	snprintf(trail + n, sizeof(trail) - n, "%s%s:%s", n ? " " : "", what, name);
}

#define FAKE_OPS(id, deps_, ret)                                                                   \
	static int prepare_##id(struct ward_layer *l, struct ward_error *err)                      \
	{                                                                                          \
		note("prepare", l, #id);                                                           \
		return ret;                                                                        \
	}                                                                                          \
	static void stop_##id(struct ward_layer *l)                                                \
	{                                                                                          \
		note("stop", l, #id);                                                              \
	}                                                                                          \
	static void finish_##id(struct ward_layer *l)                                              \
	{                                                                                          \
		note("finish", l, #id);                                                            \
	}                                                                                          \
	static const struct ward_layer_ops id##_ops = { .name = #id,                               \
							.deps = deps_,                             \
							.prepare = prepare_##id,                   \
							.stop = stop_##id,                         \
							.finish = finish_##id }

#define DEPS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ward run's shape: netns ← egress ← dns; proxy needs netns, egress, ?inference */
FAKE_OPS(netns, NULL, 0);
FAKE_OPS(egress, DEPS("netns"), 0);
FAKE_OPS(dns, DEPS("netns", "egress"), 0);
FAKE_OPS(inference, NULL, WARD_LAYER_ABSENT);
FAKE_OPS(proxy, DEPS("netns", "egress", "?inference"), 0);
FAKE_OPS(fs, NULL, 0);
/* an absent layer takes what needs it along */
FAKE_OPS(gone, NULL, WARD_LAYER_ABSENT);
FAKE_OPS(user, DEPS("gone"), 0);
/* wrong on purpose */
FAKE_OPS(loop_a, DEPS("loop_b"), 0);
FAKE_OPS(loop_b, DEPS("loop_a"), 0);
FAKE_OPS(orphan, DEPS("nowhere"), 0);
FAKE_OPS(self, DEPS("self"), 0);

static const char *const POLICY = "version: 1\nnetwork_policies:\n  a:\n"
				  "    binaries: [{ path: /usr/bin/curl }]\n"
				  "    endpoints: [{ host: a.example, ports: [443] }]\n";

static struct ward_policy *load(const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error e = { 0 };

	assert_int_equal(ward_policy_load_buffer("t.yaml", yaml, strlen(yaml), &p, &d, &e), 0);
	ward_diags_free(&d);
	return p;
}

static struct ward_runtime *new_rt(void)
{
	struct ward_runtime_config cfg = { 0 };
	struct ward_runtime *rt = NULL;
	struct ward_error e = { 0 };
	struct ward_gen *g = NULL;

	assert_int_equal(ward_gen_new(load(POLICY), 1, &g), 0);
	cfg.gen = g;
	assert_int_equal(ward_runtime_new(&cfg, &rt, &e), 0);
	ward_gen_unref(g); /* the runtime holds its own */
	trail[0] = '\0';
	return rt;
}

static void names(struct ward_runtime *rt, char *out, size_t len)
{
	const char *v[16];
	size_t n = ward_runtime_layer_names(rt, v, 16), k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && i < 16; i++)
		k += snprintf(out + k, len - k, "%s%s", i ? "," : "", v[i]);
}

static void test_order_from_deps(void **state)
{
	/* registered backwards: dependencies still come first */
	const struct ward_layer_ops *ops[] = { &fs_ops,	       &proxy_ops,  &dns_ops,
					       &inference_ops, &egress_ops, &netns_ops };
	struct ward_runtime *rt = new_rt();
	struct ward_error e = { 0 };
	char got[256];

	(void)state;
	assert_int_equal(ward_runtime_add_layers(rt, ops, 6, &e), 0);
	names(rt, got, sizeof(got));
	/* fs and inference need nothing: first, in registration order; then
	 * each as soon as what it needs is placed */
	assert_string_equal(got, "fs,inference,netns,egress,proxy,dns");
	ward_runtime_free(rt);
}

static void test_order_stable(void **state)
{
	/* registered in an order that already fits: unchanged (ward run's) */
	const struct ward_layer_ops *ops[] = { &netns_ops,     &egress_ops, &dns_ops,
					       &inference_ops, &proxy_ops,  &fs_ops };
	struct ward_runtime *rt = new_rt();
	struct ward_error e = { 0 };
	char got[256];

	(void)state;
	assert_int_equal(ward_runtime_add_layers(rt, ops, 6, &e), 0);
	names(rt, got, sizeof(got));
	assert_string_equal(got, "netns,egress,dns,inference,proxy,fs");
	ward_runtime_free(rt);
}

static void test_growable(void **state)
{
	const struct ward_layer_ops *first[] = { &netns_ops, &egress_ops };
	const struct ward_layer_ops *second[] = { &proxy_ops, &inference_ops, &dns_ops, &fs_ops };
	struct ward_runtime *rt = new_rt();
	struct ward_error e = { 0 };
	char got[256];

	(void)state;
	assert_int_equal(ward_runtime_add_layers(rt, first, 2, &e), 0);
	/* the second batch may need the first and itself; the first keeps its place */
	assert_int_equal(ward_runtime_add_layers(rt, second, 4, &e), 0);
	names(rt, got, sizeof(got));
	assert_string_equal(got, "netns,egress,inference,proxy,dns,fs");
	ward_runtime_free(rt);
}

static void expect_refused(const struct ward_layer_ops *const *ops, size_t n, const char *msg)
{
	const struct ward_layer_ops *ok[] = { &netns_ops };
	struct ward_runtime *rt = new_rt();
	struct ward_error e = { 0 };
	const char *v[4];

	assert_int_equal(ward_runtime_add_layers(rt, ok, 1, &e), 0);
	assert_int_equal(ward_runtime_add_layers(rt, ops, n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, msg));
	/* nothing of the refused call is registered */
	assert_int_equal(ward_runtime_layer_names(rt, v, 4), 1);
	ward_runtime_free(rt);
	/* and nothing ran: nothing was prepared */
	assert_string_equal(trail, "");
}

static void test_cycle_refused(void **state)
{
	const struct ward_layer_ops *ops[] = { &fs_ops, &loop_a_ops, &loop_b_ops };

	(void)state;
	expect_refused(ops, 3, "cycle: loop_a, loop_b");
}

static void test_missing_dep_refused(void **state)
{
	const struct ward_layer_ops *ops[] = { &orphan_ops };
	const struct ward_layer_ops *self[] = { &self_ops };
	const struct ward_layer_ops *twice[] = { &netns_ops };

	(void)state;
	expect_refused(ops, 1, "orphan needs nowhere, which is not registered");
	expect_refused(self, 1, "self needs self, which is itself");
	expect_refused(twice, 1, "netns registered twice");
}

static void test_prepare_and_teardown(void **state)
{
	const struct ward_layer_ops *ops[] = { &netns_ops, &egress_ops, &dns_ops,  &inference_ops,
					       &proxy_ops, &gone_ops,	&user_ops, &fs_ops };
	struct ward_runtime *rt = new_rt();
	struct ward_error e = { 0 };
	struct ward_apply_report rep;
	struct ward_gen *g;

	(void)state;
	assert_int_equal(ward_runtime_add_layers(rt, ops, 8, &e), 0);
	assert_int_equal(ward_runtime_prepare(rt, &e), 0);
	/* inference is absent and optional for proxy; user needs gone, absent */
	assert_string_equal(trail, "prepare:netns prepare:egress prepare:dns prepare:inference "
				   "prepare:proxy prepare:gone prepare:fs");
	/* no sandbox runs: nothing to apply to */
	g = ward_runtime_gen(rt);
	assert_int_equal(ward_runtime_apply(rt, g, &rep, &e), -ESRCH);
	ward_gen_unref(g);
	trail[0] = '\0';
	ward_runtime_free(rt);
	/* stop what is in the run, then finish everything prepared, in reverse */
	assert_string_equal(trail, "stop:fs stop:proxy stop:dns stop:egress stop:netns "
				   "finish:fs finish:gone finish:proxy finish:inference "
				   "finish:dns finish:egress finish:netns");
}

static void changed(const char *a, const char *b, const char *want)
{
	struct ward_policy *pa = load(a), *pb = load(b);
	char names[16][48], got[512] = "";
	size_t n = ward_policy_changed_sections(pa, pb, names, 16), k = 0;

	for (size_t i = 0; i < n; i++)
		k += snprintf(got + k, sizeof(got) - k, "%s%s", i ? "," : "", names[i]);
	assert_string_equal(got, want);
	ward_policy_free(pa);
	ward_policy_free(pb);
}

static void test_sections(void **state)
{
	(void)state;
	/* the same policy, lines moved: nothing */
	changed(POLICY,
		"\n\nversion: 1\nnetwork_policies:\n  a:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: a.example, ports: [443] }]\n",
		"");
	changed(POLICY,
		"version: 1\nnetwork_policies:\n  a:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: b.example, ports: [443] }]\n",
		"network_policies");
	changed("version: 1\nfilesystem_policy:\n  read_only: [/usr]\n",
		"version: 1\nfilesystem_policy:\n  read_only: [/usr, /etc]\n"
		"environment:\n  pass: [FOO]\nresources:\n  pids: 100\n",
		"filesystem_policy,environment,resources");
	/* the private /tmp's size is a mount option, the rest cgroup limits */
	changed("version: 1\nresources:\n  pids: 100\n",
		"version: 1\nresources:\n  pids: 100\n  tmp_size: 64M\n", "resources.tmp_size");
	changed("version: 1\nprocess:\n  run_as_user: sandbox\n",
		"version: 1\nprocess:\n  run_as_user: nobody\nlandlock:\n"
		"  compatibility: hard_requirement\n",
		"landlock,process");
	/* Landlock's TCP ports follow the endpoints' */
	changed("version: 1\nlandlock:\n  restrict_tcp: true\n"
		"network_policies:\n  a:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: a.example, ports: [443] }]\n",
		"version: 1\nlandlock:\n  restrict_tcp: true\n"
		"network_policies:\n  a:\n"
		"    binaries: [{ path: /usr/bin/curl }]\n"
		"    endpoints: [{ host: a.example, ports: [8443] }]\n",
		"network_policies,landlock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_from_deps),
		cmocka_unit_test(test_order_stable),
		cmocka_unit_test(test_growable),
		cmocka_unit_test(test_cycle_refused),
		cmocka_unit_test(test_missing_dep_refused),
		cmocka_unit_test(test_prepare_and_teardown),
		cmocka_unit_test(test_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
