// SPDX-License-Identifier: MIT
/* The policy file watcher of `ward run --watch` (watch.h). */
#include "runtime/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "policy/ceiling.h"
#include "policy/rules.h"

#define DEBOUNCE_MS_DEFAULT 150
#define DEBOUNCE_MAX_ROUNDS 20 /* rewritten without pause or never closed: reloads still */

/* what changes a file's content, in its directory or on the file itself */
#define DIR_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM)
#define FILE_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct ward_policy_watch {
	struct ward_policy_watch_config cfg;
	struct ward_runtime *rt;
	char path[PATH_MAX];
	char base[NAME_MAX + 1];
	int ino; /* inotify */
	int dir_wd, file_wd;
	bool writing; /* the file was written to and not closed since */
	int stop;     /* eventfd */
	pthread_t thread;
	bool started;
};

int ward_policy_watch_new(const struct ward_policy_watch_config *cfg,
			  struct ward_policy_watch **ret, struct ward_error *err)
{
	struct ward_policy_watch *w;
	char dir[PATH_MAX], base[PATH_MAX];
	int r;

	if (!cfg->path || strlen(cfg->path) >= sizeof(dir))
		return ward_errx(err, -EINVAL, "watch: no policy path");
	w = calloc(1, sizeof(*w));
	if (!w)
		return ward_err(err, -ENOMEM, "watch");
	w->cfg = *cfg;
	w->ino = w->stop = w->file_wd = -1;
	snprintf(w->path, sizeof(w->path), "%s", cfg->path);
	snprintf(dir, sizeof(dir), "%s", cfg->path);
	snprintf(base, sizeof(base), "%s", cfg->path);
	snprintf(w->base, sizeof(w->base), "%s", basename(base));
	w->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	w->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ino < 0 || w->stop < 0) {
		r = ward_err(err, -errno, "watch: inotify");
		goto fail;
	}
	w->dir_wd = inotify_add_watch(w->ino, dirname(dir), DIR_MASK | IN_ONLYDIR);
	if (w->dir_wd < 0) {
		r = ward_err(err, -errno, "watch: the directory of %s", cfg->path);
		goto fail;
	}
	/* the file itself too: a write through a symlink shows only there */
	w->file_wd = inotify_add_watch(w->ino, w->path, FILE_MASK);
	*ret = w;
	return 0;

fail:
	ward_policy_watch_free(w);
	return r;
}

/* An event on the policy file: is a writer still at it? Written (a
 * truncate is a write) or created: yes until it closes; renamed over, moved
 * or deleted: no. */
static void note_write(struct ward_policy_watch *w, uint32_t mask)
{
	if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF |
		    IN_MOVE_SELF | IN_IGNORED))
		w->writing = false;
	else if (mask & (IN_MODIFY | IN_CREATE))
		w->writing = true;
}

/* Read what is queued: does it concern the policy file? */
static bool drain(struct ward_policy_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(w->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->wd == w->file_wd && w->file_wd >= 0) {
				hit = true;
				note_write(w, ev->mask);
				if (ev->mask & IN_IGNORED)
					w->file_wd = -1;
			} else if (ev->wd == w->dir_wd && ev->len && !strcmp(ev->name, w->base)) {
				hit = true;
				note_write(w, ev->mask);
			} else if (ev->mask & IN_Q_OVERFLOW) {
				hit = true;
				w->writing = false;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

/* -1: stop asked; 0: nothing within timeout_ms; > 0: events queued. */
static int wait_events(struct ward_policy_watch *w, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = w->ino, .events = POLLIN },
			       { .fd = w->stop, .events = POLLIN } };
	int r;

	do
		r = poll(p, 2, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0 || (p[1].revents & POLLIN))
		return -1; /* stop */
	return r;	   /* 0: quiet */
}

static void diag_line(const struct ward_diags *d, char *buf, size_t len)
{
	size_t errors = ward_diags_errors(d);

	buf[0] = '\0';
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag *g = &d->v[i];

		if (g->warning)
			continue;
		snprintf(buf, len, "%.300s:%u:%u: %.400s%s", g->file ? g->file : "?", g->line,
			 g->col, g->msg ? g->msg : "", errors > 1 ? " (and more errors)" : "");
		return;
	}
}

