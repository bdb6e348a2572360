// SPDX-License-Identifier: MIT
/* Sessions (ward_runtime_start / ward_runtime_exec / ward_runtime_stop) with
 * every layer of `ward run`, on the real kernel:
 *   - two concurrent sessions share the sandbox (hostname, netns) and have
 *     their own pids, cgroups and ids; exit statuses 0, 3, 128+9, 128+15
 *     (signal delivery); the environment filtered by the policy; cwd;
 *   - a session (in a child cgroup) is under the egress layer (UDP out is
 *     refused, the proxy port reached) and the fs layer (a hidden path is a
 *     row);
 *   - a generation with another filesystem section: a new session gets its
 *     Landlock rules, one started before keeps its own;
 *   - a session's background child is killed when the session ends;
 *   - ward_runtime_stop leaves no cgroup and no process in the netns;
 *   - the process that started the sandbox SIGKILLed: nothing of the sandbox
 *     stays alive (fail closed);
 *   - the home directory persists across stop and start;
 *   - the unix broker of a session (a relative path to a named socket);
 *   - a session started from a thread that ends first keeps running.
 * One forked child per case; root only (exit 77 otherwise). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "enforcer/cgroup.h"
#include "enforcer/unix.h"
#include "policy/policy.h"
#include "runtime/layers.h"
#include "runtime/runtime.h"

#include "check.h"
#include "fixture.h"
#include "session_fixture.h"

#define UID_ 4244

static char T[128];	/* the fixture's directory */
static char wd[256];	/* the workdir */
static char db[256];	/* the decision log */
static char pol_a[256]; /* data read-write */
static char pol_b[256]; /* data read-only */
static char pol_e[256]; /* pol_a and a directory and a file more, read-only */
static char pol_c[256]; /* a unix socket named for python3 */
static char pol_d[256]; /* keys/ protected for cat */
static char home_dir[256];

static char *const env_in[] = { "PATH=/usr/bin:/bin", "LANG=C", "SECRET_TOKEN=s3cr3t",
				"AWS_SECRET_ACCESS_KEY=x", NULL };

static int start(struct sandbox *sb, const char *policy, const char *home)
{
	return sandbox_start(sb, policy, db, wd, home);
}

static void finish(struct sandbox *sb)
{
	sandbox_finish(sb);
}

/* A session with stdin from a pipe (*in, -1: /dev/null) and stdout+stderr to
 * a pipe (*out). */
static struct ward_session *run(struct sandbox *sb, const char *cwd, int *in, int *out,
				char *const *argv)
{
	struct ward_error err = { 0 };
	struct ward_session *s = NULL;
	int ip[2] = { -1, -1 }, op[2];
	struct ward_session_spec spec = { .argv = argv, .env = env_in, .cwd = cwd };

	if (in && pipe2(ip, O_CLOEXEC) < 0)
		exit(1);
	if (pipe2(op, O_CLOEXEC) < 0)
		exit(1);
	spec.stdio[0] = in ? ip[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
	spec.stdio[1] = op[1];
	spec.stdio[2] = op[1];
	if (ward_runtime_exec(sb->rt, &spec, &s, &err) < 0) {
		fprintf(stderr, "exec: %s\n", err.msg);
		s = NULL;
	}
	close(spec.stdio[0]);
	close(op[1]);
	if (in)
		*in = ip[1];
	*out = op[0];
	return s;
}

static struct ward_session *sh_run(struct sandbox *sb, const char *cwd, int *in, int *out,
				   const char *script)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	return run(sb, cwd, in, out, argv);
}

static void read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

/* Wait for the end (poll on the session's fd), then reap. */
static int wait_status(struct ward_session *s)
{
	struct pollfd p = { .fd = ward_session_fd(s), .events = POLLIN };
	int status = -1, r;

	while ((r = ward_session_reap(s, &status)) == -EAGAIN)
		poll(&p, 1, -1);
	return r < 0 ? r : status;
}

/* The rest of the line after key (in one of four buffers, for comparisons). */
static char *line_of(char *buf, const char *key)
{
	static char vs[4][512];
	static int next;
	char *v = vs[next++ % 4];
	char *p = strstr(buf, key);
	size_t n;

	if (!p)
		return "";
	p += strlen(key);
	n = strcspn(p, "\n");
	snprintf(v, sizeof(vs[0]), "%.*s", (int)n, p);
	return v;
}

