// SPDX-License-Identifier: MIT
/* Replay, suggest and OCSF over logs built through the audit API: exactly
 * the decisions that change, the rows that cannot be replayed and why, the
 * kernel rows through the BPF decision code, the suggested policy compiling
 * and turning the observed denials into allows.
 *
 * The binary also builds logs for the shell tests and the benchmark:
 *   test_replay --scenario DB DIR      the scenario log; DIR/a.yaml (the policy
 *                                      it ran with) and DIR/b.yaml (a change)
 *   test_replay --bulk N DB DIR        N rows drawn from the scenario, ~1000
 *                                      distinct requests (replay benchmark)
 *   test_replay --bench-write N DB     rows/s the writer sustains */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/ocsf.h"
#include "audit/replay.h"
#include "audit/replay_internal.h"
#include "audit/suggest.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/egress.h"
#include "policy/policy.h"
#include "ward/abi.h"

static const char policy_a[] = "version: 1\n"
			       "filesystem_policy:\n"
			       "  include_workdir: true\n"
			       "  read_only: [/usr, /lib, /etc]\n"
			       "  read_write: [/tmp]\n"
			       "network_policies:\n"
			       "  github:\n"
			       "    binaries: [{ path: /usr/bin/git }, { path: /usr/bin/curl }]\n"
			       "    endpoints:\n"
			       "      - host: api.github.com\n"
			       "        port: 443\n"
			       "        protocol: rest\n"
			       "        rules:\n"
			       "          - allow: { method: GET, path: \"/repos/**\" }\n"
			       "  pypi:\n"
			       "    binaries: [{ path: \"/usr/bin/python3*\" }]\n"
			       "    endpoints:\n"
			       "      - { host: pypi.org, port: 443 }\n"
			       "      - { host: \"*.pythonhosted.org\", port: 443 }\n";

/* curl keeps GET and may now POST issues and reach example.com; pypi is gone. */
static const char policy_b[] = "version: 1\n"
			       "network_policies:\n"
			       "  example:\n"
			       "    binaries: [{ path: /usr/bin/curl }]\n"
			       "    endpoints:\n"
			       "      - { host: example.com, port: 443 }\n"
			       "      - unix: /run/agent.sock\n"
			       "  github:\n"
			       "    binaries: [{ path: /usr/bin/curl }]\n"
			       "    endpoints:\n"
			       "      - host: api.github.com\n"
			       "        port: 443\n"
			       "        protocol: rest\n"
			       "        rules:\n"
			       "          - allow: { method: GET, path: \"/repos/**\" }\n"
			       "          - allow: { method: POST, path: \"/repos/*/*/issues\" }\n";

#define CURL "/usr/bin/curl"
#define PY "/usr/bin/python3.11"
#define D(...) ((struct ward_decision){ .sandbox = "sb1", __VA_ARGS__ })

