// SPDX-License-Identifier: MIT
/* ward run: load the policy, open the decision log, run the command in a
 * sandbox, exit with its status (DESIGN.md, "The command line"). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "commands.h"
#include "common/cleanup.h"
#include "enforcer/netns_hook.h" /* network layer (h5) */
#include "enforcer/egress_hook.h" /* eBPF egress layer (h4) */
#include "enforcer/fs_hook.h" /* filesystem layer (f1) */
#include "enforcer/sandbox.h"
#include "policy/policy.h"
#include "proxy/dns_hook.h" /* DNS stub (p3) */
#include "proxy/inference_hook.h" /* inference.local (i1) */
#include "proxy/cred.h"	      /* credentials (p2, p4) */
#include "proxy/proxy_hook.h" /* the proxy (p1) */
#include "proxy/tls.h"	      /* TLS interception (p2, p4) */

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_run[] =
	"Usage: ward run --policy FILE [--log DB] [--workdir DIR] [--hosts FILE]\n"
	"                [--upstream-ca FILE] -- CMD [ARG...]\n"
	"\n"
	"Run CMD in a sandbox under the policy FILE and exit with its status.\n"
	"ward must run as root; the command itself never does.\n"
	"\n"
	"The sandbox (see docs/sandbox.md):\n"
	"  - new mount, pid, ipc, uts and network namespaces (network: loopback only),\n"
	"    a cgroup v2 leaf ward/<id>, hostname ward-<id>;\n"
	"  - a root holding only the policy's read_only and read_write paths at their\n"
	"    host locations, a private /proc, a minimal /dev, a private /tmp unless the\n"
	"    policy maps one; nothing else of the host is visible;\n"
	"  - Landlock (highest ABI the kernel offers), seccomp (EPERM for raw sockets,\n"
	"    ptrace, bpf, mounts, io_uring, new user namespaces, ...);\n"
	"  - the policy's run_as user, no capabilities, no_new_privs, no core dumps.\n"
	"\n"
	"Options:\n"
	"  --policy FILE       the policy (required); errors are printed as\n"
	"                      FILE:LINE:COL: message and nothing runs\n"
	"  --log DB            decision log (default: $WARD_LOG, else\n"
	"                      /var/lib/ward/decisions.db); start and exit rows go there\n"
	"  --workdir DIR       the command's working directory, visible at its host\n"
	"                      path (default: the current directory); read-write when\n"
	"                      the policy says include_workdir: true, else read-only\n"
	"                      and readable only where the policy's paths allow it\n"
	"  --hosts FILE        hosts(5) entries for the proxy and DNS stub (names\n"
	"                      resolved there first)\n"
	"  --upstream-ca FILE  extra CA (PEM) trusted for upstream TLS, next to the\n"
	"                      system roots (the proxy verifies every upstream)\n"
	"  -h, --help          show this help\n"
	"\n"
	"CMD is searched in $PATH inside the sandbox. The environment passes through\n"
	"unchanged; stdin, stdout, stderr and the controlling terminal are shared.\n"
	"Signals sent to ward (TERM, INT, HUP, QUIT, USR1, USR2, WINCH) are forwarded\n"
	"to the command. If ward dies, the sandbox is killed.\n"
	"\n"
	"Exit status:\n"
	"  N      the command exited with N\n"
	"  128+N  the command died of signal N\n"
	"  125    ward failed before the command ran (bad policy, not root, setup\n"
	"         failure, a required kernel feature missing)\n"
	"  126    the command is not executable\n"
	"  127    the command was not found\n";

struct run_args {
	const char *policy;
	const char *log;
	const char *workdir;
	const char *hosts;
	const char *upstream_ca;
	char **argv;
};

static void print_diag(void *data, bool warning, const char *msg)
{
	fprintf(stderr, "ward: %s%s\n", warning ? "warning: " : "", msg);
}