static uint64_t ino_of(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

static bool leaf_exists(const char *id)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/ward/%s", ward_cgroup2_mount(), id);
	return access(p, F_OK) == 0;
}

/* Lines of the leaf's cgroup.procs (its own processes, not the sessions'). */
static int procs_in(const char *id, const char *sub)
{
	char p[PATH_MAX], buf[4096];
	int fd, n = 0;
	ssize_t r;

	snprintf(p, sizeof(p), "%s/ward/%s%s/cgroup.procs", ward_cgroup2_mount(), id, sub);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i < r; i++)
		n += buf[i] == '\n';
	return n;
}

/* Processes on the host in the network namespace of inode ino. */
static int procs_in_netns(uint64_t ino)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[300];

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/ns/net", de->d_name);
		if (ino_of(p) == ino)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* ---- cases ---- */

static void case_basics(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *a, *b, *k, *t, *e, *c;
	char out_a[4096], out_b[4096], out[8192], host[64];
	int in_a, in_b, fa, fb, fk, ft, fe, fc;
	char *sleep_argv[] = { "sleep", "100", NULL };
	char *env_argv[] = { "env", NULL };
	const char *script = "read x; hostname; echo net=$(readlink /proc/self/ns/net); "
			     "echo cg=$(cat /proc/self/cgroup); echo pid=$$; exit $x";

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	a = sh_run(&sb, NULL, &in_a, &fa, script);
	b = sh_run(&sb, NULL, &in_b, &fb, script);
	CHECK(a && b, "two sessions");
	if (!a || !b)
		return;
	/* both running now: each waits for its stdin */
	CHECK(strcmp(ward_session_id(a), ward_session_id(b)) != 0, "ids %s %s", ward_session_id(a),
	      ward_session_id(b));
	CHECK(strlen(ward_session_id(a)) == 12, "generated id %s", ward_session_id(a));
	CHECK(ward_session_pid(a) > 0 && ward_session_pid(a) != ward_session_pid(b), "pids %d %d",
	      ward_session_pid(a), ward_session_pid(b));
	CHECK(ward_session_cgroup_id(a) && ward_session_cgroup_id(a) != ward_session_cgroup_id(b),
	      "cgroups");
	{
		char sid[32];

		CHECK(ward_runtime_session_of_cgroup(sb.rt, ward_session_cgroup_id(b), sid) == 0 &&
			      !strcmp(sid, ward_session_id(b)),
		      "cgroup -> session %s", sid);
		CHECK(ward_runtime_session_of_cgroup(sb.rt, 1, sid) == -ENOENT && !sid[0],
		      "not a session");
	}
	{
		/* the default resources on a v1 pids/memory host: the session joins
		 * the sandbox's v1 leaves (itself, "0" to tasks) before its command */
		static const char *const v1[] = { "pids", "memory" };

		for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
			char p[512], want[128], buf[4096] = "";
			FILE *f;
			size_t n;

			snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/ward/%s", v1[i], sb.id);
			if (access(p, F_OK) < 0)
				continue; /* that controller is not a v1 leaf here */
			snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)ward_session_pid(a));
			f = fopen(p, "re");
			n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
			buf[n] = '\0';
			if (f)
				fclose(f);
			snprintf(want, sizeof(want), ":%s:/ward/%s\n", v1[i], sb.id);
			CHECK(strstr(buf, want), "session in the v1 %s leaf: %s", v1[i], buf);
		}
	}
	CHECK(write(in_a, "3\n", 2) == 2 && write(in_b, "0\n", 2) == 2, "stdin");
	close(in_a);
	close(in_b);
	read_all(fa, out_a, sizeof(out_a));
	read_all(fb, out_b, sizeof(out_b));
	CHECK(wait_status(a) == 3, "exit 3");
	CHECK(wait_status(b) == 0, "exit 0");
	snprintf(host, sizeof(host), "ward-%s\n", sb.id);
	CHECK(!strncmp(out_a, host, strlen(host)) && !strncmp(out_b, host, strlen(host)),
	      "hostname: %s / %s", out_a, out_b);
	CHECK(line_of(out_a, "net=")[0] && !strcmp(line_of(out_a, "net="), line_of(out_b, "net=")),
	      "same netns: %s", out_a);
	{
		char cg[64];

		snprintf(cg, sizeof(cg), "0::/s-%s", ward_session_id(a));
		CHECK(strstr(line_of(out_a, "cg="), cg), "cgroup inside: %s", out_a);
	}
	CHECK(strcmp(line_of(out_a, "pid="), line_of(out_b, "pid=")) != 0, "pids inside");

	/* SIGKILL and SIGTERM */
	k = run(&sb, NULL, NULL, &fk, sleep_argv);
	t = run(&sb, NULL, NULL, &ft, sleep_argv);
	CHECK(k && t, "sleepers");
	if (k && t) {
		int st;

		CHECK(ward_session_reap(k, &st) == -EAGAIN, "running");
		CHECK(getsid(ward_session_pid(k)) == ward_session_pid(k) &&
			      getsid(ward_session_pid(k)) != getsid(0),
		      "a session of its own (sid %d)", getsid(ward_session_pid(k)));
		CHECK(ward_session_signal(k, SIGKILL) == 0, "kill");
		CHECK(ward_session_signal(t, SIGTERM) == 0, "term");
		CHECK(wait_status(k) == 128 + 9, "128+9");
		CHECK(wait_status(t) == 128 + 15, "128+15");
		CHECK(ward_session_signal(k, SIGKILL) == -ESRCH, "ended");
	}
	close(fk);
	close(ft);

	/* env: the policy filters the caller's; WARD_SESSION, WARD_SANDBOX set */
	e = run(&sb, NULL, NULL, &fe, env_argv);
	read_all(fe, out, sizeof(out));
	CHECK(e && wait_status(e) == 0, "env ran");
	CHECK(!strstr(out, "SECRET_TOKEN") && !strstr(out, "AWS_SECRET"), "filtered: %s", out);
	CHECK(strstr(out, "LANG=C") && strstr(out, "PATH=/usr/bin:/bin"), "passed: %s", out);
	CHECK(e && !strcmp(line_of(out, "WARD_SESSION="), ward_session_id(e)), "WARD_SESSION: %s",
	      out);
	CHECK(!strcmp(line_of(out, "WARD_SANDBOX="), sb.id), "WARD_SANDBOX");

	/* cwd; an id of the caller's; 127 */
	c = sh_run(&sb, "/usr", NULL, &fc, "pwd");
	read_all(fc, out, sizeof(out));
	CHECK(c && wait_status(c) == 0 && !strcmp(out, "/usr\n"), "cwd: %s", out);
	{
		char *nf_argv[] = { "no-such-command", NULL };
		struct ward_session_spec spec = { .argv = nf_argv, .env = env_in, .id = "mine-1" };
		struct ward_error err = { 0 };
		struct ward_session *n = NULL;
		int dn = open("/dev/null", O_RDWR | O_CLOEXEC);

		spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = dn;
		CHECK(ward_runtime_exec(sb.rt, &spec, &n, &err) == 0 && n, "exec: %s", err.msg);
		CHECK(n && !strcmp(ward_session_id(n), "mine-1"), "given id");
		CHECK(n && wait_status(n) == 127, "127");
		close(dn);
		ward_session_free(n);
	}
	ward_session_free(a);
	ward_session_free(b);
	ward_session_free(k);
	ward_session_free(t);
	ward_session_free(e);
	ward_session_free(c);
	finish(&sb);
}

