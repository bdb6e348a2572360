// SPDX-License-Identifier: MIT
/* The layers around the sandbox of `ward run` (run_layers.h). Order matters
 * twice: hooks run netns → egress → dns → inference → proxy → fs (each needs
 * the ones before it), and teardown stops users before what they use (the
 * proxy and the DNS stub read the egress maps; the proxy uses the CA). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "proxy/cred.h"
#include "proxy/inference.h"
#include "runtime/layer_inference.h"
#include "proxy/tls.h"
#include "runtime/run_layers.h"

static bool networked(const struct ward_policy *p)
{
	return p->n_net || p->n_routes;
}

/* Credentials first (a missing secret must fail before anything else exists),
 * then one ephemeral CA per run, its certificate merged with the system roots
 * into a bundle placed over the system bundle inside the sandbox (clients
 * that ignore the environment trust it too), and the upstream TLS context. */
static int tls_prepare(struct ward_run_layers *l, const char **ret_target, struct ward_error *err)
{
	char id[WARD_SANDBOX_ID_LEN + 1];
	struct ward_tls_ca_opts o = { 0 };
	struct stat st;
	int r;

	r = ward_cred_store_new(l->policy, &l->creds, err);
	if (r < 0)
		return r;
	/* ward's own copies of the secrets' variables become placeholders too,
	 * so nothing environment.pass lets through can carry a secret */
	r = ward_cred_apply_env(l->creds);
	if (r < 0)
		return ward_err(err, r, "credential placeholders");
	r = ward_sandbox_new_id(id);
	if (r < 0)
		return ward_err(err, r, "getrandom");
	o.instance = id;
	r = ward_tls_ca_new(&o, &l->tls_ca, err);
	if (r < 0)
		return ward_err_prefix(err, "TLS CA");
	r = ward_tls_upstream_new(NULL, l->upstream_ca, &l->tls_up, err);
	if (r < 0)
		return ward_err_prefix(err, "upstream TLS");
	if (mkdir("/run/ward", 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir /run/ward");
	snprintf(l->bundle, sizeof(l->bundle), "/run/ward/ca-%s.pem", id);
	r = ward_tls_write_bundle(l->tls_ca, NULL, l->bundle, err);
	if (r < 0) {
		l->bundle[0] = '\0';
		return ward_err_prefix(err, "CA bundle");
	}
	/* a bound /etc needs the target to exist: else a path of ward's own */
	*ret_target = lstat(WARD_TLS_SYSTEM_ROOTS, &st) == 0 ? WARD_TLS_SYSTEM_ROOTS
							      : WARD_TLS_BUNDLE_SANDBOX_PATH;
	return 0;
}

static void add_hook(struct ward_run_layers *l, const char *name,
		     int (*fn)(struct ward_sandbox *, void *, struct ward_error *), void *data)
{
	/* a fixed list of layers: a new one grows the array */
	if (l->n_hooks >= ARRAY_SIZE(l->hooks))
		abort();
	l->hooks[l->n_hooks++] = (struct ward_sandbox_hook){ name, fn, data };
}

/* Host unix sockets (docs/sandbox.md): whatever the policy maps, networked
 * or not. Without the kernel's help, the layer is left out and said so. */
static void unix_prepare(struct ward_run_layers *l)
{
	struct ward_error e = { 0 };

	l->unix_sockets.audit = l->audit;
	l->unix_sockets.policy = l->policy;
	l->unix_sockets.quiet = networked(l->policy); /* egress warns about the binaries */
	if (ward_unix_run_prepare(&l->unix_sockets, &e) < 0) {
		l->unix_degraded = true;
		snprintf(l->unix_why, sizeof(l->unix_why), "%.200s", e.msg);
		if (l->diag) {
			char msg[512];

			snprintf(msg, sizeof(msg), "unix sockets: %s: /tmp, /run, /var/tmp and "
				 "/dev/shm are private in this run", l->unix_why);
			l->diag(NULL, true, msg);
		}
		return;
	}
	add_hook(l, "unix", ward_unix_hook, &l->unix_sockets);
	l->unix_on = true;
}

static int network_prepare(struct ward_run_layers *l, struct ward_error *err)
{
	static const uint16_t base_ports[] = { WARD_NETNS_PROXY_PORT, WARD_NETNS_TPROXY_PORT,
					       WARD_NETNS_DNS_PORT };
	const char *resolv, *bundle_target = NULL;
	int r;

	l->net.audit = l->audit;
	l->net.policy_rev = l->policy->rev;
	l->egress.audit = l->audit;
	l->egress.policy = l->policy;
	l->egress.net = &l->net;
	/* Landlock checks connect() before the BPF hook redirects it: with
	 * landlock.restrict_tcp the endpoint ports must pass Landlock too. */
	r = ward_egress_connect_ports(l->policy, base_ports, ARRAY_SIZE(base_ports),
				      &l->connect_ports, &l->n_connect_ports);
	if (r < 0)
		return ward_err(err, r, "Landlock TCP ports");
	l->dns = (struct ward_dns_run){ .audit = l->audit, .policy = l->policy, .net = &l->net,
					.egress = &l->egress };
	/* the sandbox's /etc/resolv.conf names 127.0.0.53, which the egress
	 * programs send to the stub on the veth */
	r = ward_dns_resolv_conf(&resolv, err);
	if (r < 0)
		return r;
	l->files[l->n_files++] = (struct ward_mount_file){ resolv, WARD_DNS_RESOLV_CONF_TARGET };
	r = tls_prepare(l, &bundle_target, err);
	if (r < 0)
		return r;
	l->files[l->n_files++] = (struct ward_mount_file){ l->bundle, bundle_target };
	if (l->policy->n_routes) {
		/* keys read on the host now: a missing one fails before anything runs */
		struct ward_inference_config icfg = { .policy = l->policy,
						      .hosts_file = l->hosts_file,
						      .upstream_ca = l->upstream_ca,
						      .audit = l->audit };

		r = ward_inference_new(&icfg, &l->inference, err);
		if (r < 0)
			return r;
	}
	l->proxy = (struct ward_proxy_run){ .audit = l->audit, .log_path = l->log_path,
					    .policy = l->policy, .net = &l->net,
					    .egress = &l->egress, .hosts_file = l->hosts_file,
					    .tls_ca = l->tls_ca, .tls_upstream = l->tls_up,
					    .creds = l->creds, .bundle_path = bundle_target,
					    .inference = l->inference };
	add_hook(l, "netns", ward_netns_hook, &l->net);
	add_hook(l, "egress", ward_egress_hook, &l->egress);
	add_hook(l, "dns", ward_dns_hook, &l->dns);
	if (l->inference)
		add_hook(l, "inference", ward_inference_hook, l->inference);
	add_hook(l, "proxy", ward_proxy_hook, &l->proxy);
	return 0;
}

int ward_run_layers_prepare(struct ward_run_layers *l, struct ward_error *err)
{
	int r;

	l->net = (struct ward_netns_run)WARD_NETNS_RUN_INIT;
	l->egress = (struct ward_egress_run)WARD_EGRESS_RUN_INIT;
	l->fs = (struct ward_fs_run)WARD_FS_RUN_INIT;
	l->unix_sockets = (struct ward_unix_run)WARD_UNIX_RUN_INIT;
	if (networked(l->policy)) {
		r = network_prepare(l, err);
		if (r < 0)
			return r;
	}
	unix_prepare(l);
	/* Before the sandbox exists, so its init holds the fanotify group: if ward
	 * dies, protected opens wait for a verdict that never comes (fail closed). */
	l->fs.audit = l->audit;
	l->fs.policy = l->policy;
	r = ward_fs_run_prepare(&l->fs, l->diag, NULL, err);
	if (r < 0)
		return r;
	add_hook(l, "fs", ward_fs_hook, &l->fs);
	return 0;
}

void ward_run_layers_apply(const struct ward_run_layers *l, struct ward_sandbox_opts *opts)
{
	opts->hooks = l->hooks;
	opts->n_hooks = l->n_hooks;
	opts->files = l->files;
	opts->n_files = l->n_files;
	opts->unix_broker = l->unix_on;
	opts->private_sockdirs = l->unix_degraded;
	/* Landlock TCP only when the policy asks (landlock.restrict_tcp): it cannot
	 * tell loopback, which stays usable, from the outside. */
	static const uint16_t no_ports[1];

	if (l->policy->landlock_restrict_tcp) {
		/* without the network layers: none at all (non-NULL, empty) */
		opts->tcp_connect_ports = l->connect_ports ? l->connect_ports : no_ports;
		opts->n_tcp_connect_ports = l->n_connect_ports;
	}
}

void ward_run_layers_finish(struct ward_run_layers *l)
{
	ward_unix_run_finish(&l->unix_sockets);
	ward_proxy_run_finish(&l->proxy);   /* uses the egress maps, the CA, inference */
	ward_inference_free(l->inference);  /* wipes the keys */
	l->inference = NULL;
	ward_dns_run_finish(&l->dns);	    /* uses the egress maps */
	ward_egress_run_finish(&l->egress); /* drain events, detach */
	ward_netns_run_finish(&l->net);	    /* drain NFLOG rows, delete the veth pair */
	if (l->bundle[0])
		unlink(l->bundle);
	l->bundle[0] = '\0';
	ward_cred_store_free(l->creds);
	l->creds = NULL;
	ward_tls_upstream_free(l->tls_up);
	l->tls_up = NULL;
	ward_tls_ca_free(l->tls_ca);
	l->tls_ca = NULL;
	ward_fs_run_finish(&l->fs); /* the sandbox is gone: drain, close fanotify */
	free(l->connect_ports);
	l->connect_ports = NULL;
}