/* What a session under policy_a logs (the live path's rule and reason texts). */
static const struct ward_decision scenario[] = {
	D(.layer = "lifecycle", .action = "audit", .rule = "start", .reason = "sandbox started"),
	D(.layer = "kernel", .action = "allow", .binary = CURL, .pid = 10, .ip = "10.0.0.1",
	  .port = 3128, .protocol = "tcp", .rule = "github", .reason = "to the proxy"),
	D(.layer = "l7", .action = "allow", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 443, .protocol = "https", .method = "GET", .path = "/repos/a/b", .rule = "github",
	  .reason = "allowed by github"),
	D(.layer = "l7", .action = "allow", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 443, .protocol = "https", .method = "GET", .path = "/repos/a/b/pulls/17",
	  .rule = "github", .reason = "allowed by github"),
	D(.layer = "l7", .action = "deny", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 443, .protocol = "https", .method = "POST", .path = "/repos/a/b/issues",
	  .rule = "github", .reason = "POST /repos/a/b/issues not allowed on api.github.com"),
	D(.layer = "proxy", .action = "allow", .binary = PY, .pid = 11, .host = "pypi.org",
	  .port = 443, .protocol = "tls", .rule = "pypi", .reason = "allowed by pypi"),
	D(.layer = "proxy", .action = "deny", .binary = CURL, .pid = 10, .host = "example.com",
	  .port = 443, .protocol = "tls", .rule = "github",
	  .reason = "host example.com not allowed for binary /usr/bin/curl"),
	D(.layer = "dns", .action = "allow", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 53, .protocol = "udp", .rule = "github", .reason = "host allowed"),
	D(.layer = "dns", .action = "deny", .binary = CURL, .pid = 10, .host = "evil.example.com",
	  .port = 53, .protocol = "udp",
	  .reason = "no policy entry of this binary allows the name"),
	D(.layer = "dns", .action = "allow", .binary = PY, .pid = 11, .host = "pypi.org",
	  .port = 53, .protocol = "udp", .rule = "pypi", .reason = "host allowed"),
	D(.layer = "kernel", .action = "allow", .binary = CURL, .pid = 10, .ip = "140.82.112.5",
	  .port = 443, .protocol = "tcp", .rule = "github", .reason = "redirect to proxy"),
	D(.layer = "kernel", .action = "deny", .binary = "/usr/bin/wget", .pid = 12,
	  .ip = "93.184.216.34", .port = 443, .protocol = "tcp",
	  .reason = "binary has no network policy"),
	D(.layer = "kernel", .action = "deny", .binary = CURL, .pid = 10, .ip = "93.184.216.34",
	  .port = 22, .protocol = "tcp", .rule = "github",
	  .reason = "port in none of the binary's endpoints"),
	D(.layer = "fs", .action = "deny", .binary = CURL, .pid = 10, .path = "/root/.ssh/id_rsa",
	  .reason = "EACCES"),
	/* operational failures: not policy decisions */
	D(.layer = "l7", .action = "deny", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 443, .protocol = "https", .rule = "github", .reason = "upstream connect timeout"),
	D(.layer = "proxy", .action = "deny", .binary = CURL, .pid = 10, .host = "api.github.com",
	  .port = 443, .protocol = "tls", .rule = "github",
	  .reason = "cannot resolve api.github.com: no such name"),
	D(.layer = "lifecycle", .action = "audit", .rule = "exit", .reason = "status 0"),
};

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static struct ward_policy *compile(const char *name, const char *text)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	int r = ward_policy_load_buffer(name, text, strlen(text), &p, &d, &err);

	if (r < 0) {
		ward_diags_print(&d, stderr);
		fprintf(stderr, "%s: %s\n", name, err.msg);
	}
	ward_diags_free(&d);
	return r < 0 ? NULL : p;
}

static int submit_retry(struct ward_audit *a, const struct ward_decision *d)
{
	int r;

	/* the queue is bounded: a generator outruns the writer, so wait for it */
	while ((r = ward_audit_submit(a, d)) == -EAGAIN)
		ward_audit_flush(a);
	return r;
}

/* The scenario, `times` times over (bulk: paths varied over 1000 values). */
static int gen_log(const char *db, uint64_t times, bool vary)
{
	struct ward_policy *a = compile("a.yaml", policy_a);
	struct ward_audit *log = NULL;
	struct ward_error err = { 0 };
	char path[64];
	int r;

	if (!a)
		return -EINVAL;
	r = ward_audit_open(db, &log, &err);
	if (r >= 0)
		r = ward_audit_store_policy(log, a, &err);
	for (uint64_t n = 0; r >= 0 && n < times; n++) {
		for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(scenario); i++) {
			struct ward_decision d = scenario[i];

			d.policy_rev = d.layer && strcmp(d.layer, "lifecycle") ? a->rev : NULL;
			if (vary && d.path && !strcmp(d.path, "/repos/a/b/pulls/17")) {
				snprintf(path, sizeof(path), "/repos/a/b/pulls/%u",
					 (unsigned)(n % 1000));
				d.path = path;
			}
			r = submit_retry(log, &d);
		}
	}
	if (r < 0)
		fprintf(stderr, "gen: %s\n", err.msg[0] ? err.msg : strerror(-r));
	if (ward_audit_close(log) < 0 && r >= 0)
		r = -EIO;
	ward_policy_free(a);
	return r;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	return ward_test_db_setup(state, "replay");
}

