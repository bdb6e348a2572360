// SPDX-License-Identifier: MIT
/* ward daemon --policy-source DIR --bundle-key PUB.pem: signed policy
 * bundles (docs/fleet.md "Signed policy bundles"). DIR is scanned at start
 * and watched with inotify for *.bundle files that arrive whole (a rename,
 * or a close after writing). Before anything applies, a bundle's signature,
 * every file's sha256 and its version (greater than the applied one, kept
 * in <state>/bundle.json) are checked, and every policy in it is compiled
 * and checked (rule packs; the sandboxes against the bundle's host policy,
 * else the one in force): a bad, tampered or older bundle is a deny row of
 * verb "bundle" and changes nothing. Then the host policy goes through host
 * mode's live path, each sandbox policy through policy.apply's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "fleet/bundle.h"
#include "policy/ceiling.h"
#include "policy/policy.h"
#include "policy/rules.h"
#include "runtime/daemon_internal.h"
#include "runtime/host.h"

#define BUNDLE_STATE "bundle.json"
#define BUNDLE_SUFFIX ".bundle"
#define BUNDLE_SEEN 64 /* contents already judged, so a repeated event is no new row */

DEFINE_CLEANUP(struct ward_bundle *, ward_bundle_free)
DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

struct dbundle {
	char *dir;
	char *key_path;
	EVP_PKEY *pub;
	int ifd;
	uint64_t version; /* applied; 0: none */
	char sha256[65];  /* of the applied container */
	char file[NAME_MAX + 1];
	uint64_t applied_ns;
	char seen[BUNDLE_SEEN][65];
	unsigned n_seen;
};

static bool seen(struct dbundle *b, const char *sha)
{
	for (unsigned i = 0; i < BUNDLE_SEEN; i++)
		if (!strcmp(b->seen[i], sha))
			return true;
	snprintf(b->seen[b->n_seen++ % BUNDLE_SEEN], 65, "%s", sha);
	return false;
}

