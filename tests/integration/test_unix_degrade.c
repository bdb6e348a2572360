// SPDX-License-Identifier: MIT
/* The unix-socket layer's fallback (docs/sandbox.md, "Unix sockets"): when
 * the kernel lacks seccomp user notification or connect_unix BPF, `ward run`
 * sets opts.private_sockdirs and /tmp, /run and /var/tmp are private even
 * though the policy maps them: a host socket in them is not there to connect
 * to. The same run without the flag sees it (the test can fail). The
 * workdir, mapped explicitly, stays visible. Real kernel, root; exit 77 when
 * not root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "enforcer/sandbox.h"
#include "policy/policy.h"

#include "check.h"

#define UID_ 4246

static char tmpdir[] = "/tmp/ward-test-degrade.XXXXXX";
static char wd[] = "/var/tmp/ward-test-degrade-wd.XXXXXX";

static struct ward_policy *policy(void)
{
	char yaml[2048];
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };

	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "filesystem_policy:\n"
		 "  include_workdir: true\n"
		 "  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, /run]\n"
		 "  read_write: [/tmp, /var/tmp]\n"
		 "process:\n"
		 "  run_as_user: %d\n"
		 "  run_as_group: %d\n",
		 UID_, UID_);
	if (ward_policy_load_buffer("test", yaml, strlen(yaml), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		fprintf(stderr, "policy: %s\n", err.msg);
		exit(1);
	}
	ward_diags_free(&d);
	return p;
}

static void quiet(void *data, bool warning, const char *msg)
{
	(void)data;
	(void)warning;
	(void)msg;
}

/* What the sandbox sees, written to wd/out. */
static char *look(const struct ward_policy *p, bool private_sockdirs, const char *sock)
{
	static char buf[4096];
	char script[1024], out[sizeof(wd) + 8];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct ward_sandbox_opts o = { .policy = p,
				       .workdir = wd,
				       .argv = argv,
				       .private_sockdirs = private_sockdirs,
				       .diag = quiet };
	struct ward_error err = { 0 };
	int status = -1, r;
	size_t n;
	FILE *f;

	snprintf(out, sizeof(out), "%s/out", wd);
	snprintf(script, sizeof(script),
		 "{ test -S %s && echo SOCKET; test -e /run/ward-degrade-mark && echo RUN;"
		 "  touch /tmp/x && echo TMP-WRITABLE; test -d %s && echo WORKDIR; } >%s 2>&1",
		 sock, wd, out);
	unlink(out);
	r = ward_sandbox_run(&o, &status, &err);
	CHECK(r == 0 && status == 0, "r=%d status=%d %s", r, status, err.msg);
	f = fopen(out, "r");
	if (!f)
		return (char *)"(no output)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int main(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ward_policy *p;
	char *seen;
	int s;

	if (getuid() != 0) {
		puts("SKIP: needs root");
		return 77;
	}
	if (!mkdtemp(tmpdir) || !mkdtemp(wd))
		return 1;
	chmod(tmpdir, 0755);
	chmod(wd, 0755);
	if (chown(wd, UID_, UID_) < 0)
		return 1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/host.sock", tmpdir);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
		return 1;
	/* a mark in /run, where daemons' sockets live */
	if (mkdir("/run/ward-degrade-mark", 0755) < 0 && errno != EEXIST)
		return 1;
	p = policy();

	seen = look(p, false, sa.sun_path);
	CHECK(strstr(seen, "SOCKET") && strstr(seen, "RUN"),
	      "control run: the mapped /tmp and /run are not the host's:\n%s", seen);
	seen = look(p, true, sa.sun_path);
	CHECK(!strstr(seen, "SOCKET"), "private_sockdirs: the host socket in /tmp is visible:\n%s",
	      seen);
	CHECK(!strstr(seen, "RUN"), "private_sockdirs: the host's /run is visible:\n%s", seen);
	CHECK(strstr(seen, "TMP-WRITABLE") && strstr(seen, "WORKDIR"),
	      "private_sockdirs: /tmp not writable or the workdir gone:\n%s", seen);

	ward_policy_free(p);
	close(s);
	rmdir("/run/ward-degrade-mark");
	{
		char cmd[2 * PATH_MAX];

		snprintf(cmd, sizeof(cmd), "rm -rf %s %s", tmpdir, wd);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup failed\n");
	}
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
