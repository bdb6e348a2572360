/* SPDX-License-Identifier: MIT */
/* `ward run --watch`: the policy file, watched with inotify, becomes a new
 * generation of the running sandbox each time it changes (runtime.h).
 *
 * The file and its directory are watched: editors that save by writing a
 * new file and renaming it over the old one replace the inode, which only
 * the directory sees. Events are debounced (a save is several events; a
 * file written in place is read once its writer closed it) before the file
 * is read and compiled again:
 *   - invalid: refused() gets the FILE:LINE:COL diagnostics, a `control` row
 *     (action deny, rule policy_apply) says so, the old generation stays;
 *   - the same compiled revision (a comment, a touch): unchanged();
 *   - valid: ward_runtime_apply() (its `control` row names both revisions and
 *     what applies to new sessions only), then applied() or failed().
 * The callbacks run on the watcher's thread, one at a time.
 *
 *   ward_policy_watch_new(&cfg, &w, &err);   before the sandbox: no edit is missed
 *   ward_policy_watch_start(w, rt, &err);    once the layers are attached
 *   ward_policy_watch_free(w);               before ward_runtime_free */
#pragma once

#include "common/error.h"
#include "policy/policy.h"
#include "runtime/runtime.h"

struct ward_policy_watch_config {
	const char *path;
	unsigned debounce_ms; /* quiet time before a reload; 0: 150 ms */
	void *data;
	/* the file was not applied: diags (errors at FILE:LINE:COL), or why
	 * when it could not be read at all (then diags is empty) */
	void (*refused)(void *data, const struct ward_diags *diags, const char *why,
			const char *old_rev);
	/* a new generation is in force; diags: its warnings */
	void (*applied)(void *data, const struct ward_diags *diags,
			const struct ward_apply_report *rep);
	/* saved, but what is compiled is the policy in force (rev) */
	void (*unchanged)(void *data, const char *rev);
	/* valid, but a layer could not switch: the old generation stays */
	void (*failed)(void *data, const char *why, const char *old_rev);
};

struct ward_policy_watch;

int ward_policy_watch_new(const struct ward_policy_watch_config *cfg,
			  struct ward_policy_watch **ret, struct ward_error *err);
/* Apply to rt from now on (runtime config's attached callback). */
int ward_policy_watch_start(struct ward_policy_watch *w, struct ward_runtime *rt,
			    struct ward_error *err);
/* Stop the thread (an apply under way finishes first) and close. NULL ok. */
void ward_policy_watch_free(struct ward_policy_watch *w);