static int teardown(void **state)
{
	return ward_test_db_teardown(state);
}

static const struct ward_replay_group *find_group(const struct ward_replay_report *rep,
						  const char *layer, const char *from,
						  const char *to)
{
	for (size_t i = 0; i < rep->n_groups; i++)
		if (!strcmp(rep->groups[i].layer, layer) && !strcmp(rep->groups[i].from, from) &&
		    !strcmp(rep->groups[i].to, to))
			return &rep->groups[i];
	return NULL;
}

static uint64_t skips(const struct ward_replay_report *rep, const char *prefix)
{
	uint64_t n = 0;

	for (size_t i = 0; i < rep->n_skips; i++)
		if (!strncmp(rep->skips[i].reason, prefix, strlen(prefix)))
			n += rep->skips[i].count;
	return n;
}

/* ---- tests ---- */

static void test_kernel_reasons_agree(void **state)
{
	(void)state;
	/* replay reads a row's reason back into its code (replay_kernel.c): each
	 * code needs a text of its own, or two verdicts would replay as one */
	for (unsigned i = 1; i < WARD_REASON_MAX; i++) {
		assert_string_not_equal(replay_kernel_reason_str(i), "unknown");
		assert_string_equal(replay_kernel_reason_str(i), ward_egress_reason_str(i));
		for (unsigned j = 1; j < i; j++)
			assert_string_not_equal(replay_kernel_reason_str(i),
						replay_kernel_reason_str(j));
	}
}

static void test_decide_rows(void **state)
{
	struct ward_policy *a = compile("a", policy_a), *b = compile("b", policy_b);
	struct ward_replay_decision d;
	struct ward_audit_row r;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	/* kernel: binary without policy, then with; port narrowing */
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "deny",
				     .binary = "/usr/bin/wget",
				     .ip = "93.184.216.34",
				     .has_port = true,
				     .port = 443,
				     .protocol = "tcp",
				     .reason = "binary has no network policy" };
	assert_int_equal(ward_replay_decide_row(a, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_string_equal(d.reason, "binary has no network policy");
	r.binary = CURL;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "example,github");
	assert_string_equal(d.reason, "redirect to proxy");
	r.port = 22;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_string_equal(d.reason, "port in none of the binary's endpoints");
	/* the proxy's own address: allowed for a binary with policy, whatever the port */
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "allow",
				     .binary = PY,
				     .ip = "10.0.0.1",
				     .has_port = true,
				     .port = 3128,
				     .protocol = "tcp",
				     .reason = "to the proxy" };
	assert_int_equal(ward_replay_decide_row(a, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny"); /* python has no policy under b */
	/* UDP other than DNS is always refused */
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "deny",
				     .binary = CURL,
				     .ip = "1.1.1.1",
				     .has_port = true,
				     .port = 443,
				     .protocol = "udp",
				     .reason = "udp other than dns to the stub" };
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	r.reason = "connection table full";
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	r.ip = NULL;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	assert_non_null(strstr(d.skip, "missing"));

	/* l7 through decide.c, path normalised as the proxy does */
	r = (struct ward_audit_row){ .layer = "l7",
				     .action = "deny",
				     .binary = CURL,
				     .host = "api.github.com",
				     .has_port = true,
				     .port = 443,
				     .method = "POST",
				     .path = "/repos/a//b/issues" };
	assert_int_equal(ward_replay_decide_row(a, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "github");
	r.method = NULL;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);

	/* dns through the stub's decision */
	r = (struct ward_audit_row){
		.layer = "dns", .action = "allow", .binary = PY, .host = "files.pythonhosted.org"
	};
	assert_int_equal(ward_replay_decide_row(a, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "pypi");
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny");

	/* unix: named for curl under b only; sandbox-made sockets and counters skipped */
	r = (struct ward_audit_row){
		.layer = "unix", .action = "deny", .binary = CURL, .path = "/run/agent.sock"
	};
	assert_int_equal(ward_replay_decide_row(a, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "example");
	r.binary = PY;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	r.binary = CURL;
	r.path = "/run/other.sock";
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	r = (struct ward_audit_row){
		.layer = "unix", .action = "allow", .binary = CURL, .path = "/tmp/app.sock"
	};
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	r.path = NULL;
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);

	/* bookkeeping rows are not decisions */
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "deny",
				     .rule = "events_dropped",
				     .reason = "3 events dropped (ring buffer full)" };
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	assert_non_null(strstr(d.skip, "drop counter"));
	r = (struct ward_audit_row){ .layer = "l7",
				     .action = "deny",
				     .binary = CURL,
				     .host = "api.github.com",
				     .has_port = true,
				     .port = 443,
				     .method = "GET",
				     .path = "/repos/a/b",
				     .rule = "credential:gh" };
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);

	/* never replayed */
	r = (struct ward_audit_row){ .layer = "fs", .action = "deny" };
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	r.layer = "nft";
	assert_int_equal(ward_replay_decide_row(b, &r, &d), 1);
	ward_policy_free(a);
	ward_policy_free(b);
}

