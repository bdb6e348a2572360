// SPDX-License-Identifier: MIT
/* The filesystem layer as a sandbox hook; see layer_fs.h. */
#include "runtime/layer_fs.h"

#include <errno.h>
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

static void *load_main(void *p)
{
	struct ward_fs_run *run = p;
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
	int r = ward_fs_protect_new(run->policy, &run->protect, err);

	if (r < 0)
		return ward_err_prefix(err, "protected paths");
	warn = ward_fs_protect_warnings(run->protect, &n_warn);
	for (size_t i = 0; diag && i < n_warn; i++)
		diag(diag_data, true, warn[i]);
	r = pthread_create(&run->loader, NULL, load_main, run);
	if (r)
		return ward_err(err, -r, "fs: loader thread");
	run->loading = true;
	return 0;
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

	loaded(run, &ignored);		/* the hook may never have run */
	ward_worker_stop(&run->reader); /* its last act drains the ring buffer */
	ward_fs_free(run->fs);
	run->fs = NULL;
	ward_fs_protect_free(run->protect);
	run->protect = NULL;
}