static void row(struct ward_daemon *d, const char *action, const char *sandbox, const char *rev,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void row(struct ward_daemon *d, const char *action, const char *sandbox, const char *rev,
		const char *fmt, ...)
{
	char detail[WARD_ERROR_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	daemon_note(d, strcmp(action, "allow") != 0, "bundle: %s", detail);
	daemon_row(d, NULL, action, "bundle", sandbox, detail, rev);
}

static int load_state(struct ward_daemon *d, struct dbundle *b, struct ward_error *err)
{
	_cleanup_free_ char *js = NULL;
	char path[PATH_MAX];
	json_t *o, *v;
	const char *s;
	int r;

	snprintf(path, sizeof(path), "%s/" BUNDLE_STATE, d->state_dir);
	r = ward_read_file(path, 64 * 1024, &js, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return ward_err(err, r, "read %s", path);
	o = json_loads(js, 0, NULL);
	v = json_object_get(o, "version");
	/* the version is what refuses a replayed older bundle: unreadable state fails closed */
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		json_decref(o);
		return ward_errx(err, -EBADMSG, "%s: no version: remove it to accept any bundle",
				 path);
	}
	b->version = (uint64_t)json_integer_value(v);
	if ((s = json_string_value(json_object_get(o, "sha256"))))
		snprintf(b->sha256, sizeof(b->sha256), "%s", s);
	if ((s = json_string_value(json_object_get(o, "file"))))
		snprintf(b->file, sizeof(b->file), "%s", s);
	v = json_object_get(o, "applied_ns");
	b->applied_ns = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	json_decref(o);
	return 0;
}

int bundle_init(struct ward_daemon *d, struct ward_error *err)
{
	struct dbundle *b;
	int r;

	if (!d->cfg.policy_source && !d->cfg.bundle_key)
		return 0;
	if (!d->cfg.policy_source || !d->cfg.bundle_key || !*d->cfg.policy_source)
		return ward_errx(err, -EINVAL,
				 "--policy-source DIR and --bundle-key PUB.pem go "
				 "together");
	b = calloc(1, sizeof(*b));
	if (!b)
		return ward_err(err, -ENOMEM, "bundle");
	b->ifd = -1;
	d->bundle = b;
	b->dir = strdup(d->cfg.policy_source);
	b->key_path = strdup(d->cfg.bundle_key);
	if (!b->dir || !b->key_path)
		return ward_err(err, -ENOMEM, "bundle");
	r = ward_bundle_key_load(b->key_path, false, &b->pub, err);
	if (r < 0)
		return ward_err_prefix(err, "--bundle-key");
	r = load_state(d, b, err);
	if (r < 0)
		return r;
	b->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (b->ifd < 0)
		return ward_err(err, -errno, "inotify");
	/* whole files only: a close after writing, or a rename into DIR */
	if (inotify_add_watch(b->ifd, b->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0)
		return ward_err(err, -errno, "--policy-source %s", b->dir);
	return 0;
}

void bundle_free(struct ward_daemon *d)
{
	struct dbundle *b = d->bundle;

	if (!b)
		return;
	if (b->ifd >= 0)
		close(b->ifd);
	EVP_PKEY_free(b->pub);
	free(b->dir);
	free(b->key_path);
	free(b);
	d->bundle = NULL;
}

int bundle_fd(const struct ward_daemon *d)
{
	return d->bundle ? d->bundle->ifd : -1;
}

json_t *bundle_status_json(const struct ward_daemon *d)
{
	const struct dbundle *b = d->bundle;
	json_t *o;

	if (!b)
		return json_null();
	o = json_pack("{s:s, s:I}", "source", b->dir, "version", (json_int_t)b->version);
	if (o && b->version) {
		json_object_set_new(o, "sha256", json_string(b->sha256));
		json_object_set_new(o, "file", json_string(b->file));
		json_object_set_new(o, "applied_ns", json_integer((json_int_t)b->applied_ns));
	}
	return o ? o : json_null();
}

static bool candidate(const char *name)
{
	size_t n = strlen(name), s = strlen(BUNDLE_SUFFIX);

	return name[0] != '.' && n > s && !strcmp(name + n - s, BUNDLE_SUFFIX);
}

/* The bundle is applied: the state first (a restart must not take an older
 * one), then the log's meta keys (the shipper copies them to the central
 * store's hosts row). */
static void record(struct ward_daemon *d, const char *file, const struct ward_bundle *wb)
{
	struct dbundle *b = d->bundle;
	struct ward_error err = { 0 };
	_cleanup_free_ char *js = NULL;
	char ver[24];
	json_t *o;

	b->version = wb->version;
	snprintf(b->sha256, sizeof(b->sha256), "%s", wb->sha256);
	snprintf(b->file, sizeof(b->file), "%s", file);
	b->applied_ns = ward_now_ns();
	o = json_pack("{s:I, s:s, s:s, s:I, s:s}", "version", (json_int_t)b->version, "sha256",
		      b->sha256, "file", b->file, "applied_ns", (json_int_t)b->applied_ns, "key",
		      wb->key_id);
	js = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!js || write_atomic(d->state_fd, BUNDLE_STATE, js, strlen(js), 0600, &err) < 0)
		daemon_note(d, true, "bundle: version %" PRIu64 " in force but not stored: %s",
			    b->version, js ? err.msg : "out of memory");
	snprintf(ver, sizeof(ver), "%" PRIu64, b->version);
	if (ward_audit_set_meta(d->audit, "bundle_version", ver, &err) < 0 ||
	    ward_audit_set_meta(d->audit, "bundle_sha256", b->sha256, &err) < 0)
		daemon_note(d, true, "bundle: decision log meta: %s", err.msg);
}

struct compiled {
	const struct ward_bundle_file *f;
	struct ward_policy *p;
	struct dsandbox *sb; /* NULL: the host policy, or a sandbox that does not exist */
	char source[PATH_MAX + WARD_BUNDLE_NAME_MAX + 2];
};

/* Compile and check everything; 0, or err says which file and why. */
static int compile_all(struct ward_daemon *d, const char *path, const struct ward_bundle *wb,
		       struct compiled *c, struct ward_error *err)
{
	const struct ward_policy *host = NULL;
	int r;

	/* the host policy first: it is the ceiling of the sandboxes' */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < wb->n_files; i++) {
			const struct ward_bundle_file *f = &wb->files[i];

			if ((pass == 0) != (f->role == WARD_BUNDLE_HOST))
				continue;
			c[i].f = f;
			snprintf(c[i].source, sizeof(c[i].source), "%s/%s", path, f->name);
			r = policy_compile_text(c[i].source, (const char *)f->data, f->len, &c[i].p,
						err);
			if (r >= 0 && f->role == WARD_BUNDLE_SANDBOX && host) {
				struct ward_ceiling_report rep = { 0 };

				r = ward_policy_ceiling(c[i].p, host, &rep, err);
				if (r == -EPERM && rep.n)
					ward_errx(err, -EINVAL,
						  "%s:%u:%u: %s (the bundle's host policy)",
						  rep.sandbox_file, rep.v[0].pos.line,
						  rep.v[0].pos.col, rep.v[0].msg);
				ward_ceiling_report_free(&rep);
				r = r == -EPERM ? -EINVAL : r;
			} else if (r >= 0 && f->role == WARD_BUNDLE_SANDBOX) {
				r = ward_host_ceiling_check(d->state_dir, c[i].p, NULL, err);
			}
			if (r >= 0) {
				_cleanup_free_ char *warn = NULL;

				r = ward_rules_check(NULL, c[i].p, NULL, &warn, err);
				/* the packs' warnings: the daemon's log, as for a sandbox start */
				if (warn)
					daemon_note(d, true, "bundle %s: %s", c[i].source, warn);
			}
			if (r < 0)
				return r;
			if (f->role == WARD_BUNDLE_HOST)
				host = c[i].p;
			else
				c[i].sb = sandbox_find(d, f->sandbox);
		}
	}
	return 0;
}

