// SPDX-License-Identifier: MIT
/* policy.apply (hot reload of a sandbox's policy) and the secret verbs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/ceiling.h"
#include "policy/rules.h"
#include "policy/diff.h"
#include "policy/policy.h"
#include "policy/secrets.h"
#include "runtime/daemon_internal.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char *apply_state(enum ward_apply_state s)
{
	switch (s) {
	case WARD_APPLY_APPLIED:
		return "applied";
	case WARD_APPLY_NEW_SESSIONS:
		return "new_sessions";
	case WARD_APPLY_NEXT_START:
		return "next_start";
	case WARD_APPLY_UNCHANGED:
	default:
		return "unchanged";
	}
}

/* {"added":[...],"removed":[...]} of policy/diff.h; NULL (JSON null) when
 * it cannot be made (too large): the apply does not depend on it */
static json_t *diff_json(const struct ward_policy *old, const struct ward_policy *new)
{
	struct ward_policy_diff df = { 0 };
	struct ward_error err = { 0 };
	json_t *o, *added, *removed;

	if (ward_policy_diff(old, new, &df, &err) < 0)
		return json_null();
	added = json_array();
	removed = json_array();
	for (size_t i = 0; i < df.n_added; i++)
		json_array_append_new(added, json_loads(df.added[i].json, 0, NULL));
	for (size_t i = 0; i < df.n_removed; i++)
		json_array_append_new(removed, json_loads(df.removed[i].json, 0, NULL));
	ward_policy_diff_free(&df);
	o = json_pack("{s:o,s:o}", "added", added, "removed", removed);
	return o ? o : json_null();
}

/* The policy of a stopped sandbox: its stored text, compiled. */
static int stored_policy(struct ward_daemon *d, struct dsandbox *sb, struct ward_policy **ret,
			 struct ward_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = state_read_policy(d, sb->name, &text, &len, err);

	if (r < 0)
		return r;
	struct ward_diags diags = { 0 };

	r = ward_policy_load_buffer(sb->policy_path ? sb->policy_path : "policy.yaml", text, len,
				    ret, &diags, err);
	ward_diags_free(&diags);
	if (r == -EINVAL)
		ward_errx(err, r, "the stored policy of %s no longer compiles", sb->name);
	return r;
}

static json_t *changed_json(const struct ward_policy *a, const struct ward_policy *b,
			    const char *state)
{
	char names[WARD_APPLY_MAX_SECTIONS][48];
	size_t n = ward_policy_changed_sections(a, b, names, WARD_APPLY_MAX_SECTIONS);
	json_t *arr = json_array();

	for (size_t i = 0; i < n && i < WARD_APPLY_MAX_SECTIONS; i++)
		json_array_append_new(arr,
				      json_pack("{s:s,s:s}", "section", names[i], "state", state));
	return arr;
}

/* "timings" of the apply reply: milliseconds since the request was read
 * (the verb's start), at each step's end, and each layer's own apply */
struct apply_clock {
	uint64_t t0;
	json_t *o;
};

static void clock_mark(struct apply_clock *k, const char *step)
{
	if (k->o)
		json_object_set_new(k->o, step, json_real((double)(ward_mono_ns() - k->t0) / 1e6));
}

static json_t *steps_json(const struct ward_apply_report *rep)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < rep->n_steps; i++)
		json_object_set_new(o, rep->steps[i].name,
				    json_real((double)rep->steps[i].ns / 1e6));
	return o;
}

/* The order is what the client waits for: compiled, the rev stored (rows
 * name it; the runtime's first step for a running sandbox), every layer
 * switched, then the state (after the switch: a refused apply changes
 * nothing; before the reply: an applied policy is the one the next start
 * uses), the diff, the row and the reply; the layers' settle (RCU waits)
 * after it, on threads of their own. */
int sandbox_apply_policy(struct ward_daemon *d, const struct dconn *c, struct dsandbox *sb,
			 struct ward_policy *policy_in, const char *path, const char *text,
			 size_t len, bool wait, uint64_t t0_ns, json_t *timings, json_t **ret_res,
			 struct ward_error *err)
{
	struct apply_clock clk = { .t0 = t0_ns, .o = timings };
	_cleanup_(ward_policy_freep) struct ward_policy *policy = policy_in, *old_stored = NULL;
	_cleanup_gen_ struct ward_gen *cur = NULL, *gen = NULL;
	struct ward_apply_report rep = { 0 };
	const struct ward_policy *old, *new;
	char old_rev[65], new_rev[65], detail[192], msg[WARD_ERROR_MAX + 128];
	uint64_t t0 = 0, t1 = 0;
	json_t *res;
	int r;

