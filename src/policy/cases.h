/* SPDX-License-Identifier: MIT */
/* `ward policy test`: a CASES.yaml file of requests with the verdict each
 * must get, loaded with positions (libyaml, src/policy/yaml.h) and decided by
 * the functions the live path calls (docs/policy.md, "Testing a policy"):
 *   network   ward_request_decide() (policy/request.h), as explain does;
 *   dns       ward_decide_dns() (policy/client.h), the DNS stub's;
 *   model     ward_decide_inference() and the inference router's choice
 *             of route (name, alias, model; else strict_models or the
 *             first route);
 *   file      the mount plan and protect-layer rules computed from the
 *             compiled filesystem_policy (ward_case_fs_decide below).
 * Library code: the CLI, the unit tests and a fuzz target use it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "policy/model.h"

enum ward_case_kind {
	WARD_CASE_NET = 0, /* host + port [+ method + path] */
	WARD_CASE_DNS,	   /* dns: NAME */
	WARD_CASE_FILE,	   /* file: PATH, access: read|write|exec */
	WARD_CASE_MODEL,   /* model: NAME (a call to inference.local) */
};

enum ward_case_access {
	WARD_CASE_READ = 0,
	WARD_CASE_WRITE,
	WARD_CASE_EXEC,
};

struct ward_case {
	enum ward_case_kind kind;
	char *name;   /* optional label; NULL */
	char *binary; /* absolute */
	char *host;   /* normalised (ward_host_normalize) */
	uint16_t port;
	char *method, *path; /* both or neither (path as written, with its query) */
	char *dns;	     /* normalised name */
	char *file;	     /* absolute, no '..' */
	char *workdir;	     /* file cases: the run's working directory (include_workdir); NULL */
	enum ward_case_access access;
	char *model;
	char *expect;	    /* "allow", "deny" or "audit" (static) */
	char *rule;	    /* optional: the rule that must decide; NULL */
	uint32_t line, col; /* the case's own position (its mapping) */
};

struct ward_cases {
	char *file; /* the name errors and failures are reported with */
	struct ward_case *v;
	size_t n;
};

/* Load a cases file. 0, or -EINVAL with err->msg "FILE:LINE:COL: message"
 * (syntax, unknown keys, wrong types, a case without expect, a case mixing
 * kinds), -ENOMEM, or -errno reading path. *ret is zeroed on failure. */
int ward_cases_load(const char *path, struct ward_cases *ret, struct ward_error *err);
int ward_cases_load_buffer(const char *name, const char *buf, size_t len, struct ward_cases *ret,
			   struct ward_error *err);
void ward_cases_free(struct ward_cases *c);

#define WARD_CASE_TEXT 256

struct ward_case_result {
	const char *action;	     /* "allow", "deny", "audit" (static) */
	char rule[WARD_CASE_TEXT];   /* the rule that decided ("" none) */
	char reason[WARD_CASE_TEXT]; /* why, one line */
	bool pass;		     /* action == expect, and rule matches when given */
};

/* Decide case c under p. Never fails. */
void ward_case_run(const struct ward_policy *p, const struct ward_case *c,
		   struct ward_case_result *ret);

/* The route a call to inference.local naming model goes to, as the
 * inference router picks it (src/proxy/inference.c inf_route_named, then
 * inf_route; tests/unit/test_cases.c checks they agree): a route's name, then
 * an alias, then a route's model; else the first route unless
 * strict_models. NULL: refused (or no routes). */
const struct ward_inference_route *ward_case_model_route(const struct ward_policy *p,
							 const char *model);

/* The filesystem decision for binary opening file with access: the
 * deepest filesystem_policy path covering file decides read-only or
 * read-write (bind mounts nest, the innermost wins); /proc, the minimal /dev
 * and the private /tmp (unless mapped) are ward's own; /sys is never written
 * or executed; a path under a filesystem_policy.binaries entry may be opened
 * only by the binaries naming it, with their own access. workdir (NULL:
 * none) is the run's working directory: with include_workdir it is mapped
 * read-write, nesting like the policy's paths. rule gets the policy path
 * that decided ("" none; the workdir when it decided). Returns true when
 * allowed. */
bool ward_case_fs_decide(const struct ward_policy *p, const char *workdir, const char *binary,
			 const char *file, enum ward_case_access access, char *rule, size_t rulesz,
			 char *reason, size_t reasonsz);