static void apply(struct ward_daemon *d, const char *file, const char *path,
		  const struct ward_bundle *wb)
{
	struct dbundle *b = d->bundle;
	_cleanup_free_ struct compiled *c = calloc(wb->n_files, sizeof(*c));
	struct ward_error err = { 0 };
	char applied[1024] = "", failed[WARD_ERROR_MAX] = "", why[128];
	const char *host_rev = NULL;
	char host_rev_buf[65] = "";
	int r;

	if (!c) {
		row(d, "deny", NULL, NULL, "%s: out of memory; version %" PRIu64 " stays", file,
		    b->version);
		return;
	}
	r = compile_all(d, path, wb, c, &err);
	if (r < 0) {
		row(d, "deny", NULL, NULL,
		    "%s: version %" PRIu64 " refused: %s; version %" PRIu64 " stays", file,
		    wb->version, err.msg, b->version);
		goto out;
	}
	snprintf(why, sizeof(why), "bundle %s version %" PRIu64, file, wb->version);
	/* the host first: a refusal there leaves everything as it was */
	for (size_t i = 0; i < wb->n_files; i++) {
		if (c[i].f->role != WARD_BUNDLE_HOST)
			continue;
		snprintf(host_rev_buf, sizeof(host_rev_buf), "%s", c[i].p->rev);
		r = host_apply_policy(d, TAKE_PTR(c[i].p), c[i].source, (const char *)c[i].f->data,
				      c[i].f->len, why, &err);
		if (r < 0) {
			row(d, "deny", WARD_HOST_SANDBOX, NULL,
			    "%s: version %" PRIu64 " refused: host policy: %s; version %" PRIu64
			    " stays",
			    file, wb->version, err.msg, b->version);
			goto out;
		}
		host_rev = host_rev_buf;
		snprintf(applied, sizeof(applied), "host policy rev %.12s", host_rev);
	}
	for (size_t i = 0; i < wb->n_files; i++) {
		json_t *res = NULL;
		size_t n = strlen(applied);

		if (c[i].f->role != WARD_BUNDLE_SANDBOX)
			continue;
		if (!c[i].sb) {
			row(d, "audit", c[i].f->sandbox, NULL,
			    "%s: version %" PRIu64 ": sandbox %s does not exist: its policy is "
			    "not applied",
			    file, wb->version, c[i].f->sandbox);
			continue;
		}
		r = sandbox_apply_policy(d, NULL, c[i].sb, TAKE_PTR(c[i].p), c[i].source,
					 (const char *)c[i].f->data, c[i].f->len, false,
					 ward_mono_ns(), NULL, &res, &err);
		json_decref(res);
		if (r < 0) {
			size_t m = strlen(failed);

			if (snprintf(failed + m, sizeof(failed) - m, "%ssandbox %s: %s",
				     m ? "; " : "", c[i].sb->name,
				     err.msg) >= (int)(sizeof(failed) - m))
				failed[sizeof(failed) - 1] = '\0'; /* cut: the rows say the rest */
			continue;
		}
		snprintf(applied + n, sizeof(applied) - n, "%ssandbox %s rev %.12s", n ? ", " : "",
			 c[i].sb->name, c[i].sb->rev);
	}
	for (size_t i = 0; i < wb->n_files; i++)
		if (c[i].sb && c[i].sb->rt)
			ward_runtime_settle(c[i].sb->rt);
	if (*failed) {
		/* not recorded: the store keeps saying the old version, a restart retries */
		row(d, "deny", NULL, host_rev,
		    "%s: version %" PRIu64 " partially applied (%s); failed: %s; the applied "
		    "version stays %" PRIu64,
		    file, wb->version, *applied ? applied : "nothing", failed, b->version);
		goto out;
	}
	record(d, file, wb);
	row(d, "allow", NULL, host_rev,
	    "%s: version %" PRIu64 " applied (%s), sha256 %.16s, key %.16s", file, wb->version,
	    *applied ? applied : "no existing sandbox", wb->sha256, wb->key_id);
out:
	for (size_t i = 0; i < wb->n_files; i++)
		ward_policy_free(c[i].p);
}