/* UDP out refused at the call, the proxy port on the gateway reached. */
static void case_egress(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char out[4096];
	int fd;
	char *argv[] = { "/usr/bin/bash", "-c",
			 "gw=; while read -r ifc dest g rest; do [ \"$dest\" = 00000000 ] && "
			 "gw=$(printf '%d.%d.%d.%d' 0x${g:6:2} 0x${g:4:2} 0x${g:2:2} 0x${g:0:2}); "
			 "done </proc/net/route; echo gw=$gw; "
			 "if (echo x >/dev/udp/192.0.2.1/5353) 2>/dev/null; then echo udp=sent; "
			 "else echo udp=failed; fi; "
			 "err=$( (echo >/dev/tcp/$gw/3128) 2>&1); echo \"proxy=${err##*: }\"",
			 NULL };

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	s = run(&sb, NULL, NULL, &fd, argv);
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 0, "ran: %s", out);
	CHECK(!strncmp(line_of(out, "gw="), "10.254.", 7), "gateway: %s", out);
	CHECK(!strcmp(line_of(out, "udp="), "failed"), "UDP refused: %s", out);
	CHECK(!strcmp(line_of(out, "proxy="), "Connection refused") ||
		      !strcmp(line_of(out, "proxy="), ""),
	      "proxy port reached: %s", out);
	ward_session_free(s);
	finish(&sb);
}