	clock_mark(&clk, "compiled");
	snprintf(old_rev, sizeof(old_rev), "%s", sb->rev);
	snprintf(new_rev, sizeof(new_rev), "%s", policy->rev);
	if (sb->rt) {
		cur = ward_runtime_gen(sb->rt);
		old = cur->policy;
	} else {
		r = stored_policy(d, sb, &old_stored, err);
		if (r < 0)
			goto deny;
		old = old_stored;
	}
	/* rows name the revision: stored before them (ward_runtime_apply
	 * stores it for a running sandbox, under its lock) */
	r = sb->rt ? 0 : ward_audit_store_policy(d->audit, policy, err);
	if (r < 0)
		goto deny;
	if (sb->rt) {
		r = ward_gen_new(TAKE_PTR(policy), sb->gen_seq + 1, &gen);
		if (r < 0) {
			ward_err(err, r, "generation");
			goto deny;
		}
		new = gen->policy;
		t0 = ward_mono_ns();
		r = ward_runtime_apply(sb->rt, gen, &rep, err);
		t1 = ward_mono_ns();
		if (r < 0) {
			/* the runtime wrote its own deny row; this one names the peer */
			snprintf(msg, sizeof(msg), "%s; policy rev %s stays", err->msg, old_rev);
			ward_errx(err, r, "%s", msg);
			goto deny;
		}
		sb->gen_seq++;
		clock_mark(&clk, "enforced");
		json_object_set_new(timings, "steps", steps_json(&rep));
	} else {
		new = policy;
	}
	/* the text in force is what the next start uses */
	r = state_store_policy(d, sb, path, new_rev, text, len, err);
	if (r < 0)
		daemon_note(d, true, "sandbox %s: policy rev %.12s %s but not stored: %s", sb->name,
			    new_rev, sb->rt ? "in force" : "checked", err->msg);
	if (r >= 0 || sb->rt) { /* what runs, or what the next start runs */
		char *p = strdup(path);

		if (p) {
			free(sb->policy_path);
			sb->policy_path = p;
		}
		snprintf(sb->rev, sizeof(sb->rev), "%s", new_rev);
	}
	clock_mark(&clk, "state_saved");
	res = json_pack("{s:s,s:s,s:o}", "old_rev", old_rev, "new_rev", new_rev, "diff",
			diff_json(old, new));
	if (sb->rt) {
		json_t *secs = json_array();

		for (size_t i = 0; i < rep.n; i++)
			json_array_append_new(secs,
					      json_pack("{s:s,s:s}", "section", rep.v[i].section,
							"state", apply_state(rep.v[i].state)));
		json_object_set_new(res, "sections", secs);
		if (wait)
			json_object_set_new(res, "enforced_ms", json_real((double)(t1 - t0) / 1e6));
	} else {
		/* stopped: in force from the next start, for every session */
		json_object_set_new(res, "sections", changed_json(old, new, "new_sessions"));
	}
	snprintf(detail, sizeof(detail), "policy rev %s -> %s", old_rev, new_rev);
	daemon_row(d, c, "allow", "policy.apply", sb->name, detail, new_rev);
	clock_mark(&clk, "replied");
	*ret_res = res;
	return 0;
deny:
	snprintf(msg, sizeof(msg), "%s", err->msg);
	daemon_row(d, c, "deny", "policy.apply", sb->name, msg, NULL);
	return r;
}