/* 0 parsed, 1 help printed, -1 usage error (printed). */
static int parse(int argc, char **argv, struct run_args *a)
{
	static const char *const with_value[] = { "--policy", "--log", "--workdir", "--hosts",
						  "--upstream-ca" };
	const char **slots[] = { &a->policy, &a->log, &a->workdir, &a->hosts, &a->upstream_ca };
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		size_t k;

		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage_run, stdout);
			return 1;
		}
		if (arg[0] != '-')
			break;
		for (k = 0; k < ARRAY_SIZE(with_value); k++) {
			size_t n = strlen(with_value[k]);

			if (!strncmp(arg, with_value[k], n) && (arg[n] == '\0' || arg[n] == '=')) {
				val = arg[n] == '=' ? arg + n + 1 : (i + 1 < argc ? argv[++i] : NULL);
				break;
			}
		}
		if (k == ARRAY_SIZE(with_value)) {
			fprintf(stderr, "ward run: unknown option '%s'\n", arg);
			return -1;
		}
		if (!val || !*val) {
			fprintf(stderr, "ward run: %s needs a value\n", with_value[k]);
			return -1;
		}
		*slots[k] = val;
	}
	if (!a->policy) {
		fprintf(stderr, "ward run: --policy FILE is required\n");
		return -1;
	}
	if (i >= argc) {
		fprintf(stderr, "ward run: no command given (ward run --policy FILE -- CMD ...)\n");
		return -1;
	}
	a->argv = argv + i;
	return 0;
}

/* TLS interception and credentials (docs/tls.md): one ephemeral CA per ward
 * run, its certificate merged with the system roots into a bundle placed over
 * the system bundle inside the sandbox (clients that ignore the environment
 * trust it too), the upstream TLS context, and the credential placeholders. */
struct tls_setup {
	struct ward_tls_ca *ca;
	struct ward_tls_upstream *up;
	struct ward_cred_store *creds;
	char bundle[PATH_MAX];
};

static int tls_setup(const struct ward_policy *policy, const char *upstream_ca,
		     struct tls_setup *t, const char **ret_target, struct ward_error *err)
{
	char id[WARD_SANDBOX_ID_LEN + 1];
	struct ward_tls_ca_opts o = { 0 };
	struct stat st;
	int r;

	/* secrets first: a missing one must fail before anything else is set up */
	r = ward_cred_store_new(policy, &t->creds, err);
	if (r < 0)
		return r;
	/* the command inherits ward's environment: only placeholders may be in it */
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
	r = ward_tls_upstream_new(NULL, upstream_ca, &t->up, err);
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
	/* over the system bundle when the host has one (a bound /etc needs the
	 * target to exist), else a path of ward's own */
	*ret_target = lstat(WARD_TLS_SYSTEM_ROOTS, &st) == 0 ? WARD_TLS_SYSTEM_ROOTS
							      : WARD_TLS_BUNDLE_SANDBOX_PATH;
	return 0;
}

static void tls_teardown(struct tls_setup *t)
{
	if (t->bundle[0])
		unlink(t->bundle);
	ward_cred_store_free(t->creds);
	ward_tls_upstream_free(t->up);
	ward_tls_ca_free(t->ca);
}