static void refuse(struct ward_policy_watch *w, const struct ward_diags *d, const char *why,
		   const char *old_rev)
{
	char first[768], reason[1024];

	if (why)
		snprintf(first, sizeof(first), "%.300s: %.400s", w->path, why);
	else
		diag_line(d, first, sizeof(first));
	snprintf(reason, sizeof(reason), "%s; policy rev %s stays", first, old_rev);
	ward_runtime_control_row(w->rt, "deny", "policy_apply", reason, old_rev);
	if (w->cfg.refused)
		w->cfg.refused(w->cfg.data, d, why, old_rev);
}

static void reload(struct ward_policy_watch *w)
{
	_cleanup_gen_ struct ward_gen *cur = ward_runtime_gen(w->rt);
	_cleanup_gen_ struct ward_gen *g = NULL;
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	struct ward_apply_report rep;
	int r;

	r = ward_policy_load(w->path, &p, &diags, &err);
	if (r < 0) {
		refuse(w, &diags, r == -EINVAL ? NULL : err.msg, cur->policy->rev);
		goto out;
	}
	if (ward_host_ceiling_check(NULL, p, NULL, &err) < 0) { /* the org ceiling */
		ward_policy_free(p);
		refuse(w, &diags, err.msg, cur->policy->rev);
		goto out;
	}
	if (ward_rules_check(NULL, p, NULL, NULL, &err) < 0) { /* the org's rule packs */
		ward_policy_free(p);
		refuse(w, &diags, err.msg, cur->policy->rev);
		goto out;
	}
	if (!strcmp(p->rev, cur->policy->rev)) {
		ward_policy_free(p); /* nothing that is compiled changed */
		if (w->cfg.unchanged)
			w->cfg.unchanged(w->cfg.data, cur->policy->rev);
		goto out;
	}
	r = ward_gen_new(p, cur->seq + 1, &g);
	if (r < 0) {
		refuse(w, &diags, strerror(-r), cur->policy->rev);
		goto out;
	}
	r = ward_runtime_apply(w->rt, g, &rep, &err);
	if (r == -ESRCH)
		goto out; /* the sandbox ended meanwhile */
	if (r < 0) {
		if (w->cfg.failed)
			w->cfg.failed(w->cfg.data, err.msg, cur->policy->rev);
		goto out;
	}
	if (w->cfg.applied)
		w->cfg.applied(w->cfg.data, &diags, &rep);
	ward_runtime_settle(w->rt); /* the waits the switches left */
out:
	ward_diags_free(&diags);
}

static void *watch_main(void *arg)
{
	struct ward_policy_watch *w = arg;
	int debounce = w->cfg.debounce_ms ? (int)w->cfg.debounce_ms : DEBOUNCE_MS_DEFAULT;

	/* edits made while the sandbox was being built are queued already */
	for (bool hit = drain(w);; hit = false) {
		while (!hit) {
			if (wait_events(w, -1) < 0)
				return NULL;
			hit = drain(w);
		}
		/* a save is several events (truncate, write, close, rename): quiet
		 * for a while, and the writer's close seen, so that a writer that
		 * pauses between its truncate and its writes (a slow disk, a
		 * slow script) is never read half-written; one that writes
		 * without pause or never closes is read after the last round */
		for (int i = 0; i < DEBOUNCE_MAX_ROUNDS; i++) {
			int r = wait_events(w, debounce);

			if (r < 0)
				return NULL;
			if (r == 0 && !w->writing)
				break;
			if (r > 0)
				drain(w);
		}
		w->writing = false;
		/* the file may be a new inode now (renamed over the old one) */
		w->file_wd = inotify_add_watch(w->ino, w->path, FILE_MASK);
		reload(w);
	}
	return NULL;
}

int ward_policy_watch_start(struct ward_policy_watch *w, struct ward_runtime *rt,
			    struct ward_error *err)
{
	sigset_t all, saved;
	int r;

	w->rt = rt;
	/* signals sent to ward are the command's (forwarded by the main thread) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	r = -pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r < 0)
		return ward_err(err, r, "watch: thread");
	w->started = true;
	return 0;
}

void ward_policy_watch_free(struct ward_policy_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		uint64_t one = 1;

		if (write(w->stop, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(w->thread);
		pthread_join(w->thread, NULL);
	}
	if (w->ino >= 0)
		close(w->ino);
	if (w->stop >= 0)
		close(w->stop);
	free(w);
}
