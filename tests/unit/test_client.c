// SPDX-License-Identifier: MIT
/* policy/client.h: who may use inference.local, as a whole and per client.
 * The cases are those each former copy of this decision made (the DNS stub,
 * replay, the kernel configuration, the inference handler); the DNS
 * decision's own cases are in test_dns.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/client.h"
#include "policy/policy.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct ward_policy *load(const char *yaml)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };

	assert_int_equal(ward_policy_load_buffer("t.yaml", yaml, strlen(yaml), &p, &d, &err), 0);
	ward_diags_free(&d);
	return p;
}

#define ROUTES                                                                                     \
	"inference:\n"                                                                             \
	"  routes:\n"                                                                              \
	"    - { name: default, provider: anthropic, model: m, api_key_env: K }\n"

static const char no_routes[] = "version: 1\n"
				"network_policies:\n"
				"  gh:\n"
				"    binaries: [{ path: /usr/bin/curl }]\n"
				"    endpoints: [{ host: api.github.com, port: 443 }]\n";

static const char every_binary[] = "version: 1\n" ROUTES;

static const char listed[] =
	"version: 1\n" ROUTES
	"  binaries: [{ path: /usr/bin/agent }, { path: \"/opt/*/bin/agent\" },\n"
	"             { path: /usr/bin/bash, ancestors: true },\n"
	"             { path: /usr/bin/make },\n"
	"             { sha256: " SHA_A " }]\n";

static enum ward_inference_verdict ask(const struct ward_policy *p, const char *binary,
				       const char *via, const char *sha)
{
	struct ward_client who = { .binary = binary, .via = via, .sha256 = sha };

	return ward_decide_inference(p, &who);
}

static void scope_follows_routes_and_list(void **state)
{
	struct ward_policy *a = load(no_routes), *b = load(every_binary), *c = load(listed);

	(void)state;
	assert_int_equal(ward_inference_scope(a), WARD_INFERENCE_NOBODY);
	assert_int_equal(ward_inference_scope(b), WARD_INFERENCE_EVERY_BINARY);
	assert_int_equal(ward_inference_scope(c), WARD_INFERENCE_LISTED);
	ward_policy_free(a);
	ward_policy_free(b);
	ward_policy_free(c);
}

static void no_routes_nobody(void **state)
{
	struct ward_policy *p = load(no_routes);

	(void)state;
	/* a binary with network policy still may not: there is nowhere to route */
	assert_int_equal(ask(p, "/usr/bin/curl", NULL, NULL), WARD_INFERENCE_NO_ROUTES);
	assert_int_equal(ask(p, NULL, NULL, NULL), WARD_INFERENCE_NO_ROUTES);
	assert_string_equal(ward_inference_verdict_str(WARD_INFERENCE_NO_ROUTES),
			    "no inference routes");
	ward_policy_free(p);
}

static void routes_without_list_every_binary(void **state)
{
	struct ward_policy *p = load(every_binary);

	(void)state;
	assert_int_equal(ask(p, "/usr/bin/curl", NULL, NULL), WARD_INFERENCE_ALLOW);
	assert_int_equal(ask(p, "/tmp/anything", "/usr/bin/bash", SHA_B), WARD_INFERENCE_ALLOW);
	/* the kernel admits every process of the sandbox (WARD_CFG_INFERENCE_ALL) */
	assert_int_equal(ask(p, NULL, NULL, NULL), WARD_INFERENCE_ALLOW);
	assert_string_equal(ward_inference_verdict_str(WARD_INFERENCE_ALLOW), "");
	ward_policy_free(p);
}

static void listed_by_path_content_or_ancestor(void **state)
{
	struct ward_policy *p = load(listed);

	(void)state;
	/* by path, globs as in binaries everywhere */
	assert_int_equal(ask(p, "/usr/bin/agent", NULL, NULL), WARD_INFERENCE_ALLOW);
	assert_int_equal(ask(p, "/opt/x/bin/agent", NULL, NULL), WARD_INFERENCE_ALLOW);
	assert_int_equal(ask(p, "/opt/x/y/bin/agent", NULL, NULL), WARD_INFERENCE_NOT_LISTED);
	assert_int_equal(ask(p, "/usr/bin/curl", NULL, NULL), WARD_INFERENCE_NOT_LISTED);
	assert_string_equal(ward_inference_verdict_str(WARD_INFERENCE_NOT_LISTED),
			    "binary may not use inference.local");
	/* unknown: nothing to match */
	assert_int_equal(ask(p, NULL, NULL, NULL), WARD_INFERENCE_NOT_LISTED);
	assert_int_equal(ask(p, "inode 8:1:1234", NULL, NULL), WARD_INFERENCE_NOT_LISTED);
	/* a child: through an ancestors: true entry only (make's does not extend) */
	assert_int_equal(ask(p, "/tmp/copy-of-curl", "/usr/bin/bash", NULL), WARD_INFERENCE_ALLOW);
	assert_int_equal(ask(p, "/tmp/copy-of-curl", "/usr/bin/make", NULL),
			 WARD_INFERENCE_NOT_LISTED);
	/* make itself is listed */
	assert_int_equal(ask(p, "/usr/bin/make", NULL, NULL), WARD_INFERENCE_ALLOW);
	/* by content, wherever the file is; another content is not */
	assert_int_equal(ask(p, "/home/u/.cache/agent-copy", NULL, SHA_A), WARD_INFERENCE_ALLOW);
	assert_int_equal(ask(p, "/home/u/.cache/agent-copy", NULL, SHA_B),
			 WARD_INFERENCE_NOT_LISTED);
	/* a content entry never matches by path (its path is NULL) */
	assert_int_equal(ask(p, "/home/u/.cache/agent-copy", NULL, NULL),
			 WARD_INFERENCE_NOT_LISTED);
	ward_policy_free(p);
}

/* The kernel identity's form: empty fields are absent, never "" matches. */
static void client_from_peer_ident(void **state)
{
	struct ward_policy *p = load(listed);
	struct ward_peer_ident id = { 0 };
	struct ward_client c;

	(void)state;
	c = ward_client_from_peer(&id);
	assert_null(c.binary);
	assert_null(c.via);
	assert_null(c.sha256);
	assert_null(c.keys);
	snprintf(id.binary, sizeof(id.binary), "/tmp/copy-of-curl");
	snprintf(id.via, sizeof(id.via), "/usr/bin/bash");
	snprintf(id.keys, sizeof(id.keys), "gh,npm");
	snprintf(id.exe_sha, sizeof(id.exe_sha), SHA_B);
	c = ward_client_from_peer(&id);
	assert_string_equal(c.binary, "/tmp/copy-of-curl");
	assert_string_equal(c.via, "/usr/bin/bash");
	assert_string_equal(c.keys, "gh,npm");
	assert_string_equal(c.sha256, SHA_B);
	assert_int_equal(ward_decide_inference(p, &c), WARD_INFERENCE_ALLOW);
	id.via[0] = '\0';
	c = ward_client_from_peer(&id);
	assert_int_equal(ward_decide_inference(p, &c), WARD_INFERENCE_NOT_LISTED);
	ward_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scope_follows_routes_and_list),
		cmocka_unit_test(no_routes_nobody),
		cmocka_unit_test(routes_without_list_every_binary),
		cmocka_unit_test(listed_by_path_content_or_ancestor),
		cmocka_unit_test(client_from_peer_ident),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