void verb_policy_apply(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	_cleanup_(json_decrefp) json_t *timings = json_object();
	uint64_t t0 = ward_mono_ns();
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *path = json_string_value(json_object_get(req, "policy"));
	bool wait = json_is_true(json_object_get(req, "wait"));
	bool dry = json_is_true(json_object_get(req, "dry_run"));
	_cleanup_(ward_policy_freep) struct ward_policy *policy = NULL, *old_stored = NULL;
	_cleanup_gen_ struct ward_gen *cur = NULL;
	_cleanup_free_ char *text = NULL, *warnings = NULL;
	struct ward_error err = { 0 };
	struct dsandbox *sb = sandbox_find(d, name);
	const struct ward_policy *old;
	size_t len = 0;
	json_t *res = NULL;
	int r;

	if (!sb) {
		refuse(d, c, req, "policy.apply", name, name ? ENOENT : EINVAL,
		       name ? "sandbox '%s' does not exist" : "\"name\" is required",
		       name ? name : "");
		return;
	}
	r = policy_compile_file(c, path, &text, &len, &policy, &err);
	if (r >= 0) /* the org ceiling: a host policy in force bounds every sandbox */
		r = ward_host_ceiling_check(d->state_dir, policy, NULL, &err);
	if (r >= 0) /* the org's rule packs */
		r = ward_rules_check(NULL, policy, NULL, &warnings, &err);
	if (r < 0) {
		char msg[WARD_ERROR_MAX + 128];

		snprintf(msg, sizeof(msg), "%s; policy rev %s stays", err.msg, sb->rev);
		daemon_row(d, c, "deny", "policy.apply", sb->name, msg, sb->rev);
		reply_err(c, req, -r, "%s", err.msg);
		return;
	}
	if (dry) {
		if (sb->rt) {
			cur = ward_runtime_gen(sb->rt);
			old = cur->policy;
		} else {
			r = stored_policy(d, sb, &old_stored, &err);
			if (r < 0) {
				refuse(d, c, req, "policy.apply", sb->name, -r, "%s", err.msg);
				return;
			}
			old = old_stored;
		}
		res = json_pack("{s:s,s:s,s:o,s:o,s:b}", "old_rev", sb->rev, "new_rev", policy->rev,
				"diff", diff_json(old, policy), "sections",
				changed_json(old, policy, "changed"), "dry_run", 1);
		if (warnings)
			json_object_set_new(res, "warnings", warnings_json(warnings));
		reply_ok(c, req, res);
		return;
	}
	r = sandbox_apply_policy(d, c, sb, TAKE_PTR(policy), path, text, len, wait, t0, timings,
				 &res, &err);
	if (r < 0) {
		reply_err(c, req, -r, "%s", err.msg);
		return;
	}
	if (warnings)
		json_object_set_new(res, "warnings", warnings_json(warnings));
	json_object_set(res, "timings", timings);
	reply_ok(c, req, res);
	/* the waits the switches left (RCU grace periods): after the reply,
	 * before the next request */
	if (sb->rt)
		ward_runtime_settle(sb->rt);
}

static int secrets(struct ward_daemon *d, struct ward_secrets **ret, struct ward_error *err)
{
	char dir[PATH_MAX];

	if (!d->secrets) {
		snprintf(dir, sizeof(dir), "%s/" WARD_SECRETS_SUBDIR, d->state_dir);
		int r = ward_secrets_open(dir, &d->secrets, err);

		if (r < 0)
			return r;
	}
	*ret = d->secrets;
	return 0;
}

/* Values never reach a row, a reply or a message: only names do. */
void verb_secret(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct ward_error err = { 0 };
	struct ward_secrets *st = NULL;
	char detail[WARD_SECRET_NAME_MAX + 16];
	int r;

	snprintf(detail, sizeof(detail), "secret %s", name ? name : "");
	r = secrets(d, &st, &err);
	if (r < 0) {
		refuse(d, c, req, verb, NULL, -r, "secret store: %s", err.msg);
		return;
	}
	if (!strcmp(verb, "secret.list")) {
		_cleanup_free_ struct ward_secret_info *v = NULL;
		json_t *a = json_array();
		size_t n = 0;

		r = ward_secret_list(st, &v, &n, &err);
		if (r < 0) {
			json_decref(a);
			reply_err(c, req, -r, "%s", err.msg);
			return;
		}
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_pack("{s:s,s:I}", "name", v[i].name, "set_ns",
							   (json_int_t)v[i].set_ns));
		reply_ok(c, req, json_pack("{s:o}", "secrets", a));
		return;
	}
	if (!name || !ward_secret_name_valid(name)) {
		refuse(d, c, req, verb, NULL, EINVAL, "secret name must be [A-Za-z0-9_.-]{1,128}");
		return;
	}
	if (!strcmp(verb, "secret.set")) {
		json_t *v = json_object_get(req, "value");

		if (!json_is_string(v)) {
			refuse(d, c, req, verb, NULL, EINVAL, "%s: \"value\" must be a string",
			       detail);
			return;
		}
		r = ward_secret_set(st, name, json_string_value(v), json_string_length(v), &err);
	} else if (!strcmp(verb, "secret.rm")) {
		r = ward_secret_rm(st, name, &err);
	} else {
		reply_err(c, req, EINVAL, "unknown verb '%s'", verb);
		return;
	}
	if (r < 0) {
		refuse(d, c, req, verb, NULL, -r, "%s: %s", detail, err.msg);
		return;
	}
	daemon_row(d, c, "allow", verb, NULL, detail, NULL);
	reply_ok(c, req, NULL);
}