/* How many rows of layer whose text has needle (ward logs --json). */
static int rows_with(const char *layer, const char *needle)
{
	char cmd[512], line[8192];
	const char *ward = getenv("WARD");
	FILE *f;
	int n = 0;

	if (!ward)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s logs --log %s --layer %s --json", ward, db, layer);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		pclose(f);
	return n;
}

/* The fs layer sees a session: a host path the sandbox hides is a row. */
static void case_fs(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char out[4096], script[512], needle[300];
	int fd, before;

	snprintf(needle, sizeof(needle), "\"path\":\"%s/hidden/cred\"", T);
	before = rows_with("fs", needle);
	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	snprintf(script, sizeof(script), "cat %s/hidden/cred", T);
	s = sh_run(&sb, NULL, NULL, &fd, script);
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 1, "cat refused: %s", out);
	ward_session_free(s);
	finish(&sb);
	CHECK(rows_with("fs", needle) == before + 1, "an fs row for it (%d before)", before);
	CHECK(rows_with("lifecycle", "\"session\":\"") >= 2, "session rows");
}

/* Protected paths hold for a session (in a child cgroup): another binary is
 * refused, the named one reads. */
static void case_protect(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char script[512], out[1024];
	int fd;

	if (start(&sb, pol_d, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	snprintf(script, sizeof(script),
		 "head -1 %s/keys/id 2>/dev/null || echo refused; cat %s/keys/id", T, T);
	s = sh_run(&sb, NULL, NULL, &fd, script);
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 0 && !strcmp(out, "refused\nthe-secret\n"),
	      "head refused, cat reads: %s", out);
	ward_session_free(s);
	finish(&sb);
}

/* A generation with data read-only: a new session cannot write there, one
 * started before still can. */
static void case_apply(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *old, *new;
	struct ward_apply_report rep;
	struct ward_error err = { 0 };
	struct ward_gen *g;
	char out_old[1024], out_new[1024], script[512];
	int in, fo, fn;

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	snprintf(script, sizeof(script),
		 "read x; echo a > %s/data/old-%s && echo wrote || echo denied", T, sb.id);
	old = sh_run(&sb, NULL, &in, &fo, script);
	g = load_gen(pol_b, 2);
	CHECK(ward_runtime_apply(sb.rt, g, &rep, &err) == 0, "apply: %s", err.msg);
	ward_gen_unref(g);
	snprintf(script, sizeof(script),
		 "cat %s/data/old-%s >/dev/null 2>&1; { echo b > %s/data/new-%s; } 2>/dev/null && "
		 "echo wrote || echo denied",
		 T, sb.id, T, sb.id);
	new = sh_run(&sb, NULL, NULL, &fn, script);
	read_all(fn, out_new, sizeof(out_new));
	CHECK(new &&wait_status(new) == 0 && !strcmp(out_new, "denied\n"),
	      "new session: read-only: %s", out_new);
	CHECK(write(in, "\n", 1) == 1, "go");
	close(in);
	read_all(fo, out_old, sizeof(out_old));
	CHECK(old && wait_status(old) == 0 && !strcmp(out_old, "wrote\n"),
	      "old session keeps read-write: %s", out_old);
	ward_session_free(old);
	ward_session_free(new);
	finish(&sb);
}

/* A later generation's mounts are new sessions': a directory and a file
 * the apply adds are there (read-only) for sessions started after it and not
 * for one started before; an apply that drops them again hides them from
 * newer sessions while the one started in between keeps them. All of them
 * share the sandbox's own /tmp and the data directory. */
static void case_apply_mounts(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *before, *between, *after;
	struct ward_apply_report rep;
	struct ward_error err = { 0 };
	struct ward_gen *g;
	char out[3][1024], look[768], script[1024];
	int in_b, in_m, fb, fm, fa;

	snprintf(look, sizeof(look),
		 "{ cat %s/extra/x; cat %s/one.conf; } 2>/dev/null || echo absent; "
		 "{ echo y > %s/extra/y; } 2>/dev/null && echo writable || echo read-only",
		 T, T, T);
	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	snprintf(script, sizeof(script), "read x; %s", look);
	before = sh_run(&sb, NULL, &in_b, &fb, script);
	g = load_gen(pol_e, 2);
	CHECK(ward_runtime_apply(sb.rt, g, &rep, &err) == 0, "apply (adds): %s", err.msg);
	ward_gen_unref(g);
	snprintf(script, sizeof(script), "echo from-between > /tmp/shared-%s; read x; %s", sb.id,
		 look);
	between = sh_run(&sb, NULL, &in_m, &fm, script);
	g = load_gen(pol_a, 3);
	CHECK(ward_runtime_apply(sb.rt, g, &rep, &err) == 0, "apply (drops): %s", err.msg);
	ward_gen_unref(g);
	snprintf(script, sizeof(script), "cat /tmp/shared-%s; %s", sb.id, look);
	after = sh_run(&sb, NULL, NULL, &fa, script);
	read_all(fa, out[2], sizeof(out[2]));
	CHECK(after && wait_status(after) == 0 &&
		      !strcmp(out[2], "from-between\nabsent\nread-only\n"),
	      "a session after the drop: /tmp shared, the mounts gone: %s", out[2]);
	for (int i = 0; i < 2; i++) {
		int in = i ? in_m : in_b;

		CHECK(write(in, "\n", 1) == 1, "go");
		close(in);
	}
	read_all(fb, out[0], sizeof(out[0]));
	CHECK(before && wait_status(before) == 0 && !strcmp(out[0], "absent\nread-only\n"),
	      "the session started before the apply: its mounts unchanged: %s", out[0]);
	read_all(fm, out[1], sizeof(out[1]));
	CHECK(between && wait_status(between) == 0 &&
		      !strcmp(out[1], "extra\none-file\nread-only\n"),
	      "the session started between: the added directory and file, read-only: %s",
	      out[1]);
	ward_session_free(before);
	ward_session_free(between);
	ward_session_free(after);
	finish(&sb);
}

/* Applies while a session's connects make rows: a row's session lookup (on
 * the egress reader, under the generations' lock) and apply (runtime lock,
 * then that lock) must not wait for each other. Deadlocked before: SIGALRM
 * ends the case. */
static void case_apply_busy(void)
{
	struct sandbox sb = { 0 };
	struct ward_apply_report rep;
	struct ward_error err = { 0 };
	struct ward_session *s;
	char out[4096], needle[96];
	char *argv[] = { "/usr/bin/bash", "-c",
			 "i=0; while [ $i -lt 100000 ] && ! read -t 0 _; do "
			 "(exec 3<>/dev/tcp/192.0.2.1/81) 2>/dev/null; i=$((i+1)); done; echo n=$i",
			 NULL };
	int in, fd, applied = 0, seen = 0;

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	s = run(&sb, NULL, &in, &fd, argv);
	CHECK(s != NULL, "exec");
	if (!s) {
		finish(&sb);
		return;
	}
	snprintf(needle, sizeof(needle), "\"session\":\"%s\"", ward_session_id(s));
	/* the loop makes rows before the applies start (bounded wait) */
	for (int i = 0; i < 200 && (seen = rows_with("kernel", needle)) <= 0; i++)
		usleep(50000);
	CHECK(seen > 0, "no kernel row of the session before the applies");
	alarm(120);
	for (int i = 0; i < 30; i++) {
		struct ward_gen *g = load_gen(i % 2 ? pol_a : pol_b, (uint64_t)i + 2);

		applied += ward_runtime_apply(sb.rt, g, &rep, &err) == 0;
		ward_gen_unref(g);
	}
	alarm(0);
	CHECK(applied == 30, "%d of 30 applies: %s", applied, err.msg);
	CHECK(ward_session_reap(s, &(int){ 0 }) == -EAGAIN,
	      "the loop ended before the applies did");
	CHECK(rows_with("kernel", needle) > seen, "no row of the session during the applies");
	CHECK(write(in, "\n", 1) == 1, "stop the loop");
	close(in);
	read_all(fd, out, sizeof(out));
	CHECK(wait_status(s) == 0, "loop: %s", out);
	ward_session_free(s);
	finish(&sb);
}

/* A background child of a session goes when the session ends. */
static void case_background(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char sub[64];
	int fd, st = -1;

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	s = sh_run(&sb, NULL, NULL, &fd, "sleep 1000 >/dev/null 2>&1 & exit 4");
	CHECK(s, "session");
	if (!s)
		return;
	snprintf(sub, sizeof(sub), "/s-%s", ward_session_id(s));
	close(fd);
	CHECK(wait_status(s) == 4, "exit 4");
	CHECK(procs_in(sb.id, sub) == -1, "the session's cgroup is gone");
	CHECK(procs_in(sb.id, "") == 1, "only init left in the sandbox: %d", procs_in(sb.id, ""));
	CHECK(ward_session_reap(s, &st) == 0 && st == 4, "reaped again");
	ward_session_free(s);
	finish(&sb);
}

/* Stop: sessions end, no cgroup, nothing in the netns. */
static void case_stop(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char net[64], p[64];
	int fd, st = -1;
	uint64_t ino;
	char *argv[] = { "sleep", "1000", NULL };

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	s = run(&sb, NULL, NULL, &fd, argv);
	CHECK(s, "session");
	if (!s)
		return;
	snprintf(p, sizeof(p), "/proc/%d/ns/net", ward_session_pid(s));
	ino = ino_of(p);
	snprintf(net, sizeof(net), "%llu", (unsigned long long)ino);
	CHECK(ino && procs_in_netns(ino) >= 2, "init and the session in netns %s", net);
	CHECK(leaf_exists(sb.id), "leaf");
	CHECK(ward_runtime_stop(sb.rt, &(struct ward_error){ 0 }) == 0, "stop");
	CHECK(ward_session_reap(s, &st) == 0 && st == 128 + 9, "killed by the stop: %d", st);
	CHECK(!leaf_exists(sb.id), "no cgroup left");
	CHECK(procs_in_netns(ino) == 0, "no process in netns %s", net);
	{
		struct ward_session_spec spec = { .argv = argv, .env = env_in };
		struct ward_session *late = NULL;

		CHECK(ward_runtime_exec(sb.rt, &spec, &late, &(struct ward_error){ 0 }) == -ESRCH &&
			      !late,
		      "no session after the stop");
	}
	close(fd);
	ward_session_free(s);
	finish(&sb);
}

/* The starter SIGKILLed: init, the session and its intermediate die. */
static void case_fail_closed(void)
{
	int pp[2], st;
	pid_t child, pids[2] = { 0, 0 };
	uint64_t ino = 0;
	int alive = -1;

	if (pipe(pp) < 0)
		exit(1);
	child = fork();
	if (child == 0) {
		struct sandbox sb = { 0 };
		struct ward_session *s;
		char *argv[] = { "sleep", "1000", NULL };
		char p[64];
		int fd;

		close(pp[0]);
		if (start(&sb, pol_a, NULL) < 0)
			_exit(1);
		s = run(&sb, NULL, NULL, &fd, argv);
		if (!s)
			_exit(1);
		snprintf(p, sizeof(p), "/proc/%d/ns/net", ward_session_pid(s));
		pids[0] = ward_session_pid(s);
		ino = ino_of(p);
		if (write(pp[1], pids, sizeof(pids)) < 0 || write(pp[1], &ino, sizeof(ino)) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pp[1]);
	CHECK(read(pp[0], pids, sizeof(pids)) == sizeof(pids) &&
		      read(pp[0], &ino, sizeof(ino)) == sizeof(ino),
	      "started");
	close(pp[0]);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	/* bounded: the kernel tears the pid namespace down asynchronously */
	for (int i = 0; i < 500; i++) {
		alive = (pids[0] > 0 && kill(pids[0], 0) == 0) + (ino ? procs_in_netns(ino) : 0);
		if (!alive)
			break;
		usleep(10000);
	}
	CHECK(ino && alive == 0, "nothing of the sandbox alive (%d)", alive);
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    chmod(path, 0777) < 0)
		exit(1);
	return fd;
}

/* 1 when a connection waits to be accepted. */
static int accepted(int fd)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return 0;
	close(c);
	return 1;
}

