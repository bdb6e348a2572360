// SPDX-License-Identifier: MIT
/* The filesystem layer as a sandbox hook; see layer_fs.h. */
#include "runtime/layer_fs.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enforcer/sandbox.h"

/* the ring buffer wakes the reader lazily: also on a timer */
static void drain(void *p)
{
	ward_fs_consume(p);
}

static void drain_learn(void *p)
{
	ward_fs_learn_consume(p);
}

static void *load_main(void *p)
{
	struct ward_fs_run *run = p;

	if (run->learn) {
		struct ward_fs_learn_config lc = {
			.policy = run->policy,
			.audit = run->audit,
			.session_of = run->session_of,
		};

		run->load_r = ward_fs_learn_new(&lc, &run->learner, &run->load_err);
		return NULL;
	}
	struct ward_fs_config cfg = {
		.policy_rev = run->policy->rev,
		.audit = run->audit,
		.rate = run->rate,
		.burst = run->burst,
		.denied_map_fd = ward_fs_protect_denied_map_fd(run->protect),
		.hidden_paths = true,
		/* a protected file's content must not come out of its named
		 * binary's memory: only then is another process's memory guarded */
		.guard_procmem = run->policy->n_fs_binaries > 0,
		.landlock_audit = true, /* where the kernel writes them */
		.session_of = run->session_of,
	};

	run->load_r = ward_fs_new(&cfg, &run->fs, &run->load_err);
	return NULL;
}

/* The loaded programs, once the loader thread is done. */
static int loaded(struct ward_fs_run *run, struct ward_error *err)
{
	if (run->loading) {
		pthread_join(run->loader, NULL);
		run->loading = false;
	}
	if (run->load_r < 0)
		*err = run->load_err;
	return run->load_r;
}

int ward_fs_run_prepare(struct ward_fs_run *run, void (*diag)(void *, bool, const char *),
			void *diag_data, struct ward_error *err)
{
	const char *const *warn;
	size_t n_warn;
	int r;

	/* learn: protected paths are not enforced, their opens by other
	 * binaries are audit rows of the learner (ward_case_fs_decide) */
	if (run->learn)
		goto load;
	r = ward_fs_protect_new(run->policy, &run->protect, err);
	if (r < 0)
		return ward_err_prefix(err, "protected paths");
	warn = ward_fs_protect_warnings(run->protect, &n_warn);
	for (size_t i = 0; diag && i < n_warn; i++)
		diag(diag_data, true, warn[i]);
load:
	r = pthread_create(&run->loader, NULL, load_main, run);
	if (r)
		return ward_err(err, -r, "fs: loader thread");
	run->loading = true;
	return 0;
}

/* Learn mode: the learner for the sandbox's cgroup, attached before the
 * command runs. Unlike denial rows, learning is what was asked for: a
 * learner that cannot load or attach fails the run. */
static int learn_hook(struct ward_fs_run *run, struct ward_sandbox *sb, uint64_t cgid,
		      struct ward_error *err)
{
	char cwd[PATH_MAX];
	const char *workdir = sb->opts->workdir;
	int level = ward_cgroup_level(sb->cgroup.path);
	int r = loaded(run, err);

	if (r < 0)
		return ward_err_prefix(err, "fs learn");
	if (!workdir)
		workdir = getcwd(cwd, sizeof(cwd));
	r = ward_fs_learn_set_sandbox(run->learner, cgid, level > 0 ? (uint32_t)level : 0,
				      run->sandbox);
	if (r >= 0)
		r = ward_fs_learn_set_workdir(run->learner, workdir);
	if (r < 0)
		return ward_err(err, r, "fs learn: sandbox");
	r = ward_fs_learn_attach(run->learner, err);
	if (r < 0)
		return r;
	return ward_worker_start_reader(&run->reader, ward_fs_learn_events_fd(run->learner),
					WARD_EVENTS_POLL_MS, drain_learn, run->learner,
					"fs learn reader", err);
}

int ward_fs_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_fs_run *run = data;
	struct stat st;
	int r;

	snprintf(run->sandbox, sizeof(run->sandbox), "%s", sb->id);
	/* a cgroup's id is the inode number of its directory in cgroupfs */
	if (fstat(sb->cgroup.fd, &st) < 0)
		return ward_err(err, -errno, "fs: stat the cgroup leaf");
	if (run->learn)
		return learn_hook(run, sb, st.st_ino, err);
	/* Observing denials is logging, not enforcement: without BPF tracepoints
	 * the run goes on with a warning. Protected paths below fail closed. */
	r = loaded(run, err);
	if (r >= 0 && (r = ward_fs_set_sandbox(run->fs, st.st_ino, run->sandbox)) < 0)
		ward_err(err, r, "fs: sandbox");
	if (r >= 0) {
		int level = ward_cgroup_level(sb->cgroup.path);

		ward_fs_set_cgroup_level(run->fs, level > 0 ? (uint32_t)level : 0);
	}
	if (r >= 0 && (r = ward_fs_set_plan(run->fs, sb->plan)) < 0)
		ward_err(err, r, "fs: mount plan");
	if (r >= 0)
		r = ward_fs_attach(run->fs, err);
	if (r < 0) {
		char msg[sizeof(err->msg) + 64];

		snprintf(msg, sizeof(msg), "filesystem denials are not logged: %s", err->msg);
		if (sb->opts->diag)
			sb->opts->diag(sb->opts->diag_data, true, msg);
		ward_fs_free(run->fs);
		run->fs = NULL;
		err->msg[0] = '\0';
		err->code = 0;
	} else {
		r = ward_worker_start_reader(&run->reader, ward_fs_events_fd(run->fs),
					     WARD_EVENTS_POLL_MS, drain, run->fs, "fs event reader",
					     err);
		if (r < 0)
			goto fail;
	}
	if (run->protect) {
		struct ward_fs_protect_config pc = {
			.sandbox = run->sandbox,
			.policy_rev = run->policy->rev,
			.cgroup_path = sb->cgroup.path,
			.cgroup_id = st.st_ino,
			.audit = run->audit,
			.denied_map_fd = run->fs ? ward_fs_denied_map_fd(run->fs) : -1,
			.session_of = run->session_of,
		};

		r = ward_fs_protect_start(run->protect, &pc, err);
		if (r < 0) {
			ward_err_prefix(err, "protected paths");
			goto fail;
		}
	}
	return 0;
fail:
	/* the sandbox is killed by the caller on a failing hook; protect stays
	 * open until ward_fs_run_finish(), after it is gone */
	return r;
}

void ward_fs_run_finish(struct ward_fs_run *run)
{
	struct ward_error ignored;

	loaded(run, &ignored);		  /* the hook may never have run */
	ward_worker_stop(&run->reader);	  /* its last act drains the ring buffer */
	ward_fs_learn_free(run->learner); /* drains, reports what was suppressed */
	run->learner = NULL;
	ward_fs_free(run->fs);
	run->fs = NULL;
	ward_fs_protect_free(run->protect);
	run->protect = NULL;
}
