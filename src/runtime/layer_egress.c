// SPDX-License-Identifier: MIT
/* The egress layer as a sandbox hook; see layer_egress.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/layer_egress.h"
#include "enforcer/sandbox.h"

/* the kernel wakes the reader only when the buffer fills: also on a timer */
static void drain(void *p)
{
	ward_egress_consume(p);
}

int ward_egress_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_egress_run *run = data;
	const struct ward_netns *net = run->net ? run->net->net : NULL;
	struct ward_egress_config cfg;
	const char *const *warn;
	size_t n_warn;
	int r;

	if (!net)
		return ward_errx(err, -EINVAL, "egress: the network hook must run first");
	snprintf(run->sandbox, sizeof(run->sandbox), "%s", sb->id);
	cfg = (struct ward_egress_config){
		.proxy4 = net->host_ip4,
		.proxy6 = net->host_ip6,
		.has_proxy6 = true,
		.dns4 = net->host_ip4,
		.dns6 = net->host_ip6,
		.has_dns6 = true,
		.explicit_port = net->proxy_port,
		.transparent_port = net->tproxy_port,
		.dns_port = net->dns_port,
		.sandbox = run->sandbox,
		.audit = run->audit,
		.session_of = run->session_of,
		.audit_mode = run->learn,
	};
	r = ward_egress_new(run->policy, &cfg, &run->egress, err);
	if (r < 0)
		return ward_err_prefix(err, "egress");
	warn = ward_egress_warnings(run->egress, &n_warn);
	for (size_t i = 0; i < n_warn; i++)
		if (sb->opts->diag)
			sb->opts->diag(sb->opts->diag_data, true, warn[i]);
	r = ward_egress_attach(run->egress, sb->cgroup.fd, err);
	if (r < 0)
		goto fail;
	r = ward_worker_start_reader(&run->reader, ward_egress_events_fd(run->egress),
				     WARD_EVENTS_POLL_MS, drain, run->egress, "egress event reader",
				     err);
	if (r < 0)
		goto fail;
	return 0;

fail:
	ward_egress_run_finish(run);
	return r;
}

void ward_egress_run_finish(struct ward_egress_run *run)
{
	ward_worker_stop(&run->reader);
	/* what was lost since the last periodic row, before the counters go */
	if (run->egress)
		ward_egress_report_drops(run->egress, true);
	ward_egress_free(run->egress);
	run->egress = NULL;
}
