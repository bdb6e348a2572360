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
#include "common/log.h"
#include "enforcer/sandbox.h"
#include "policy/ceiling.h"
#include "policy/rules.h"
#include "policy/policy.h"
#include "policy/generation.h"
#include "runtime/layers.h"
#include "runtime/runtime.h"
#include "runtime/watch.h"
#include "run_summary.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_run[] =
	"Usage: ward run --policy FILE [--log DB] [--workdir DIR] [--hosts FILE]\n"
	"                [--upstream-ca FILE] [--watch] [--learn] -- CMD [ARG...]\n"
	"\n"
	"Run CMD in a sandbox under the policy FILE and exit with its status.\n"
	"ward must run as root; the command itself never does.\n"
	"\n"
	"The sandbox (see docs/sandbox.md):\n"
	"  - new mount, pid, ipc, uts and network namespaces, a cgroup v2 leaf\n"
	"    ward/<id>, hostname ward-<id>;\n"
	"  - a root holding only the policy's read_only and read_write paths at their\n"
	"    host locations, a private /proc, a minimal /dev, a private /tmp unless the\n"
	"    policy maps one; nothing else of the host is visible;\n"
	"  - Landlock (highest ABI the kernel offers), seccomp (EPERM for raw sockets,\n"
	"    ptrace, bpf, mounts, io_uring, new user namespaces, ...);\n"
	"  - the policy's run_as user, no capabilities, no_new_privs, no core dumps;\n"
	"  - cgroup limits from the policy's resources: memory (default 80% of RAM,\n"
	"    no swap), pids (default 4096, threads count), cpu (default none), and\n"
	"    the private /tmp's size; a row in the log when one bites (an OOM-killed\n"
	"    command exits 137);\n"
	"  - pid 1 is a minimal init (ward-init): nothing of ward's arguments,\n"
	"    environment or open files is visible inside;\n"
	"  - denied file operations logged with binary and path; paths the policy\n"
	"    protects per binary opened only by those binaries (docs/filesystem.md).\n"
	"\n"
	"With network_policies or inference routes, the sandbox also gets a veth pair\n"
	"to ward's proxy and DNS stub and nothing else (nftables), per-binary egress\n"
	"decided by eBPF programs on its cgroup (a binary without a network policy\n"
	"gets EPERM at connect), TLS interception for protocol: rest endpoints with\n"
	"an ephemeral CA the sandbox trusts, credentials it only sees as placeholders,\n"
	"and https://inference.local (docs/egress.md, proxy.md, dns.md, tls.md,\n"
	"inference.md). Without them it has a loopback interface only.\n"
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
	"  --watch             apply the policy FILE again whenever it changes, while\n"
	"                      CMD runs: network policies, credentials, inference\n"
	"                      routes and cgroup limits switch at once (open\n"
	"                      connections the new policy denies are closed); the\n"
	"                      mount plan, Landlock, run_as, the environment and\n"
	"                      protected paths apply to new sessions only; ward\n"
	"                      says which on stderr and\n"
	"                      in a control row. An invalid file is reported as\n"
	"                      FILE:LINE:COL: message and the policy in force stays\n"
	"  --learn             learn mode (docs/learn.md): what the policy would deny\n"
	"                      on the network (kernel egress, DNS, proxy and L7, unix\n"
	"                      sockets, inference) and the filesystem (the host's root\n"
	"                      is shown, Landlock restricts no file access; paths\n"
	"                      read, written and executed are traced in the kernel)\n"
	"                      is allowed and logged with action audit and the rule\n"
	"                      that would have denied it; then\n"
	"                      'ward policy suggest --log DB' writes a policy from\n"
	"                      the rows. Never for untrusted code: it allows\n"
	"                      everything the policy does not\n"
	"  -h, --help          show this help\n"
	"\n"
	"CMD is searched in $PATH inside the sandbox. Its environment is\n"
	"deny-by-default: of ward's own variables only PATH, HOME, USER, LOGNAME,\n"
	"SHELL, TERM, COLORTERM, LANG, LANGUAGE, LC_*, TZ and WARD_* (not WARD_LOG)\n"
	"pass, plus the policy's environment.pass (names, or globs with '*'; a\n"
	"name that looks like a secret - KEY, TOKEN, SECRET, PASSWORD, AUTH,\n"
	"AWS_*, GITHUB_*, ... - only by its exact name). ward then sets\n"
	"WARD_SANDBOX (the sandbox id), HOME/USER/LOGNAME of the run-as user (HOME\n"
	"is that user's home when the policy maps it - the sandbox account's is\n"
	"/home/sandbox - and the private /tmp when it does not), HTTP_PROXY & co.\n"
	"and the CA bundle variables (SSL_CERT_FILE, ...) when there is a network,\n"
	"and placeholders instead of credential and inference keys; the policy's\n"
	"environment.set comes last. The start row in the log lists the names\n"
	"passed, never their values.\n"
	"stdin, stdout, stderr and the controlling terminal are shared.\n"
	"Signals sent to ward (TERM, INT, HUP, QUIT, USR1, USR2, WINCH) are forwarded\n"
	"to the command (HUP too with --watch, which reloads on file changes only).\n"
	"If ward dies, the sandbox is killed.\n"
	"\n"
	"When stderr is a terminal, ward prints a summary of the run's refusals when\n"
	"the command ends: counts per layer, the most frequent refused destinations\n"
	"and paths, and the policy lines that would allow them.\n"
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
	bool watch;
	bool learn;
	char **argv;
};