/* The unix broker of the session: a host socket named for python3 reached
 * (through the broker: an allow row), another refused. On a kernel without
 * unix socket hooks (6.1) the layer is left out: both are reached, no row
 * (docs/kernels.md). */
static void case_unix(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	struct ward_error err = { 0 };
	char named[256], other[256], script[1024], out[2048], needle[300];
	bool unix_layer = ward_unix_probe(&err) == 0;
	int fn, fo, fd, before;

	snprintf(named, sizeof(named), "%s/sock/named.sock", T);
	snprintf(other, sizeof(other), "%s/sock/other.sock", T);
	fn = listen_at(named);
	fo = listen_at(other);
	snprintf(needle, sizeof(needle), "\"action\":\"allow\"");
	before = rows_with("unix", needle);
	if (start(&sb, pol_c, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	/* relative: the broker resolves it in the caller's cwd; the backstop
	 * alone (by the string) would refuse it */
	snprintf(script, sizeof(script),
		 "import socket\n"
		 "for p in ('named.sock', '%s'):\n"
		 "    s = socket.socket(socket.AF_UNIX)\n"
		 "    try:\n"
		 "        s.connect(p); print('ok')\n"
		 "    except OSError as e:\n"
		 "        print('refused', e.errno)\n",
		 other);
	{
		char *argv[] = { "/usr/bin/python3", "-c", script, NULL };

		char dir[256];

		snprintf(dir, sizeof(dir), "%s/sock", T);
		s = run(&sb, dir, NULL, &fd, argv);
	}
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 0, "ran: %s", out);
	if (!unix_layer) {
		CHECK(!strncmp(out, "ok\nok", 5), "no unix layer (%s): both reached: %s", err.msg,
		      out);
		ward_session_free(s);
		finish(&sb);
		CHECK(rows_with("unix", needle) == before, "no unix layer: no row");
		close(fn);
		close(fo);
		return;
	}
	CHECK(!strncmp(out, "ok\nrefused", 10), "named through, other refused: %s", out);
	CHECK(accepted(fn) == 1 && accepted(fo) == 0, "the listeners' side");
	ward_session_free(s);
	finish(&sb);
	CHECK(rows_with("unix", needle) == before + 1, "the broker's allow row");
	close(fn);
	close(fo);
}

struct thread_exec {
	struct sandbox *sb;
	struct ward_session *s;
	int in, out;
};

static void *exec_thread(void *p)
{
	struct thread_exec *t = p;

	t->s = sh_run(t->sb, NULL, &t->in, &t->out, "read x; exit 5");
	return NULL;
}

/* A session started from a thread that ends before it does keeps running. */
static void case_thread(void)
{
	struct sandbox sb = { 0 };
	struct thread_exec t = { .sb = &sb };
	pthread_t th;

	if (start(&sb, pol_a, NULL) < 0) {
		CHECK(false, "start");
		return;
	}
	if (pthread_create(&th, NULL, exec_thread, &t) != 0)
		exit(1);
	pthread_join(th, NULL);
	CHECK(t.s, "session");
	if (!t.s)
		return;
	CHECK(write(t.in, "\n", 1) == 1, "stdin");
	close(t.in);
	close(t.out);
	CHECK(wait_status(t.s) == 5, "exit 5 after its thread ended");
	ward_session_free(t.s);
	finish(&sb);
}

/* Home: the same host directory across stop and start. */
static void case_home(void)
{
	struct sandbox sb = { 0 };
	struct ward_session *s;
	char out[1024];
	int fd;

	if (start(&sb, pol_a, home_dir) < 0) {
		CHECK(false, "start");
		return;
	}
	s = sh_run(&sb, NULL, NULL, &fd, "echo HOME=$HOME; echo kept > $HOME/f && echo wrote");
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 0 && !strcmp(out, "HOME=/home/sandbox\nwrote\n"), "first: %s",
	      out);
	ward_session_free(s);
	finish(&sb);
	memset(&sb, 0, sizeof(sb));
	if (start(&sb, pol_a, home_dir) < 0) {
		CHECK(false, "start again");
		return;
	}
	s = sh_run(&sb, NULL, NULL, &fd, "cat $HOME/f");
	read_all(fd, out, sizeof(out));
	CHECK(s && wait_status(s) == 0 && !strcmp(out, "kept\n"), "second: %s", out);
	ward_session_free(s);
	finish(&sb);
}