/* A row names the executable that acted and, for ancestors: true, the
 * ancestor that decided in via: replay decides by via only when the policy
 * names the acting binary nowhere and names via with ancestors: true. */
static void test_decide_via(void **state)
{
	static const char pol[] = "version: 1\n"
				  "network_policies:\n"
				  "  shell:\n"
				  "    binaries: [{ path: /usr/bin/bash, ancestors: true }]\n"
				  "    endpoints: [{ host: example.com, port: 443 }]\n"
				  "  plain:\n"
				  "    binaries: [{ path: /usr/bin/sh }]\n"
				  "    endpoints: [{ host: example.org, port: 443 }]\n";
	struct ward_policy *p = compile("via", pol);
	struct ward_replay_decision d;
	struct ward_audit_row r;

	(void)state;
	assert_non_null(p);
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "allow",
				     .binary = "/home/u/.codex/bin/curl",
				     .via = "/usr/bin/bash",
				     .ip = "93.184.216.34",
				     .has_port = true,
				     .port = 443,
				     .protocol = "tcp",
				     .reason = "redirect to proxy" };
	assert_string_equal(ward_replay_decider(p, &r), "/usr/bin/bash");
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "shell");
	/* the proxy row of the same connection */
	r = (struct ward_audit_row){ .layer = "proxy",
				     .action = "allow",
				     .binary = "/home/u/.codex/bin/curl",
				     .via = "/usr/bin/bash",
				     .host = "example.com",
				     .has_port = true,
				     .port = 443 };
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	/* without via, the copy has no policy */
	r.via = NULL;
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	/* via names a binary without ancestors: true: not a decider */
	r.via = "/usr/bin/sh";
	r.host = "example.org";
	assert_string_equal(ward_replay_decider(p, &r), "/home/u/.codex/bin/curl");
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	/* a binary the policy names decides as itself, whatever via says */
	r.binary = "/usr/bin/sh";
	r.via = "/usr/bin/bash";
	r.host = "example.com";
	assert_string_equal(ward_replay_decider(p, &r), "/usr/bin/sh");
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	ward_policy_free(p);
}

/* inference.local in replay: the same decision as the live path's
 * (ward_decide_inference): the DNS stub's answer and the kernel's admission
 * to the proxy's explicit port, by path, by ancestor (ancestors: true) and
 * by the logged content (binary_sha256). */
