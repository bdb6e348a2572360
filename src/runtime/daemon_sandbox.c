// SPDX-License-Identifier: MIT
/* Named sandboxes: create / list / stop / start / rm, each one ward_runtime
 * with `ward run`'s layers, started on the daemon's thread. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/user.h"
#include "policy/ceiling.h"
#include "policy/rules.h"
#include "policy/policy.h"
#include "runtime/daemon_internal.h"
#include "runtime/layers.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

struct dsandbox *sandbox_find(struct ward_daemon *d, const char *name)
{
	if (!name)
		return NULL;
	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (!strcmp(sb->name, name))
			return sb;
	return NULL;
}

void sandbox_free(struct dsandbox *sb)
{
	if (!sb)
		return;
	free(sb->policy_path);
	free(sb->workdir);
	free(sb->hosts);
	free(sb->upstream_ca);
	free(sb->home);
	free(sb->failure);
	free(sb->warnings);
	free(sb);
}

static const char *state_name(enum dstate s)
{
	switch (s) {
	case DSTATE_RUNNING:
		return "running";
	case DSTATE_FAILED:
		return "failed";
	case DSTATE_STOPPED:
	default:
		return "stopped";
	}
}

json_t *warnings_json(const char *lines)
{
	json_t *a = json_array();

	for (const char *p = lines; a && p && *p;) {
		size_t n = strcspn(p, "\n");

		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == '\n');
	}
	return a;
}

json_t *sandbox_json(const struct dsandbox *sb)
{
	json_t *o =
		json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:I}", "name", sb->name, "id", sb->id,
			  "state", state_name(sb->state), "policy_rev", sb->rev, "sessions",
			  (int)sb->n_sessions, "uptime_ms",
			  (json_int_t)(sb->rt ? (ward_mono_ns() - sb->started_mono) / 1000000 : 0),
			  "created_ns", (json_int_t)sb->created_ns, "idle_timeout_ms",
			  (json_int_t)sb->idle_timeout_ms);

	if (!o)
		return NULL;
	json_object_set_new(o, "workdir", sb->workdir ? json_string(sb->workdir) : json_null());
	json_object_set_new(o, "policy",
			    sb->policy_path ? json_string(sb->policy_path) : json_null());
	json_object_set_new(o, "desired", json_string(sb->want_running ? "running" : "stopped"));
	json_object_set_new(o, "learn", json_boolean(sb->learn));
	if (sb->failure)
		json_object_set_new(o, "failure", json_string(sb->failure));
	if (sb->warnings)
		json_object_set_new(o, "warnings", warnings_json(sb->warnings));
	return o;
}

/* The compiler's FILE:LINE:COL lines, one string ("\n"-joined). */
static int diags_error(const struct ward_diags *diags, struct ward_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return ward_err(err, -ENOMEM, "policy");
	ward_diags_print(diags, f);
	fclose(f);
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return ward_errx(err, -EINVAL, "%s", len ? buf : "invalid policy");
}

int policy_compile_text(const char *name, const char *text, size_t len,
			struct ward_policy **ret_policy, struct ward_error *err)
{
	struct ward_diags diags = { 0 };
	int r = ward_policy_load_buffer(name, text, len, ret_policy, &diags, err);

	if (r == -EINVAL)
		r = diags_error(&diags, err);
	ward_diags_free(&diags);
	return r;
}

int peer_may_read(const struct dconn *peer, const char *path, struct ward_error *err)
{
	struct stat st;
	mode_t bit = S_IROTH;

	if (!peer || peer->uid == 0)
		return 0;
	if (stat(path, &st) < 0)
		return ward_err(err, -errno, "%s", path);
	if (st.st_uid == peer->uid) {
		bit = S_IRUSR;
	} else {
		bool member = st.st_gid == peer->gid;

		for (size_t i = 0; i < peer->n_groups && !member; i++)
			member = peer->groups[i] == st.st_gid;
		if (member)
			bit = S_IRGRP;
	}
	if (!(st.st_mode & bit))
		return ward_errx(err, -EACCES, "%s: uid %u may not read it", path,
				 (unsigned)peer->uid);
	return 0;
}

int policy_compile_file(const struct dconn *peer, const char *path, char **ret_text,
			size_t *ret_len, struct ward_policy **ret_policy, struct ward_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	if (!path || path[0] != '/')
		return ward_errx(err, -EINVAL, "the policy must be an absolute path (got '%s')",
				 path ? path : "");
	/* the daemon reads as root: never for a peer what the peer cannot read */
	r = peer_may_read(peer, path, err);
	if (r < 0)
		return r;
	r = ward_read_file(path, WARD_POLICY_MAX_SOURCE, &text, &len);
	if (r < 0)
		return ward_err(err, r, "read policy %s", path);
	r = policy_compile_text(path, text, len, ret_policy, err);
	if (r < 0)
		return r;
	*ret_text = TAKE_PTR(text);
	*ret_len = len;
	return 0;
}