int main(int argc, char **argv)
{
	int failed = 0;

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
	snprintf(T, sizeof(T), "%s/ward-test-session.XXXXXX", test_tmpbase("/var/tmp"));
	if (!mkdtemp(T))
		return 1;
	chmod(T, 0755);
	snprintf(wd, sizeof(wd), "%s/wd", T);
	snprintf(db, sizeof(db), "%s/decisions.db", T);
	snprintf(pol_a, sizeof(pol_a), "%s/a.yaml", T);
	snprintf(pol_b, sizeof(pol_b), "%s/b.yaml", T);
	snprintf(pol_c, sizeof(pol_c), "%s/c.yaml", T);
	snprintf(pol_d, sizeof(pol_d), "%s/d.yaml", T);
	snprintf(home_dir, sizeof(home_dir), "%s/home", T);
	sh("mkdir -p %s %s/data %s/hidden %s && chown %d:%d %s %s/data %s", wd, T, T, home_dir,
	   UID_, UID_, wd, T, home_dir);
	sh("mkdir -p %s/sock && chmod 755 %s/sock", T, T);
	sh("echo host-only > %s/hidden/cred && chmod 644 %s/hidden/cred", T, T);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? pol_b : pol_a, "w");

		if (!f)
			return 1;
		fprintf(f,
			"version: 1\n"
			"filesystem_policy:\n"
			"  include_workdir: true\n"
			"  read_only: [/usr, /lib, /lib64, /bin, /etc%s]\n"
			"%s"
			"process:\n"
			"  run_as_user: %d\n"
			"  run_as_group: %d\n"
			"network_policies:\n"
			"  test:\n"
			"    binaries: [{ path: /usr/bin/bash }]\n"
			"    endpoints:\n"
			"      - host: example.test\n"
			"        port: 443\n",
			i ? ", DATA" : "", i ? "" : "  read_write: [DATA]\n", UID_, UID_);
		fclose(f);
		sh("sed -i 's|DATA|%s/data|' %s", T, i ? pol_b : pol_a);
	}
	sh("sed 's|^network_policies:|network_policies:\\n  sock:\\n    binaries: [{ path: "
	   "/usr/bin/python3 }]\\n    endpoints:\\n      - unix: %s/sock/named.sock|; "
	   "s|read_write: \\[|read_write: [%s/sock, |' %s > %s",
	   T, T, pol_a, pol_c);
	sh("mkdir -p %s/keys && echo the-secret > %s/keys/id && chmod 755 %s/keys && "
	   "chmod 644 %s/keys/id",
	   T, T, T, T);
	sh("sed 's|^process:|  binaries:\\n    - path: /usr/bin/cat\\n      read_only: [%s/keys]\\n"
	   "process:|; s|read_only: \\[/usr|read_only: [%s/keys, /usr|' %s > %s",
	   T, T, pol_a, pol_d);
	snprintf(pol_e, sizeof(pol_e), "%s/e.yaml", T);
	sh("mkdir -p %s/extra && echo extra > %s/extra/x && echo one-file > %s/one.conf && "
	   "chmod -R a+rX %s/extra %s/one.conf",
	   T, T, T, T, T);
	sh("sed 's|read_only: \\[/usr|read_only: [%s/extra, %s/one.conf, /usr|' %s > %s", T, T,
	   pol_a, pol_e);
	failed += run_case("basics", case_basics);
	failed += run_case("egress", case_egress);
	failed += run_case("fs", case_fs);
	failed += run_case("apply", case_apply);
	failed += run_case("apply_mounts", case_apply_mounts);
	failed += run_case("apply_busy", case_apply_busy);
	failed += run_case("background", case_background);
	failed += run_case("stop", case_stop);
	failed += run_case("fail_closed", case_fail_closed);
	failed += run_case("home", case_home);
	failed += run_case("unix", case_unix);
	failed += run_case("thread", case_thread);
	failed += run_case("protect", case_protect);
	if (!getenv("KEEP"))
		sh("rm -rf %s", T);
	return failed ? 1 : 0;
}