static void test_decide_inference(void **state)
{
	static const char listed[] =
		"version: 1\n"
		"inference:\n"
		"  routes:\n"
		"    - { name: default, provider: anthropic, model: m, api_key_env: K }\n"
		"  binaries: [{ path: /usr/bin/agent }, { path: /usr/bin/bash, ancestors: true },\n"
		"             { sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa }]\n";
	static const char none[] = "version: 1\n";
	struct ward_policy *p = compile("listed", listed), *q = compile("none", none);
	struct ward_replay_decision d;
	struct ward_audit_row r;

	(void)state;
	assert_non_null(p);
	assert_non_null(q);
	r = (struct ward_audit_row){ .layer = "dns",
				     .action = "allow",
				     .binary = "/usr/bin/agent",
				     .host = "inference.local" };
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "inference");
	assert_int_equal(ward_replay_decide_row(q, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_string_equal(d.reason, "no inference routes");
	r.binary = "/usr/bin/curl";
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_string_equal(d.reason, "binary may not use inference.local");
	/* a child of bash (the logged via decides under p) */
	r.via = "/usr/bin/bash";
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	/* by content, wherever the file was */
	r.via = NULL;
	r.binary = "/home/u/agent-copy";
	r.binary_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");

	/* the kernel: to the proxy's explicit port for inference.local */
	r = (struct ward_audit_row){ .layer = "kernel",
				     .action = "allow",
				     .binary = "/usr/bin/agent",
				     .ip = "10.0.0.1",
				     .has_port = true,
				     .port = 3128,
				     .protocol = "tcp",
				     .rule = "inference",
				     .reason = "to the proxy for inference.local" };
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	assert_string_equal(d.rule, "inference");
	assert_string_equal(d.reason, "to the proxy for inference.local");
	assert_int_equal(ward_replay_decide_row(q, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	assert_string_equal(d.reason, "binary has no network policy");
	r.binary = "/usr/bin/curl";
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "deny");
	r.via = "/usr/bin/bash";
	assert_int_equal(ward_replay_decide_row(p, &r, &d), 0);
	assert_string_equal(d.action, "allow");
	ward_policy_free(p);
	ward_policy_free(q);
}

static void test_replay_scenario(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_policy *b = compile("b", policy_b), *a = compile("a", policy_a);
	struct ward_replay_opts o = { .max_examples = 5 };
	struct ward_replay_report rep;
	struct ward_error err = { 0 };
	const struct ward_replay_group *g;

	(void)state;
	assert_int_equal(gen_log(f->db, 2, false), 0);
	assert_int_equal(ward_replay(f->db, b, &o, &rep, &err), 0);
	assert_int_equal(rep.rows, 2 * ARRAY_SIZE(scenario));
	/* per pass: l7 POST deny->allow, proxy example.com deny->allow,
	 * proxy pypi allow->deny, dns pypi allow->deny */
	assert_int_equal(rep.changed, 8);
	assert_int_equal(rep.deny_to_allow, 4);
	assert_int_equal(rep.allow_to_deny, 4);
	assert_int_equal(rep.other_changes, 0);
	assert_int_equal(rep.n_groups, 4);
	/* unchanged: 2 l7 GET, dns github allow, dns evil deny, 4 kernel rows */
	assert_int_equal(rep.unchanged, 2 * 8);
	assert_int_equal(rep.skipped, 2 * 5);
	assert_int_equal(skips(&rep, "lifecycle"), 4);
	assert_int_equal(skips(&rep, "fs"), 2);
	assert_int_equal(skips(&rep, "l7: no request"), 2);
	assert_int_equal(skips(&rep, "not reproducible"), 2);

	g = find_group(&rep, "l7", "deny", "allow");
	assert_non_null(g);
	assert_int_equal(g->count, 2);
	assert_string_equal(g->old_rule, "github");
	assert_string_equal(g->new_rule, "github");
	assert_int_equal(g->n_examples, 2);
	assert_string_equal(g->examples[0].method, "POST");
	assert_string_equal(g->examples[0].path, "/repos/a/b/issues");
	assert_int_equal(g->examples[0].id, 5);
	assert_int_equal(g->examples[1].id, 5 + ARRAY_SIZE(scenario));

	g = find_group(&rep, "proxy", "deny", "allow");
	assert_non_null(g);
	assert_string_equal(g->old_rule, "github");
	assert_string_equal(g->new_rule, "example");
	assert_string_equal(g->examples[0].host, "example.com");
	g = find_group(&rep, "proxy", "allow", "deny");
	assert_non_null(g);
	assert_string_equal(g->old_rule, "pypi");
	assert_null(g->new_rule);
	assert_string_equal(g->examples[0].binary, PY);
	g = find_group(&rep, "dns", "allow", "deny");
	assert_non_null(g);
	assert_string_equal(g->examples[0].host, "pypi.org");
	assert_true(rep.cache_hits > 0);
	ward_replay_report_free(&rep);

	/* the same policy: nothing changes */
	assert_int_equal(ward_replay(f->db, a, &o, &rep, &err), 0);
	assert_int_equal(rep.changed, 0);
	assert_int_equal(rep.unchanged, 2 * 12);
	ward_replay_report_free(&rep);

	/* filters: another sandbox has nothing */
	o.sandbox = "nope";
	assert_int_equal(ward_replay(f->db, b, &o, &rep, &err), 0);
	assert_int_equal(rep.rows, 0);
	ward_replay_report_free(&rep);
	ward_policy_free(a);
	ward_policy_free(b);
}

static void test_suggest(void **state)
{
	struct ward_test_db *f = *state;
	struct ward_replay_opts o = { 0 };
	struct ward_replay_report rep;
	struct ward_suggest_stats st;
	struct ward_error err = { 0 };
	struct ward_policy *s;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	assert_int_equal(gen_log(f->db, 1, false), 0);
	mem = open_memstream(&text, &len);
	assert_int_equal(ward_suggest(f->db, NULL, mem, &st, &err), 0);
	fclose(mem);
	assert_non_null(strstr(text, "# Generated by 'ward policy suggest'"));
	assert_non_null(strstr(text, "read_only:\n    - \"/usr\""));
	assert_non_null(strstr(text, "allow: { method: \"POST\", path: \"/repos/a/b/issues\" }"));
	/* the numeric segment is generalised */
	assert_non_null(strstr(text, "path: \"/repos/a/b/pulls/*\""));
	/* the proxy's own address never becomes an endpoint */
	assert_null(strstr(text, "10.0.0.1"));
	s = compile("suggested", text);
	assert_non_null(s);
	assert_int_equal(st.policies, 3); /* curl, python3.11, wget */
	assert_int_equal(s->n_net, 3);
	assert_true(s->include_workdir);

	assert_int_equal(ward_replay(f->db, s, &o, &rep, &err), 0);
	/* every observed denial is now allowed, nothing allowed becomes denied:
	 * l7 POST, proxy example.com, dns evil.example.com, kernel wget, kernel :22 */
	assert_int_equal(rep.deny_to_allow, 5);
	assert_int_equal(rep.allow_to_deny, 0);
	assert_int_equal(rep.changed, 5);
	ward_replay_report_free(&rep);
	ward_policy_free(s);
	free(text);
}

static void test_suggest_helpers(void **state)
{
	char out[256];

	(void)state;
	assert_true(ward_suggest_path("/repos/42/x/0f8fad5b-d9cb-469f-a165-70867728950e", out,
				      sizeof(out)) > 0);
	assert_string_equal(out, "/repos/*/x/*");
	assert_true(ward_suggest_path("/blob/deadbeefdeadbeef00/v1.2", out, sizeof(out)) > 0);
	assert_string_equal(out, "/blob/*/v1.2");
	assert_true(ward_suggest_path("/a/b*c/", out, sizeof(out)) > 0);
	assert_string_equal(out, "/a/*/");
	assert_int_equal(ward_suggest_path("/abcdef", out, 4), -ENOBUFS);
	ward_suggest_key("/usr/bin/python3.11", out, sizeof(out));
	assert_string_equal(out, "python3.11");
	ward_suggest_key("/opt/x/my tool+", out, sizeof(out));
	assert_string_equal(out, "my_tool_");
	ward_suggest_key("/opt/_hidden", out, sizeof(out));
	assert_string_equal(out, "bin_hidden");
}

static void test_ocsf_class(void **state)
{
	struct ward_audit_row r = { .id = 7,
				    .ts_ns = 1700000000123456789,
				    .layer = "l7",
				    .action = "deny",
				    .method = "POST",
				    .host = "h",
				    .path = "/p" };
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	(void)state;
	assert_int_equal(ward_ocsf_class(&r), 4002);
	mem = open_memstream(&text, &len);
	ward_ocsf_print(mem, &r);
	fclose(mem);
	assert_non_null(strstr(text, "\"class_uid\":4002"));
	assert_non_null(strstr(text, "\"activity_id\":6")); /* Post */
	assert_non_null(strstr(text, "\"type_uid\":400206"));
	assert_non_null(strstr(text, "\"time\":1700000000123,"));
	assert_non_null(strstr(text, "\"disposition_id\":2"));
	free(text);
	r.layer = "kernel";
	assert_int_equal(ward_ocsf_class(&r), 4001);
	r.layer = "dns";
	assert_int_equal(ward_ocsf_class(&r), 4001);
	r.layer = "fs";
	assert_int_equal(ward_ocsf_class(&r), 1001);
	r.layer = "lifecycle";
	assert_int_equal(ward_ocsf_class(&r), 1007);
}

/* ---- generator and benchmark modes ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_policies(const char *dir)
{
	char pa[512], pb[512];

	snprintf(pa, sizeof(pa), "%s/a.yaml", dir);
	snprintf(pb, sizeof(pb), "%s/b.yaml", dir);
	return write_file(pa, policy_a) < 0 || write_file(pb, policy_b) < 0 ? -EIO : 0;
}

static int bench_write(uint64_t n, const char *db)
{
	struct ward_audit *a = NULL;
	struct ward_error err = { 0 };
	double t0, t1;
	uint64_t waits = 0;
	int r;

	r = ward_audit_open(db, &a, &err);
	if (r < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		struct ward_decision d = scenario[2 + i % 12];

		while ((r = ward_audit_submit(a, &d)) == -EAGAIN) {
			waits++;
			ward_audit_flush(a);
		}
		if (r < 0)
			return 1;
	}
	r = ward_audit_close(a);
	t1 = now_s();
	printf("writer: %llu rows committed in %.3f s: %.0f rows/s (queue-full waits %llu)\n",
	       (unsigned long long)n, t1 - t0, (double)n / (t1 - t0), (unsigned long long)waits);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_reasons_agree),
		cmocka_unit_test(test_decide_rows),
		cmocka_unit_test(test_decide_via),
		cmocka_unit_test(test_decide_inference),
		cmocka_unit_test_setup_teardown(test_replay_scenario, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suggest, setup, teardown),
		cmocka_unit_test(test_suggest_helpers),
		cmocka_unit_test(test_ocsf_class),
	};

	if (argc == 4 && !strcmp(argv[1], "--scenario"))
		return gen_log(argv[2], 1, false) < 0 || write_policies(argv[3]) < 0;
	if (argc == 5 && !strcmp(argv[1], "--bulk")) {
		uint64_t rows = strtoull(argv[2], NULL, 10);

		return gen_log(argv[3], (rows + ARRAY_SIZE(scenario) - 1) / ARRAY_SIZE(scenario),
			       true) < 0 ||
		       write_policies(argv[4]) < 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--bench-write"))
		return bench_write(strtoull(argv[2], NULL, 10), argv[3]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
