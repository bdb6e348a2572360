// SPDX-License-Identifier: MIT
/* ward daemon: host mode (docs/host.md). The daemon holds at most one
 * ward_host; what was enforced is kept in <state>/host/ (host.json: how,
 * policy.yaml: the exact text, which the org ceiling of sandbox policies
 * reads too), so a restarted daemon enforces it again and takes the pinned
 * programs over without a gap. Rows: layer control, sandbox "host". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/policy.h"
#include "runtime/daemon_internal.h"
#include "runtime/host.h"

#define HOST_DIR "host"

static int host_dir(struct ward_daemon *d, struct ward_error *err)
{
	int fd;

	if (mkdirat(d->state_fd, HOST_DIR, 0700) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir %s/" HOST_DIR, d->state_dir);
	fd = openat(d->state_fd, HOST_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ward_err(err, -errno, "open %s/" HOST_DIR, d->state_dir);
	return fd;
}

/* host.json: {"enforced", "policy", "scope", "audit", "hosts", "upstream_ca"};
 * enforced false after host.stop (a restart enforces nothing, not even the
 * --host-policy file). policy.yaml only while enforced. */
static int save(struct ward_daemon *d, json_t *cfg, const char *text, size_t len,
		struct ward_error *err)
{
	_cleanup_close_ int dir = host_dir(d, err);
	_cleanup_free_ char *js = NULL;
	int r;

	if (dir < 0)
		return dir;
	if (text) {
		/* the ceiling (ward run, sandbox create) reads it: in place first */
		r = write_atomic(dir, "policy.yaml", text, len, 0600, err);
		if (r < 0)
			return r;
	} else if (unlinkat(dir, "policy.yaml", 0) < 0 && errno != ENOENT) {
		return ward_err(err, -errno, "remove %s/" HOST_DIR "/policy.yaml", d->state_dir);
	}
	js = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	if (!js)
		return ward_err(err, -ENOMEM, "host.json");
	return write_atomic(dir, "host.json", js, strlen(js), 0600, err);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? s : NULL;
}

static void detail_of(char *buf, size_t len, json_t *cfg)
{
	const char *scope = jstr(cfg, "scope");
	const char *policy = jstr(cfg, "policy");

	snprintf(buf, len, "scope %s, %s mode, policy %s", scope ? scope : "(cgroup v2 root)",
		 json_is_true(json_object_get(cfg, "audit")) ? "audit" : "enforce",
		 policy ? policy : "?");
}

/* Start host mode from a compiled policy (taken) and cfg (borrowed). */
static int enforce(struct ward_daemon *d, struct ward_policy *p, json_t *cfg,
		   struct ward_host **ret, struct ward_error *err)
{
	struct ward_host_config hc = {
		.pin_dir = d->pin_dir,
		.scope = jstr(cfg, "scope"),
		.audit = json_is_true(json_object_get(cfg, "audit")),
		.hosts_file = jstr(cfg, "hosts"),
		.upstream_ca = jstr(cfg, "upstream_ca"),
		.log = d->audit,
		.log_path = d->log_path,
	};
	size_t n_warn;
	const char *const *warn;
	/* the rows name its rev: in the log's policies table first (audit verify) */
	int r = d->audit ? ward_audit_store_policy(d->audit, p, err) : 0;

	if (r < 0) {
		ward_policy_free(p);
		return r;
	}
	r = ward_host_start(p, &hc, ret, err);
	if (r < 0)
		return r;
	warn = ward_host_warnings(*ret, &n_warn);
	for (size_t i = 0; i < n_warn; i++)
		daemon_note(d, true, "host mode: %s", warn[i]);
	return 0;
}

/* After a start that took pins over: what the kernel refused meanwhile. */
static void log_failclosed(struct ward_daemon *d, const struct ward_host *h)
{
	char detail[256];

	if (!ward_host_took_over(h))
		return;
	snprintf(detail, sizeof(detail),
		 "%llu connections refused while the daemon was down (fail closed)",
		 (unsigned long long)ward_host_failclosed_at_start(h));
	daemon_note(d, false, "host mode: %s", detail);
	daemon_row(d, NULL, ward_host_failclosed_at_start(h) ? "deny" : "allow", "host.failclosed",
		   WARD_HOST_SANDBOX, detail, ward_host_policy(h)->rev);
}

static void set_host(struct ward_daemon *d, struct ward_host *h, json_t *cfg)
{
	/* what a later enforce compares its scope with */
	if (h && cfg)
		json_object_set_new(cfg, "scope_path", json_string(ward_host_scope(h)));
	ward_host_free(d->host); /* its listeners; the new handle holds the pins */
	d->host = h;
	json_decref(d->host_cfg);
	d->host_cfg = cfg;
}