static void layer_diag(void *data, bool warning, const char *msg)
{
	struct ward_daemon *d = data;

	daemon_note(d, warning, "%s", msg);
}

/* The home belongs to the user the sessions run as (the policy's run_as);
 * what is inside it is left as the sessions made it. */
static int give_home(const char *home, const struct ward_policy *p, const char *workdir,
		     struct ward_error *err)
{
	struct stat st;
	uid_t uid;
	gid_t gid;
	int r = ward_user_resolve(p, workdir, &uid, &gid, err);

	if (r < 0)
		return r;
	if (lstat(home, &st) < 0)
		return ward_err(err, -errno, "stat %s", home);
	if (!S_ISDIR(st.st_mode))
		return ward_errx(err, -ENOTDIR, "%s is not a directory", home);
	if ((st.st_uid != uid || st.st_gid != gid) && lchown(home, uid, gid) < 0)
		return ward_err(err, -errno, "chown %s", home);
	return 0;
}

int sandbox_start(struct ward_daemon *d, struct dsandbox *sb, struct ward_error *err)
{
	_cleanup_(ward_policy_freep) struct ward_policy *policy = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_gen_ struct ward_gen *gen = NULL;
	struct ward_runtime *rt = NULL;
	char home[PATH_MAX];
	size_t len = 0;
	int r;

	if (sb->rt)
		return 0;
	free(sb->failure);
	sb->failure = NULL;
	free(sb->warnings);
	sb->warnings = NULL;
	r = state_read_policy(d, sb->name, &text, &len, err);
	if (r < 0)
		goto fail;
	r = policy_compile_text(sb->policy_path ? sb->policy_path : "policy.yaml", text, len, &policy,
			 err);
	if (r >= 0) /* the org ceiling: a host policy in force bounds every sandbox */
		r = ward_host_ceiling_check(d->state_dir, policy, NULL, err);
	if (r >= 0) /* the org's rule packs */
		r = ward_rules_check(NULL, policy, NULL, &sb->warnings, err);
	if (r < 0)
		goto fail;
	if (sb->warnings)
		daemon_note(d, true, "sandbox %s: rule packs warn:\n%s", sb->name, sb->warnings);
	r = ward_audit_store_policy(d->audit, policy, err);
	if (r < 0)
		goto fail;
	snprintf(sb->rev, sizeof(sb->rev), "%s", policy->rev);
	r = ward_gen_new(TAKE_PTR(policy), 1, &gen);
	if (r < 0) {
		ward_err(err, r, "generation");
		goto fail;
	}
	r = state_home(d, sb->name, home, sizeof(home));
	if (r < 0) {
		ward_err(err, r, "home of %s", sb->name);
		goto fail;
	}
	r = give_home(home, gen->policy, sb->workdir ? sb->workdir : home, err);
	if (r < 0)
		goto fail;

	struct ward_runtime_config cfg = { .gen = gen,
					   .audit = d->audit,
					   .log_path = d->log_path,
					   .hosts_file = sb->hosts,
					   .upstream_ca = sb->upstream_ca,
					   .learn = sb->learn,
					   .diag = layer_diag,
					   .diag_data = d };
	/* the runtime keeps the paths of st for the sandbox's life */
	free(sb->home);
	sb->home = strdup(home);
	if (!sb->home) {
		r = ward_err(err, -ENOMEM, "home");
		goto fail;
	}
	struct ward_runtime_start st = { .workdir = sb->workdir ? sb->workdir : sb->home,
					 .id = sb->id,
					 .home = sb->home };

	r = ward_runtime_new(&cfg, &rt, err);
	if (r >= 0)
		r = ward_run_layers_add(rt, err);
	if (r >= 0)
		r = ward_runtime_prepare(rt, err);
	if (r >= 0)
		r = ward_runtime_start(rt, &st, err);
	if (r < 0) {
		ward_runtime_free(rt);
		goto fail;
	}
	/* the first apply's maps ready beside the running ones (its wait now) */
	ward_runtime_settle(rt);
	sb->rt = rt;
	sb->gen_seq = 1;
	sb->state = DSTATE_RUNNING;
	sb->started_mono = sb->idle_mono = ward_mono_ns();
	daemon_write_run(d);
	return 0;
fail:
	sb->state = DSTATE_FAILED;
	sb->failure = strdup(err->msg);
	return r;
}