/* One file of DIR: judged once per content. */
static void consider(struct ward_daemon *d, const char *file)
{
	struct dbundle *b = d->bundle;
	_cleanup_(ward_bundle_freep) struct ward_bundle *wb = NULL;
	_cleanup_free_ char *buf = NULL;
	struct ward_error err = { 0 };
	char path[PATH_MAX], sha[65];
	size_t len = 0;
	int r;

	if (!candidate(file))
		return;
	snprintf(path, sizeof(path), "%s/%s", b->dir, file);
	r = ward_read_file(path, WARD_BUNDLE_MAX_SIZE, &buf, &len);
	if (r == -ENOENT)
		return; /* gone again */
	if (r < 0) {
		row(d, "deny", NULL, NULL, "%s: %s; version %" PRIu64 " stays", file, strerror(-r),
		    b->version);
		return;
	}
	ward_sha256_hex(buf, len, sha);
	if (!strcmp(sha, b->sha256) || seen(b, sha))
		return;
	r = ward_bundle_parse(buf, len, &wb, &err);
	if (r >= 0)
		r = ward_bundle_verify(wb, b->pub, &err);
	if (r < 0) {
		row(d, "deny", NULL, NULL, "%s: refused: %s; version %" PRIu64 " stays", file,
		    err.msg, b->version);
		return;
	}
	if (wb->version <= b->version) {
		row(d, "deny", NULL, NULL,
		    "%s: refused: version %" PRIu64 " is not greater than the applied version "
		    "%" PRIu64,
		    file, wb->version, b->version);
		return;
	}
	apply(d, file, path, wb);
}

struct cand {
	char name[NAME_MAX + 1];
	uint64_t version; /* as the manifest says, unverified: only the order */
};

static int by_version_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->version < y->version	 ? 1
	       : x->version > y->version ? -1
					 : strcmp(x->name, y->name);
}

/* At start: the newest first, so the others are older than what applied. */
void bundle_scan(struct ward_daemon *d)
{
	struct dbundle *b = d->bundle;
	_cleanup_free_ struct cand *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dir;

	if (!b)
		return;
	dir = opendir(b->dir);
	if (!dir) {
		row(d, "deny", NULL, NULL, "--policy-source %s: %s", b->dir, strerror(errno));
		return;
	}
	while ((e = readdir(dir)) && n < 1024) {
		_cleanup_(ward_bundle_freep) struct ward_bundle *wb = NULL;
		_cleanup_free_ char *buf = NULL;
		char path[PATH_MAX];
		size_t len = 0;

		if (!candidate(e->d_name))
			continue;
		if (n == cap) {
			struct cand *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		snprintf(path, sizeof(path), "%s/%s", b->dir, e->d_name);
		v[n].version = 0;
		if (ward_read_file(path, WARD_BUNDLE_MAX_SIZE, &buf, &len) >= 0 &&
		    ward_bundle_parse(buf, len, &wb, NULL) >= 0)
			v[n].version = wb->version;
		n++;
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), by_version_desc);
	for (size_t i = 0; i < n; i++)
		consider(d, v[i].name);
}

void bundle_readable(struct ward_daemon *d)
{
	struct dbundle *b = d->bundle;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(b->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				bundle_scan(d);
			else if (ev->len && !(ev->mask & IN_ISDIR))
				consider(d, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}