void host_restore(struct ward_daemon *d)
{
	struct ward_error err = { 0 };
	_cleanup_free_ char *js = NULL, *text = NULL;
	struct ward_policy *p = NULL;
	struct ward_host *h = NULL;
	json_t *cfg = NULL;
	char path[PATH_MAX], detail[1024];
	const char *file =
		d->cfg.host_policy ? d->cfg.host_policy : WARD_DAEMON_DEFAULT_HOST_POLICY;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/" HOST_DIR "/host.json", d->state_dir);
	r = ward_read_file(path, 64 * 1024, &js, NULL);
	if (r >= 0) {
		cfg = json_loads(js, 0, NULL);
		if (!json_is_object(cfg)) {
			daemon_note(d, true, "%s: not a JSON object: host mode not restored", path);
			json_decref(cfg);
			return;
		}
		if (!json_is_true(json_object_get(cfg, "enforced"))) {
			json_decref(cfg);
			return;
		}
		snprintf(path, sizeof(path), "%s/" HOST_DIR "/policy.yaml", d->state_dir);
		r = ward_read_file(path, WARD_POLICY_MAX_SOURCE, &text, &len);
		if (r < 0)
			ward_err(&err, r, "read %s", path);
		else
			r = policy_compile_text(jstr(cfg, "policy") ? jstr(cfg, "policy") : path,
						text, len, &p, &err);
	} else if (*file && access(file, F_OK) == 0) {
		/* first start with an admin's host policy: enforce it with the defaults */
		cfg = json_pack("{s:b, s:s, s:b}", "enforced", 1, "policy", file, "audit", 0);
		if (cfg && d->cfg.host_scope && *d->cfg.host_scope)
			json_object_set_new(cfg, "scope", json_string(d->cfg.host_scope));
		r = ward_read_file(file, WARD_POLICY_MAX_SOURCE, &text, &len);
		if (r < 0)
			ward_err(&err, r, "read %s", file);
		else
			r = policy_compile_text(file, text, len, &p, &err);
	} else {
		json_t *st = ward_host_status_json(NULL, d->pin_dir);

		if (st && json_is_true(json_object_get(st, "pinned"))) {
			daemon_note(d, true,
				    "host mode: programs are pinned in %s but no host policy is "
				    "stored: they keep deciding (fail closed); `ward host stop` "
				    "removes them",
				    ward_host_pin_dir(d->pin_dir));
			daemon_row(d, NULL, "deny", "host.enforce", WARD_HOST_SANDBOX,
				   "pinned host programs without a stored policy: left in force "
				   "(fail closed)",
				   NULL);
		}
		json_decref(st);
		return;
	}
	if (r >= 0)
		r = enforce(d, TAKE_PTR(p), cfg, &h, &err);
	if (r < 0) {
		ward_policy_free(p);
		daemon_note(d, true, "host mode did not come back: %s", err.msg);
		daemon_row(d, NULL, "deny", "host.enforce", WARD_HOST_SANDBOX, err.msg, NULL);
		json_decref(cfg);
		return;
	}
	set_host(d, h, cfg);
	if (!js) {
		/* the --host-policy file: stored as if `ward host enforce` had run */
		r = save(d, cfg, text, len, &err);
		if (r < 0)
			daemon_note(d, true, "host mode: %s", err.msg);
	}
	detail_of(detail, sizeof(detail), cfg);
	strncat(detail, "; enforced at daemon start", sizeof(detail) - strlen(detail) - 1);
	daemon_row(d, NULL, "allow", "host.enforce", WARD_HOST_SANDBOX, detail,
		   ward_host_policy(h)->rev);
	daemon_note(d, false, "host mode enforced (%s)", detail);
	log_failclosed(d, h);
}

/* A file the daemon reads for the peer: absolute, readable by it. */
static bool file_ok(struct ward_daemon *d, struct dconn *c, json_t *req, const char *what,
		    const char *f)
{
	struct ward_error err = { 0 };

	if (!f)
		return true;
	if (f[0] != '/') {
		refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, EINVAL,
		       "'%s' must be an absolute path (got '%s')", what, f);
		return false;
	}
	if (peer_may_read(c, f, &err) < 0) {
		refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, -err.code, "%s", err.msg);
		return false;
	}
	return true;
}

