// SPDX-License-Identifier: MIT
/* ward run's layers behind the layer interface (layers.h): each adapts one
 * module's run struct (layer_*.h) to prepare / attach / apply / finish. */
#include "runtime/layers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "proxy/cred.h"
#include "proxy/inference.h"
#include "proxy/tls.h"
#include "runtime/layer_dns.h"
#include "runtime/layer_egress.h"
#include "runtime/layer_fs.h"
#include "runtime/layer_inference.h"
#include "runtime/layer_netns.h"
#include "runtime/layer_proxy.h"
#include "runtime/layer_unix.h"

static bool networked(const struct ward_policy *p)
{
	return p->n_net || p->n_routes;
}

/* learning (docs/learn.md) needs the network layers to see what the command
 * reaches, also when the policy allows nothing */
static bool networked_run(const struct ward_layer *l, const struct ward_policy *p)
{
	return networked(p) || ward_layer_config(l)->learn;
}

/* --- netns: veth pair, nftables, NFLOG rows (no policy data: no apply) */
static int netns_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct ward_netns_run *run = ward_layer_state(l);
	const struct ward_policy *p = ward_layer_policy(l);

	*run = (struct ward_netns_run)WARD_NETNS_RUN_INIT;
	run->audit = ward_layer_config(l)->audit;
	run->policy_rev = p->rev;
	return networked_run(l, p) ? 0 : WARD_LAYER_ABSENT;
}

static int netns_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	return ward_netns_hook(sb, ward_layer_state(l), err);
}

static void netns_finish(struct ward_layer *l)
{
	ward_netns_run_finish(ward_layer_state(l)); /* drain NFLOG rows, delete the veth pair */
}

static const struct ward_layer_ops netns_ops = {
	.name = "netns",
	.state_size = sizeof(struct ward_netns_run),
	.prepare = netns_prepare,
	.attach = netns_attach,
	.finish = netns_finish,
};

/* --- egress: the eBPF programs on the sandbox's cgroup */
struct egress_layer {
	struct ward_egress_run run;
	uint16_t *connect_ports; /* Landlock TCP ports with landlock.restrict_tcp */
	size_t n_connect_ports;
};

static int egress_prepare(struct ward_layer *l, struct ward_error *err)
{
	static const uint16_t base_ports[] = { WARD_NETNS_PROXY_PORT, WARD_NETNS_TPROXY_PORT,
					       WARD_NETNS_DNS_PORT };
	struct egress_layer *e = ward_layer_state(l);
	const struct ward_policy *p = ward_layer_policy(l);
	struct ward_sandbox_opts *opts = ward_layer_sandbox_opts(l);
	int r;

	e->run = (struct ward_egress_run)WARD_EGRESS_RUN_INIT;
	e->run.audit = ward_layer_config(l)->audit;
	e->run.policy = p;
	e->run.net = ward_layer_dep(l, "netns");
	e->run.session_of = ward_layer_session_hook(l);
	e->run.learn = ward_layer_config(l)->learn;
	/* Landlock checks connect() before the BPF hook redirects it: with
	 * landlock.restrict_tcp the endpoint ports must pass Landlock too. */
	r = ward_egress_connect_ports(p, base_ports, ARRAY_SIZE(base_ports), &e->connect_ports,
				      &e->n_connect_ports);
	if (r < 0)
		return ward_err(err, r, "Landlock TCP ports");
	opts->tcp_connect_ports = e->connect_ports;
	opts->n_tcp_connect_ports = e->n_connect_ports;
	return 0;
}

static int egress_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	struct egress_layer *e = ward_layer_state(l);

	return ward_egress_hook(sb, &e->run, err);
}

static void egress_finish(struct ward_layer *l)
{
	struct egress_layer *e = ward_layer_state(l);

	ward_egress_run_finish(&e->run); /* drain events, detach */
	free(e->connect_ports);
	e->connect_ports = NULL;
}

/* the kernel maps switch in one write (docs/egress.md) */
static int egress_apply(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
			struct ward_error *err)
{
	struct egress_layer *e = ward_layer_state(l);

	return ward_egress_apply(e->run.egress, g->policy, err);
}

static void egress_settle(struct ward_layer *l)
{
	struct egress_layer *e = ward_layer_state(l);

	if (e->run.egress)
		ward_egress_settle(e->run.egress);
}