static int check_file(const char *opt, const char *path)
{
	struct stat st;

	if (!path)
		return 0;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "ward: %s %s: %s\n", opt, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "ward: %s %s: not a regular file\n", opt, path);
		return -1;
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(ward_policy_freep) struct ward_policy *policy = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	struct ward_audit *audit = NULL;
	struct run_args a = { 0 };
	char workdir[PATH_MAX];
	const char *log;
	int r, status = WARD_EXIT_SETUP;

	r = parse(argc, argv, &a);
	if (r != 0) {
		if (r < 0)
			fputs("Run 'ward run --help' for usage.\n", stderr);
		return r > 0 ? 0 : WARD_EXIT_SETUP;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "ward: ward run needs root (namespaces, cgroups, mounts); "
				"the command itself runs unprivileged\n");
		return WARD_EXIT_SETUP;
	}
	if (check_file("--hosts", a.hosts) < 0 || check_file("--upstream-ca", a.upstream_ca) < 0)
		return WARD_EXIT_SETUP;
	if (!realpath(a.workdir ? a.workdir : ".", workdir)) {
		fprintf(stderr, "ward: workdir %s: %s\n", a.workdir ? a.workdir : ".",
			strerror(errno));
		return WARD_EXIT_SETUP;
	}

	r = ward_policy_load(a.policy, &policy, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "ward: %s\n", err.msg);
		return WARD_EXIT_SETUP;
	}

	log = a.log ? a.log : ward_audit_default_path();
	r = ward_audit_open(log, &audit, &err);
	if (r >= 0)
		r = ward_audit_store_policy(audit, policy, &err);
	if (r < 0) {
		fprintf(stderr, "ward: decision log %s: %s\n", log, err.msg);
		ward_audit_close(audit);
		return WARD_EXIT_SETUP;
	}

	/* --- network layer (src/enforcer/netns_hook.h): veth + nftables + NFLOG rows;
	 * the sandbox may connect only to the proxy (3128, 3129) and DNS stub (53). */
	struct ward_netns_run net = WARD_NETNS_RUN_INIT;
	net.audit = audit;
	net.policy_rev = policy->rev;
	static const uint16_t net_ports[] = { WARD_NETNS_PROXY_PORT, WARD_NETNS_TPROXY_PORT,
					      WARD_NETNS_DNS_PORT };
	/* --- end network layer */

	/* --- eBPF egress layer (src/enforcer/egress_hook.h): per-binary verdicts in the
	 * kernel, attached to the cgroup leaf; needs the network hook's addresses. */
	struct ward_egress_run egress = WARD_EGRESS_RUN_INIT;
	egress.audit = audit;
	egress.policy = policy;
	egress.net = &net;
	/* Landlock checks connect() before the BPF hook redirects it: endpoint ports
	 * must pass Landlock; the BPF programs decide per binary. */
	_cleanup_free_ uint16_t *connect_ports = NULL;
	size_t n_connect_ports = 0;
	if (ward_egress_connect_ports(policy, net_ports, ARRAY_SIZE(net_ports), &connect_ports,
				      &n_connect_ports) < 0) {
		fprintf(stderr, "ward: out of memory\n");
		ward_audit_close(audit);
		return WARD_EXIT_SETUP;
	}
	/* --- end eBPF egress layer */

	/* --- DNS stub (src/proxy/dns_hook.h): the sandbox's /etc/resolv.conf names
	 * 127.0.0.53, which the egress programs send to the stub on the veth. */
	struct ward_dns_run dns = { .audit = audit, .policy = policy, .net = &net, .egress = &egress };
	struct ward_mount_file files[2];
	size_t n_files = 0;
	struct tls_setup tls = { 0 };
	const char *bundle_target = NULL;
	if (policy->n_net || policy->n_routes) {
		const char *resolv;

		if (ward_dns_resolv_conf(&resolv, &err) < 0) {
			fprintf(stderr, "ward: %s\n", err.msg);
			ward_audit_close(audit);
			return WARD_EXIT_SETUP;
		}
		files[n_files++] = (struct ward_mount_file){ resolv, WARD_DNS_RESOLV_CONF_TARGET };
		if (tls_setup(policy, a.upstream_ca, &tls, &bundle_target, &err) < 0) {
			fprintf(stderr, "ward: %s\n", err.msg);
			tls_teardown(&tls);
			ward_audit_close(audit);
			return WARD_EXIT_SETUP;
		}
		files[n_files++] = (struct ward_mount_file){ tls.bundle, bundle_target };
	}
	/* --- end DNS stub */
	/* --- inference.local (src/proxy/inference_hook.h, i1): keys read on the host
	 * (a missing one: 125 before anything runs), hidden from the sandbox. */
	struct ward_inference *inference = NULL;
	if (policy->n_routes) {
		struct ward_inference_config icfg = { .policy = policy, .hosts_file = a.hosts,
						      .upstream_ca = a.upstream_ca, .audit = audit };

		if (ward_inference_new(&icfg, &inference, &err) < 0) {
			fprintf(stderr, "ward: %s\n", err.msg);
			tls_teardown(&tls);
			ward_audit_close(audit);
			return WARD_EXIT_SETUP;
		}
	}
	/* --- end inference.local */
	/* --- the proxy (src/proxy/proxy_hook.h): listens on the veth's host side
	 * before the command runs, identifies clients through the egress maps and
	 * sets HTTP_PROXY & co. for the command. */
	struct ward_proxy_run proxy = { .audit = audit, .log_path = log, .policy = policy,
					.net = &net, .egress = &egress, .hosts_file = a.hosts,
					.tls_ca = tls.ca, .tls_upstream = tls.up,
					.creds = tls.creds, .bundle_path = bundle_target,
					.inference = inference };
	/* --- end proxy */
	/* --- filesystem layer (src/enforcer/fs_hook.h): denials logged, protected
	 * paths. Prepared before the sandbox exists so its init holds the fanotify
	 * group (fail closed if ward dies). */
	struct ward_fs_run fsl = WARD_FS_RUN_INIT;
	fsl.audit = audit;
	fsl.policy = policy;
	if (ward_fs_run_prepare(&fsl, print_diag, NULL, &err) < 0) {
		fprintf(stderr, "ward: %s\n", err.msg);
		ward_fs_run_finish(&fsl);
		ward_inference_free(inference); /* i1 */
		ward_audit_close(audit);
		return WARD_EXIT_SETUP;
	}
	const struct ward_sandbox_hook fs_hooks[] = { { "fs", ward_fs_hook, &fsl } };
	/* --- end filesystem layer */
	const struct ward_sandbox_hook hooks[] = { { "netns", ward_netns_hook, &net },
						   { "egress", ward_egress_hook, &egress },
						   { "dns", ward_dns_hook, &dns },
						   { "inference", ward_inference_hook, inference },
						   { "proxy", ward_proxy_hook, &proxy },
						   { "fs", ward_fs_hook, &fsl } };

	struct ward_sandbox_opts opts = {
		.policy = policy,
		.workdir = workdir,
		.argv = a.argv,
		.audit = audit,
		.diag = print_diag,
		.hosts_file = a.hosts,
		.upstream_ca = a.upstream_ca,
		/* Landlock TCP only when the policy asks (landlock.restrict_tcp): it
		 * cannot tell loopback, which stays usable, from the outside. */
		.tcp_connect_ports = policy->landlock_restrict_tcp ? connect_ports : NULL,
		.n_tcp_connect_ports = n_connect_ports,
		.files = files, /* DNS stub: resolv.conf */
		.n_files = n_files,
		/* No network policy and no inference route: nothing may leave, so the
		 * sandbox keeps only its loopback and the network layers are not set up
		 * (the filesystem layer always is). */
		.hooks = policy->n_net || policy->n_routes ? hooks : fs_hooks,
		.n_hooks = policy->n_net || policy->n_routes ? ARRAY_SIZE(hooks)
							     : ARRAY_SIZE(fs_hooks),
	};
	r = ward_sandbox_run(&opts, &status, &err);
	ward_proxy_run_finish(&proxy); /* the proxy: stop before the egress maps go */
	ward_inference_free(inference); /* inference.local: after the proxy (i1) */
	ward_dns_run_finish(&dns); /* DNS stub: stop before the egress maps go */
	ward_egress_run_finish(&egress); /* eBPF egress layer: drain events, detach */
	ward_netns_run_finish(&net); /* network layer: drain NFLOG rows, delete the veth pair */
	tls_teardown(&tls);	     /* after the proxy: it used the CA and the store */
	ward_fs_run_finish(&fsl); /* filesystem layer: the sandbox is gone; drain, close */
	if (r < 0 || (status == WARD_EXIT_SETUP && err.msg[0])) {
		fprintf(stderr, "ward: %s\n", err.msg);
		status = WARD_EXIT_SETUP;
	}
	ward_audit_close(audit);
	return status;
}
