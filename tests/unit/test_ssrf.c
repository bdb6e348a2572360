// SPDX-License-Identifier: MIT
/* SSRF address classes: every always-blocked range in every IPv6 spelling,
 * private ranges with and without an exact host or allowed_ips. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/ssrf.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", s);
	return ss;
}

static enum ward_ip_class cls(const char *s, const char **what)
{
	struct sockaddr_storage ss = addr(s);

	return ward_ssrf_classify((struct sockaddr *)&ss, what);
}

static void expect(const char *s, enum ward_ip_class want, const char *what_want)
{
	const char *what = NULL;
	enum ward_ip_class got = cls(s, &what);

	if (got != want)
		fail_msg("%s: class %d, expected %d (%s)", s, got, want, what);
	if (what_want && strcmp(what, what_want))
		fail_msg("%s: '%s', expected '%s'", s, what, what_want);
}

static void test_blocked(void **state)
{
	const char *loop[] = { "127.0.0.1",   "127.255.0.9",	 "::1",		 "::ffff:127.0.0.1",
			       "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::" };

	(void)state;
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
		expect(loop[i], WARD_IP_BLOCKED, "loopback");
	expect("169.254.169.254", WARD_IP_BLOCKED, "cloud metadata");
	expect("::ffff:169.254.169.254", WARD_IP_BLOCKED, "cloud metadata");
	expect("::ffff:a9fe:a9fe", WARD_IP_BLOCKED, "cloud metadata");
	expect("fd00:ec2::254", WARD_IP_BLOCKED, "cloud metadata");
	expect("100.100.100.200", WARD_IP_BLOCKED, "cloud metadata");
	expect("169.254.1.1", WARD_IP_BLOCKED, "link-local");
	expect("fe80::1", WARD_IP_BLOCKED, "link-local");
	expect("0.0.0.0", WARD_IP_BLOCKED, "unspecified");
	expect("::", WARD_IP_BLOCKED, "unspecified");
	expect("::ffff:0.0.0.0", WARD_IP_BLOCKED, "unspecified");
	expect("224.0.0.1", WARD_IP_BLOCKED, "multicast");
	expect("ff02::1", WARD_IP_BLOCKED, "multicast");
	expect("255.255.255.255", WARD_IP_BLOCKED, "broadcast");
	expect("250.1.2.3", WARD_IP_BLOCKED, "reserved");
}

static void test_private_public(void **state)
{
	(void)state;
	expect("10.1.2.3", WARD_IP_PRIVATE, NULL);
	expect("172.16.0.1", WARD_IP_PRIVATE, NULL);
	expect("172.31.255.255", WARD_IP_PRIVATE, NULL);
	expect("172.32.0.1", WARD_IP_PUBLIC, NULL);
	expect("192.168.1.1", WARD_IP_PRIVATE, NULL);
	expect("100.64.0.1", WARD_IP_PRIVATE, "shared address space (CGNAT)");
	expect("100.127.255.255", WARD_IP_PRIVATE, NULL);
	expect("100.128.0.1", WARD_IP_PUBLIC, NULL);
	expect("0.1.2.3", WARD_IP_PRIVATE, NULL);
	expect("fd12::1", WARD_IP_PRIVATE, "unique local (ULA)");
	expect("fc00::1", WARD_IP_PRIVATE, NULL);
	expect("::ffff:10.0.0.1", WARD_IP_PRIVATE, NULL);
	expect("8.8.8.8", WARD_IP_PUBLIC, "public");
	expect("2606:4700::1111", WARD_IP_PUBLIC, NULL);
	expect("::ffff:1.1.1.1", WARD_IP_PUBLIC, NULL);
}

static void test_check(void **state)
{
	struct ward_cidr cidrs[2] = { { .family = AF_INET, .prefix = 16, .addr = { 10, 20 } },
				      { .family = AF_INET6, .prefix = 16, .addr = { 0xfd, 0x12 } } };
	struct ward_endpoint ep = { .allowed_ips = cidrs, .n_allowed_ips = 2 };
	struct sockaddr_storage ss;
	char why[256];

	(void)state;
	ss = addr("10.20.1.1");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, NULL, why, sizeof(why)),
			 -EACCES);
	assert_non_null(strstr(why, "ssrf: 10.20.1.1 is private"));
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, true, NULL, why, sizeof(why)), 0);
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, &ep, why, sizeof(why)), 0);
	ss = addr("::ffff:10.20.1.1");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, &ep, why, sizeof(why)), 0);
	ss = addr("10.21.1.1");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, &ep, why, sizeof(why)),
			 -EACCES);
	ss = addr("fd12:1::5");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, &ep, why, sizeof(why)), 0);
	/* never, whatever the endpoint says */
	ss = addr("127.0.0.1");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, true, &ep, why, sizeof(why)),
			 -EACCES);
	assert_non_null(strstr(why, "always blocked"));
	ss = addr("169.254.169.254");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, true, NULL, why, sizeof(why)),
			 -EACCES);
	ss = addr("93.184.216.34");
	assert_int_equal(ward_ssrf_check((struct sockaddr *)&ss, false, NULL, why, sizeof(why)), 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(ward_ssrf_name_blocked("metadata.google.internal"));
	assert_true(ward_ssrf_name_blocked("METADATA.google.internal"));
	assert_false(ward_ssrf_name_blocked("google.internal"));
	assert_false(ward_ssrf_name_blocked("api.github.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_private_public),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