static const struct ward_layer_ops egress_ops = {
	.name = "egress",
	.deps = (const char *const[]){ "netns", NULL },
	.sections = (const char *const[]){ "network_policies", NULL },
	.state_size = sizeof(struct egress_layer),
	.keeps_generations = true,
	.prepare = egress_prepare,
	.attach = egress_attach,
	.apply = egress_apply,
	.settle = egress_settle,
	.finish = egress_finish,
};

/* --- dns: the stub on the veth, names decided by the policy */
static int dns_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct ward_dns_run *run = ward_layer_state(l);
	struct egress_layer *e = ward_layer_dep(l, "egress");
	const char *resolv;
	int r;

	*run = (struct ward_dns_run){ .audit = ward_layer_config(l)->audit,
				      .policy = ward_layer_policy(l),
				      .net = ward_layer_dep(l, "netns"),
				      .egress = &e->run,
				      .learn = ward_layer_config(l)->learn };
	/* the sandbox's /etc/resolv.conf names 127.0.0.53, which the egress
	 * programs send to the stub on the veth */
	r = ward_dns_resolv_conf(&resolv, err);
	if (r < 0)
		return r;
	return ward_layer_add_file(l, resolv, WARD_DNS_RESOLV_CONF_TARGET, err);
}

static int dns_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	return ward_dns_hook(sb, ward_layer_state(l), err);
}

static void dns_finish(struct ward_layer *l)
{
	ward_dns_run_finish(ward_layer_state(l));
}

/* one pointer swap: queries in flight finish under their generation */
static int dns_apply(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
		     struct ward_error *err)
{
	struct ward_dns_run *run = ward_layer_state(l);

	return ward_dns_apply(run->dns, g, err);
}

static const struct ward_layer_ops dns_ops = {
	.name = "dns",
	.deps = (const char *const[]){ "netns", "egress", NULL },
	.sections = (const char *const[]){ "network_policies", NULL },
	.state_size = sizeof(struct ward_dns_run),
	.prepare = dns_prepare,
	.attach = dns_attach,
	.apply = dns_apply,
	.finish = dns_finish,
};

/* --- tls: TLS interception and credentials (docs/tls.md), for the proxy */
struct tls_layer {
	struct ward_tls_ca *ca;
	struct ward_tls_upstream *up;
	struct ward_cred_store *creds;
	char bundle[PATH_MAX]; /* host path of the merged CA bundle, "" when none */
	const char *target;    /* where it is inside */
};

/* Credentials first (a missing secret must fail before anything else exists),
 * then one ephemeral CA per run, its certificate merged with the system roots
 * into a bundle placed over the system bundle inside the sandbox (clients
 * that ignore the environment trust it too), and the upstream TLS context. */
static int tls_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct tls_layer *t = ward_layer_state(l);
	const struct ward_policy *p = ward_layer_policy(l);
	char id[WARD_SANDBOX_ID_LEN + 1];
	struct ward_tls_ca_opts o = { 0 };
	struct stat st;
	int r;

	if (!networked_run(l, p))
		return WARD_LAYER_ABSENT;
	r = ward_cred_store_new(p, &t->creds, err);
	if (r < 0)
		return r;
	/* ward's own copies of the secrets' variables become placeholders too,
	 * so nothing environment.pass lets through can carry a secret */
	r = ward_cred_apply_env(t->creds);
	if (r < 0)
		return ward_err(err, r, "credential placeholders");
	r = ward_sandbox_new_id(id);
	if (r < 0)
		return ward_err(err, r, "getrandom");
	o.instance = id;
	r = ward_tls_ca_new(&o, &t->ca, err);
	if (r < 0)
		return ward_err_prefix(err, "TLS CA");
	r = ward_tls_upstream_new(NULL, ward_layer_config(l)->upstream_ca, &t->up, err);
	if (r < 0)
		return ward_err_prefix(err, "upstream TLS");
	if (mkdir("/run/ward", 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir /run/ward");
	snprintf(t->bundle, sizeof(t->bundle), "/run/ward/ca-%s.pem", id);
	r = ward_tls_write_bundle(t->ca, NULL, t->bundle, err);
	if (r < 0) {
		t->bundle[0] = '\0';
		return ward_err_prefix(err, "CA bundle");
	}
	/* a bound /etc needs the target to exist: else a path of ward's own */
	t->target = lstat(WARD_TLS_SYSTEM_ROOTS, &st) == 0 ? WARD_TLS_SYSTEM_ROOTS
							   : WARD_TLS_BUNDLE_SANDBOX_PATH;
	return ward_layer_add_file(l, t->bundle, t->target, err);
}

static void tls_finish(struct ward_layer *l)
{
	struct tls_layer *t = ward_layer_state(l);

	if (t->bundle[0])
		unlink(t->bundle);
	t->bundle[0] = '\0';
	ward_cred_store_free(t->creds);
	t->creds = NULL;
	ward_tls_upstream_free(t->up);
	t->up = NULL;
	ward_tls_ca_free(t->ca);
	t->ca = NULL;
}

static const struct ward_layer_ops tls_ops = {
	.name = "tls",
	.state_size = sizeof(struct tls_layer),
	.prepare = tls_prepare,
	.finish = tls_finish,
};

/* --- inference: inference.local's routes and keys */
struct inference_layer {
	struct ward_inference *inf;
};

static int inference_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct inference_layer *il = ward_layer_state(l);
	const struct ward_runtime_config *cfg = ward_layer_config(l);
	const struct ward_policy *p = ward_layer_policy(l);
	/* keys read on the host now: a missing one fails before anything runs */
	struct ward_inference_config icfg = { .policy = p,
					      .hosts_file = cfg->hosts_file,
					      .upstream_ca = cfg->upstream_ca,
					      .audit = cfg->audit,
					      .learn = cfg->learn };
	int r;

	if (!p->n_routes)
		return WARD_LAYER_ABSENT;
	r = ward_inference_new(&icfg, &il->inf, err);
	return r < 0 ? r : 0;
}

