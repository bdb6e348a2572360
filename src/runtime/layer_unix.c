// SPDX-License-Identifier: MIT
/* The unix-socket layer as a sandbox hook; see layer_unix.h. */
#include "runtime/layer_unix.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "enforcer/sandbox.h"

static void drain(void *p)
{
	ward_unix_consume(p);
	ward_unix_report_drops(p, false);
}

int ward_unix_run_prepare(struct ward_unix_run *run, struct ward_error *err)
{
	struct ward_unix_config cfg = { .audit = run->audit,
					.broker_tgid = getpid(),
					.session_of = run->session_of,
					.learn = run->learn };
	int r = ward_unix_notify_probe();

	if (r < 0)
		return ward_err(err, r, "seccomp user notification");
	return ward_unix_new(run->policy, &cfg, &run->u, err);
}

int ward_unix_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_unix_run *run = data;
	struct ward_unix_broker_config bc;
	const char *const *warn;
	size_t n_warn;
	int r;

	if (!run->u)
		return ward_errx(err, -EINVAL, "unix layer not prepared");
	if (sb->unix_listener < 0)
		return ward_errx(err, -EINVAL,
				 "the sandbox's init has no connect() listener "
				 "(opts.unix_broker unset)");
	snprintf(run->sandbox, sizeof(run->sandbox), "%s", sb->id);
	r = ward_unix_set_sandbox(run->u, run->sandbox);
	if (r < 0)
		return ward_err(err, r, "unix");
	/* binaries that match no file: the egress layer, resolving the same
	 * paths, already said so; said here only when it is not running */
	warn = ward_unix_warnings(run->u, &n_warn);
	for (size_t i = 0; i < n_warn && !run->quiet; i++)
		if (sb->opts->diag)
			sb->opts->diag(sb->opts->diag_data, true, warn[i]);
	/* the backstop first: no connect() of the sandbox escapes both */
	r = ward_unix_attach(run->u, sb->cgroup.fd, err);
	if (r < 0)
		goto fail;
	r = ward_worker_start_reader(&run->reader, ward_unix_events_fd(run->u), WARD_EVENTS_POLL_MS,
				     drain, run->u, "unix event reader", err);
	if (r < 0)
		goto fail;
	bc = (struct ward_unix_broker_config){ .u = run->u,
					       .init_pid = sb->init_pid,
					       .init_listener = sb->unix_listener,
					       .uid = sb->uid,
					       .gid = sb->gid };
	r = ward_unix_broker_start(&bc, &run->broker, err);
	if (r < 0)
		goto fail;
	return 0;

fail:
	ward_unix_run_finish(run);
	return r;
}

void ward_unix_run_finish(struct ward_unix_run *run)
{
	ward_unix_broker_stop(run->broker);
	run->broker = NULL;
	ward_worker_stop(&run->reader);
	if (run->u)
		ward_unix_report_drops(run->u, true);
	ward_unix_free(run->u);
	run->u = NULL;
}