void verb_host_enforce(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	const char *path = json_string_value(json_object_get(req, "policy"));
	const char *scope = json_string_value(json_object_get(req, "scope"));
	const char *hosts = json_string_value(json_object_get(req, "hosts"));
	const char *ca = json_string_value(json_object_get(req, "upstream_ca"));
	bool audit = json_is_true(json_object_get(req, "audit"));
	struct ward_error err = { 0 };
	_cleanup_free_ char *text = NULL, *scope_path = NULL;
	struct ward_policy *p = NULL;
	struct ward_host *h = NULL;
	char detail[1024];
	size_t len = 0;
	json_t *cfg;
	int r;

	if (!file_ok(d, c, req, "hosts", hosts) || !file_ok(d, c, req, "upstream_ca", ca))
		return;
	r = ward_host_scope_path(scope, &scope_path, &err);
	if (r < 0) {
		refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, -r, "%s", err.msg);
		return;
	}
	if (d->host) {
		const char *cur = json_string_value(json_object_get(d->host_cfg, "scope_path"));

		if (cur && strcmp(cur, scope_path) != 0) {
			refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, EBUSY,
			       "host mode is enforced at scope %s: `ward host stop` first", cur);
			return;
		}
	}
	r = policy_compile_file(c, path, &text, &len, &p, &err);
	if (r < 0) {
		refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, -r, "%s", err.msg);
		return;
	}
	cfg = json_pack("{s:b, s:s, s:s, s:b}", "enforced", 1, "policy", path, "scope_path",
			scope_path, "audit", audit);
	if (scope)
		json_object_set_new(cfg, "scope", json_string(scope));
	if (hosts)
		json_object_set_new(cfg, "hosts", json_string(hosts));
	if (ca)
		json_object_set_new(cfg, "upstream_ca", json_string(ca));
	r = enforce(d, p, cfg, &h, &err);
	if (r < 0) {
		json_decref(cfg);
		refuse(d, c, req, "host.enforce", WARD_HOST_SANDBOX, -r, "%s", err.msg);
		return;
	}
	set_host(d, h, cfg);
	r = save(d, cfg, text, len, &err);
	if (r < 0) {
		/* in force but not stored: a restart would not know it; say so */
		daemon_note(d, true, "host mode: %s", err.msg);
	}
	detail_of(detail, sizeof(detail), cfg);
	daemon_row(d, c, "allow", "host.enforce", WARD_HOST_SANDBOX, detail,
		   ward_host_policy(h)->rev);
	log_failclosed(d, h);
	reply_ok(c, req, json_pack("{s:o}", "host", ward_host_status_json(h, d->pin_dir)));
}

int host_apply_policy(struct ward_daemon *d, struct ward_policy *p, const char *source,
		      const char *text, size_t len, const char *why, struct ward_error *err)
{
	struct ward_host *h = NULL;
	char detail[1024];
	json_t *cfg;
	int r;

	/* how it is enforced stays (scope, audit, hosts, CA); only the policy changes */
	if (d->host && d->host_cfg)
		cfg = json_deep_copy(d->host_cfg);
	else
		cfg = json_pack("{s:b, s:b}", "enforced", 1, "audit", 0);
	if (!cfg) {
		ward_policy_free(p);
		return ward_err(err, -ENOMEM, "host mode");
	}
	if (!d->host && d->cfg.host_scope && *d->cfg.host_scope)
		json_object_set_new(cfg, "scope", json_string(d->cfg.host_scope));
	json_object_set_new(cfg, "enforced", json_true());
	json_object_set_new(cfg, "policy", json_string(source));
	r = enforce(d, p, cfg, &h, err);
	if (r < 0) {
		json_decref(cfg);
		daemon_row(d, NULL, "deny", "host.enforce", WARD_HOST_SANDBOX, err->msg, NULL);
		return r;
	}
	set_host(d, h, cfg);
	r = save(d, cfg, text, len, err);
	if (r < 0)
		daemon_note(d, true, "host mode: %s", err->msg);
	detail_of(detail, sizeof(detail), cfg);
	if (why)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "; %s", why);
	daemon_row(d, NULL, "allow", "host.enforce", WARD_HOST_SANDBOX, detail,
		   ward_host_policy(h)->rev);
	log_failclosed(d, h);
	return 0;
}

void verb_host_status(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	json_t *st = ward_host_status_json(d->host, d->pin_dir);

	if (!st) {
		reply_err(c, req, ENOMEM, "host status");
		return;
	}
	if (d->bundle)
		json_object_set_new(st, "bundle", bundle_status_json(d));
	reply_ok(c, req, json_pack("{s:o}", "host", st));
}

void verb_host_stop(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	struct ward_error err = { 0 };
	const char *rev = d->host ? ward_host_policy(d->host)->rev : NULL;
	char rev_copy[65] = "";
	json_t *cfg;
	int r;

	if (rev)
		snprintf(rev_copy, sizeof(rev_copy), "%s", rev);
	set_host(d, NULL, NULL);
	r = ward_host_unpin(d->pin_dir, &err);
	if (r < 0 && r != -ENOENT) {
		refuse(d, c, req, "host.stop", WARD_HOST_SANDBOX, -r, "%s", err.msg);
		return;
	}
	cfg = json_pack("{s:b}", "enforced", 0);
	if (save(d, cfg, NULL, 0, &err) < 0)
		daemon_note(d, true, "host mode: %s", err.msg);
	json_decref(cfg);
	daemon_row(d, c, "allow", "host.stop", WARD_HOST_SANDBOX,
		   r == -ENOENT ? "nothing was pinned" : "programs detached, pins removed",
		   rev_copy);
	reply_ok(c, req, json_pack("{s:b}", "was_pinned", r != -ENOENT));
}

void host_release(struct ward_daemon *d)
{
	set_host(d, NULL, NULL);
}