void sandbox_stop(struct ward_daemon *d, struct dsandbox *sb)
{
	struct ward_error err = { 0 };

	if (!sb->rt) {
		sb->state = DSTATE_STOPPED;
		return;
	}
	if (ward_runtime_stop(sb->rt, &err) < 0)
		daemon_note(d, true, "sandbox %s: stop: %s", sb->name, err.msg);
	sessions_reap_sandbox(d, sb);
	ward_runtime_free(sb->rt);
	sb->rt = NULL;
	sb->state = DSTATE_STOPPED;
	daemon_write_run(d);
}

static int new_id(char out[WARD_SANDBOX_ID_LEN + 1])
{
	unsigned char b[WARD_SANDBOX_ID_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno;
	for (size_t i = 0; i < sizeof(b); i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	return 0;
}

/* an optional absolute path of a regular file (or a directory) */
static int opt_path(const struct dconn *peer, json_t *req, const char *key, bool dir, char **ret,
		    struct ward_error *err)
{
	json_t *v = json_object_get(req, key);
	const char *s = json_string_value(v);
	char real[PATH_MAX];
	struct stat st;

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!s || s[0] != '/')
		return ward_errx(err, -EINVAL, "\"%s\" must be an absolute path", key);
	if (!realpath(s, real) || stat(real, &st) < 0)
		return ward_err(err, -errno, "%s %s", key, s);
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return ward_errx(err, dir ? -ENOTDIR : -EINVAL, "%s %s: not a %s", key, s,
				 dir ? "directory" : "regular file");
	if (peer_may_read(peer, real, err) < 0)
		return err->code;
	*ret = strdup(real);
	return *ret ? 0 : ward_err(err, -ENOMEM, "%s", key);
}

void verb_sandbox_create(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *policy_arg = json_string_value(json_object_get(req, "policy"));
	json_t *idle = json_object_get(req, "idle_timeout_ms");
	json_t *learn = json_object_get(req, "learn");
	_cleanup_(ward_policy_freep) struct ward_policy *policy = NULL;
	_cleanup_free_ char *text = NULL, *policy_path = NULL;
	struct ward_error err = { 0 };
	struct dsandbox *sb = NULL;
	char path[PATH_MAX];
	size_t len = 0;
	int r;

	if (!daemon_name_valid(name)) {
		refuse(d, c, req, "sandbox.create", NULL, EINVAL,
		       "sandbox name '%s' is not [a-z0-9][a-z0-9_.-]{0,62}", name ? name : "");
		return;
	}
	if (sandbox_find(d, name)) {
		refuse(d, c, req, "sandbox.create", name, EEXIST, "sandbox '%s' already exists",
		       name);
		return;
	}
	if (idle && !json_is_null(idle) &&
	    (!json_is_integer(idle) || json_integer_value(idle) < 0)) {
		refuse(d, c, req, "sandbox.create", name, EINVAL,
		       "\"idle_timeout_ms\" must be an integer >= 0");
		return;
	}
	if (learn && !json_is_null(learn) && !json_is_boolean(learn)) {
		refuse(d, c, req, "sandbox.create", name, EINVAL, "\"learn\" must be a boolean");
		return;
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb) {
		reply_err(c, req, ENOMEM, "out of memory");
		return;
	}
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	r = opt_path(c, req, "workdir", true, &sb->workdir, &err);
	if (r >= 0)
		r = opt_path(c, req, "hosts", false, &sb->hosts, &err);
	if (r >= 0)
		r = opt_path(c, req, "upstream_ca", false, &sb->upstream_ca, &err);
	if (r < 0)
		goto refused;
	/* a project's own policy is the default: <workdir>/.ward/policy.yaml */
	if (!policy_arg && sb->workdir) {
		snprintf(path, sizeof(path), "%s/.ward/policy.yaml", sb->workdir);
		if (access(path, F_OK) == 0)
			policy_arg = path;
	}
	if (!policy_arg) {
		r = ward_errx(&err, -EINVAL, "no \"policy\" given and no %s",
			      sb->workdir ? "<workdir>/.ward/policy.yaml" : "\"workdir\"");
		goto refused;
	}
	r = policy_compile_file(c, policy_arg, &text, &len, &policy, &err);
	if (r < 0)
		goto refused;
	sb->policy_path = strdup(policy_arg);
	sb->idle_timeout_ms = idle ? (uint64_t)json_integer_value(idle) : 0;
	sb->learn = json_is_true(learn);
	sb->created_ns = ward_now_ns();
	sb->want_running = true;
	snprintf(sb->rev, sizeof(sb->rev), "%s", policy->rev);
	r = new_id(sb->id);
	if (r < 0) {
		ward_err(&err, r, "getrandom");
		goto refused;
	}
	r = state_create(d, name, &err);
	if (r < 0)
		goto refused;
	r = state_save_policy(d, name, text, len, &err);
	if (r >= 0)
		r = state_save(d, sb, &err);
	if (r >= 0)
		r = sandbox_start(d, sb, &err);
	if (r < 0) {
		struct ward_error e2 = { 0 };

		/* all or nothing: a create that could not start leaves no record */
		state_remove(d, name, &e2);
		goto refused;
	}
	sb->next = d->sandboxes;
	d->sandboxes = sb;
	/* sandbox_start wrote run.json before sb was in the list: again, with
	 * it, or a kill -9 now would leave its cgroup and sessions unknown */
	daemon_write_run(d);
	daemon_row(d, c, "allow", "sandbox.create", name, NULL, sb->rev);
	reply_ok(c, req, json_pack("{s:o}", "sandbox", sandbox_json(sb)));
	return;
refused:
	refuse(d, c, req, "sandbox.create", name, -r, "%s", err.msg);
	sandbox_free(sb);
}

void verb_sandbox_list(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	json_t *a = json_array();

	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next)
		json_array_append_new(a, sandbox_json(sb));
	reply_ok(c, req, json_pack("{s:o}", "sandboxes", a));
}

