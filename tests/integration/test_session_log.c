// SPDX-License-Identifier: MIT
/* Two concurrent sessions of one sandbox (ward_runtime_start/exec with every
 * layer of `ward run`, the real kernel): each one's kernel, unix (from 6.7), fs and
 * protected-path rows carry its own session id, the sandbox's own rows none;
 * `ward logs --session` (the reader's filter) and the sessions summary
 * (command, exit status, rows by layer and action) see each session apart;
 * the chain verifies.
 * One forked child per case; root only (exit 77 otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/sessions.h"
#include "audit/verify.h"
#include "enforcer/cgroup.h"
#include "enforcer/unix.h"
#include "policy/policy.h"
#include "runtime/layers.h"
#include "runtime/runtime.h"

#include "check.h"
#include "fixture.h"
#include "session_fixture.h"

#define UID_ 4246

static char T[128], wd[256], db[256], pol[256];

static char *const env_in[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };

static int start(struct sandbox *sb)
{
	return sandbox_start(sb, pol, db, wd, NULL);
}

static void finish(struct sandbox *sb)
{
	sandbox_finish(sb);
}

/* A session running script, stdin from a pipe (*in), output to /dev/null. */
static struct ward_session *run(struct sandbox *sb, int *in, const char *script)
{
	char *argv[] = { "/usr/bin/bash", "-c", (char *)script, NULL };
	struct ward_session_spec spec = { .argv = argv, .env = env_in };
	struct ward_error err = { 0 };
	struct ward_session *s = NULL;
	int ip[2];

