// SPDX-License-Identifier: MIT
/* The proxy's limits (src/proxy/admission.h): a policy's `limits:` mapped
 * field by field, defaults for what it leaves unset, and the default
 * max_conns following the fd budget of RLIMIT_NOFILE. Each case runs in a
 * child of its own: it changes the process's RLIMIT_NOFILE. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/admission.h"

static void test_from_policy(void **state)
{
	struct ward_limits pl = { .max_connections = 100,
				  .idle_tunnel_ms = 300000,
				  .idle_http_ms = 30000,
				  .connect_timeout_ms = 2500,
				  .request_timeout_ms = 10000,
				  .max_body = 1ull << 30 };
	struct ward_proxy_limits l = { 0 }, r;

	(void)state;
	ward_proxy_limits_from_policy(&pl, &l);
	assert_int_equal(l.max_conns, 100);
	assert_int_equal(l.idle_tunnel_ms, 300000);
	assert_int_equal(l.idle_http_ms, 30000);
	assert_int_equal(l.connect_timeout_ms, 2500);
	assert_int_equal(l.request_timeout_ms, 10000);
	assert_true(l.max_body == 1ull << 30);
	/* what the policy set is what applies */
	ward_proxy_limits_resolve(&r, &l);
	assert_int_equal(r.max_conns, 100);
	assert_int_equal(r.connect_timeout_ms, 2500);
	assert_true(r.max_body == 1ull << 30);
	assert_int_equal(r.sniff_ms, 500);
}

static void test_defaults(void **state)
{
	struct ward_proxy_limits none = { 0 }, r;

	(void)state;
	ward_proxy_limits_resolve(&r, &none);
	assert_int_equal(r.idle_tunnel_ms, 300000);
	assert_int_equal(r.idle_http_ms, 60000);
	assert_int_equal(r.connect_timeout_ms, 10000);
	assert_int_equal(r.request_timeout_ms, 30000);
	assert_true(r.max_body == 64ull << 20);
	assert_true(r.max_conns >= 256 && r.max_conns <= WARD_PROXY_MAX_CONNS_DEFAULT);
}

/* in a child: hard limit `hard`, soft 64; the default max_conns then */
static uint32_t max_conns_with(rlim_t hard, rlim_t *ret_soft_after)
{
	int p[2], status;
	uint64_t got[2] = { 0, 0 };
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 64, hard };
		struct ward_proxy_limits none = { 0 }, r;
		uint64_t out[2];

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			fprintf(stderr, "setrlimit %lu: %m\n", (unsigned long)hard);
			_exit(2);
		}
		ward_proxy_limits_resolve(&r, &none);
		getrlimit(RLIMIT_NOFILE, &rl);
		out[0] = r.max_conns;
		out[1] = rl.rlim_cur;
		_exit(write(p[1], out, sizeof(out)) == sizeof(out) ? 0 : 3);
	}
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(read(p[0], got, sizeof(got)), sizeof(got));
	close(p[0]);
	*ret_soft_after = (rlim_t)got[1];
	return (uint32_t)got[0];
}

/* hard limits a child can set: up to the current one (raising it needs
 * CAP_SYS_RESOURCE, which a container's root may not have) */
static bool settable(rlim_t hard)
{
	struct rlimit now;

	getrlimit(RLIMIT_NOFILE, &now);
	return hard <= now.rlim_max;
}

static void test_fd_budget(void **state)
{
	rlim_t soft;

	(void)state;
	/* soft raised to hard; 6 fds a tunnel after 64 + 256 set aside */
	assert_int_equal(max_conns_with(1024, &soft),
			 256); /* small: still 256 (no pipes past it) */
	assert_int_equal(soft, 1024);
	if (settable(12320)) {
		assert_int_equal(max_conns_with(12320, &soft), 2000);
		assert_int_equal(soft, 12320);
	}
	if (settable(20000))
		assert_int_equal(max_conns_with(20000, &soft), (20000 - 64 - 256) / 6);
	if (settable(200000)) /* a large budget is capped */
		assert_int_equal(max_conns_with(200000, &soft), WARD_PROXY_MAX_CONNS_DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_policy),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_fd_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