static int inference_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	struct inference_layer *il = ward_layer_state(l);

	return ward_inference_hook(sb, il->inf, err);
}

static void inference_finish(struct ward_layer *l)
{
	struct inference_layer *il = ward_layer_state(l);

	ward_inference_free(il->inf); /* wipes the keys */
	il->inf = NULL;
}

static const struct ward_layer_ops inference_ops = {
	.name = "inference",
	.sections = (const char *const[]){ "inference", NULL },
	.state_size = sizeof(struct inference_layer),
	.prepare = inference_prepare,
	.attach = inference_attach,
	.finish = inference_finish,
};

/* --- proxy: CONNECT, forward, transparent; L7, TLS, credentials, inference */
static int proxy_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct ward_proxy_run *run = ward_layer_state(l);
	const struct ward_runtime_config *cfg = ward_layer_config(l);
	struct egress_layer *e = ward_layer_dep(l, "egress");
	struct tls_layer *t = ward_layer_dep(l, "tls");
	struct inference_layer *il = ward_layer_dep(l, "inference");

	*run = (struct ward_proxy_run){ .audit = cfg->audit,
					.log_path = cfg->log_path,
					.policy = ward_layer_policy(l),
					.net = ward_layer_dep(l, "netns"),
					.egress = &e->run,
					.hosts_file = cfg->hosts_file,
					.tls_ca = t->ca,
					.tls_upstream = t->up,
					.creds = t->creds,
					.bundle_path = t->target,
					.inference = il ? il->inf : NULL,
					.learn = cfg->learn };
	return 0;
}

static int proxy_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	return ward_proxy_hook(sb, ward_layer_state(l), err);
}

static void proxy_finish(struct ward_layer *l)
{
	ward_proxy_run_finish(ward_layer_state(l));
}

/* new requests and connections under g; open ones g denies are closed
 * ("revoked by policy rev R") */
static int proxy_apply(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
		       struct ward_error *err)
{
	struct ward_proxy_run *run = ward_layer_state(l);

	/* routes need inference.local's handle (keys read at the start) */
	if (!ward_layer_dep(l, "inference"))
		ward_apply_report_later(rep, "inference");
	return ward_proxy_apply(run->proxy, g, err);
}

static const struct ward_layer_ops proxy_ops = {
	.name = "proxy",
	.deps = (const char *const[]){ "netns", "egress", "tls", "?inference", NULL },
	.sections = (const char *const[]){ "network_policies", "credentials", "inference", NULL },
	.state_size = sizeof(struct ward_proxy_run),
	.prepare = proxy_prepare,
	.attach = proxy_attach,
	.apply = proxy_apply,
	.finish = proxy_finish,
};

/* --- unix: host unix sockets (docs/sandbox.md), networked or not; without
 * the kernel's help the layer is left out and said so */