static struct dsandbox *named(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct dsandbox *sb = sandbox_find(d, name);

	if (!name)
		refuse(d, c, req, verb, NULL, EINVAL, "\"name\" is required");
	else if (!sb)
		refuse(d, c, req, verb, name, ENOENT, "sandbox '%s' does not exist", name);
	return sb;
}

static void save_or_note(struct ward_daemon *d, struct dsandbox *sb)
{
	struct ward_error err = { 0 };

	if (state_save(d, sb, &err) < 0)
		daemon_note(d, true, "sandbox %s: %s", sb->name, err.msg);
}

void verb_sandbox_stop(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	struct dsandbox *sb = named(d, c, req, "sandbox.stop");

	if (!sb)
		return;
	sandbox_stop(d, sb);
	sb->want_running = false;
	save_or_note(d, sb);
	daemon_row(d, c, "allow", "sandbox.stop", sb->name, NULL, sb->rev);
	reply_ok(c, req, json_pack("{s:o}", "sandbox", sandbox_json(sb)));
}

void verb_sandbox_start(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	struct dsandbox *sb = named(d, c, req, "sandbox.start");
	struct ward_error err = { 0 };

	if (!sb)
		return;
	sb->want_running = true;
	save_or_note(d, sb);
	if (sandbox_start(d, sb, &err) < 0) {
		refuse(d, c, req, "sandbox.start", sb->name, -err.code ?: EIO, "%s", err.msg);
		return;
	}
	daemon_row(d, c, "allow", "sandbox.start", sb->name, NULL, sb->rev);
	reply_ok(c, req, json_pack("{s:o}", "sandbox", sandbox_json(sb)));
}

void verb_sandbox_rm(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	struct dsandbox *sb = named(d, c, req, "sandbox.rm");
	struct ward_error err = { 0 };

	if (!sb)
		return;
	sandbox_stop(d, sb);
	if (state_remove(d, sb->name, &err) < 0) {
		sb->want_running = false;
		save_or_note(d, sb);
		refuse(d, c, req, "sandbox.rm", sb->name, -err.code ?: EIO, "%s", err.msg);
		return;
	}
	for (struct dsandbox **p = &d->sandboxes; *p; p = &(*p)->next)
		if (*p == sb) {
			*p = sb->next;
			break;
		}
	daemon_row(d, c, "allow", "sandbox.rm", sb->name, NULL, sb->rev);
	reply_ok(c, req, NULL);
	sandbox_free(sb);
}

int sandbox_idle_tick(struct ward_daemon *d)
{
	uint64_t now = ward_mono_ns();
	int next = -1;

	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next) {
		uint64_t due;
		char why[96];

		if (!sb->rt || !sb->idle_timeout_ms || sb->n_sessions)
			continue;
		due = sb->idle_mono + sb->idle_timeout_ms * 1000000;
		if (now < due) {
			uint64_t ms = (due - now + 999999) / 1000000;
			int left = ms > 60000 ? 60000 : (int)ms;

			next = next < 0 || left < next ? left : next;
			continue;
		}
		sandbox_stop(d, sb);
		sb->want_running = false;
		save_or_note(d, sb);
		snprintf(why, sizeof(why), "idle for %llu ms (idle_timeout_ms)",
			 (unsigned long long)sb->idle_timeout_ms);
		daemon_row(d, NULL, "allow", "sandbox.stop", sb->name, why, sb->rev);
		daemon_note(d, false, "sandbox %s stopped: %s", sb->name, why);
	}
	return next;
}
