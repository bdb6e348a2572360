// SPDX-License-Identifier: MIT
/* bpf/unix_decide.h compiled on the host: how the backstop reads a
 * sockaddr_un the way the kernel terminates it, and every verdict branch.
 * The rules map is a table with the hash map's semantics (whole-key
 * equality, so the zero padding after the path matters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../bpf/unix_decide.h"

static const struct ward_unix_cfg cfg = { .broker_tgid = 4242 };

/* a raw address of addrlen bytes: family, then the bytes of path */
static void addr(char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1], const void *path, size_t len)
{
	memset(raw, 'Z', WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX); /* garbage past addrlen */
	raw[0] = 1;
	raw[1] = 0;
	memcpy(raw + WARD_SUN_PATH_OFF, path, len);
}

static struct ward_unix_key rules[4];
static struct ward_unix_val vals[4];
static size_t n_rules;

static void rule(uint64_t dev, uint64_t ino, const char *path, uint32_t flags)
{
	struct ward_unix_key *k = &rules[n_rules];

	memset(k, 0, sizeof(*k));
	k->dev = dev;
	k->ino = ino;
	memcpy(k->path, path, strlen(path));
	vals[n_rules] = (struct ward_unix_val){ .pol = (uint32_t)n_rules, .flags = flags };
	n_rules++;
}

static const struct ward_unix_val *lookup(const struct ward_unix_key *k)
{
	for (size_t i = 0; i < n_rules; i++)
		if (!memcmp(&rules[i], k, sizeof(*k)))
			return &vals[i];
	return NULL;
}

/* the program's whole decision for (identity, depth, raw address) */
static int decide(uint32_t tgid, uint64_t dev, uint64_t ino, uint32_t depth, char *raw,
		  uint32_t addrlen, uint8_t *reason)
{
	struct ward_unix_key k = { .dev = dev, .ino = ino };
	uint8_t flags;
	int kind = ward_unix_path_from(k.path, raw, addrlen, &flags);

	return ward_unix_decide(&cfg, tgid, kind, flags,
				kind == WARD_UNIX_ADDR_PATH && ward_unix_match(lookup(&k), depth),
				reason);
}

static int setup(void **state)
{
	n_rules = 0;
	rule(1, 10, "/run/user/1000/ssh-agent.sock", 0);
	rule(1, 20, "/tmp/tools.sock", WARD_IDENT_ANCESTORS);
	return 0;
}

static void path_is_cut_where_the_kernel_cuts_it(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1], dst[WARD_UNIX_PATH_MAX];
	uint8_t flags;

	/* no NUL: addrlen ends it (CPython without the NUL, Go with it) */
	addr(raw, "/tmp/a.sock", 11);
	assert_int_equal(ward_unix_path_from(dst, raw, 2 + 11, &flags), WARD_UNIX_ADDR_PATH);
	assert_string_equal(dst, "/tmp/a.sock");
	assert_int_equal(flags, 0);
	for (size_t i = 11; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0); /* padding is zero: equal strings, equal keys */
	/* a NUL inside addrlen ends it earlier; what follows is ignored */
	addr(raw, "/tmp/a.sock\0/etc", 16);
	assert_int_equal(ward_unix_path_from(dst, raw, 2 + 16, &flags), WARD_UNIX_ADDR_PATH);
	assert_string_equal(dst, "/tmp/a.sock");
	/* sizeof(struct sockaddr_un) with a short path (libuv, many C clients) */
	addr(raw, "/tmp/a.sock\0", 12);
	memset(raw + WARD_SUN_PATH_OFF + 12, 0, WARD_UNIX_PATH_MAX - 12);
	assert_int_equal(ward_unix_path_from(dst, raw, 110, &flags), WARD_UNIX_ADDR_PATH);
	assert_string_equal(dst, "/tmp/a.sock");
	/* relative paths are marked */
	addr(raw, "a.sock", 6);
	assert_int_equal(ward_unix_path_from(dst, raw, 8, &flags), WARD_UNIX_ADDR_PATH);
	assert_true(flags & WARD_UNIX_EV_RELATIVE);
}

static void abstract_and_unnamed(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1], dst[WARD_UNIX_PATH_MAX];
	uint8_t flags;

	addr(raw, "\0/tmp/a.sock", 12);
	assert_int_equal(ward_unix_path_from(dst, raw, 2 + 12, &flags), WARD_UNIX_ADDR_ABSTRACT);
	addr(raw, "", 0);
	assert_int_equal(ward_unix_path_from(dst, raw, 2, &flags), WARD_UNIX_ADDR_UNNAMED);
	assert_int_equal(ward_unix_path_from(dst, raw, 0, &flags), WARD_UNIX_ADDR_UNNAMED);
}

