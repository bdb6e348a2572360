// SPDX-License-Identifier: MIT
/* Environment names: what looks like a secret, the glob, and which of ward's
 * variables pass to the command (core set, exact and glob pass entries; a
 * secret-like name never through a glob). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy/env.h"

static void test_secret_like(void **state)
{
	static const char *const secret[] = {
		"AWS_SECRET_ACCESS_KEY",
		"AWS_REGION",
		"GITHUB_TOKEN",
		"GH_TOKEN",
		"GH_HOST",
		"OPENAI_API_KEY",
		"anthropic_api_key",
		"DB_PASSWORD",
		"MYSQL_PASSWD",
		"GPG_PASSPHRASE",
		"GOOGLE_APPLICATION_CREDENTIALS",
		"NPM_CONFIG__AUTH",
		"SSH_AUTH_SOCK",
		"BROWSER_COOKIE",
		"SESSION_ID",
		"AZURE_CLIENT_ID",
		"GITLAB_CI_JOB",
		"VAULT_ADDR",
		"DATABASE_URL",
		"SIGNING_PRIVATE_PEM",
		"Npm_Token",
		"x_credentials_file",
	};
	static const char *const plain[] = { "PATH",	    "HOME",   "LANG",	    "LC_ALL",
					     "TERM",	    "EDITOR", "PYTHONPATH", "NODE_ENV",
					     "GOPATH",	    "CI",     "GHOST",	    "AWSOME",
					     "WARD_SANDBOX" };

	for (size_t i = 0; i < sizeof(secret) / sizeof(*secret); i++) {
		print_message("%s\n", secret[i]);
		assert_true(ward_env_secret_like(secret[i]));
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
		print_message("%s\n", plain[i]);
		assert_false(ward_env_secret_like(plain[i]));
	}
}

static void test_glob(void **state)
{
	assert_true(ward_env_glob_match("NODE_*", "NODE_ENV"));
	assert_true(ward_env_glob_match("NODE_*", "NODE_"));
	assert_false(ward_env_glob_match("NODE_*", "NODE"));
	assert_false(ward_env_glob_match("NODE_*", "XNODE_ENV"));
	assert_true(ward_env_glob_match("*_HOME", "JAVA_HOME"));
	assert_true(ward_env_glob_match("A*B*C", "AxxBxxBxC"));
	assert_false(ward_env_glob_match("A*B*C", "AxxBxxBx"));
	assert_true(ward_env_glob_match("*", "ANYTHING"));
	assert_true(ward_env_glob_match("EXACT", "EXACT"));
	assert_false(ward_env_glob_match("EXACT", "EXACTLY"));
	assert_false(ward_env_glob_match("exact", "EXACT"));
}

static void test_passes(void **state)
{
	struct ward_env_pass pass[] = {
		{ .pattern = (char *)"NODE_*", .glob = true },
		{ .pattern = (char *)"GITHUB_TOKEN", .glob = false },
		{ .pattern = (char *)"*", .glob = true },
		{ .pattern = (char *)"MY_*", .glob = true },
	};
	struct ward_policy p = { .env_pass = pass, .n_env_pass = 2 };

	/* the core set, with or without a policy */
	static const char *const core[] = { "PATH",	   "HOME",   "USER",	  "LOGNAME",
					    "SHELL",	   "TERM",   "COLORTERM", "LANG",
					    "LANGUAGE",	   "LC_ALL", "LC_CTYPE",  "TZ",
					    "WARD_SANDBOX" };
	struct ward_policy none = { 0 };

	for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++) {
		assert_true(ward_env_passes(&none, core[i]));
		assert_true(ward_env_passes(&p, core[i]));
	}
	assert_false(ward_env_passes(&none, "EDITOR"));
	assert_false(ward_env_passes(&none, "AWS_SECRET_ACCESS_KEY"));
	assert_false(ward_env_passes(&none, "GITHUB_TOKEN"));

	assert_true(ward_env_passes(&p, "NODE_ENV"));
	assert_false(ward_env_passes(&p, "NODE_AUTH_TOKEN")); /* glob: never a secret */
	assert_true(ward_env_passes(&p, "GITHUB_TOKEN"));     /* exact name: passes */
	assert_false(ward_env_passes(&p, "GITHUB_TOKEN_2"));
	assert_false(ward_env_passes(&p, "GH_TOKEN"));

	p.n_env_pass = 4; /* "*" passes everything that does not look like a secret */
	assert_true(ward_env_passes(&p, "EDITOR"));
	assert_false(ward_env_passes(&p, "AWS_SECRET_ACCESS_KEY"));
	assert_false(ward_env_passes(&p, "MY_SECRET"));
	assert_true(ward_env_passes(&p, "MY_VAR"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_like),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