	if (pipe2(ip, O_CLOEXEC) < 0)
		exit(1);
	spec.stdio[0] = ip[0];
	spec.stdio[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	spec.stdio[2] = spec.stdio[1];
	if (ward_runtime_exec(sb->rt, &spec, &s, &err) < 0) {
		fprintf(stderr, "exec: %s\n", err.msg);
		s = NULL;
	}
	close(ip[0]);
	close(spec.stdio[1]);
	*in = ip[1];
	return s;
}

static int wait_status(struct ward_session *s)
{
	struct pollfd p = { .fd = ward_session_fd(s), .events = POLLIN };
	int status = -1, r;

	while ((r = ward_session_reap(s, &status)) == -EAGAIN)
		poll(&p, 1, 10000);
	return r < 0 ? r : status;
}

struct tally {
	const char *session;
	pid_t pid;
	int kernel_deny, fs_deny, unix_deny, protect_deny, other_session, of_pid;
};

static int tally_row(const struct ward_audit_row *r, void *ud)
{
	struct tally *t = ud;

	if (!r->session || strcmp(r->session, t->session)) {
		t->other_session++;
		return 0;
	}
	t->of_pid += r->has_pid && r->pid == t->pid;
	t->kernel_deny += !strcmp(r->layer, "kernel") && !strcmp(r->action, "deny");
	t->fs_deny += !strcmp(r->layer, "fs") && !strcmp(r->action, "deny");
	t->unix_deny += !strcmp(r->layer, "unix") && !strcmp(r->action, "deny");
	t->protect_deny += !strcmp(r->layer, "fs") && !strcmp(r->action, "deny") && r->rule &&
			   !strncmp(r->rule, "filesystem_policy.binaries:", 27);
	return 0;
}

static int no_session_kernel(const struct ward_audit_row *r, void *ud)
{
	int *n = ud;

	*n += !r->session && !strcmp(r->layer, "kernel") && r->reason &&
	      strstr(r->reason, "udp") != NULL;
	return 0;
}

/* Each session sends a datagram (refused: UDP other than DNS) and reads a
 * file the sandbox hides (an fs row), while the other one runs too. */
static void case_two_sessions(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s[2];
	struct ward_session_summary *sum = NULL;
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	char script[2][1024], ids[2][32];
	pid_t pids[2];
	size_t n_sum = 0;
	int in[2], st[2], unattributed = 0;
	bool unix_layer = ward_unix_probe(&err) == 0;

	for (int i = 0; i < 2; i++)
		snprintf(script[i], sizeof(script[i]),
			 "read x; echo x >/dev/udp/192.0.2.%d/5353; cat %s/hidden/cred; "
			 "/usr/bin/python3 -c 'import socket; "
			 "socket.socket(socket.AF_UNIX).connect(\"%s/host.sock\")' 2>/dev/null; "
			 "head -c 3 %s/keys/id; exit %d",
			 i + 1, T, wd, wd, 3 + i);
	if (start(&sb) < 0) {
		CHECK(false, "start");
		return;
	}
	for (int i = 0; i < 2; i++) {
		s[i] = run(&sb, &in[i], script[i]);
		CHECK(s[i], "session %d", i);
		if (!s[i])
			goto out;
		snprintf(ids[i], sizeof(ids[i]), "%s", ward_session_id(s[i]));
		pids[i] = ward_session_pid(s[i]);
	}
	CHECK(strcmp(ids[0], ids[1]) != 0, "two ids: %s %s", ids[0], ids[1]);
	/* both running; then both go */
	for (int i = 0; i < 2; i++) {
		CHECK(write(in[i], "\n", 1) == 1, "go");
		close(in[i]);
	}
	for (int i = 0; i < 2; i++) {
		st[i] = wait_status(s[i]);
		CHECK(st[i] == 3 + i, "session %d: status %d", i, st[i]);
	}
	for (int i = 0; i < 2; i++) {
		uint64_t cgid = ward_session_cgroup_id(s[i]);
		char name[32];

		ward_session_free(s[i]);
		/* a late kernel event of a session gone still names it */
		CHECK(cgid && ward_runtime_session_of_cgroup(sb.rt, cgid, name) == 0 &&
			      !strcmp(name, ids[i]),
		      "ended session %s: cgroup %llu not mapped", ids[i], (unsigned long long)cgid);
	}
out:
	finish(&sb);

	CHECK(ward_audit_reader_open(db, &rd, &err) == 0, "reader: %s", err.msg);
	for (int i = 0; rd && i < 2; i++) {
		struct ward_audit_filter f = { .session = ids[i] };
		struct tally t = { .session = ids[i], .pid = pids[i] };

		CHECK(ward_audit_reader_each(rd, &f, tally_row, &t, &err) == 0, "read");
		CHECK(t.other_session == 0, "--session %s returned %d other rows", ids[i],
		      t.other_session);
		CHECK(t.kernel_deny >= 1, "session %s: %d kernel deny rows", ids[i], t.kernel_deny);
		CHECK(t.fs_deny >= 1, "session %s: %d fs deny rows", ids[i], t.fs_deny);
		/* a kernel without unix hooks (before 6.7): the layer is left
		 * out (docs/sandbox.md, "Degrade"), and so are its rows */
		if (unix_layer)
			CHECK(t.unix_deny >= 1, "session %s: %d unix deny rows", ids[i],
			      t.unix_deny);
		else
			CHECK(t.unix_deny == 0, "session %s: %d unix rows without the layer",
			      ids[i], t.unix_deny);
		CHECK(t.protect_deny >= 1, "session %s: %d protected-path rows", ids[i],
		      t.protect_deny);
		CHECK(t.of_pid >= 1, "session %s: no row of its pid %d", ids[i], (int)pids[i]);
	}
	if (rd) {
		CHECK(ward_audit_reader_each(rd, NULL, no_session_kernel, &unattributed, &err) == 0,
		      "read all");
		CHECK(unattributed == 0, "%d UDP refusals without a session", unattributed);
		ward_audit_reader_close(rd);
	}

	CHECK(ward_audit_sessions(db, sb.id, &sum, &n_sum, &err) == 0, "sessions: %s", err.msg);
	CHECK(n_sum == 2, "%zu sessions, want 2", n_sum);
	for (size_t j = 0; j < n_sum; j++) {
		int i = !strcmp(sum[j].id, ids[0]) ? 0 : !strcmp(sum[j].id, ids[1]) ? 1 : -1;
		uint64_t kd = 0;

		CHECK(i >= 0, "unknown session %s", sum[j].id);
		if (i < 0)
			continue;
		CHECK(sum[j].command && !strcmp(sum[j].command, "/usr/bin/bash"), "command %s",
		      sum[j].command ? sum[j].command : "(none)");
		CHECK(sum[j].has_status && sum[j].status == 3 + i, "status %d", sum[j].status);
		CHECK(sum[j].end_ns >= sum[j].start_ns && sum[j].start_ns > 0, "start/end");
		for (size_t k = 0; k < sum[j].n_layers; k++)
			if (!strcmp(sum[j].layers[k].layer, "kernel"))
				kd = sum[j].layers[k].deny;
		CHECK(kd >= 1, "session %s: kernel deny count %llu", sum[j].id,
		      (unsigned long long)kd);
	}
	ward_audit_sessions_free(sum, n_sum);
	CHECK(ward_audit_verify(db, 0, NULL, NULL, &v, &err) == 0 && v.intact, "verify: %s %s",
	      err.msg, v.problem);
}

int main(int argc, char **argv)
{
	FILE *f;
	int failed;

	(void)argc;
	(void)argv;
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	if (!ward_cgroup2_mount()) {
		fprintf(stderr, "SKIP: no cgroup2\n");
		return 77;
	}
	snprintf(T, sizeof(T), "/var/tmp/ward-test-session-log.XXXXXX");
	if (!mkdtemp(T))
		return 1;
	chmod(T, 0755);
	snprintf(wd, sizeof(wd), "%s/wd", T);
	snprintf(db, sizeof(db), "%s/decisions.db", T);
	snprintf(pol, sizeof(pol), "%s/p.yaml", T);
	sh("mkdir -p %s/keys %s/hidden && chown -R %d:%d %s", wd, T, UID_, UID_, wd);
	sh("echo the-secret > %s/keys/id && chmod 644 %s/keys/id", wd, wd);
	sh("echo host-only > %s/hidden/cred && chmod 644 %s/hidden/cred", T, T);
	/* a host unix socket in the workdir that no policy names */
	sh("python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind(\"%s/host.sock\")' "
	   "&& chmod 777 %s/host.sock",
	   wd, wd);
	f = fopen(pol, "w");
	if (!f)
		return 1;
	fprintf(f,
		"version: 1\n"
		"filesystem_policy:\n"
		"  include_workdir: true\n"
		"  read_only: [/usr, /lib, /lib64, /bin, /etc]\n"
		"  binaries:\n"
		"    - path: /usr/bin/cat\n"
		"      read_only: [%s/keys]\n"
		"process:\n"
		"  run_as_user: %d\n"
		"  run_as_group: %d\n"
		"network_policies:\n"
		"  test:\n"
		"    binaries: [{ path: /usr/bin/bash }]\n"
		"    endpoints:\n"
		"      - host: example.test\n"
		"        port: 443\n",
		wd, UID_, UID_);
	fclose(f);
	failed = run_case("two sessions", case_two_sessions);
	if (!getenv("KEEP"))
		sh("rm -rf %s", T);
	return failed ? 1 : 0;
}