/* ward -v: each layer step and how long it took */
static void trace_layer(void *data, const char *layer, const char *step, int r, uint64_t ns)
{
	(void)data;
	if (r < 0)
		log_debug("layer %s: %s failed (%s) after %.3f ms", layer, step, strerror(-r),
			  ns / 1e6);
	else
		log_debug("layer %s: %s%s in %.3f ms", layer, step,
			  r == WARD_LAYER_ABSENT ? " (absent)" : "", ns / 1e6);
}

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
		if (!strcmp(arg, "--watch")) {
			a->watch = true;
			continue;
		}
		if (!strcmp(arg, "--learn")) {
			a->learn = true;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(with_value); k++) {
			size_t n = strlen(with_value[k]);

			if (!strncmp(arg, with_value[k], n) && (arg[n] == '\0' || arg[n] == '=')) {
				val = arg[n] == '=' ? arg + n + 1
						    : (i + 1 < argc ? argv[++i] : NULL);
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

static void watch_refused(void *data, const struct ward_diags *diags, const char *why,
			  const char *old_rev)
{
	if (why)
		fprintf(stderr, "ward: %s: %s\n", (const char *)data, why);
	ward_diags_print(diags, stderr);
	fprintf(stderr, "ward: policy %s not applied: rev %.12s stays\n", (const char *)data,
		old_rev);
}

static void watch_applied(void *data, const struct ward_diags *diags,
			  const struct ward_apply_report *rep)
{
	char what[512];

	ward_diags_print(diags, stderr);
	ward_apply_report_describe(rep, what, sizeof(what));
	fprintf(stderr, "ward: policy rev %.12s -> %.12s: %s\n", rep->old_rev, rep->new_rev, what);
}

static void watch_failed(void *data, const char *why, const char *old_rev)
{
	fprintf(stderr, "ward: policy %s not applied: %s; rev %.12s stays\n", (const char *)data,
		why, old_rev);
}

static void watch_unchanged(void *data, const char *rev)
{
	fprintf(stderr, "ward: policy %s: nothing compiled changed (rev %.12s)\n",
		(const char *)data, rev);
}

static void start_watch(void *data, struct ward_runtime *rt)
{
	struct ward_error err = { 0 };

	/* the command runs unwatched rather than not at all: said so */
	if (ward_policy_watch_start(data, rt, &err) < 0)
		fprintf(stderr, "ward: warning: --watch: %s\n", err.msg);
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(ward_policy_freep) struct ward_policy *policy = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	struct ward_audit *audit = NULL;
	struct run_args a = { 0 };
	char workdir[PATH_MAX], id[WARD_SANDBOX_ID_LEN + 1] = "";
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
	/* the org ceiling: a host policy in force bounds every sandbox (deny wins) */
	if (ward_host_ceiling_check(NULL, policy, stderr, &err) < 0) {
		fprintf(stderr, "ward: %s\n", err.msg);
		return WARD_EXIT_SETUP;
	}
	/* the org's rule packs (/etc/ward/rules.d, $WARD_RULES_DIR) */
	if (ward_rules_check(NULL, policy, stderr, NULL, &err) < 0) {
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

	_cleanup_gen_ struct ward_gen *gen = NULL;
	struct ward_policy_watch *watch = NULL;
	struct ward_runtime *rt = NULL;

	r = ward_gen_new(TAKE_PTR(policy), 1, &gen);
	if (r < 0) {
		fprintf(stderr, "ward: %s\n", strerror(-r));
		ward_audit_close(audit);
		return WARD_EXIT_SETUP;
	}
	struct ward_runtime_config cfg = { .gen = gen,
					   .audit = audit,
					   .log_path = log,
					   .hosts_file = a.hosts,
					   .upstream_ca = a.upstream_ca,
					   .learn = a.learn,
					   .diag = print_diag,
					   .trace = trace_layer };
	struct ward_runtime_cmd cmd = { .workdir = workdir, .argv = a.argv, .id_out = id };

	if (a.watch) {
		struct ward_policy_watch_config wc = { .path = a.policy,
						       .data = (void *)a.policy,
						       .refused = watch_refused,
						       .applied = watch_applied,
						       .unchanged = watch_unchanged,
						       .failed = watch_failed };

		/* watched from now on: an edit while the sandbox is built is not missed */
		r = ward_policy_watch_new(&wc, &watch, &err);
		if (r < 0) {
			fprintf(stderr, "ward: --watch: %s\n", err.msg);
			ward_audit_close(audit);
			return WARD_EXIT_SETUP;
		}
		cfg.attached = start_watch;
		cfg.attached_data = watch;
	}
	if (a.learn)
		fprintf(stderr, "ward: learn mode: what the policy would deny is allowed and "
				"logged as audit (docs/learn.md); not for untrusted code\n");
	r = ward_runtime_new(&cfg, &rt, &err);
	if (r >= 0)
		r = ward_run_layers_add(rt, &err);
	if (r >= 0)
		r = ward_runtime_prepare(rt, &err);
	if (r >= 0)
		r = ward_runtime_run(rt, &cmd, &status, &err);
	ward_policy_watch_free(watch);
	ward_runtime_free(rt);
	if (r < 0 || (status == WARD_EXIT_SETUP && err.msg[0])) {
		fprintf(stderr, "ward: %s\n", err.msg);
		status = WARD_EXIT_SETUP;
	}
	/* A person at a terminal learns at once why the command stalled. */
	if (id[0] && isatty(STDERR_FILENO) && ward_audit_flush(audit) >= 0)
		ward_run_summary(log, id, stderr);
	ward_audit_close(audit);
	return status;
}