static void a_108_byte_path_never_matches_a_shorter_name(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1], dst[WARD_UNIX_PATH_MAX], p[109];
	uint8_t flags, reason;

	/* a named path of 107 bytes, asked with one more byte and no NUL: the
	 * kernel resolves all 108 bytes, another file */
	memset(p, 'a', 108);
	p[0] = '/';
	p[107] = 'x';
	p[108] = '\0';
	n_rules = 0;
	{
		char named[108];

		memcpy(named, p, 107);
		named[107] = '\0';
		rule(1, 10, named, 0);
	}
	addr(raw, p, 108);
	assert_int_equal(ward_unix_path_from(dst, raw, 110, &flags), WARD_UNIX_ADDR_PATH);
	assert_true(flags & WARD_UNIX_EV_LONG);
	assert_int_equal(decide(7, 1, 10, 0, raw, 110, &reason), WARD_VERDICT_DENY);
	assert_int_equal(reason, WARD_UNIX_REASON_NOT_NAMED);
}

static void named_path_for_the_binary_only(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1];
	const char *agent = "/run/user/1000/ssh-agent.sock";
	uint8_t reason;

	addr(raw, agent, strlen(agent));
	/* the named binary */
	assert_int_equal(decide(7, 1, 10, 0, raw, 2 + strlen(agent), &reason), WARD_VERDICT_ALLOW);
	assert_int_equal(reason, WARD_UNIX_REASON_NAMED);
	assert_true(ward_unix_reported(reason));
	/* another binary: same path, refused */
	assert_int_equal(decide(7, 1, 11, 0, raw, 2 + strlen(agent), &reason), WARD_VERDICT_DENY);
	assert_int_equal(reason, WARD_UNIX_REASON_NOT_NAMED);
	assert_true(ward_unix_reported(reason));
	/* a longer string that starts with the named one */
	addr(raw, "/run/user/1000/ssh-agent.sock2", 30);
	assert_int_equal(decide(7, 1, 10, 0, raw, 32, &reason), WARD_VERDICT_DENY);
}

static void strings_that_resolve_to_it_are_not_it(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1];
	const char *const asked[] = { "ssh-agent.sock", "/run/user/1000/./ssh-agent.sock",
				      "/run/user//1000/ssh-agent.sock",
				      "/tmp/../run/user/1000/ssh-agent.sock" };
	uint8_t reason;

	/* by string only: the broker resolves these; the backstop refuses them */
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		addr(raw, asked[i], strlen(asked[i]));
		assert_int_equal(decide(7, 1, 10, 0, raw, 2 + (uint32_t)strlen(asked[i]), &reason),
				 WARD_VERDICT_DENY);
	}
}

static void ancestors_only_when_the_entry_says_so(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1];
	const char *agent = "/run/user/1000/ssh-agent.sock", *tools = "/tmp/tools.sock";
	uint8_t reason;

	addr(raw, agent, strlen(agent));
	assert_int_equal(decide(7, 1, 10, 1, raw, 2 + strlen(agent), &reason), WARD_VERDICT_DENY);
	addr(raw, tools, strlen(tools));
	assert_int_equal(decide(7, 1, 20, 2, raw, 2 + strlen(tools), &reason), WARD_VERDICT_ALLOW);
	assert_false(ward_unix_match(NULL, 0));
}

static void broker_and_abstract_pass_without_a_row(void **state)
{
	char raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX + 1];
	uint8_t reason;

	addr(raw, "/var/run/docker.sock", 20);
	assert_int_equal(decide(4242, 9, 9, 0, raw, 22, &reason), WARD_VERDICT_ALLOW);
	assert_int_equal(reason, WARD_UNIX_REASON_BROKER);
	assert_false(ward_unix_reported(reason));
	addr(raw, "\0x11-unix/X0", 12);
	assert_int_equal(decide(7, 9, 9, 0, raw, 14, &reason), WARD_VERDICT_ALLOW);
	assert_int_equal(reason, WARD_UNIX_REASON_ABSTRACT);
	assert_false(ward_unix_reported(reason));
	/* no broker configured (0): pid 0 is nobody's */
	{
		const struct ward_unix_cfg none = { 0 };

		addr(raw, "/var/run/docker.sock", 20);
		assert_int_equal(ward_unix_decide(&none, 0, WARD_UNIX_ADDR_PATH, 0, 0, &reason),
				 WARD_VERDICT_DENY);
	}
	assert_string_equal(ward_unix_reason_str(WARD_UNIX_REASON_NOT_NAMED),
			    "unix socket path not named by the policy");
	assert_string_equal(ward_unix_reason_str(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(path_is_cut_where_the_kernel_cuts_it, setup),
		cmocka_unit_test_setup(abstract_and_unnamed, setup),
		cmocka_unit_test_setup(a_108_byte_path_never_matches_a_shorter_name, setup),
		cmocka_unit_test_setup(named_path_for_the_binary_only, setup),
		cmocka_unit_test_setup(strings_that_resolve_to_it_are_not_it, setup),
		cmocka_unit_test_setup(ancestors_only_when_the_entry_says_so, setup),
		cmocka_unit_test_setup(broker_and_abstract_pass_without_a_row, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