static int unix_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct ward_unix_run *run = ward_layer_state(l);
	struct ward_sandbox_opts *opts = ward_layer_sandbox_opts(l);
	struct ward_error e = { 0 };
	char msg[512];

	*run = (struct ward_unix_run)WARD_UNIX_RUN_INIT;
	run->audit = ward_layer_config(l)->audit;
	run->policy = ward_layer_policy(l);
	run->quiet = networked(run->policy); /* egress warns about the binaries */
	run->session_of = ward_layer_session_hook(l);
	run->learn = ward_layer_config(l)->learn;
	if (ward_unix_run_prepare(run, &e) < 0) {
		opts->private_sockdirs = true;
		snprintf(msg, sizeof(msg),
			 "unix sockets: %.200s: /tmp, /run, /var/tmp and "
			 "/dev/shm are private in this run",
			 e.msg);
		ward_layer_diag(l, true, msg);
		return WARD_LAYER_ABSENT;
	}
	opts->unix_broker = true;
	return 0;
}

static int unix_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	return ward_unix_hook(sb, ward_layer_state(l), err);
}

static void unix_finish(struct ward_layer *l)
{
	ward_unix_run_finish(ward_layer_state(l));
}

static int unix_apply(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
		      struct ward_error *err)
{
	struct ward_unix_run *run = ward_layer_state(l);

	/* host endpoints need the network layers, which this run has not */
	if (!ward_layer_dep(l, "netns") && networked(g->policy))
		ward_apply_report_later(rep, "network_policies");
	return ward_unix_apply(run->u, g->policy, err);
}

static void unix_settle(struct ward_layer *l)
{
	struct ward_unix_run *run = ward_layer_state(l);

	if (run->u)
		ward_unix_settle(run->u);
}

/* A session's own connect() listener: a broker of its own, for as long as
 * the session runs (the sandbox's init has one for ward run). */
static int unix_session(struct ward_layer *l, pid_t pid, int listener, uid_t uid, gid_t gid,
			void **ret_handle, struct ward_error *err)
{
	struct ward_unix_run *run = ward_layer_state(l);
	struct ward_unix_broker_config bc = {
		.u = run->u, .init_pid = pid, .init_listener = listener, .uid = uid, .gid = gid
	};

	if (listener < 0)
		return ward_errx(err, -EINVAL, "the session has no connect() listener");
	return ward_unix_broker_start(&bc, (struct ward_unix_broker **)ret_handle, err);
}

static void unix_session_end(struct ward_layer *l, void *handle)
{
	(void)l;
	ward_unix_broker_stop(handle);
}

static const struct ward_layer_ops unix_ops = {
	.name = "unix",
	.deps = (const char *const[]){ "?netns", NULL },
	.sections = (const char *const[]){ "network_policies", NULL },
	.state_size = sizeof(struct ward_unix_run),
	.keeps_generations = true,
	.prepare = unix_prepare,
	.attach = unix_attach,
	.apply = unix_apply,
	.settle = unix_settle,
	.finish = unix_finish,
	.session = unix_session,
	.session_end = unix_session_end,
};

/* --- fs: denial rows and per-binary protected paths. Prepared before the
 * sandbox exists, so its init holds the fanotify group: if ward dies,
 * protected opens wait for a verdict that never comes (fail closed). */
static int fs_prepare(struct ward_layer *l, struct ward_error *err)
{
	struct ward_fs_run *run = ward_layer_state(l);
	const struct ward_runtime_config *cfg = ward_layer_config(l);

	*run = (struct ward_fs_run)WARD_FS_RUN_INIT;
	run->audit = cfg->audit;
	run->policy = ward_layer_policy(l);
	run->session_of = ward_layer_session_hook(l);
	run->learn = cfg->learn;
	return ward_fs_run_prepare(run, cfg->diag, cfg->diag_data, err);
}

static int fs_attach(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err)
{
	return ward_fs_hook(sb, ward_layer_state(l), err);
}

static void fs_finish(struct ward_layer *l)
{
	ward_fs_run_finish(ward_layer_state(l)); /* the sandbox is gone: drain, close */
}

static const struct ward_layer_ops fs_ops = {
	.name = "fs",
	.sections = (const char *const[]){ "filesystem_policy.binaries", NULL },
	.state_size = sizeof(struct ward_fs_run),
	.prepare = fs_prepare,
	.attach = fs_attach,
	.finish = fs_finish,
};

int ward_run_layers_add(struct ward_runtime *rt, struct ward_error *err)
{
	static const struct ward_layer_ops *const layers[] = {
		&netns_ops,	&egress_ops, &dns_ops,	&tls_ops,
		&inference_ops, &proxy_ops,  &unix_ops, &fs_ops,
	};

	return ward_runtime_add_layers(rt, layers, ARRAY_SIZE(layers), err);
}
